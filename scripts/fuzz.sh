#!/bin/bash
# fuzz.sh - run every Go fuzz target for FUZZTIME each (default 30s).
# `make test` already runs each target's seed corpus (testdata/fuzz) as a
# regular test; this target searches for new crashers. A crasher is written
# to the package's testdata/fuzz/<Target>/ by go test: commit it as a seed.
# -fuzzminimizetime is short because ICV-protected inputs make Go's
# minimizer spend its whole default minute on every new input.
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
fail=0
while read -r pkg target; do
    echo "== $pkg $target ($FUZZTIME)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$pkg" || fail=1
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | while read -r f; do
    for t in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
        echo "./$(dirname "${f#./}") $t"
    done
done | sort -u)
exit $fail
