#!/bin/bash
# clean-lab.sh - remove network namespaces (and the processes inside them) that
# ipsecgw's test beds left behind after a crash or a SIGKILL. Test beds name
# their namespaces "ig<id>-<role>" (see test/lab); nothing else is touched.
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^ig[0-9a-z]+-' ); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null && echo "clean-lab: removed stale netns $ns" >&2
done
rm -rf /run/ipsecgw-lab/ig* 2>/dev/null
exit 0
