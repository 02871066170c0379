/* tests/regress/wasm-timer-overflow.c (WebAssembly only, built by
 * tests/wasm/Makefile.inc): a sleep longer than setTimeout's limit
 * (2^31 - 1 ms, about 24.8 days) made the wasm backend arm a JS timer
 * that node fires after 1 ms (TimeoutOverflowWarning) and browsers at
 * once: while such a sleep was the earliest deadline, the runtime was
 * driven every millisecond. Fixed in backends/wasm/wasm.c (the delay is
 * clamped; a timer that fires early is re-armed for the rest).
 *
 * A task sleeps 60 days; the root task waits 300 ms for a JS callback
 * (so that the 60-day sleep is the earliest runtime deadline) while
 * setTimeout is watched: no delay over the limit, and at most a few
 * timers armed in those 300 ms (about 300 before the fix). Output: TAP. */
#include <stdio.h>

#include <prokio.h>

#include <emscripten.h>

/* Wraps setTimeout: counts calls and those over the limit. */
EM_JS(void, watch_timers, (void), {
    globalThis.prokioTimers = {calls : 0, over : 0};
    var orig = globalThis.setTimeout;
    globalThis.setTimeout = function(fn, ms)
    {
        globalThis.prokioTimers.calls++;
        if (ms > 2147483647)
            globalThis.prokioTimers.over++;
        return orig.apply(this, arguments);
    };
});
EM_JS(int, timer_calls, (void), { return globalThis.prokioTimers.calls; });
EM_JS(int, timer_over, (void), { return globalThis.prokioTimers.over; });

static prokio_oneshot_tx_t *gate_tx;

/* The JS callback that ends the wait. */
EMSCRIPTEN_KEEPALIVE void overflow_test_open(void);
void overflow_test_open(void)
{
    (void)prokio_oneshot_send(gate_tx, NULL);
}
EM_JS(void, open_later, (int ms), {
    setTimeout(
        function() { _overflow_test_open(); }, ms);
});

static int long_sleep_poll(void *frame, prokio_cx_t *cx)
{
    prokio_sleep_t *s = frame;
    return prokio_sleep_poll(s, cx);
}

struct root {
    int state;
    int failed;
    prokio_oneshot_rx_t *gate;
    prokio_task_t *sleeper;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    if (r->state == 0) {
        prokio_sleep_t s;
        prokio_sleep_init(&s, PROKIO_SEC(60ull * 24 * 3600));
        if (prokio_spawn_local(&r->sleeper, long_sleep_poll, &s, sizeof s, NULL, cx) < 0 ||
            prokio_oneshot_new(&gate_tx, &r->gate, 0, NULL, 0) < 0) {
            printf("Bail out! %s\n", prokio_last_error());
            return 1;
        }
        open_later(300);
        watch_timers();
        r->state = 1;
    }
    if (r->state == 1) {
        int rc = prokio_oneshot_recv_poll(r->gate, NULL, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        prokio_oneshot_rx_release(r->gate);
        int calls = timer_calls(), over = timer_over();
        printf("1..3\n");
        printf("%s 1 - no setTimeout delay over 2^31 - 1 ms (%d)\n", over == 0 ? "ok" : "not ok",
               over);
        printf("%s 2 - a 60-day sleep armed %d JS timers in 300 ms\n", calls <= 5 ? "ok" : "not ok",
               calls);
        r->failed = over != 0 || calls > 5;
        prokio_task_abort(r->sleeper);
        r->state = 2;
    }
    int rc = prokio_task_join_poll(r->sleeper, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    prokio_task_release(r->sleeper);
    printf("%s 3 - the sleeper is aborted (%s)\n", rc == PROKIO_ECANCELED ? "ok" : "not ok",
           prokio_err_name(rc));
    return rc == PROKIO_ECANCELED && !r->failed ? 0 : 1;
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        printf("Bail out! prokio_runtime_new: %s\n", prokio_last_error());
        return 1;
    }
    return prokio_runtime_run_main(rt, root_poll, NULL, sizeof(struct root), NULL);
}
