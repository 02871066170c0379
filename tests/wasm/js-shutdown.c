/* tests/wasm/js-shutdown.c: the JS bridge when the runtime shuts down
 * under it. A task awaits a promise that settles at 40 ms, and a C task that
 * never ends is handed to JS as a Promise; the runtime is freed at 20 ms
 * (from a JS timer, outside the runtime). Then: the free succeeds (the
 * promise's hook gave its JoinHandle back), the task's Promise rejects
 * saying the runtime shut down, and at 80 ms, after the late settlement,
 * nothing crashed and no handle is left. Output: TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <emscripten.h>
#include <prokio.h>

static prokio_runtime_t *rt;
static int failures, test_no;

static void report(int ok, const char *what, const char *detail)
{
    ++test_no;
    failures += !ok;
    printf("%s %d - %s%s%s\n", ok ? "ok" : "not ok", test_no, what, *detail ? ": " : "", detail);
    fflush(stdout);
}

struct waiting {
    prokio_js_t promise;
    prokio_js_await_t aw;
};

static int waiting_poll(void *frame, prokio_cx_t *cx)
{
    struct waiting *w = frame;
    prokio_js_t r;
    int rc = prokio_js_await_poll(&r, &w->aw, w->promise, cx);
    if (rc != PROKIO_PENDING) {
        printf("# the await completed (%d) though the runtime shut down first\n", rc);
        prokio_js_release(r);
        failures++;
    }
    return rc;
}

static void waiting_drop(void *frame)
{
    prokio_js_release(((struct waiting *)frame)->promise);
}

static int forever_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return PROKIO_PENDING;
}

static prokio_js_t fn(const char *src)
{
    prokio_js_t f = 0;
    if (prokio_js_function(&f, src) < 0)
        printf("# prokio_js_function: %s\n", prokio_last_error());
    return f;
}

static void shut(void *arg)
{
    (void)arg;
    int rc = prokio_runtime_free(rt);
    report(rc == 0, "the runtime frees while a task awaits and a task is a Promise",
           rc == 0 ? "" : prokio_last_error());
}

static void check(void *arg)
{
    (void)arg;
    char buf[256] = "";
    prokio_js_t h = 0;
    int late = prokio_js_global(&h, "lateSettled") == 0;
    prokio_js_release(h);
    report(late, "the awaited promise settled after the shutdown, without a crash", "");
    if (prokio_js_global(&h, "bOutcome") == 0)
        prokio_js_to_string(h, buf, sizeof buf, NULL);
    prokio_js_release(h);
    report(strcmp(buf, "rejected: the runtime shut down before the task ended (ECANCELED)") == 0,
           "the task's Promise rejects: the runtime shut down", buf);
    int live = prokio_js_handles_live();
    snprintf(buf, sizeof buf, "%d handles live", live);
    report(live == 0, "no handle left", buf);
    exit(failures ? 1 : 0);
}

int main(void)
{
    printf("1..5\n");
    if (prokio_runtime_new(&rt, NULL) < 0) {
        printf("Bail out! prokio_runtime_new: %s\n", prokio_last_error());
        return 1;
    }
    struct waiting w = {0};
    prokio_js_t f = fn("() => new Promise(res => setTimeout(() => { globalThis.lateSettled = true;"
                       " res({late: 'value'}); }, 40))");
    prokio_js_t none = 0;
    int ok = prokio_js_call(&w.promise, f, 0, NULL, 0) == 0;
    prokio_js_release(f);
    ok &= prokio_spawn(NULL, rt, waiting_poll, &w, sizeof w, waiting_drop) == 0;
    prokio_task_t *b;
    prokio_js_t pb = 0;
    ok &= prokio_spawn(&b, rt, forever_poll, NULL, 0, NULL) == 0;
    ok &= prokio_js_promise_of_task(&pb, b, 0) == 0;
    f = fn("(p) => { p.then(v => { globalThis.bOutcome = 'resolved ' + v; }, "
           "e => { globalThis.bOutcome = 'rejected: ' + e.message; }); }");
    ok &= prokio_js_call(&none, f, 0, &pb, 1) == 0;
    prokio_js_release(none);
    prokio_js_release(f);
    prokio_js_release(pb);
    report(ok, "set up", ok ? "" : prokio_last_error());
    emscripten_async_call(shut, NULL, 20);
    emscripten_async_call(check, NULL, 80);
    return 0;
}
