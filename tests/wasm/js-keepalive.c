/* tests/wasm/js-keepalive.c: an await whose promise never settles must not
 * keep the program alive once it is gone. No prokio_runtime_run_main and
 * no exit() on success: main returns 0 and the program must end by itself
 * when nothing is left to run (-sEXIT_RUNTIME=1: emscripten exits, running
 * atexit handlers, when its keepalive count is back to 0). The root task's
 * last act sets node's exit code to 99: had an abort or a cancel left the
 * await's keepalive behind, emscripten would never exit, node would run
 * dry with 99 (an error for automake) and test 3, printed by the atexit
 * handler, would be missing. Output: TAP. */
#include <stdio.h>
#include <stdlib.h>

#include <prokio.h>

struct never {
    prokio_js_t promise;
    prokio_js_await_t aw;
};

static int never_poll(void *frame, prokio_cx_t *cx)
{
    struct never *n = frame;
    prokio_js_t r;
    int rc = prokio_js_await_poll(&r, &n->aw, n->promise, cx);
    if (rc != PROKIO_PENDING)
        prokio_js_release(r);
    return rc;
}

static void never_drop(void *frame)
{
    prokio_js_release(((struct never *)frame)->promise);
}

static prokio_js_t never_promise(void)
{
    prokio_js_t f = 0, p = 0;
    if (prokio_js_function(&f, "() => new Promise(() => {})") < 0 ||
        prokio_js_call(&p, f, 0, NULL, 0) < 0)
        printf("# %s\n", prokio_last_error());
    prokio_js_release(f);
    return p;
}

struct root {
    int co;
    prokio_task_t *child;
    prokio_sleep_t nap;
    prokio_js_await_t aw;
    prokio_js_t p;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc;
    prokio_js_t res;
    PROKIO_BEGIN(&r->co);
    printf("1..3\n");
    {
        struct never n = {.promise = never_promise()};
        if (prokio_spawn_local(&r->child, never_poll, &n, sizeof n, never_drop, cx) < 0) {
            printf("Bail out! %s\n", prokio_last_error());
            exit(1);
        }
    }
    prokio_sleep_init(&r->nap, PROKIO_MS(5));
    PROKIO_AWAIT(&r->co, prokio_sleep_poll(&r->nap, cx));
    prokio_task_abort(r->child);
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_task_join_poll(r->child, cx));
    prokio_task_release(r->child);
    printf("%s 1 - a task awaiting a promise that never settles is aborted (%s)\n",
           rc == PROKIO_ECANCELED ? "ok" : "not ok", prokio_err_name(rc));
    if (rc != PROKIO_ECANCELED)
        exit(1);
    r->p = never_promise();
    rc = prokio_js_await_poll(&res, &r->aw, r->p, cx);
    prokio_js_await_cancel(&r->aw);
    prokio_js_release(r->p);
    printf("%s 2 - an await of a promise that never settles is cancelled (%d handles live)\n",
           rc == PROKIO_PENDING && prokio_js_handles_live() == 0 ? "ok" : "not ok",
           prokio_js_handles_live());
    if (rc != PROKIO_PENDING || prokio_js_handles_live() != 0)
        exit(1);
    printf("# the program must now end by itself with status 0\n");
    fflush(stdout);
    r->p = 0;
    if (prokio_js_function(&r->p, "() => { if (typeof process !== 'undefined') "
                                  "process.exitCode = 99; }") == 0 &&
        prokio_js_call(&res, r->p, 0, NULL, 0) == 0)
        prokio_js_release(res);
    prokio_js_release(r->p);
    PROKIO_END(&r->co, 0);
}

static void ended(void)
{
    printf("ok 3 - the program ended by itself: no keepalive was left behind\n");
    fflush(stdout);
}

int main(void)
{
    atexit(ended);
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0 ||
        prokio_spawn(NULL, rt, root_poll, NULL, sizeof(struct root), NULL) < 0) {
        printf("Bail out! %s\n", prokio_last_error());
        return 1;
    }
    return 0; /* the runtime stays: the program ends when nothing is left */
}
