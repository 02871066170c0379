/* examples/browser/browser.c: Prokio tasks in a web page (index.html).
 *
 * The C side of the page: on WebAssembly the runtime's one worker is the
 * browser's main thread, and main hands the root task to
 * prokio_runtime_run_main, which returns to the event loop at once. Tasks:
 *   clock  a prokio interval ticks every 100 ms and shows the time and the
 *          tick count on the page;
 *   root   starts the others and waits on them.
 * The page is updated through one small JS callback the page defines,
 * Module.prokioShow(what, text) (page_show below): C says what to show,
 * the page decides how. Once the clock has ticked REPORT_TICKS times the
 * program hands the page a JSON summary (Module.prokioReport), which the
 * page shows and, under make check, posts back to the server that serves
 * it (check.mjs).
 *
 * Build: see examples/browser/Makefile.inc (emcc, --js-library
 * prokio-wasm.js, -sSINGLE_FILE), then serve this directory and the built
 * browser.js over http and open index.html. */
#include <stdint.h>
#include <stdio.h>

#include <prokio.h>

#include <emscripten.h>

enum { PERIOD_MS = 100, REPORT_TICKS = 10 };

/* The page's callbacks; nothing happens when the page has none. */
EM_JS(void, page_show, (const char *what, const char *text), {
    if (Module.prokioShow)
        Module.prokioShow(UTF8ToString(what), UTF8ToString(text));
});
EM_JS(void, page_report, (const char *json), {
    if (Module.prokioReport)
        Module.prokioReport(UTF8ToString(json));
});

/* What the tasks have seen, for the summary. Thread: the JS thread, the
 * only one: plain variables. */
static struct {
    int ticks;
    uint64_t start_ns; /* the clock's first tick */
    uint64_t tenth_ns; /* its REPORT_TICKS-th tick after the first */
    int reported;
} seen;

/* Hands the page its summary once there is something to say. */
static void report_when_ready(void)
{
    if (seen.reported || seen.ticks <= REPORT_TICKS)
        return;
    seen.reported = 1;
    char json[256];
    snprintf(json, sizeof json, "{\"ticks\":%d,\"ticks_ms\":%.3f}", REPORT_TICKS,
             (seen.tenth_ns - seen.start_ns) / 1e6);
    page_report(json);
}

/* The clock task: forever, one tick every PERIOD_MS (SKIP: a page in a
 * background tab, which browsers throttle, does not catch up in a burst). */
struct clock {
    int started;
    prokio_interval_t interval;
};

static int clock_poll(void *frame, prokio_cx_t *cx)
{
    struct clock *c = frame;
    if (!c->started) {
        int rc = prokio_interval_init(&c->interval, PROKIO_MS(PERIOD_MS), PROKIO_TICK_SKIP);
        if (rc < 0)
            return rc;
        c->started = 1;
    }
    for (;;) {
        int rc = prokio_interval_tick_poll(&c->interval, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        if (rc < 0)
            return rc;
        uint64_t at = prokio_interval_last_deadline(&c->interval);
        if (seen.ticks == 0)
            seen.start_ns = at;
        if (seen.ticks == REPORT_TICKS)
            seen.tenth_ns = prokio_cx_now_ns(cx);
        seen.ticks++;
        char text[32];
        snprintf(text, sizeof text, "%.1f s", (at - seen.start_ns) / 1e9);
        page_show("clock", text);
        snprintf(text, sizeof text, "%d tick%s", seen.ticks, seen.ticks == 1 ? "" : "s");
        page_show("ticks", text);
        report_when_ready();
    }
}

struct root {
    int state;
    prokio_task_t *clock;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc;
    switch (r->state) {
    case 0:
        rc = prokio_spawn_local(&r->clock, clock_poll, NULL, sizeof(struct clock), NULL, cx);
        if (rc < 0) {
            page_show("status", prokio_last_error());
            return 1;
        }
        page_show("status", "running: the clock task ticks on the page's main thread");
        r->state = 1;
        /* fall through */
    case 1:
        /* The clock never ends unless it fails. */
        rc = prokio_task_join_poll(r->clock, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        prokio_task_release(r->clock);
        page_show("status", prokio_strerror(rc));
        return 1;
    }
    return 1;
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        page_show("status", prokio_last_error());
        return 1;
    }
    return prokio_runtime_run_main(rt, root_poll, NULL, sizeof(struct root), NULL);
}
