/* tests/wasm/run-main.c: prokio_runtime_run_main on WebAssembly: main
 * returns to the JS event loop at once, the root task runs there, spawns a
 * child, sleeps (never early, though node fires its timers early), yields
 * 10,000 times (the drive budget hands control back to the macrotask
 * queue meanwhile: a JS-side macrotask counter must advance), and the
 * program ends with the root's result as its exit status.
 * Output: TAP, printed by the root task. */
#include <stdio.h>
#include <time.h>

#include <prokio.h>

#include <emscripten.h>

/* A JS macrotask counter: setImmediate in node, a MessageChannel in a
 * browser (which has no setImmediate). */
EM_JS(void, ticker_start, (void), {
    globalThis.prokioTicks = 0;
    var next;
    if (typeof setImmediate == 'function') {
        next = function(f)
        {
            setImmediate(f);
        };
    } else {
        var ch = new MessageChannel();
        var pending = null;
        ch.port1.onmessage = function()
        {
            pending();
        };
        next = function(f)
        {
            pending = f;
            ch.port2.postMessage(0);
        };
    }
    function tick()
    {
        globalThis.prokioTicks++;
        if (globalThis.prokioTicks < 1000000 && !globalThis.prokioStop)
            next(tick);
    }
    next(tick);
});
EM_JS(int, ticker_stop, (void), {
    globalThis.prokioStop = true;
    return globalThis.prokioTicks;
});

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int child_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    return *(int *)frame + 1;
}

struct root {
    int state;
    prokio_task_t *child;
    prokio_sleep_t sleep;
    uint64_t start;
    int yields;
    int ticks_before;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc;
    switch (r->state) {
    case 0:
        printf("1..4\n");
        int v = 41;
        if ((rc = prokio_spawn_local(&r->child, child_poll, &v, sizeof v, NULL, cx)) < 0) {
            printf("not ok 1 - spawn_local: %s\n", prokio_last_error());
            return 1;
        }
        r->state = 1;
        /* fall through */
    case 1:
        if ((rc = prokio_task_join_poll(r->child, cx)) == PROKIO_PENDING)
            return PROKIO_PENDING;
        prokio_task_release(r->child);
        printf("%s 1 - a child spawned and joined on the JS thread (%d)\n",
               rc == 42 ? "ok" : "not ok", rc);
        prokio_sleep_init(&r->sleep, PROKIO_MS(20));
        r->start = now_ns();
        r->state = 2;
        /* fall through */
    case 2:
        if (prokio_sleep_poll(&r->sleep, cx) == PROKIO_PENDING)
            return PROKIO_PENDING;
        {
            uint64_t took = now_ns() - r->start;
            printf("%s 2 - a 20 ms sleep took %.3f ms (never early)\n",
                   took >= PROKIO_MS(20) ? "ok" : "not ok", took / 1e6);
        }
        ticker_start();
        r->state = 3;
        /* fall through */
    case 3:
        if (r->yields < 10000) {
            r->yields++;
            return prokio_cx_yield(cx);
        }
        {
            int ticks = ticker_stop();
            printf("%s 3 - 10000 yields let the JS macrotask queue run (%d macrotask ticks)\n",
                   ticks > 0 ? "ok" : "not ok", ticks);
        }
        printf("ok 4 - the root task ends the program with its result\n");
        return 0;
    }
    return 1;
}

int main(void)
{
    prokio_runtime_t *rt;
    int rc = prokio_runtime_new(&rt, NULL);
    if (rc < 0) {
        printf("Bail out! prokio_runtime_new: %s\n", prokio_last_error());
        return 1;
    }
    if (prokio_runtime_block_on(rt, child_poll, &(int){0}, sizeof(int), NULL) != PROKIO_ENOTSUP) {
        printf("Bail out! block_on without -sASYNCIFY should say PROKIO_ENOTSUP\n");
        return 1;
    }
    fprintf(stderr, "# block_on said: %s\n", prokio_last_error());
    return prokio_runtime_run_main(rt, root_poll, NULL, sizeof(struct root), NULL);
}
