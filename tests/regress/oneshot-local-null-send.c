/* tests/regress/oneshot-local-null-send.c: a refused send on a
 * PROKIO_LOCAL oneshot wakes the waiting receiver.
 *
 * The bug (found in review): prokio_oneshot_send with a NULL value (for a
 * value of non-zero size) consumes the sender, as documented, and the
 * receiver must get PROKIO_EPIPE. The shared channel's path woke the
 * receiver (finish_tx); the local one only marked the sender done
 * (local_finish) and left the receiver's task parked, with its armed node
 * still linked: a lost wakeup, the receiver waited for ever.
 *
 * Here, on one worker: a receiver task waits on a local oneshot, then the
 * sender is refused with NULL. The receiver must end with PROKIO_EPIPE
 * within 2 s (scaled); the lost wake shows as PROKIO_ETIMEDOUT. Runs
 * once, on the automatic backend. */
#include "common.h"

struct rx_task {
    prokio_oneshot_rx_t *rx;
    int *polls; /* the driver's count of this task's polls */
    int v;
};

static int rx_poll(void *frame, prokio_cx_t *cx)
{
    struct rx_task *r = frame;
    (*r->polls)++;
    return prokio_oneshot_recv_poll(r->rx, &r->v, cx);
}

static void rx_drop(void *frame)
{
    prokio_oneshot_rx_release(((struct rx_task *)frame)->rx);
}

struct driver {
    int step;
    int rx_polls;
    prokio_oneshot_tx_t *tx;
    prokio_task_t *h;
    prokio_sleep_t deadline;
    int send_rc;
};

static int join_branch(void *future, prokio_cx_t *cx)
{
    return prokio_task_join_poll(future, cx);
}

static int driver_poll(void *frame, prokio_cx_t *cx)
{
    struct driver *d = frame;
    switch (d->step) {
    case 0: {
        struct rx_task r = {.polls = &d->rx_polls};
        if (prokio_oneshot_new(&d->tx, &r.rx, sizeof(int), NULL, PROKIO_LOCAL) < 0)
            return -100;
        if (prokio_spawn_local(&d->h, rx_poll, &r, sizeof r, rx_drop, cx) < 0)
            return -101;
        prokio_sleep_init(&d->deadline, PROKIO_SEC(2) * test_timeout_scale());
        d->step = 1;
        return prokio_cx_yield(cx);
    }
    case 1:
        if (d->rx_polls == 0)
            return prokio_cx_yield(cx); /* the receiver must be waiting first */
        d->send_rc = prokio_oneshot_send(d->tx, NULL);
        d->step = 2;
        /* fall through */
    default: {
        prokio_branch_t join = {.poll = join_branch, .future = d->h};
        int rc = prokio_timeout_poll(&d->deadline, join, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc == PROKIO_ETIMEDOUT)
            prokio_task_abort(d->h); /* never woken: its drop releases rx */
        prokio_task_release(d->h);
        if (d->send_rc != PROKIO_EINVAL)
            return -102;
        return rc;
    }
    }
}

static void test_local_null_send_wakes_receiver(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct driver d = {0};
    assert_int_equal(prokio_runtime_block_on(rt, driver_poll, &d, sizeof d, NULL), PROKIO_EPIPE);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("oneshot-local-null-send", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_null_send_wakes_receiver),
    };
    return cmocka_run_group_tests_name("oneshot-local-null-send", tests, NULL, NULL);
}
