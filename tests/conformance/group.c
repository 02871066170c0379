/* tests/conformance/group.c: task groups (prokio/group.h): completion
 * order across workers, ENOENT when empty, abort_all, freeing with members
 * running, the current runtime, plain-thread blocking joins, 10,000
 * members and the coop budget. */
#include "conformance.h"

/* Joins every member of g from a task, recording each result in order. */
enum { ORDER_MAX = 10000 };
struct collector {
    struct track tr;
    prokio_group_t *g;
    int order[ORDER_MAX]; /* results, in the order handed out */
    int got, enoent, max_ready_run, ready_run, errors;
    atomic_int *progress; /* bumped at every member handed out, or NULL */
};

static int collector_poll(void *frame, prokio_cx_t *cx)
{
    struct collector *f = frame;
    track_poll(&f->tr);
    f->ready_run = 0;
    for (;;) {
        prokio_task_t *t = NULL;
        int rc = prokio_group_join_next_poll(&t, f->g, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        if (rc == PROKIO_ENOENT) {
            f->enoent++;
            return 0;
        }
        if (rc != 0 || t == NULL) {
            f->errors++;
            return rc;
        }
        if (++f->ready_run > f->max_ready_run)
            f->max_ready_run = f->ready_run;
        if (f->got < ORDER_MAX)
            f->order[f->got] = prokio_task_result(t);
        f->got++;
        prokio_task_release(t);
        if (f->progress)
            atomic_fetch_add(f->progress, 1);
    }
}

static void shuffle(int *v, int n, unsigned seed)
{
    for (int i = n - 1; i > 0; i--) {
        seed = seed * 1103515245u + 12345u;
        int j = (int)((seed >> 8) % (unsigned)(i + 1));
        int x = v[i];
        v[i] = v[j];
        v[j] = x;
    }
}

/* Members on both workers, opened one at a time in a shuffled order; each
 * must come out before the next is opened: the one that ended, whichever
 * worker it ran on. Then members all on worker 1, opened at once in a
 * shuffled order: they end in the order they were woken, and come out in
 * exactly that order. */
void test_group_completion_order(void **state)
{
    (void)state;
    enum { N = 64 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int round = 0; round < 2; round++) {
        static struct collector c;
        memset(&c, 0, sizeof c);
        atomic_int progress = 0;
        c.tr.d = &d;
        c.progress = &progress;
        assert_int_equal(prokio_group_new(&c.g, rt), 0);
        prokio_oneshot_tx_t *gate[N];
        atomic_int parked = 0;
        for (int i = 0; i < N; i++) {
            struct gated g;
            conf_gated_init(&g, &d, i, &gate[i]);
            g.started = &parked;
            unsigned w = conf_worker(rt, round == 0 ? (unsigned)i : 1);
            assert_int_equal(
                prokio_group_spawn_on(c.g, w, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
        }
        assert_int_equal(prokio_group_len(c.g), N);
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_on(&h, rt, 0, collector_poll, &c, sizeof c, track_drop), 0);
        int perm[N];
        for (int i = 0; i < N; i++)
            perm[i] = i;
        shuffle(perm, N, 7u + (unsigned)round);
        /* Every member waits on its gate before any opens: a member first
         * polled after its gate opened would end in spawn order. */
        CONF_WAIT_FLAG(&parked, N);
        for (int k = 0; k < N; k++) {
            assert_int_equal(prokio_oneshot_send(gate[perm[k]], &perm[k]), 0);
            if (round == 0)
                CONF_WAIT_FLAG(&progress, k + 1);
        }
        prokio_group_t *g = c.g;
        assert_int_equal(conf_join(h, &c, sizeof c), 0);
        assert_int_equal(c.errors, 0);
        assert_int_equal(c.enoent, 1);
        assert_int_equal(c.got, N);
        for (int k = 0; k < N; k++)
            if (c.order[k] != perm[k])
                fail_msg("round %d: the member handed out %dth is %d, the %dth to end is %d", round,
                         k, c.order[k], k, perm[k]);
        assert_int_equal(prokio_group_len(g), 0);
        prokio_group_free(g);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2 * (64 + 1));
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* An empty group: ENOENT from every join; len 0. */
struct empty {
    int poll_rc, try_rc, len;
    bool null_out;
};

static int empty_poll(void *frame, prokio_cx_t *cx)
{
    struct empty *f = frame;
    prokio_group_t *g;
    if (prokio_group_new(&g, NULL) < 0)
        return -100;
    prokio_task_t *t = (prokio_task_t *)&t;
    f->poll_rc = prokio_group_join_next_poll(&t, g, cx);
    f->null_out = t == NULL;
    f->try_rc = prokio_group_try_join_next(&t, g);
    f->len = (int)prokio_group_len(g);
    prokio_group_free(g);
    return 0;
}

void test_group_empty(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct empty f = {0};
    assert_int_equal(conf_run_on(rt, 0, empty_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.poll_rc, PROKIO_ENOENT);
    assert_int_equal(f.try_rc, PROKIO_ENOENT);
    assert_true(f.null_out);
    assert_int_equal(f.len, 0);
    /* From a plain thread the same. */
    prokio_group_t *g;
    prokio_task_t *t;
    assert_int_equal(prokio_group_new(&g, rt), 0);
    assert_int_equal(prokio_group_blocking_join_next(&t, g), PROKIO_ENOENT);
    assert_int_equal(prokio_group_try_join_next(&t, g), PROKIO_ENOENT);
    assert_non_null(strstr(prokio_last_error(), "prokio_group_try_join_next"));
    prokio_group_free(g);
    test_runtime_free(rt);
}

/* A group made inside a task with rt NULL spawns on the current runtime,
 * from a library's point of view: it was never handed the runtime. Off a
 * worker, rt NULL is refused. */
struct lib_call {
    int rc, sum, local_worker_ok;
};

static int whereami_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame;
    return (int)prokio_cx_worker(cx) + 1000;
}

static int lib_call_poll(void *frame, prokio_cx_t *cx)
{
    struct lib_call *f = frame;
    static prokio_group_t *g; /* one test task at a time */
    if (g == NULL) {
        f->rc = prokio_group_new(&g, NULL);
        if (f->rc < 0)
            return f->rc;
        for (int i = 1; i <= 10; i++)
            if (prokio_group_spawn(g, conf_value_poll, &i, sizeof i, NULL) < 0)
                return -101;
        for (int i = 0; i < 5; i++)
            if (prokio_group_spawn_local(g, whereami_poll, NULL, 0, NULL, cx) < 0)
                return -102;
    }
    for (;;) {
        prokio_task_t *t;
        int rc = prokio_group_join_next_poll(&t, g, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        if (rc == PROKIO_ENOENT)
            break;
        if (rc < 0)
            return rc;
        int r = prokio_task_result(t);
        if (r >= 1000)
            f->local_worker_ok += r - 1000 == (int)prokio_cx_worker(cx);
        else
            f->sum += r;
        prokio_task_release(t);
    }
    prokio_group_free(g);
    g = NULL;
    return 0;
}

void test_group_current_runtime(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned k = 0; k < 4; k++) {
        struct lib_call f = {0};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, k), lib_call_poll, &f, sizeof f, NULL), 0);
        assert_int_equal(f.rc, 0);
        assert_int_equal(f.sum, 55);
        assert_int_equal(f.local_worker_ok, 5);
    }
    prokio_group_t *g = (prokio_group_t *)&g;
    assert_int_equal(prokio_group_new(&g, NULL), PROKIO_EINVAL);
    assert_null(g);
    assert_non_null(strstr(prokio_last_error(), "rt"));
    test_runtime_free(rt);
}

