package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipsecgw/ipsecgw/api"
	"github.com/ipsecgw/ipsecgw/test/gwtest"
	"github.com/ipsecgw/ipsecgw/test/lab"
)

// gwBZoneB is gwB's second wan address: the gateway address of zone-b.
const gwBZoneB = "192.0.2.3"

// dualYAML is a dual-tunnel connection (SPEC §2) from gwB to gwA: tunnel
// 1 in zone-a (192.0.2.2), tunnel 2 in zone-b (192.0.2.3) with its own
// PSK and a different IKE cipher.
func dualYAML(name, psk2 string) string {
	return fmt.Sprintf(`connections:
  - name: %s
    customer_gateway: %s
    routing_mode: protected-subnets
    local_subnets: [%s]
    remote_subnets: [%s]
    tunnel_mode: dual
    tunnels:
      - zone: zone-a
        psk: "%s"
      - zone: zone-b
        psk: "%s"
        ike: {encryption: aes256, authentication: sha256, dh_group: group14}
`, name, lab.GwAWanIP, lab.ServerNet, lab.ClientNet, lab.DefaultPSK, psk2)
}

// tunnelIs reports whether the status shows tunnel n (1 or 2) on
// addr established, and active if active.
func tunnelIs(st api.ConnectionStatus, n int, addr string, active bool) bool {
	want := fmt.Sprintf("tunnel %d (%s): established", n, addr)
	if active {
		want += ", active"
	}
	return strings.Contains(st.Message, want)
}

