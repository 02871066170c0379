/* tests/stress/timers-1m.c: a million timers on one worker, paused clock.
 *
 *   million   one task arms 1,000,000 sleeps with 1000 distinct deadlines,
 *             cancels a third of them at random, and lets the rest fire
 *             (auto-advance): exactly n - cancelled complete, each at its
 *             deadline to the nanosecond (never early), the cancelled ones
 *             report PROKIO_ECANCELED.
 *   same_deadline_order  20,000 tasks sleep until one deadline: they run in
 *             the order they armed.
 * Under sanitizers or valgrind (PROKIO_TEST_TIMEOUT_SCALE > 1) the counts
 * are divided by 10. */
#include <stdint.h>

#include "common.h"

static unsigned divisor(void)
{
    return test_reduced() ? 10 : 1;
}

enum { BUCKETS = 1000 };

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned bucket(size_t i)
{
    return (unsigned)((i * 7919) % BUCKETS);
}

struct million {
    size_t n;
    prokio_sleep_t *s;
    unsigned char *cancelled;
    size_t *order; /* indices in expected firing order */
    uint64_t base;
    size_t cursor, fired, cancels, early, inexact, bad_rc, armed;
    int started;
};

static int million_poll(void *frame, prokio_cx_t *cx)
{
    struct million *f = frame;
    if (!f->started) {
        f->started = 1;
        f->base = prokio_cx_now_ns(cx);
        for (size_t i = 0; i < f->n; i++) {
            prokio_sleep_init_until(&f->s[i], f->base + PROKIO_MS(bucket(i) + 1));
            if (prokio_sleep_poll(&f->s[i], cx) == PROKIO_PENDING)
                f->armed++;
        }
        uint64_t seed = 42;
        for (size_t i = 0; i < f->n; i++)
            if (rng(&seed) % 3 == 0) {
                prokio_sleep_cancel(&f->s[i]);
                f->cancelled[i] = 1;
                f->cancels++;
            }
    }
    /* Timers fire in (deadline, arming) order, so what fired is a prefix of
     * `order`: poll from the cursor until one is still pending. */
    uint64_t now = prokio_cx_now_ns(cx);
    while (f->cursor < f->n) {
        size_t i = f->order[f->cursor];
        int rc = prokio_sleep_poll(&f->s[i], cx);
        if (f->cancelled[i]) {
            if (rc != PROKIO_ECANCELED)
                f->bad_rc++;
        } else if (rc == PROKIO_PENDING) {
            return PROKIO_PENDING;
        } else if (rc != 0) {
            f->bad_rc++;
        } else {
            uint64_t deadline = f->base + PROKIO_MS(bucket(i) + 1);
            f->fired++;
            if (now < deadline)
                f->early++;
            if (now != deadline)
                f->inexact++;
        }
        f->cursor++;
    }
    return 0;
}

static prokio_runtime_t *paused_runtime(void)
{
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.start_paused = true;
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail_msg("prokio_runtime_new: %s: %s", prokio_err_name(rc), prokio_last_error());
    return rt;
}

static void test_million(void **state)
{
    (void)state;
    struct million f = {.n = 1000000 / divisor()};
    printf("# million: %zu sleeps%s\n", f.n,
           divisor() > 1 ? " (divided by 10 under a sanitizer)" : "");
    f.s = calloc(f.n, sizeof *f.s);
    f.cancelled = calloc(f.n, 1);
    f.order = malloc(f.n * sizeof *f.order);
    assert_non_null(f.s);
    assert_non_null(f.cancelled);
    assert_non_null(f.order);
    size_t count[BUCKETS + 1] = {0};
    for (size_t i = 0; i < f.n; i++)
        count[bucket(i) + 1]++;
    for (unsigned b = 1; b <= BUCKETS; b++)
        count[b] += count[b - 1];
    for (size_t i = 0; i < f.n; i++)
        f.order[count[bucket(i)]++] = i;
    prokio_runtime_t *rt = paused_runtime();
    assert_int_equal(prokio_runtime_block_on(rt, million_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.armed, f.n);
    assert_int_equal(f.cursor, f.n);
    assert_int_equal(f.fired + f.cancels, f.n);
    assert_true(f.cancels > f.n / 4 && f.cancels < f.n * 5 / 12);
    assert_int_equal(f.early, 0);
    assert_int_equal(f.inexact, 0);
    assert_int_equal(f.bad_rc, 0);
    test_runtime_free(rt);
    free(f.s);
    free(f.cancelled);
    free(f.order);
}

/* ------------------------------------------------------ same deadline */

struct kid {
    prokio_sleep_t s;
    uint64_t deadline;
    size_t id;
    size_t *log, *nlog; /* the parent's: same worker, no atomics */
    int inited;
};

static int kid_poll(void *frame, prokio_cx_t *cx)
{
    struct kid *k = frame;
    if (!k->inited) {
        prokio_sleep_init_until(&k->s, k->deadline);
        k->inited = 1;
    }
    int rc = prokio_sleep_poll(&k->s, cx);
    if (rc == 0)
        k->log[(*k->nlog)++] = k->id;
    return rc;
}

struct parent {
    size_t n, i, nlog;
    size_t *log;
    prokio_task_t **kid;
    int phase;
};

static int parent_poll(void *frame, prokio_cx_t *cx)
{
    struct parent *f = frame;
    if (f->phase == 0) {
        uint64_t deadline = prokio_cx_now_ns(cx) + PROKIO_SEC(60);
        for (size_t i = 0; i < f->n; i++) {
            struct kid k = {.deadline = deadline, .id = i, .log = f->log, .nlog = &f->nlog};
            if (prokio_spawn_local(&f->kid[i], kid_poll, &k, sizeof k, NULL, cx) < 0)
                return PROKIO_ENOMEM;
        }
        f->phase = 1;
    }
    for (; f->i < f->n; f->i++) {
        int rc = prokio_task_join_poll(f->kid[f->i], cx);
        if (rc == PROKIO_PENDING)
            return rc;
        prokio_task_release(f->kid[f->i]);
    }
    return 0;
}

static void test_same_deadline_order(void **state)
{
    (void)state;
    struct parent p = {.n = 20000 / divisor()};
    p.log = calloc(p.n, sizeof *p.log);
    p.kid = calloc(p.n, sizeof *p.kid);
    assert_non_null(p.log);
    assert_non_null(p.kid);
    prokio_runtime_t *rt = paused_runtime();
    assert_int_equal(prokio_runtime_block_on(rt, parent_poll, &p, sizeof p, NULL), 0);
    assert_int_equal(p.nlog, p.n);
    for (size_t i = 0; i < p.n; i++)
        if (p.log[i] != i)
            fail_msg("position %zu: task %zu fired (armed %zu-th)", i, p.log[i], i);
    test_runtime_free(rt);
    free(p.log);
    free(p.kid);
}

int main(void)
{
    test_watchdog("timers-1m", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million),
        cmocka_unit_test(test_same_deadline_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
