/* backends/wasm/wasm.c: the WebAssembly backend (emscripten), for a host
 * that cannot block: node's JS thread or a browser's main thread.
 *
 * Built against prokio/backend.h alone, like every backend, and linked into
 * libprokio.a under the name prokio_backend_entry_wasm (there is no dlopen
 * on wasm: the core's built-in table names it). It sets
 * CAP_NONBLOCKING_HOST: the core runs its one worker on the JS thread and
 * this backend drives it from JS callbacks (prokio-wasm.js, linked with
 * --js-library):
 *   wake        one queueMicrotask per batch of wakes calls host->drive;
 *   arm(0)      the drive ran out of its budget with tasks still ready: one
 *               macrotask (setImmediate in node, MessageChannel in
 *               browsers, never setTimeout(0), which node and browsers
 *               clamp to 1-4 ms) so that timers, I/O and rendering run;
 *   arm(t)      one JS setTimeout for the earliest deadline. Node fires
 *               timers up to 0.8 ms early, so a deadline less than a
 *               millisecond away is treated as due: it is driven by
 *               macrotasks until the core's own never-early check lets it
 *               fire, instead of a timer that may come back early again.
 * Every pending JS callback keeps the emscripten runtime alive
 * (runtimeKeepalivePush/Pop), so a program with -sEXIT_RUNTIME=1 ends when,
 * and only when, nothing is left to run.
 *
 * Descriptors: a browser has none and node's are not reachable from wasm
 * without a JS I/O layer, so watch_init refuses with PROKIO_ENOTSUP. */
#include <emscripten.h>

#include <prokio/backend.h>

/* The JS side (prokio-wasm.js). Thread: the JS thread, the only one. */
extern void prokio_wasm_js_init(void *loop);
extern void prokio_wasm_js_fini(void *loop);
extern void prokio_wasm_js_microtask(void *loop);
extern void prokio_wasm_js_macrotask(void *loop);
extern void prokio_wasm_js_timer(void *loop, double ms);
extern void prokio_wasm_js_clear_timer(void *loop);

/* Nanoseconds under which a deadline counts as due (notes/wasm.md). */
#define DUE_SLACK_NS 1000000u

/* The longest delay setTimeout honours, in ms (2^31 - 1, about 24.8 days):
 * node fires a longer one after 1 ms (with a TimeoutOverflowWarning) and
 * browsers at once, which turned a long sleep into a drive every
 * millisecond. A farther deadline arms this much; when it fires early the
 * drive finds nothing due and the core arms the rest. */
#define JS_TIMER_MAX_MS 2147483647.0

struct wasm_loop {
    prokio_backend_host_loop_t *host_loop;
    int microtask; /* a drive is queued as a microtask */
};

static const prokio_backend_host_t *host;

static int wasm_loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                          const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    (void)config, (void)caps;
    struct wasm_loop *l = (struct wasm_loop *)loop;
    l->host_loop = host_loop;
    prokio_wasm_js_init(l);
    return 0;
}

static void wasm_loop_fini(prokio_backend_loop_t *loop)
{
    /* Cancels the timer and the macrotask and makes a queued microtask a
     * no-op (a microtask cannot be cancelled), popping their keepalives. */
    prokio_wasm_js_fini(loop);
}

static uint64_t wasm_now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

/* Called by JS (prokio-wasm.js) from its callbacks; `from_microtask` says
 * which kind, so that the microtask flag is cleared first: a wake during
 * this drive must queue a new one. */
EMSCRIPTEN_KEEPALIVE void prokio_wasm_drive(struct wasm_loop *l, int from_microtask);
void prokio_wasm_drive(struct wasm_loop *l, int from_microtask)
{
    if (from_microtask)
        l->microtask = 0;
    (void)host->drive(l->host_loop);
}

static void wasm_wake(prokio_backend_loop_t *loop)
{
    struct wasm_loop *l = (struct wasm_loop *)loop;
    if (l->microtask)
        return; /* one microtask per batch of wakes */
    l->microtask = 1;
    prokio_wasm_js_microtask(l);
}

static int wasm_arm(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER) {
        prokio_wasm_js_clear_timer(loop);
        return 0;
    }
    uint64_t now = host->monotonic_ns();
    if (deadline_ns == 0 || deadline_ns <= now + DUE_SLACK_NS) {
        prokio_wasm_js_clear_timer(loop);
        prokio_wasm_js_macrotask(loop);
        return 0;
    }
    /* Rounded up: the timer should not fire before the deadline, and when
     * it does anyway, the rest is under the slack and goes by macrotask. */
    uint64_t left = deadline_ns - now;
    double ms = (double)((left + 999999u) / 1000000u);
    prokio_wasm_js_timer(loop, ms < JS_TIMER_MAX_MS ? ms : JS_TIMER_MAX_MS);
    return 0;
}

static int wasm_watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    (void)loop, (void)watch, (void)fd;
    return PROKIO_ENOTSUP;
}

static int wasm_watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch,
                             unsigned events)
{
    (void)loop, (void)watch, (void)events;
    return PROKIO_ENOTSUP;
}

static void wasm_watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    (void)loop, (void)watch;
}

static const prokio_backend_vtable_t wasm_vtable = {
    .size = sizeof(prokio_backend_vtable_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
    .name = "wasm",
    .version = "1.0 (emscripten, JS event loop)",
    .caps = PROKIO_BACKEND_CAP_NONBLOCKING_HOST,
    .loop_size = sizeof(struct wasm_loop),
    .watch_size = 1,
    .loop_init = wasm_loop_init,
    .loop_fini = wasm_loop_fini,
    .now_ns = wasm_now_ns,
    .wake = wasm_wake,
    .arm = wasm_arm,
    .watch_init = wasm_watch_init,
    .watch_update = wasm_watch_update,
    .watch_close = wasm_watch_close,
};

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(wasm)(const prokio_backend_host_t *h,
                                                     uint32_t core_abi,
                                                     const prokio_backend_vtable_t **vtable);
int PROKIO_BACKEND_ENTRY(wasm)(const prokio_backend_host_t *h, uint32_t core_abi,
                               const prokio_backend_vtable_t **vtable)
{
    int rc = prokio_backend_check_core(h, core_abi, "wasm");
    if (rc < 0)
        return rc;
    host = h;
    *vtable = &wasm_vtable;
    return 0;
}
