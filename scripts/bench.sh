#!/bin/bash
# bench.sh - `make bench`: the ESP data plane micro-benchmark table
# (bench/espbench), then the end-to-end throughput table (bench/e2e):
# iperf3 through ipsecgwd↔ipsecgwd, ipsecgwd↔strongSwan,
# strongSwan↔strongSwan, wireguard-go and plain routing in network
# namespaces, with the issue's targets as PASS/MISS lines. The table is also
# written to bench/results/latest.txt. Needs root.
#
# Env: BENCH_DUR (seconds per iperf3 run, default 5), BENCH_REPS (runs per
# cell, default 3), BENCH_QUIET_PCT / BENCH_QUIET_MAX / BENCH_QUIET_BUDGET
# (wait before each run for the host to be below that busy %, at most that
# long per run / in total; defaults 20, 20s, 180s), IPSECGW_BIN_DIR
# (prebuilt ipsecgwd and ipsecgw; default: built from the tree),
# WIREGUARD_GO (a prebuilt wireguard-go; default: built from go.mod's
# golang.zx2c4.com/wireguard), BENCH_PATHS (only rows whose "path suite"
# label contains one of these comma-separated strings), SKIP_ESPBENCH=1,
# SKIP_E2E=1.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
command -v "$GO" >/dev/null || GO=/usr/local/go/bin/go
if [ "$(id -u)" != 0 ]; then echo "bench: needs root (network namespaces)" >&2; exit 1; fi
for c in iperf3 wg /usr/sbin/charon-systemd; do
    command -v "$c" >/dev/null || { echo "bench: $c missing (run scripts/install-deps.sh)" >&2; exit 1; }
done

if [ "${SKIP_ESPBENCH:-0}" != 1 ]; then
    echo "== ESP data plane, per packet (bench/espbench) =="
    "$GO" run ./bench/espbench
    echo
fi
if [ "${SKIP_E2E:-0}" != 1 ]; then
    echo "== end to end through the gateways (bench/e2e) =="
    mkdir -p bench/results
    # Beds of a killed earlier run are reaped by test/lab when it starts
    # (scripts/clean-lab.sh would also remove other users' "ig*-" namespaces).
    IPSECGW_BENCH=1 BENCH_OUT="$PWD/bench/results/latest.txt" \
        "$GO" test -count=1 -v -timeout 30m -run '^TestBench$' ./bench/e2e
fi
