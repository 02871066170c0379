#!/bin/sh
# Tests prokio-backend-check on one backend of test-backend.c, named by the
# test that runs this script (tests/run/bc-VARIANT.verdict). A
# correct backend must pass; a broken one must make the checker exit 1, with
# the check that names its fault marked "not ok" and saying why, within a
# time bound counted from the start of the run, and without the global
# watchdog ("Bail out! hung"): a fault found only by a hang counts as not
# found. Prints TAP.
set -u
: "${top_builddir:?run through make check}"
variant=$(basename "$1" .verdict)
variant=${variant#bc-}
checker="$top_builddir/tools/prokio-backend-check"
so="$top_builddir/tests/backend-check/.libs/prokio-bc-$variant.so"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/verdict.XXXXXX") || exit 1
# A checker that gives up on a broken backend leaves threads stuck inside
# that backend's wait(), on purpose: ThreadSanitizer must not turn that into
# a report of its own (and exit status 66) in the TSan build.
TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}report_thread_leaks=0"
export TSAN_OPTIONS
trap 'rm -rf "$tmp"' EXIT

# variant|exit status|seconds until the verdict|check that must fail|what it must say
# For a correct backend the verdict is the end of the run.
cases='level|0|60||
edge|0|60||
rdhup|0|60||
lostwake|1|10|wake race: another thread wakes without pause|every wake is lost from now on
fakeedge|1|30|readiness: with CAP_EDGE, no report repeats while nothing changes|level-triggered behaviour
files|1|30|a regular file and a directory are refused with PROKIO_EPERM|expected PROKIO_EPERM from one of them
loopsize0|1|10|negotiation: entry(core of this header) returns a vtable it accepts|vtable->loop_size is 0
longname|1|10|negotiation: entry(core of this header) returns a vtable it accepts|vtable->name must be 1 to 32
fakerdhup|1|30|readiness: with CAP_RDHUP, bytes with a half-close of the peer report RDHUP|without RDHUP
rdhupreset|1|30|readiness: with CAP_RDHUP, bytes with a reset of the peer report RDHUP, HANGUP or ERROR|without RDHUP, HANGUP or ERROR'

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

row=$(echo "$cases" | grep "^$variant|") || {
    echo "Bail out! $0 has no case for '$variant'"
    exit 1
}
want=$(echo "$row" | cut -d'|' -f2)
bound=$(echo "$row" | cut -d'|' -f3)
check=$(echo "$row" | cut -d'|' -f4)
detail=$(echo "$row" | cut -d'|' -f5)

# The output goes to $tmp/log, the exit status to $tmp/status, and the time
# of the check's "not ok" line to $tmp/at (the end of the run when there is
# none). timeout only keeps a hang from holding the suite: the bound is
# asserted below.
echo "1..1"
start=$(now_ms)
{
    timeout -k 5 300 "$checker" "$so" 2>&1
    echo $? >"$tmp/status"
} | while IFS= read -r line; do
    printf '%s\n' "$line" >>"$tmp/log"
    case $line in
    "not ok "*" - $check"*) [ -n "$check" ] && [ ! -f "$tmp/at" ] && now_ms >"$tmp/at" ;;
    esac
done
[ -f "$tmp/at" ] || now_ms >"$tmp/at"
status=$(cat "$tmp/status")
took=$(($(cat "$tmp/at") - start))

why=
if [ "$status" -ne "$want" ]; then
    why="exit status $status, expected $want"
elif grep -q '^Bail out! hung' "$tmp/log"; then
    why="caught by the global watchdog, not by a check"
elif [ -n "$check" ] && ! grep '^not ok ' "$tmp/log" | grep -qF -- " - $check"; then
    why="no 'not ok' for: $check"
elif [ -n "$detail" ] && ! grep -qF -- "$detail" "$tmp/log"; then
    why="the output does not say: $detail"
elif [ -z "$check" ] && grep -q '^not ok ' "$tmp/log"; then
    why="a check failed"
elif [ "$took" -gt $((bound * 1000)) ]; then
    why="the verdict took $took ms, more than $bound s"
fi
if [ -n "$why" ]; then
    echo "not ok 1 - prokio-bc-$variant: $why"
    sed 's/^/# | /' "$tmp/log"
    exit 1
fi
echo "ok 1 - prokio-bc-$variant: ${check:+'$check' failed }after $took ms, exit $status"
