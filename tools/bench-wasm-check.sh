#!/bin/sh
# tools/bench-wasm-check.sh: `make check` in the wasm build runs every
# benchmark of tools/bench.js once with small sizes (TAP): each must end
# with status 0 and print its figure on the JS peer's key, timers must
# never fire early (node's own timers do), and an unknown benchmark must be
# refused with status 2.
NODE=${NODE:-node}
BENCH_JS=${BENCH_JS:-tools/bench.js}
echo "1..8"
n=0
fails=0
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
check() { # name key sizes...
    name=$1 key=$2
    shift 2
    n=$((n + 1))
    line=$(timeout 120 "$NODE" --expose-gc "$BENCH_JS" "$name" "$@" 2>&1)
    rc=$?
    v=$(kv "$key" "$line")
    if [ $rc -eq 0 ] && printf '%s' "$line" | grep -q "bench=$name flavour=wasm " &&
        awk -v v="$v" 'BEGIN { exit !(v != "" && v + 0 > 0) }'; then
        echo "ok $n - $name $*: $key=$v"
    else
        echo "not ok $n - $name $*: status $rc, output: $line"
        fails=$((fails + 1))
    fi
    LAST=$line
}
check spawn_many ns_per_task 10000 3
check yield_many ns_per_yield 100 100 3
check chained_spawn ns_per_spawn 10000 3
check ping_pong_oneshot ns_per_rt 10000 3
check idle_tasks heap_bytes_per_task 20000
check timers late_p99_us 300 2
n=$((n + 1))
early=$(kv early "$LAST")
min=$(kv late_min_us "$LAST")
if [ "$early" = 0 ] && awk -v m="$min" 'BEGIN { exit !(m != "" && m + 0 >= 0) }'; then
    echo "ok $n - timers never early: early=$early late_min_us=$min"
else
    echo "not ok $n - timers fired early: early=$early late_min_us=$min"
    fails=$((fails + 1))
fi
n=$((n + 1))
timeout 60 "$NODE" "$BENCH_JS" no_such_bench 1 >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ]; then
    echo "ok $n - an unknown benchmark is refused (status 2)"
else
    echo "not ok $n - an unknown benchmark: status $rc, not 2"
    fails=$((fails + 1))
fi
[ $fails -eq 0 ]
