/* tests/regress/mpsc-recv-many-grants.c: a receive of many values hands
 * every slot it frees to the senders waiting for capacity.
 *
 * The bug (found in review): prokio_mpsc_recv_many_poll freed its slots
 * one by one to the waiting senders but stopped when its wake list (32
 * wakers) was full. With more than 32 senders waiting and more than 32
 * values taken, the rest of the freed capacity stayed free while senders
 * still waited for it: for ever, if the receiver then waited for their
 * values (a deadlock; this test then hangs until its watchdog), and
 * try_send, which never overtakes a waiting sender, was refused on a
 * channel with room.
 *
 * Here: a channel of capacity 64, full; 40 senders wait; one
 * recv_many(64) frees 64 slots. All 40 senders must be granted (each
 * value arrives), and the 24 slots left must take a try_send. Runs once,
 * on the automatic backend. */
#include <stdatomic.h>

#include "common.h"

#define CAP     64
#define WAITING 40

static atomic_int pending; /* senders that found the channel full */

struct sender {
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    int v;
    bool counted;
};

static int sender_poll(void *frame, prokio_cx_t *cx)
{
    struct sender *s = frame;
    int rc = prokio_mpsc_send_poll(&s->wait, s->tx, &s->v, cx);
    if (rc == PROKIO_PENDING && !s->counted) {
        s->counted = true;
        atomic_fetch_add(&pending, 1);
    }
    return rc;
}

static void sender_drop(void *frame)
{
    prokio_mpsc_tx_release(((struct sender *)frame)->tx);
}

struct taker {
    prokio_mpsc_rx_t *rx;
    int got[CAP];
};

static int taker_poll(void *frame, prokio_cx_t *cx)
{
    struct taker *t = frame;
    return prokio_mpsc_recv_many_poll(t->rx, t->got, CAP, cx);
}

static void test_every_freed_slot_is_granted(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), CAP, NULL, 0), 0);
    for (int i = 0; i < CAP; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    prokio_task_t *h[WAITING];
    for (int i = 0; i < WAITING; i++) {
        struct sender s = {.tx = prokio_mpsc_tx_clone(tx), .v = CAP + i};
        assert_int_equal(prokio_spawn(&h[i], rt, sender_poll, &s, sizeof s, sender_drop), 0);
    }
    for (uint64_t spins = 0; atomic_load(&pending) < WAITING; spins++)
        if (spins > 100000000)
            fail_msg("only %d of %d senders waited", atomic_load(&pending), WAITING);
    struct taker t = {.rx = rx};
    assert_int_equal(prokio_runtime_block_on(rt, taker_poll, &t, sizeof t, NULL), CAP);
    for (int i = 0; i < CAP; i++)
        assert_int_equal(t.got[i], i);
    /* Every waiting sender was granted a slot: each ends, its value sent. */
    for (int i = 0; i < WAITING; i++) {
        assert_int_equal(prokio_task_blocking_join(h[i]), 0);
        prokio_task_release(h[i]);
    }
    /* And the rest of the freed room takes sends without waiting. */
    int extra = -1;
    assert_int_equal(prokio_mpsc_try_send(tx, &extra), 0);
    assert_int_equal(prokio_mpsc_rx_len(rx), WAITING + 1);
    prokio_mpsc_tx_release(tx);
    prokio_mpsc_rx_release(rx);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("mpsc-recv-many-grants", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_freed_slot_is_granted),
    };
    return cmocka_run_group_tests_name("mpsc-recv-many-grants", tests, NULL, NULL);
}
