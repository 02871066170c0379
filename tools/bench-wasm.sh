#!/bin/bash
# tools/bench-wasm.sh: Prokio on WebAssembly next to the JS peer, in node.
# Runs tools/bench.js (the emscripten build of tools/bench.c) and
# ../shared/peers/js/bench.mjs (the same work written with async functions
# and promises) alternately, three times each, with the same sizes, and
# prints the median of each, their ratio (wasm / js) and issue 7's target.
# ../shared/peers/compare.sh does the same natively against Tokio; it runs
# one fixed peer binary, so it cannot be pointed at node.
#
#   tools/bench-wasm.sh [BENCH...]        (or `emmake make bench-wasm`)
#
# BENCH: spawn_many yield_many chained_spawn ping_pong_oneshot timers
# idle_tasks (default: all). Environment: BENCH_JS (default tools/bench.js,
# from the build directory), PEER_JS (default: ../shared/peers/js/bench.mjs
# next to the source tree or the current directory), NODE, RUNS (3).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
NODE=${NODE:-node}
RUNS=${RUNS:-3}
BENCH_JS=${BENCH_JS:-tools/bench.js}
[ -f "$BENCH_JS" ] || {
    echo "bench-wasm: no $BENCH_JS: run from the wasm build directory after 'emmake make tools/bench.js'" >&2
    exit 2
}
if [ -z "${PEER_JS:-}" ]; then
    for d in "$HERE/../.." "$HERE/../../.." "$PWD/.." "$PWD/../.."; do
        if [ -f "$d/shared/peers/js/bench.mjs" ]; then
            PEER_JS=$d/shared/peers/js/bench.mjs
            break
        fi
    done
fi
[ -f "${PEER_JS:-}" ] || {
    echo "bench-wasm: the JS peer was not found; set PEER_JS=/path/to/peers/js/bench.mjs" >&2
    exit 2
}

# name | figure | target ratio (- for none) | sizes (both take the same)
CASES=(
    "spawn_many|ns_per_task|0.5|100000 40"
    "yield_many|ns_per_yield|0.5|1000 1000 15"
    "chained_spawn|ns_per_spawn|0.5|200000 40"
    "ping_pong_oneshot|ns_per_rt|0.5|100000 50"
    "idle_tasks|rss_bytes_per_task|0.5|1000000"
    "timers|late_p99_us|-|10000 3"
)
want=" ${*:-} "
kv() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) exit 1; print (NR%2)? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# One run of one side: its line of figures (the last bench= line), or "".
run() { timeout 300 "$NODE" --expose-gc "$@" 2>/dev/null | grep 'bench=' | tail -1; }

echo "== bench-wasm $(date -u +%Y%m%dT%H%M%SZ) | node $("$NODE" --version) | loadavg start $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "   wasm: $BENCH_JS   js: $PEER_JS   runs: $RUNS each, alternated; median shown"
printf '%-18s %-20s %12s %12s %8s %8s\n' bench figure wasm js ratio target
status=0
for c in "${CASES[@]}"; do
    IFS='|' read -r name key target sizes <<<"$c"
    [ "$want" = "  " ] || [[ "$want" == *" $name "* ]] || continue
    p=() t=() extra_p=() extra_t=()
    for ((i = 0; i < RUNS; i++)); do
        # shellcheck disable=SC2086
        lp=$(run "$BENCH_JS" $name $sizes)
        # shellcheck disable=SC2086
        lt=$(run "$PEER_JS" $name $sizes)
        p+=("$(kv "$key" "$lp")")
        t+=("$(kv "$key" "$lt")")
        if [ "$name" = timers ]; then
            extra_p+=("min=$(kv late_min_us "$lp")us,early=$(kv early "$lp")")
            extra_t+=("early=$(kv early "$lt")")
        elif [ "$name" = idle_tasks ]; then
            extra_p+=("$(kv measured "$lp"),heap=$(kv heap_bytes_per_task "$lp")")
        fi
    done
    pm=$(printf '%s\n' "${p[@]}" | grep -v '^$' | median) || {
        printf '%-18s %-20s %12s\n' "$name" "$key" "(failed)"
        status=1
        continue
    }
    tm=$(printf '%s\n' "${t[@]}" | grep -v '^$' | median) || tm=""
    r=$(awk -v a="$pm" -v b="$tm" 'BEGIN { if (b + 0 > 0) printf "%.3f", a / b; else print "-" }')
    verdict=-
    if [ "$target" != - ] && [ "$r" != - ]; then
        if awk -v r="$r" -v t="$target" 'BEGIN { exit !(r <= t) }'; then
            verdict="<=$target"
        else
            verdict="MISSED"
            status=1
        fi
    fi
    printf '%-18s %-20s %12s %12s %8s %8s\n' "$name" "$key" "$pm" "${tm:--}" "$r" "$verdict"
    [ ${#extra_p[@]} -eq 0 ] || echo "    wasm: ${extra_p[*]}"
    [ ${#extra_t[@]} -eq 0 ] || echo "    js:   ${extra_t[*]}"
    if [ "$name" = timers ]; then
        # The runtime must never fire early, whatever node's timers do.
        for e in "${extra_p[@]}"; do
            [[ "$e" == *early=0 ]] || { echo "    wasm timers fired early: $e"; status=1; }
        done
    fi
done
echo "   loadavg end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
exit $status