// TestDualTunnel: ipsecgwd runs a dual-tunnel connection from two gateway
// addresses (zones) to two strongSwan connections on gwA; traffic crosses.
// When tunnel 1's path dies (nftables drops everything between gwA and
// 192.0.2.2), DPD moves the traffic to tunnel 2 within ~40 s; when the
// path returns, tunnel 1 comes back and carries the traffic again.
func TestDualTunnel(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	if out, err := b.Exec(lab.GwB, "ip", "addr", "add", gwBZoneB+"/24", "dev", "wan"); err != nil {
		t.Fatalf("second wan address: %v: %s", err, out)
	}

	// strongSwan: "tun" to 192.0.2.2 (the lab default) and "tun2" to
	// 192.0.2.3, both with DPD (3 s, cleared after ~5 s of retransmits)
	// so that strongSwan too stops using a dead tunnel.
	c1 := b.DefaultConn(lab.GwA)
	c1.DPDDelay, c1.DPDAction = 3*time.Second, "clear"
	c1.RetransmitTries, c1.RetransmitTimeout, c1.RetransmitBase = 2, 1, 1.5
	sw := b.StartCharon(lab.GwA, c1)
	c2 := c1
	c2.Name, c2.Child = "tun2", "net2"
	c2.RemoteAddr, c2.RemoteID = gwBZoneB, gwBZoneB
	c2.PSK = "second-tunnel-secret"
	c2.IKEProposal = "aes256-sha256-modp2048"
	if err := sw.Load(c2); err != nil {
		t.Fatalf("load tun2: %v", err)
	}

	gw, err := gwtest.Start(b, lab.GwB, lab.GwBWanIP, "debug", "zones:\n  zone-a: "+lab.GwBWanIP+"\n  zone-b: "+gwBZoneB+"\n")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ipsecgwd log (tail):\n%s", tailLines(gw.Proc.Log(), 120))
		}
	})
	g := &gateway{Gateway: gw, t: t}
	g.apply(dualYAML("dual", c2.PSK))

	waitStatus := func(what string, timeout time.Duration, ok func(api.ConnectionStatus) bool) api.ConnectionStatus {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			st, err := g.status("dual")
			if err == nil && ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v: %+v (%v)", what, timeout, st, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	st := waitStatus("both tunnels established", 30*time.Second, func(st api.ConnectionStatus) bool {
		return st.State == api.StateEstablished && tunnelIs(st, 1, lab.GwBWanIP, true) && tunnelIs(st, 2, gwBZoneB, false)
	})
	var locals []string
	for _, sa := range st.IKESAs {
		locals = append(locals, sa.LocalAddress+" "+sa.Encryption)
	}
	slices.Sort(locals)
	if !slices.Equal(locals, []string{lab.GwBWanIP + " AES_CBC-128", gwBZoneB + " AES_CBC-256"}) {
		t.Fatalf("IKE SAs (local address, cipher): %v", locals)
	}
	sas, err := sw.ListSAs()
	if err != nil {
		t.Fatal(err)
	}
	var theirs []string
	for _, sa := range sas {
		if sa.State == "ESTABLISHED" {
			theirs = append(theirs, sa.Name+"→"+sa.RemoteHost)
		}
	}
	slices.Sort(theirs)
	if !slices.Equal(theirs, []string{"tun2→" + gwBZoneB, "tun→" + lab.GwBWanIP}) {
		t.Fatalf("strongSwan's established IKE SAs: %v", theirs)
	}
	if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
		t.Fatalf("ping client→server: %v", err)
	}
	if err := b.Ping(lab.Server, lab.ClientIP, 3); err != nil {
		t.Fatalf("ping server→client: %v", err)
	}
	t.Logf("established: %s", st.Message)

	// Tunnel 1's path dies.
	rules := filepath.Join(b.Dir(), "drop-zone-a.nft")
	if err := os.WriteFile(rules, []byte("table inet igdual_drop {\n"+
		"  chain in { type filter hook input priority -10; policy accept; ip saddr "+lab.GwBWanIP+" drop; }\n"+
		"  chain out { type filter hook output priority -10; policy accept; ip daddr "+lab.GwBWanIP+" drop; }\n"+
		"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := b.Exec(lab.GwA, "nft", "-f", rules); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	dropped := time.Now()
	st = waitStatus("failover to tunnel 2", 60*time.Second, func(st api.ConnectionStatus) bool {
		return st.State == api.StateEstablished && tunnelIs(st, 2, gwBZoneB, true)
	})
	failover := time.Since(dropped)
	if err := b.WaitPing(lab.Client, lab.ServerIP, 10*time.Second); err != nil {
		t.Fatalf("ping client→server after failover: %v", err)
	}
	if err := b.Ping(lab.Server, lab.ClientIP, 3); err != nil {
		t.Fatalf("ping server→client after failover: %v", err)
	}
	recovered := time.Since(dropped)
	st, err = g.status("dual")
	if err != nil {
		t.Fatal(err)
	}
	carried := false
	for _, sa := range st.IKESAs {
		if sa.LocalAddress != gwBZoneB {
			continue
		}
		if ch := installedChild(api.ConnectionStatus{IKESAs: []api.IKESA{sa}}); ch != nil {
			carried = ch.PacketsIn > 0 && ch.PacketsOut > 0
		}
	}
	if !carried {
		t.Fatalf("tunnel 2's CHILD_SA carried no traffic both ways: %+v", st.IKESAs)
	}
	t.Logf("tunnel 1 dropped: failover after %v, traffic through tunnel 2 after %v: %s", failover.Round(time.Second), recovered.Round(time.Second), st.Message)
	if recovered > 50*time.Second {
		t.Fatalf("traffic took %v to move to tunnel 2 (DPD: ~40 s)", recovered)
	}

	// The path returns: tunnel 1 is re-established and active again.
	if out, err := b.Exec(lab.GwA, "nft", "delete", "table", "inet", "igdual_drop"); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	restored := time.Now()
	st = waitStatus("failback to tunnel 1", 120*time.Second, func(st api.ConnectionStatus) bool {
		return tunnelIs(st, 1, lab.GwBWanIP, true) && tunnelIs(st, 2, gwBZoneB, false)
	})
	if err := b.WaitPing(lab.Client, lab.ServerIP, 10*time.Second); err != nil {
		t.Fatalf("ping client→server after failback: %v", err)
	}
	t.Logf("path restored: tunnel 1 active again after %v: %s", time.Since(restored).Round(time.Second), st.Message)
}

// Tunnel 2's BGP /30 (tunnel 1 uses the lab's 169.254.10.0/30).
const (
	tun2AIP = "169.254.11.2" // gwA's second address on ipsec0
	tun2BIP = "169.254.11.1" // ipsecgwd's tunnel 2 address
	tun2Net = "169.254.11.0/30"
)

// startBirdDual runs BIRD 2 on gwA with one BGP session per tunnel.
func startBirdDual(t *testing.T, b *lab.Bed) *lab.Proc {
	t.Helper()
	dir := filepath.Join(b.Dir(), "bird")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`log "%[1]s/bird.log" all;
router id %[2]s;
protocol device { scan time 2; }
protocol direct { ipv4; interface "ipsec0"; }
protocol kernel { ipv4 { export where proto ~ "cloud*"; }; merge paths on; }
protocol static onprem { ipv4; route %[3]s blackhole; }
template bgp cloud {
	local as 65001;
	hold time 9; keepalive time 3;
	connect delay time 1; connect retry time 3; error wait time 1, 5;
	graceful restart off;
	ipv4 { import all; export where proto = "onprem"; };
}
protocol bgp cloud1 from cloud { source address %[2]s; neighbor %[4]s as 45104; }
protocol bgp cloud2 from cloud { source address %[5]s; neighbor %[6]s as 45104; }
`, dir, lab.TunAIP, lab.ClientNet, lab.TunBIP, tun2AIP, tun2BIP)
	path := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Start(lab.GwA, "bird", "bird", "-f", "-c", path, "-s", filepath.Join(dir, "bird.ctl"))
}

