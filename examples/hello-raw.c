/* examples/hello-raw.c: a task written as a raw poll function, the ABI of
 * tasks: a state machine you write by hand, with no macros and no cost.
 * Compare with hello-coro.c, the same task with the coroutine macros.
 *
 * Build: cc hello-raw.c $(pkg-config --cflags --libs prokio) */
#include <stdio.h>

#include <prokio.h>

struct countdown {
    enum { START, SLEEPING, DONE } state;
    int left;
    prokio_sleep_t tick;
};

/* Called by the worker whenever the task may make progress. Every
 * PROKIO_PENDING return is preceded by a leaf future (here the sleep)
 * having stored the task's waker, so the task is polled again in time. */
static int countdown_poll(void *frame, prokio_cx_t *cx)
{
    struct countdown *c = frame;
    for (;;) {
        switch (c->state) {
        case START:
            if (c->left == 0) {
                c->state = DONE;
                break;
            }
            printf("%d...\n", c->left);
            prokio_sleep_init(&c->tick, PROKIO_MS(100));
            c->state = SLEEPING;
            /* fall through */
        case SLEEPING: {
            int rc = prokio_sleep_poll(&c->tick, cx);
            if (rc == PROKIO_PENDING)
                return PROKIO_PENDING;
            if (rc < 0)
                return rc;
            c->left--;
            c->state = START;
            break;
        }
        case DONE:
            printf("lift-off on worker %u\n", prokio_cx_worker(cx));
            return 0;
        }
    }
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        fprintf(stderr, "hello-raw: %s\n", prokio_last_error());
        return 1;
    }
    struct countdown c = {.state = START, .left = 3};
    /* Runs the task to its end and frees rt: natively it blocks, as
     * prokio_runtime_block_on; on WebAssembly main returns to the JS event
     * loop at once and the program exits when the task ends. The same
     * source builds for both. */
    return prokio_runtime_run_main(rt, countdown_poll, &c, sizeof c, NULL);
}