/* abort_all: every member ends ECANCELED (or with the result it had) and
 * is still handed out; each drop runs exactly once. */
void test_group_abort_all(void **state)
{
    (void)state;
    enum { PARKED = 40, DONE = 10 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    static struct collector c;
    memset(&c, 0, sizeof c);
    assert_int_equal(prokio_group_new(&c.g, rt), 0);
    for (int i = 0; i < DONE; i++) {
        int v = 500 + i;
        assert_int_equal(prokio_group_spawn_on(c.g, conf_worker(rt, (unsigned)i), conf_value_poll,
                                               &v, sizeof v, NULL),
                         0);
    }
    for (int i = 0; i < PARKED; i++) {
        struct track tr = {.d = &d};
        assert_int_equal(prokio_group_spawn_on(c.g, conf_worker(rt, (unsigned)i), conf_park_forever,
                                               &tr, sizeof tr, track_drop),
                         0);
    }
    /* Wait until the ready ones are out and the rest parked, from a plain
     * thread: blocking joins take the DONE ones. */
    int done_sum = 0;
    for (int i = 0; i < DONE; i++) {
        prokio_task_t *t;
        assert_int_equal(prokio_group_blocking_join_next(&t, c.g), 0);
        done_sum += prokio_task_result(t);
        prokio_task_release(t);
    }
    assert_int_equal(done_sum, DONE * 500 + DONE * (DONE - 1) / 2);
    prokio_task_t *t;
    assert_int_equal(prokio_group_try_join_next(&t, c.g), PROKIO_EAGAIN);
    assert_int_equal(prokio_group_len(c.g), PARKED);
    prokio_group_abort_all(c.g);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, collector_poll, &c, sizeof c, NULL), 0);
    prokio_group_t *g = c.g;
    assert_int_equal(conf_join(h, &c, sizeof c), 0);
    assert_int_equal(c.got, PARKED);
    for (int i = 0; i < PARKED; i++)
        assert_int_equal(c.order[i], PROKIO_ECANCELED);
    assert_int_equal(atomic_load(&d.n), PARKED);
    prokio_group_free(g);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), PARKED);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Freeing a group with members running (parked, or being opened on the
 * other worker at that very moment) aborts them: every drop runs exactly
 * once, and nothing is left for prokio_runtime_free to complain about. */
