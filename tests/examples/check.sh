#!/bin/sh
# tests/examples/check.sh: runs the examples built for this target and checks
# what they print (TAP). The same sources build natively and for
# WebAssembly; EXAMPLE_EXT is empty natively and ".js" in an emscripten
# build, where EXAMPLE_RUNNER is node.
#
#   EXAMPLE_EXT=.js EXAMPLE_RUNNER=node tests/examples/check.sh
set -u
ext=${EXAMPLE_EXT-}
runner=${EXAMPLE_RUNNER-}
dir=${top_builddir:-.}/examples
n=0
fail=0

# check NAME PATTERN...: runs examples/NAME, which must exit 0 and print a
# line matching each PATTERN (grep -E).
check() {
    name=$1
    shift
    n=$((n + 1))
    out=$(${runner} "$dir/$name$ext" 2>&1)
    rc=$?
    printf '%s\n' "$out" | sed 's/^/# /'
    if [ $rc -ne 0 ]; then
        echo "not ok $n - $name exited with status $rc"
        fail=1
        return
    fi
    for pattern in "$@"; do
        if ! printf '%s\n' "$out" | grep -Eq -- "$pattern"; then
            echo "not ok $n - $name: no line matches /$pattern/"
            fail=1
            return
        fi
    done
    echo "ok $n - $name"
}

echo "1..3"
check hello-raw '^3\.\.\.$' '^1\.\.\.$' '^lift-off on worker [0-9]+$'
check hello-coro '^3\.\.\.$' '^1\.\.\.$' '^lift-off on worker [0-9]+$'
check demo '^1\. primes below 4000000: 283146 ' 'none early$' \
    'woke it' 'sum 499999500000 \(right\)$' 'counter 8000 \(exact\)' \
    'gave ETIMEDOUT after 600\.000 s of virtual time' '^every check passed$'
exit $fail
