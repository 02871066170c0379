#!/bin/sh
# Tests prokio-backend-check on the backends of test-backend.c. A correct
# backend must pass; each broken one must make the checker exit 1 with the
# check that names its fault marked "not ok", without the global watchdog
# ("Bail out! hung"), and within a time bound far below that watchdog's, so
# that a fault found only by a hang counts as not found. Prints TAP.
set -u
: "${top_builddir:?run through make check}"
checker="$top_builddir/tools/prokio-backend-check"
libs="$top_builddir/tests/backend-check/.libs"
log=$(mktemp "${TMPDIR:-/tmp}/verdicts.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT

# variant|exit status|bound in seconds|the check that must fail|what it must say
cases='level|0|60||
edge|0|60||
fakeedge|1|30|readiness: with CAP_EDGE, no report repeats while nothing changes|level-triggered behaviour
loopsize0|1|10|negotiation: entry(core 1.0) returns a valid 1.0 vtable|vtable->loop_size is 0
longname|1|10|negotiation: entry(core 1.0) returns a valid 1.0 vtable|vtable->name must be 1 to 32'

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

echo "1..$(echo "$cases" | wc -l)"
n=0
failures=0
echo "$cases" | {
    while IFS='|' read -r variant want bound check detail; do
        n=$((n + 1))
        start=$(now_ms)
        # The bound is asserted below; timeout only keeps a hang from
        # holding the suite.
        timeout -k 5 300 "$checker" "$libs/prokio-bc-$variant.so" >"$log" 2>&1
        status=$?
        took=$(($(now_ms) - start))
        why=
        if [ "$status" -ne "$want" ]; then
            why="exit status $status, expected $want"
        elif [ "$took" -gt $((bound * 1000)) ]; then
            why="took $took ms, more than $bound s"
        elif grep -q '^Bail out! hung' "$log"; then
            why="caught by the global watchdog, not by a check"
        elif [ -n "$check" ] && ! grep '^not ok ' "$log" | grep -qF -- "- $check"; then
            why="no 'not ok' for: $check"
        elif [ -n "$detail" ] && ! grep -qF -- "$detail" "$log"; then
            why="the output does not say: $detail"
        elif [ -z "$check" ] && grep -q '^not ok ' "$log"; then
            why="a check failed"
        fi
        if [ -z "$why" ]; then
            echo "ok $n - prokio-bc-$variant: exit $status in $took ms${check:+, failed: $check}"
        else
            echo "not ok $n - prokio-bc-$variant: $why"
            sed 's/^/# | /' "$log"
            failures=$((failures + 1))
        fi
    done
    [ "$failures" -eq 0 ]
}
