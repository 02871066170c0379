/* examples/browser/browser.c: Prokio tasks in a web page (index.html).
 *
 * The C side of the page: on WebAssembly the runtime's one worker is the
 * browser's main thread, and main hands the root task to
 * prokio_runtime_run_main, which returns to the event loop at once. Tasks:
 *   clock  a prokio interval ticks every 100 ms and shows the time and the
 *          tick count on the page;
 *   fetch  fetches message.txt through the Promise bridge (prokio/js.h):
 *          a JS function written once in C as source turns the URL into a
 *          Promise of the text, and the task awaits it like any future,
 *          while the clock goes on ticking on the same thread;
 *   root   starts the others and waits on them.
 * The page is updated through one small JS callback the page defines,
 * Module.prokioShow(what, text) (page_show below): C says what to show,
 * the page decides how. Once the clock has ticked REPORT_TICKS times and
 * the fetch has ended, the program hands the page a JSON summary (Module.prokioReport), which the
 * page shows and, under make check, posts back to the server that serves
 * it (check.mjs).
 *
 * Build: see examples/browser/Makefile.inc (emcc, --js-library
 * prokio-wasm.js and prokio-js.js, -sSINGLE_FILE), then serve this directory and the built
 * browser.js over http and open index.html. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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
    int fetched;       /* the fetch ended, well or not */
    size_t bytes;      /* the text's length in UTF-8 */
    uint32_t checksum; /* its FNV-1a */
    char error[160];   /* why the fetch failed, or "" */
    int reported;
} seen;

/* FNV-1a, 32 bits: check.mjs computes the same over the file. */
static uint32_t fnv1a(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--) {
        h ^= (unsigned char)*p++;
        h *= 16777619u;
    }
    return h;
}

/* s as the inside of a JSON string (quotes, backslashes and control
 * characters escaped), cut to fit. */
static void json_escape(char *out, size_t size, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, size - o, "\\%c", c);
        else if (c < 0x20)
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

/* Hands the page its summary once there is something to say. */
static void report_when_ready(void)
{
    if (seen.reported || seen.ticks <= REPORT_TICKS || !seen.fetched)
        return;
    seen.reported = 1;
    char error[256], json[512];
    json_escape(error, sizeof error, seen.error);
    snprintf(json, sizeof json,
             "{\"ticks\":%d,\"ticks_ms\":%.3f,\"bytes\":%zu,\"checksum\":\"%08x\","
             "\"fetch_error\":\"%s\"}",
             REPORT_TICKS, (seen.tenth_ns - seen.start_ns) / 1e6, seen.bytes,
             (unsigned)seen.checksum, error);
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

/* The fetch task. The JS function is written once, as source: fetch the
 * URL, refuse an HTTP error, resolve with the text. */
static const char fetch_text_js[] = "(url) => fetch(url).then((r) => {"
                                    "  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);"
                                    "  return r.text();"
                                    "})";

struct fetcher {
    int started;
    prokio_js_t promise;
    prokio_js_await_t await;
};

/* The fetch's end, good or bad, on the page and in the summary. */
static int fetch_ended(const char *error)
{
    if (error != NULL) {
        snprintf(seen.error, sizeof seen.error, "%s", error);
        page_show("fetch", seen.error);
    }
    seen.fetched = 1;
    report_when_ready();
    return error ? 1 : 0;
}

/* Starts the fetch: a Promise of the text in f->promise. */
static int fetch_start(struct fetcher *f)
{
    prokio_js_t fn = 0, url = 0;
    int rc = prokio_js_function(&fn, fetch_text_js);
    if (rc == 0)
        rc = prokio_js_string(&url, "message.txt");
    if (rc == 0)
        rc = prokio_js_call(&f->promise, fn, 0, &url, 1);
    prokio_js_release(fn);
    prokio_js_release(url);
    return rc;
}

static int fetch_poll(void *frame, prokio_cx_t *cx)
{
    struct fetcher *f = frame;
    if (!f->started) {
        f->started = 1;
        page_show("fetch", "fetching message.txt\xe2\x80\xa6");
        if (fetch_start(f) < 0)
            return fetch_ended(prokio_last_error());
    }
    prokio_js_t text = 0;
    int rc = prokio_js_await_poll(&text, &f->await, f->promise, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    if (rc < 0) { /* rejected: text is the reason, the message is C's */
        prokio_js_release(text);
        return fetch_ended(prokio_last_error());
    }
    size_t len = 0;
    char *buf = NULL;
    rc = prokio_js_to_string(text, NULL, 0, &len);
    if (rc == 0 && (buf = malloc(len + 1)) == NULL)
        rc = PROKIO_ENOMEM;
    if (rc == 0)
        rc = prokio_js_to_string(text, buf, len + 1, NULL);
    prokio_js_release(text);
    if (rc < 0) {
        free(buf);
        return fetch_ended(prokio_last_error());
    }
    seen.bytes = len;
    seen.checksum = fnv1a(buf, len);
    char line[96];
    snprintf(line, sizeof line, "%zu bytes, FNV-1a %08x, awaited by a C task", len,
             (unsigned)seen.checksum);
    page_show("fetch", line);
    page_show("message", buf);
    free(buf);
    return fetch_ended(NULL);
}

/* The task's end (return, abort, shutdown): the handle it holds goes; the
 * runtime abandons a pending await itself (js.h, Cancel-safety). */
static void fetch_drop(void *frame)
{
    struct fetcher *f = frame;
    prokio_js_release(f->promise);
}

struct root {
    int state;
    prokio_task_t *clock;
    prokio_task_t *fetch;
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
        rc =
            prokio_spawn_local(&r->fetch, fetch_poll, NULL, sizeof(struct fetcher), fetch_drop, cx);
        if (rc < 0) {
            page_show("status", prokio_last_error());
            return 1;
        }
        page_show("status", "running: two C tasks on the page's main thread");
        r->state = 1;
        /* fall through */
    case 1:
        rc = prokio_task_join_poll(r->fetch, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        prokio_task_release(r->fetch);
        page_show("status", rc == 0 ? "running: the clock task goes on; the fetch task is done"
                                    : "running: the clock task goes on; the fetch task failed");
        r->state = 2;
        /* fall through */
    case 2:
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
