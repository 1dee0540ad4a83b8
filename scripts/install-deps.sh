#!/bin/bash
# install-deps.sh - install what ipsecgw's tests, demo and benchmarks need on a
# fresh Debian 12 machine (run as root). Idempotent: it only calls apt-get when
# a package is missing, and `go mod download` is a no-op once the cache is warm.
set -eu
PKGS="strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins libstrongswan-standard-plugins
      iperf3 iputils-ping nftables conntrack tcpdump iproute2 wireguard-tools python3 bird2"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then echo "install-deps: need root to install:$missing" >&2; exit 1; fi
    echo "install-deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# Debian enables the strongswan-starter/charon-systemd units on install; the
# lab runs its own charon per namespace, so keep any host-wide one stopped.
if command -v systemctl >/dev/null && systemctl is-active -q strongswan 2>/dev/null; then
    systemctl stop strongswan || true
fi
cd "$(dirname "$0")/.."
go mod download
