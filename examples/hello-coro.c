/* examples/hello-coro.c: the task of hello-raw.c, written with the
 * stackless coroutine macros of prokio/coro.h. The macros expand to the
 * same switch-based state machine; state that must survive an await lives
 * in the frame, not in locals.
 *
 * Build: cc hello-coro.c $(pkg-config --cflags --libs prokio) */
#include <stdio.h>

#include <prokio.h>

struct countdown {
    int co; /* the resume point, zero at the start */
    int left;
    prokio_sleep_t tick;
};

static int countdown_poll(void *frame, prokio_cx_t *cx)
{
    struct countdown *c = frame;
    PROKIO_BEGIN(&c->co);
    for (; c->left > 0; c->left--) {
        printf("%d...\n", c->left);
        prokio_sleep_init(&c->tick, PROKIO_MS(100));
        PROKIO_AWAIT(&c->co, prokio_sleep_poll(&c->tick, cx));
    }
    printf("lift-off on worker %u\n", prokio_cx_worker(cx));
    PROKIO_END(&c->co, 0);
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        fprintf(stderr, "hello-coro: %s\n", prokio_last_error());
        return 1;
    }
    struct countdown c = {.left = 3};
    /* Runs the task to its end and frees rt: natively it blocks, as
     * prokio_runtime_block_on; on WebAssembly main returns to the JS event
     * loop at once and the program exits when the task ends. The same
     * source builds for both. */
    return prokio_runtime_run_main(rt, countdown_poll, &c, sizeof c, NULL);
}
