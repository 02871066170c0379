/* tests/unit/test-timer.c: the 4-ary timer heap (core/timer.c), checked
 * against a brute-force model under random inserts, removes and pops. */
#include "common.h"

#include "timer.h"

static uint64_t rng = 0x5EED1234;

static uint64_t next_rand(void)
{
    rng += UINT64_C(0x9E3779B97F4A7C15);
    uint64_t z = rng;
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void init_timer(struct prokio__timer *t, uint64_t deadline)
{
    memset(t, 0, sizeof *t);
    t->index = PROKIO__TIMER_IDLE;
    t->deadline_ns = deadline;
}

static void test_empty(void **state)
{
    (void)state;
    struct prokio__timer_heap h = {0};
    assert_int_equal(prokio__timer_next_deadline(&h), UINT64_MAX);
    assert_null(prokio__timer_pop_due(&h, UINT64_MAX));
    prokio__timer_heap_fini(&h);
}

static void test_order_and_ties(void **state)
{
    (void)state;
    struct prokio__timer_heap h = {0};
    struct prokio__timer t[6];
    uint64_t deadlines[6] = {50, 10, 30, 10, 20, 10};
    for (int i = 0; i < 6; i++) {
        init_timer(&t[i], deadlines[i]);
        assert_int_equal(prokio__timer_insert(&h, &t[i]), 0);
    }
    assert_int_equal(prokio__timer_next_deadline(&h), 10);
    assert_null(prokio__timer_pop_due(&h, 9)); /* never early */
    /* Equal deadlines come out in insertion order: 1, 3, 5. */
    struct prokio__timer *want[6] = {&t[1], &t[3], &t[5], &t[4], &t[2], &t[0]};
    for (int i = 0; i < 6; i++) {
        struct prokio__timer *got = prokio__timer_pop_due(&h, 1000);
        assert_ptr_equal(got, want[i]);
        assert_int_equal(got->index, PROKIO__TIMER_IDLE);
    }
    assert_int_equal(h.len, 0);
    prokio__timer_heap_fini(&h);
}

static void test_remove_idle_is_noop(void **state)
{
    (void)state;
    struct prokio__timer_heap h = {0};
    struct prokio__timer a, b;
    init_timer(&a, 5);
    init_timer(&b, 7);
    prokio__timer_insert(&h, &a);
    prokio__timer_remove(&h, &b); /* never armed */
    prokio__timer_remove(&h, &a);
    prokio__timer_remove(&h, &a); /* twice */
    assert_int_equal(h.len, 0);
    prokio__timer_heap_fini(&h);
}

/* Random operations against a model that keeps every armed timer in an
 * array and finds the minimum by scanning. */
#define MODEL_N 512
static void test_model(void **state)
{
    (void)state;
    static struct prokio__timer t[MODEL_N];
    static bool armed[MODEL_N];
    struct prokio__timer_heap h = {0};
    uint64_t seq_of[MODEL_N] = {0}, seq = 0;
    for (int i = 0; i < MODEL_N; i++) {
        init_timer(&t[i], 0);
        armed[i] = false;
    }
    uint64_t now = 0;
    size_t narmed = 0;
    for (int step = 0; step < 200000; step++) {
        uint64_t r = next_rand();
        int i = (int)(r % MODEL_N);
        switch ((r >> 32) % 4) {
        case 0:
        case 1: /* arm an idle timer, deadlines clustered to force ties */
            if (!armed[i]) {
                t[i].deadline_ns = now + (next_rand() % 64) * 16;
                assert_int_equal(prokio__timer_insert(&h, &t[i]), 0);
                armed[i] = true;
                seq_of[i] = seq++;
                narmed++;
            }
            break;
        case 2: /* remove an arbitrary timer */
            if (armed[i]) {
                prokio__timer_remove(&h, &t[i]);
                armed[i] = false;
                narmed--;
            }
            break;
        case 3: { /* advance time and pop what is due, in order */
            now += next_rand() % 40;
            for (;;) {
                int best = -1;
                for (int j = 0; j < MODEL_N; j++)
                    if (armed[j] && t[j].deadline_ns <= now &&
                        (best < 0 || t[j].deadline_ns < t[best].deadline_ns ||
                         (t[j].deadline_ns == t[best].deadline_ns && seq_of[j] < seq_of[best])))
                        best = j;
                struct prokio__timer *got = prokio__timer_pop_due(&h, now);
                if (best < 0) {
                    assert_null(got);
                    break;
                }
                assert_ptr_equal(got, &t[best]);
                armed[best] = false;
                narmed--;
            }
            break;
        }
        }
        assert_int_equal(h.len, narmed);
        if (narmed) {
            uint64_t min = UINT64_MAX;
            for (int j = 0; j < MODEL_N; j++)
                if (armed[j] && t[j].deadline_ns < min)
                    min = t[j].deadline_ns;
            assert_int_equal(prokio__timer_next_deadline(&h), min);
        }
    }
    prokio__timer_heap_fini(&h);
}

int main(void)
{
    test_watchdog("test-timer", 120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_order_and_ties),
        cmocka_unit_test(test_remove_idle_is_noop),
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests_name("timer heap", tests, NULL, NULL);
}
