#!/bin/bash
# test-race.sh - the unit tests under the race detector, then the end-to-end
# suite with ipsecgwd built with -race: every data race a daemon hits while
# real strongSwan traffic flows is written under a temporary directory and
# fails the run (the daemons' own stderr goes to test-bed logs).
set -eu
cd "$(dirname "$0")/.."
go test -race -count=1 -short ./...
bin=$(mktemp -d /tmp/ipsecgw-race-bin.XXXXXX)
logs=$(mktemp -d /tmp/ipsecgw-race-log.XXXXXX)
trap 'rm -rf "$bin" "$logs"' EXIT
go build -race -o "$bin/" ./cmd/...
GORACE="log_path=$logs/ipsecgwd" IPSECGW_BIN_DIR="$bin" go test -count=1 -timeout 20m ./test/e2e
if ls "$logs"/ipsecgwd.* >/dev/null 2>&1; then
    cat "$logs"/ipsecgwd.*
    echo "test-race: data races in ipsecgwd (above)" >&2
    exit 1
fi
echo "test-race: no data race"
