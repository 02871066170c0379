/* tests/regress/sleeps-many-armed.c: one task with many sleeps armed at
 * once.
 *
 * A task keeps the leaf futures it armed on a list, so that its end disarms
 * them. The list was singly linked and each timer that fired was taken off
 * it by a linear search. New nodes went in at the head, so when sleeps are
 * armed in deadline order (a join-all with a deadline per item), the
 * earliest deadline sits at the tail: firing K sleeps of one task cost
 * O(K^2). The report: K = 40,000 sleeps in one frame fired 8 to 25 s late.
 * The list is now doubly linked and a fired timer leaves it in O(1).
 *
 * Here one task arms K = 100,000 sleeps whose deadlines, a nanosecond
 * apart, come after the last one is armed, in the order they are armed. The
 * sleeps sit at shuffled places in the frame, so that a walk of the old
 * list goes all over 10 MB of memory: the old code makes 5e9 such steps
 * (minutes), the new one fires everything in tens of milliseconds. Nothing
 * is timed here: the watchdog, at 100 times what the fixed code needs on a
 * loaded machine, is the assertion. Runs once, on the automatic backend:
 * the timers are the core's. */
#include "common.h"

enum { K = 100000 };

/* After the first poll has armed everything: the deadlines are this far
 * ahead of the clock read before arming, so that none passes while the
 * rest are being armed, even in a sanitizer build. */
#define LEAD_NS PROKIO_SEC(1)

struct join_all {
    int armed_pending; /* sleeps that answered PENDING at the first poll */
    int polls;
    uint32_t order[K];        /* order[i]: the sleep armed i-th */
    prokio_sleep_t sleeps[K]; /* at shuffled places: see order */
    unsigned char done[K];
};

static uint32_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)*s;
}

static int join_all_poll(void *frame, prokio_cx_t *cx)
{
    struct join_all *f = frame;
    if (f->polls++ == 0) {
        uint64_t seed = 0x9e3779b97f4a7c15u;
        for (uint32_t i = 0; i < K; i++)
            f->order[i] = i;
        for (uint32_t i = K - 1; i > 0; i--) {
            uint32_t j = next_random(&seed) % (i + 1), t = f->order[i];
            f->order[i] = f->order[j];
            f->order[j] = t;
        }
        uint64_t base = prokio_cx_now_ns(cx) + LEAD_NS;
        for (uint32_t i = 0; i < K; i++)
            prokio_sleep_init_until(&f->sleeps[f->order[i]], base + i);
    }
    int pending = 0;
    for (uint32_t i = 0; i < K; i++) {
        uint32_t s = f->order[i];
        if (f->done[s])
            continue;
        int rc = prokio_sleep_poll(&f->sleeps[s], cx);
        if (rc == PROKIO_PENDING) {
            pending++;
            continue;
        }
        if (rc != 0)
            return rc;
        f->done[s] = 1;
    }
    if (f->polls == 1)
        f->armed_pending = pending;
    return pending ? PROKIO_PENDING : 0;
}

static void test_many_sleeps_of_one_task(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn(&h, rt, join_all_poll, NULL, sizeof(struct join_all), NULL), 0);
    assert_int_equal(prokio_task_blocking_join(h), 0);
    struct join_all *f = prokio_task_frame(h);
    printf("# %d sleeps armed at once, all fired; %d polls\n", f->armed_pending, f->polls);
    /* Not a timing check: on a machine too slow to arm them all within
     * LEAD_NS some expire at once, and the test proves less. */
    assert_true(f->armed_pending > K / 2);
    prokio_task_release(h);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("sleeps-many-armed: firing 100,000 sleeps of one task", 20);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_sleeps_of_one_task),
    };
    return cmocka_run_group_tests_name("many sleeps armed by one task", tests, NULL, NULL);
}
