#!/bin/bash
# clean-lab.sh - remove network namespaces (and the processes inside them) that
# ipsecgw's test beds left behind after a crash or a SIGKILL. Test beds name
# their namespaces "ig<id>-<role>" (see test/lab) and keep their state in
# /run/ipsecgw-lab/ig<id>/ with an "owner" file (pid and start time of the test
# process). Beds whose owner still runs are left alone unless --all is given;
# other "ig*-" namespaces (helpers' own, without a state dir) are removed.
# Nothing else is touched.
set -u
ALL=0
[ "${1:-}" = --all ] && ALL=1
STATE=/run/ipsecgw-lab

owner_alive() {  # owner_alive <id>: the test process that built bed <id> still runs
    local f="$STATE/$1/owner" pid start now
    [ -f "$f" ] || return 1
    read -r pid start <"$f" || return 1
    [ -r "/proc/$pid/stat" ] || return 1
    # field 22 (starttime), counted after the ")" that closes comm
    now=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $20}')
    [ "$now" = "$start" ]
}

for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^ig[0-9a-z]+-'); do
    id=${ns%%-*}
    if [ "$ALL" = 0 ] && owner_alive "$id"; then continue; fi
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null && echo "clean-lab: removed stale netns $ns" >&2
done
for d in "$STATE"/ig*; do
    [ -d "$d" ] || continue
    if [ "$ALL" = 0 ] && owner_alive "$(basename "$d")"; then continue; fi
    rm -rf "$d"
done
exit 0
