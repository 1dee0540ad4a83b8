#!/bin/bash
# demo.sh - ipsecgw doing its main job against a real strongSwan, in network
# namespaces on this machine (run as root; `make demo` builds first).
#
#   client ------- gwA (strongSwan) ======= IPsec ======= gwB (ipsecgwd) ------- server
#   10.1.0.10   10.1.0.1 | 192.0.2.1                  192.0.2.2 | 10.2.0.1      10.2.0.10
#               on-premises side                      cloud side
#
# There is no route between 10.1.0.0/24 and 10.2.0.0/24 except through the
# tunnel, so a ping from client to server proves the tunnel carries it.
# Everything (namespaces, daemons, files) is removed on exit, even on failure.
# KEEP=1 leaves it all running for exploring (then: scripts/demo.sh down).
set -eu
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/bin
P=igdemo-                         # namespace prefix (scripts/clean-lab.sh knows it)
STATE=/run/ipsecgw-demo
PSK=demo-PSK-change-me

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run()  { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
ns()   { local n=$1; shift; ip netns exec "$P$n" "$@"; }

down() {
    set +e
    for f in "$STATE"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
    sleep 0.5
    for n in client gwA gwB server; do
        for pid in $(ip netns pids "$P$n" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$P$n" 2>/dev/null
    done
    rm -rf "$STATE"
}

if [ "${1:-}" = down ]; then down; exit 0; fi
[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }
[ -x "$BIN/ipsecgwd" ] || { echo "demo: run 'make demo' (builds bin/ first)" >&2; exit 1; }
down >/dev/null 2>&1
[ "${KEEP:-0}" = 1 ] || trap 'step "Cleaning up"; down; echo "done."' EXIT
mkdir -p "$STATE"

step "1. Four network namespaces: client, gwA (on-premises), gwB (cloud), server"
for n in client gwA gwB server; do ip netns add "$P$n"; ns $n ip link set lo up; done
ip link add eth0 netns ${P}client type veth peer name lan netns ${P}gwA
ip link add wan netns ${P}gwA type veth peer name wan netns ${P}gwB
ip link add lan netns ${P}gwB type veth peer name eth0 netns ${P}server
ns client ip addr add 10.1.0.10/24 dev eth0; ns client ip link set eth0 up
ns client ip route add 10.2.0.0/24 via 10.1.0.1
ns gwA ip addr add 10.1.0.1/24 dev lan; ns gwA ip link set lan up
ns gwA ip addr add 192.0.2.1/24 dev wan; ns gwA ip link set wan up
ns gwB ip addr add 192.0.2.2/24 dev wan; ns gwB ip link set wan up
ns gwB ip addr add 10.2.0.1/24 dev lan; ns gwB ip link set lan up
ns server ip addr add 10.2.0.10/24 dev eth0; ns server ip link set eth0 up
ns server ip route add 10.1.0.0/24 via 10.2.0.1
for n in gwA gwB; do ns $n sysctl -qw net.ipv4.ip_forward=1; done
echo "client 10.1.0.10 — gwA 10.1.0.1|192.0.2.1 — gwB 192.0.2.2|10.2.0.1 — server 10.2.0.10"
printf 'ping client→server before any tunnel: '
ns client ping -c1 -W1 10.2.0.10 >/dev/null 2>&1 && echo "answered?!" || echo "no route (as expected)"

step "2. strongSwan (charon, kernel-libipsec) on gwA, the customer's device"
D=$STATE/gwA; mkdir -p "$D"
(cd "$D" && mkdir -p x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12)
cat >"$D/strongswan.conf" <<EOF
charon-systemd { journal { default = -1 } }
charon {
    filelog { log { path = $D/charon.log
                    default = 1 } }
    plugins {
        include /etc/strongswan.d/charon/*.conf
        kernel-libipsec { load = yes }
        vici { socket = unix://$D/charon.vici }
        af-alg { load = no }
        resolve { load = no }
    }
}
EOF
cat >"$D/swanctl.conf" <<EOF
connections {
    cloud {
        version = 2
        local_addrs = 192.0.2.1
        remote_addrs = 192.0.2.2
        proposals = aes128-sha1-modp1024
        local { auth = psk
                id = 192.0.2.1 }
        remote { auth = psk
                 id = 192.0.2.2 }
        children {
            net { local_ts = 10.1.0.0/24
                  remote_ts = 10.2.0.0/24
                  esp_proposals = aes128-sha1-modp1024 }
        }
    }
}
secrets { ike-cloud { id-1 = 192.0.2.1
                      id-2 = 192.0.2.2
                      secret = "$PSK" } }
EOF
ns gwA env STRONGSWAN_CONF="$D/strongswan.conf" setsid /usr/sbin/charon-systemd >"$D/charon.out" 2>&1 &
echo $! >"$STATE/charon.pid"
for _ in $(seq 50); do [ -S "$D/charon.vici" ] && break; sleep 0.1; done
ns gwA env STRONGSWAN_CONF="$D/strongswan.conf" swanctl --load-all --file "$D/swanctl.conf" --uri "unix://$D/charon.vici" | tail -2

step "3. ipsecgwd on gwB, the cloud side"
D=$STATE/gwB; mkdir -p "$D"
cat >"$D/ipsecgwd.yaml" <<EOF
address: 192.0.2.2
state_dir: $D/state
api: unix://$D/api.sock
tun: ipsecgw0
metrics: 127.0.0.1:9810
log_level: info
EOF
run cat "$D/ipsecgwd.yaml"
ns gwB "$BIN/ipsecgwd" -config "$D/ipsecgwd.yaml" >"$D/ipsecgwd.log" 2>&1 &
echo $! >"$STATE/ipsecgwd.pid"
for _ in $(seq 100); do [ -S "$D/api.sock" ] && break; sleep 0.1; done
CLI="$BIN/ipsecgw --api unix://$D/api.sock"
echo "ipsecgwd is running (log: $D/ipsecgwd.log)"

step "4. Validate and apply the connection (examples/connections.yaml)"
run $CLI validate -f examples/connections.yaml
run $CLI apply -f examples/connections.yaml

step "5. The tunnel comes up (ipsecgwd initiates: effective_immediately: true)"
for _ in $(seq 60); do
    $CLI status -o json 2>/dev/null | grep -q '"state": *"established"' && break
    sleep 0.5
done
run $CLI status
echo; echo "strongSwan's view (swanctl --list-sas on gwA):"
ns gwA env STRONGSWAN_CONF="$STATE/gwA/strongswan.conf" swanctl --list-sas --uri "unix://$STATE/gwA/charon.vici"

step "6. Traffic through the tunnel"
run ip netns exec ${P}client ping -c 3 -i 0.2 10.2.0.10
ns server iperf3 -s -D -1 >/dev/null 2>&1; sleep 0.3
run ip netns exec ${P}client iperf3 -c 10.2.0.10 -t 3 -f m | grep -E "sender|receiver"

step "7. Counters after the traffic"
run $CLI status
echo; echo "Prometheus metrics (excerpt):"
ns gwB bash -c 'exec 3<>/dev/tcp/127.0.0.1/9810; printf "GET /metrics HTTP/1.0\r\n\r\n" >&3; cat <&3' 2>/dev/null \
    | grep -E '^ipsecgw_(tunnel_up|tunnel_bytes_total|child_sas)' | head -8 || true
if [ "${KEEP:-0}" = 1 ]; then
    echo; echo "KEEP=1: left running. Try: ip netns exec ${P}client ping 10.2.0.10; $CLI status; scripts/demo.sh down"
fi
