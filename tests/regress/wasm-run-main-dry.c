/* tests/regress/wasm-run-main-dry.c (WebAssembly only, built by
 * tests/wasm/Makefile.inc, run by tests/wasm/run-main-dry.mjs):
 * a program whose root task, run by prokio_runtime_run_main, waits for
 * something that never comes (nothing can wake it). Under node the event
 * loop runs dry and node ended the program with status 0, as if it had
 * succeeded. Fixed in core/run_main.c: the status is 1 until the root
 * task ends, with a line on stderr saying why. Linked without
 * tests/wasm/pre.js, whose own guard (status 99) would hide the bug. */
#include <stdio.h>

#include <prokio.h>

static int stuck_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return PROKIO_PENDING; /* no waker kept: nothing will poll it again */
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        printf("prokio_runtime_new: %s\n", prokio_last_error());
        return 2;
    }
    return prokio_runtime_run_main(rt, stuck_poll, NULL, 0, NULL);
}