// TestDualTunnelBGP: a route-based dual-tunnel connection with a BGP
// session through each tunnel (its own /30) against BIRD behind
// strongSwan: both sessions come up, the client LAN is learned and
// reachable, and when tunnel 1's path dies the traffic goes on through
// tunnel 2 as soon as tunnel 1's BGP session expires (its learned routes
// move to tunnel 2's session), before DPD.
func TestDualTunnelBGP(t *testing.T) {
	needRoot(t)
	t.Parallel()
	b := lab.New(t, lab.Options{Charon: []string{}})
	if out, err := b.Exec(lab.GwB, "ip", "addr", "add", gwBZoneB+"/24", "dev", "wan"); err != nil {
		t.Fatalf("second wan address: %v: %s", err, out)
	}
	c1 := b.DefaultConn(lab.GwA)
	c1.LocalTS, c1.RemoteTS = []string{"0.0.0.0/0"}, []string{"0.0.0.0/0"}
	c1.InertTable220, c1.TunAddr = true, lab.TunAIP+lab.TunPlen
	c1.DPDDelay, c1.DPDAction = 3*time.Second, "clear"
	c1.RetransmitTries, c1.RetransmitTimeout, c1.RetransmitBase = 2, 1, 1.5
	sw := b.StartCharon(lab.GwA, c1)
	c2 := c1
	c2.Name, c2.Child = "tun2", "net2"
	c2.RemoteAddr, c2.RemoteID = gwBZoneB, gwBZoneB
	if err := sw.Load(c2); err != nil {
		t.Fatalf("load tun2: %v", err)
	}
	if out, err := b.Exec(lab.GwA, "ip", "addr", "add", tun2AIP+"/30", "dev", "ipsec0"); err != nil {
		t.Fatalf("tunnel 2 address on ipsec0: %v: %s", err, out)
	}

	gw, err := gwtest.Start(b, lab.GwB, lab.GwBWanIP, "debug", "zones:\n  zone-a: "+lab.GwBWanIP+"\n  zone-b: "+gwBZoneB+"\n")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ipsecgwd log (tail):\n%s", tailLines(gw.Proc.Log(), 120))
		}
	})
	g := &gateway{Gateway: gw, t: t}
	g.apply(fmt.Sprintf(`connections:
  - name: dual-bgp
    customer_gateway: %s
    routing_mode: destination
    tunnel_mode: dual
    tunnels:
      - zone: zone-a
        psk: "%s"
        bgp: {enabled: true, tunnel_cidr: %s, local_address: %s, peer_asn: 65001, announce: [%s]}
      - zone: zone-b
        psk: "%s"
        bgp: {enabled: true, tunnel_cidr: %s, local_address: %s, peer_asn: 65001, announce: [%s]}
`, lab.GwAWanIP, lab.DefaultPSK, lab.TunNet, lab.TunBIP, lab.ServerNet, lab.DefaultPSK, tun2Net, tun2BIP, lab.ServerNet))
	startBirdDual(t, b)

	waitFor := func(what string, timeout time.Duration, ok func(api.ConnectionStatus, string) bool) api.ConnectionStatus {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			st, err := g.status("dual-bgp")
			routes, _ := b.Exec(lab.GwB, "ip", "route", "show")
			if err == nil && ok(st, routes) {
				t.Logf("%s: bgp %s; %s", what, st.BGP, st.Message)
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v: status %+v\nroutes on gwB:\n%s", what, timeout, st, routes)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	waitFor("both tunnels and BGP sessions established", 45*time.Second, func(st api.ConnectionStatus, routes string) bool {
		return tunnelIs(st, 1, lab.GwBWanIP, true) && tunnelIs(st, 2, gwBZoneB, false) &&
			strings.EqualFold(st.BGP, "1: established, 2: established") && strings.Contains(routes, lab.ClientNet+" dev ipsecgw0")
	})
	if err := b.WaitPing(lab.Client, lab.ServerIP, 20*time.Second); err != nil {
		out, _ := b.Exec(lab.GwA, "ip", "route", "show")
		t.Fatalf("ping over BGP-learned routes: %v\ngwA routes:\n%s", err, out)
	}

	rules := filepath.Join(b.Dir(), "drop-zone-a.nft")
	if err := os.WriteFile(rules, []byte("table inet igdual_drop {\n"+
		"  chain in { type filter hook input priority -10; policy accept; ip saddr "+lab.GwBWanIP+" drop; }\n"+
		"  chain out { type filter hook output priority -10; policy accept; ip daddr "+lab.GwBWanIP+" drop; }\n"+
		"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := b.Exec(lab.GwA, "nft", "-f", rules); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	dropped := time.Now()
	if err := b.WaitPing(lab.Client, lab.ServerIP, 50*time.Second); err != nil {
		t.Fatalf("ping after tunnel 1 died: %v", err)
	}
	moved := time.Since(dropped)
	t.Logf("tunnel 1 dropped: traffic through tunnel 2 after %v", moved.Round(time.Second))
	if moved > 30*time.Second {
		// The BGP hold timers (9 s) move the learned routes to tunnel 2
		// before DPD (~40 s) takes tunnel 1 down.
		t.Fatalf("traffic took %v to move to tunnel 2; BGP should move it within its hold time", moved)
	}
	waitFor("tunnel 2 active, its BGP session up", 60*time.Second, func(st api.ConnectionStatus, routes string) bool {
		return tunnelIs(st, 2, gwBZoneB, true) && strings.Contains(strings.ToLower(st.BGP), "2: established") &&
			strings.Contains(routes, lab.ClientNet+" dev ipsecgw0")
	})
	if err := b.Ping(lab.Server, lab.ClientIP, 3); err != nil {
		t.Fatalf("ping server→client through tunnel 2: %v", err)
	}
}
