/* tests/regress/wasm-js-reentry.c (WebAssembly only, built by
 * tests/wasm/Makefile.inc): a prokio_js_waker function called by JS while
 * C was inside the runtime (a task's poll calling JS through
 * prokio_js_call, and that JS calling the waker at once, e.g. `(w) => {
 * if (ready) w(); else setTimeout(w, 10); }`) entered C through
 * emscripten's callUserCallback, which ends with maybeExit(): with no
 * keepalive counted at that moment (the drive's own callback had given
 * its keepalive back, and waking the running task queues nothing new),
 * emscripten exited the program with status 0 in the middle of the
 * drive. Everything after it was lost while the program "passed". Fixed
 * in core/prokio-js.js (the waker function enters C synchronously,
 * without maybeExit, as it only wakes).
 *
 * No prokio_runtime_run_main (whose emscripten_exit_with_live_runtime
 * keeps one keepalive for ever and hid the bug): main spawns a task and
 * returns, as js-keepalive.c does. The task calls a JS function that
 * calls the task's waker at once; the task must then be polled again.
 * Output: TAP with a plan of 2, so an early exit is an error. */
#include <stdio.h>

#include <prokio.h>

struct frame {
    int polls;
    prokio_js_t w, f;
};

static int task_poll(void *frame, prokio_cx_t *cx)
{
    struct frame *fr = frame;
    if (fr->polls++ == 0) {
        printf("1..2\n");
        prokio_js_t r = 0;
        int rc = prokio_js_waker(&fr->w, prokio_cx_waker(cx));
        if (rc == 0)
            rc = prokio_js_function(&fr->f, "(w) => { w(); return 'woken'; }");
        if (rc == 0)
            rc = prokio_js_call(&r, fr->f, 0, &fr->w, 1);
        prokio_js_release(r);
        /* Reached only if the synchronous wake did not end the program. */
        printf("%s 1 - a waker called synchronously from JS inside a poll returns (%s)\n",
               rc == 0 ? "ok" : "not ok", rc == 0 ? "" : prokio_last_error());
        fflush(stdout);
        return PROKIO_PENDING;
    }
    printf("%s 2 - the task is polled again after that wake (%d polls)\n",
           fr->polls == 2 ? "ok" : "not ok", fr->polls);
    fflush(stdout);
    return 0;
}

static void task_drop(void *frame)
{
    struct frame *fr = frame;
    prokio_js_release(fr->f);
    prokio_js_release(fr->w);
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0 ||
        prokio_spawn(NULL, rt, task_poll, NULL, sizeof(struct frame), task_drop) < 0) {
        printf("Bail out! %s\n", prokio_last_error());
        return 1;
    }
    return 0; /* the program ends by itself when nothing is left to run */
}