void test_group_free_running(void **state)
{
    (void)state;
    enum { N = 100, ROUNDS = 20 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int r = 0; r < ROUNDS; r++) {
        prokio_group_t *g;
        assert_int_equal(prokio_group_new(&g, rt), 0);
        prokio_oneshot_tx_t *gate[N / 2];
        for (int i = 0; i < N / 2; i++) {
            struct track tr = {.d = &d};
            assert_int_equal(prokio_group_spawn_on(g, conf_worker(rt, (unsigned)i),
                                                   conf_park_forever, &tr, sizeof tr, track_drop),
                             0);
            struct gated gt;
            conf_gated_init(&gt, &d, i, &gate[i]);
            assert_int_equal(prokio_group_spawn_on(g, conf_worker(rt, (unsigned)(i + r)),
                                                   conf_gated_poll, &gt, sizeof gt,
                                                   conf_gated_drop),
                             0);
        }
        /* Half the gates open before the free, half race with it. */
        for (int i = 0; i < N / 4; i++)
            assert_int_equal(prokio_oneshot_send(gate[i], &i), 0);
        prokio_group_free(g);
        for (int i = N / 4; i < N / 2; i++)
            (void)prokio_oneshot_send(gate[i], &i); /* may find the receiver gone */
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), ROUNDS * N);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* blocking_join_next from a plain thread while members end on both
 * workers; EDEADLK on a worker. */
static int deadlk_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    prokio_group_t *g = *(prokio_group_t **)frame;
    prokio_task_t *t;
    return prokio_group_blocking_join_next(&t, g);
}

void test_group_blocking(void **state)
{
    (void)state;
    enum { N = 200 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_group_t *g;
    assert_int_equal(prokio_group_new(&g, rt), 0);
    struct drops d = {0};
    prokio_oneshot_tx_t *gate[N];
    for (int i = 0; i < N; i++) {
        struct gated gt;
        conf_gated_init(&gt, &d, i, &gate[i]);
        assert_int_equal(prokio_group_spawn(g, conf_gated_poll, &gt, sizeof gt, conf_gated_drop),
                         0);
    }
    assert_int_equal(conf_run_on(rt, 0, deadlk_poll, &g, sizeof g, NULL), PROKIO_EDEADLK);
    long sum = 0;
    for (int i = 0; i < N; i++) {
        /* Opened one by one: the join blocks before most of them. */
        assert_int_equal(prokio_oneshot_send(gate[i], &i), 0);
        prokio_task_t *t;
        assert_int_equal(prokio_group_blocking_join_next(&t, g), 0);
        assert_int_equal(prokio_task_result(t), i);
        sum += prokio_task_result(t);
        prokio_task_release(t);
    }
    assert_int_equal(sum, (long)N * (N - 1) / 2);
    prokio_task_t *t;
    assert_int_equal(prokio_group_blocking_join_next(&t, g), PROKIO_ENOENT);
    prokio_group_free(g);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), N);
}

struct counted {
    atomic_int *ran;
    int value;
};

static int counted_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct counted *f = frame;
    atomic_fetch_add(f->ran, 1);
    return f->value;
}

/* 10,000 members across workers, joined from a task: every result once;
 * a run of ready joins inside one poll stops at the coop budget (128). */
void test_group_many(void **state)
{
    (void)state;
    enum { N = 10000 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    static struct collector c;
    memset(&c, 0, sizeof c);
    assert_int_equal(prokio_group_new(&c.g, rt), 0);
    atomic_int ran = 0;
    for (int i = 0; i < N; i++) {
        struct counted m = {&ran, i};
        assert_int_equal(prokio_group_spawn(c.g, counted_poll, &m, sizeof m, NULL), 0);
    }
    assert_int_equal(prokio_group_len(c.g), N);
    /* Wait until all have run, so the joins find (nearly) all ready. */
    CONF_WAIT_FLAG(&ran, N);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, collector_poll, &c, sizeof c, NULL), 0);
    prokio_group_t *g = c.g;
    assert_int_equal(conf_join(h, &c, sizeof c), 0);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.got, N);
    static char seen[N];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < N; i++) {
        assert_in_range(c.order[i], 0, N - 1);
        assert_int_equal(seen[c.order[i]]++, 0);
    }
    assert_int_equal(c.max_ready_run, 128); /* the budget, reached */
    assert_true(c.tr.polls >= N / 128);
    prokio_group_free(g);
    test_runtime_free(rt);
}
