/* tests/conformance/tasks.c: spawning, results, frames, JoinHandles (from
 * tasks and from threads), block_on, detaching, coroutines and yield. */
#include "conformance.h"

/* ---------------------------------------------------------------- spawn */

struct ret {
    struct track tr;
    int ret;
    int out;
};

static int ret_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct ret *f = frame;
    track_poll(&f->tr);
    f->out = f->ret * 2 + 1;
    return f->ret;
}

static const int codes[] = {
    0, 1, 77, PROKIO_EIO, PROKIO_EPIPE, PROKIO_ETIMEDOUT, PROKIO_ENOBACKEND, PROKIO_EABI, -1};
#define NCODES (sizeof codes / sizeof codes[0])

void test_spawn_from_main(void **state)
{
    (void)state;
    enum { N = 90 };
    prokio_runtime_t *rt = test_runtime(conf_workers(3));
    struct drops d = {0};
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        struct ret f = {.tr.d = &d, .ret = codes[i % NCODES]};
        h[i] = NULL;
        assert_int_equal(prokio_spawn(&h[i], rt, ret_poll, &f, sizeof f, track_drop), 0);
        assert_non_null(h[i]);
    }
    for (int i = 0; i < N; i++) {
        int want = codes[i % NCODES];
        assert_int_equal(prokio_task_blocking_join(h[i]), want);
        assert_int_equal(prokio_task_result(h[i]), want);
        /* A second join of an ended task answers at once, the same. */
        assert_int_equal(prokio_task_blocking_join(h[i]), want);
        struct ret *f = prokio_task_frame(h[i]);
        assert_int_equal(f->out, want * 2 + 1);
        assert_int_equal(f->tr.polls, 1);
        assert_int_equal(f->tr.drops, 1);
        prokio_task_release(h[i]);
    }
    assert_int_equal(atomic_load(&d.n), N);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
    test_runtime_free(rt);
}

/* Frames: copied, 16-byte aligned, zero-filled when NULL, any size. */
struct blob_head {
    uint32_t size;
    uint32_t seed;
    uint32_t bad_bytes;
    uint32_t aligned;
    uint64_t sum_out;
};

static unsigned char pattern(uint32_t seed, size_t i)
{
    return (unsigned char)((seed + i) * 31u);
}

static int blob_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct blob_head *b = frame;
    b->aligned = ((uintptr_t)frame % 16) == 0;
    unsigned char *p = frame;
    uint32_t bad = 0;
    uint64_t sum = 0;
    for (size_t i = sizeof *b; i < b->size; i++) {
        if (p[i] != pattern(b->seed, i))
            bad++;
        sum += p[i];
        p[i] = (unsigned char)~p[i];
    }
    b->bad_bytes = bad;
    b->sum_out = sum;
    return 0;
}

/* The size is not in a zero-filled frame: the spawner sets it before
 * spawning (the spawn publishes it to the worker). */
static size_t conf_zero_size;

static int zero_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    unsigned char *p = frame;
    int nonzero = 0;
    for (size_t i = 0; i < conf_zero_size; i++)
        nonzero += p[i] != 0;
    memset(p, 0xee, conf_zero_size);
    p[0] = (unsigned char)(nonzero != 0);
    p[1] = ((uintptr_t)frame % 16) == 0;
    return 0;
}

static int byte_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    unsigned char *p = frame;
    p[0] = (unsigned char)(p[0] + 1);
    return ((uintptr_t)frame % 16) == 0 ? 0 : PROKIO_EINVAL;
}

void test_spawn_frames(void **state)
{
    (void)state;
    static const size_t sizes[] = {
        sizeof(struct blob_head), 33, 100, 1000, 4072, 8192, 9000, 65536, 300000};
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t size = sizes[k];
        unsigned char *buf = malloc(size);
        assert_non_null(buf);
        struct blob_head *b = (struct blob_head *)buf;
        memset(b, 0, sizeof *b);
        b->size = (uint32_t)size;
        b->seed = (uint32_t)k * 7 + 1;
        uint64_t sum = 0;
        for (size_t i = sizeof *b; i < size; i++)
            sum += buf[i] = pattern(b->seed, i);
        prokio_task_t *h = NULL;
        assert_int_equal(
            prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), blob_poll, buf, size, NULL), 0);
        /* The frame is a copy: changing ours now changes nothing. */
        memset(buf + sizeof *b, 0, size - sizeof *b);
        assert_int_equal(conf_join(h, buf, size), 0);
        assert_int_equal(b->bad_bytes, 0);
        assert_int_equal(b->aligned, 1);
        assert_int_equal(b->sum_out, sum);
        for (size_t i = sizeof *b; i < size; i++)
            if (buf[i] != (unsigned char)~pattern(b->seed, i))
                fail_msg("frame of %zu bytes: byte %zu not written back", size, i);
        free(buf);

        /* NULL: zero-filled. */
        conf_zero_size = size;
        assert_int_equal(prokio_spawn(&h, rt, zero_poll, NULL, size, NULL), 0);
        unsigned char z[2];
        assert_int_equal(conf_join(h, z, sizeof z), 0);
        assert_int_equal(z[0], 0);
        assert_int_equal(z[1], 1);
    }
    unsigned char one = 41, out = 0;
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn(&h, rt, byte_poll, &one, 1, NULL), 0);
    assert_int_equal(conf_join(h, &out, 1), 0);
    assert_int_equal(out, 42);
    assert_int_equal(one, 41);
    /* No frame at all. */
    assert_int_equal(prokio_spawn(NULL, rt, byte_poll, NULL, 0, NULL), 0);
    test_runtime_free(rt);
}

/* A parent that spawns children (on any worker, and locally) and awaits
 * each of them. */
enum { KIDS = 16 };

struct parent {
    struct track tr;
    struct drops *kid_drops;
    int co;
    int i;
    int spawn_rc[KIDS];
    prokio_task_t *kid[KIDS];
    int result[KIDS];
    int out[KIDS];
};

static int parent_poll(void *frame, prokio_cx_t *cx)
{
    struct parent *f = frame;
    track_poll(&f->tr);
    PROKIO_BEGIN(&f->co);
    for (f->i = 0; f->i < KIDS; f->i++) {
        struct ret kid = {.tr.d = f->kid_drops, .ret = codes[f->i % NCODES]};
        if (f->i % 2)
            f->spawn_rc[f->i] = prokio_spawn(&f->kid[f->i], prokio_cx_runtime(cx), ret_poll, &kid,
                                             sizeof kid, track_drop);
        else
            f->spawn_rc[f->i] =
                prokio_spawn_local(&f->kid[f->i], ret_poll, &kid, sizeof kid, track_drop, cx);
    }
    for (f->i = 0; f->i < KIDS; f->i++) {
        if (f->kid[f->i] == NULL)
            continue;
        PROKIO_AWAIT_INTO(&f->co, f->result[f->i], prokio_task_join_poll(f->kid[f->i], cx));
        f->out[f->i] = ((struct ret *)prokio_task_frame(f->kid[f->i]))->out;
        prokio_task_release(f->kid[f->i]);
        f->kid[f->i] = NULL;
    }
    PROKIO_END(&f->co, 0);
}

void test_spawn_from_task(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(3));
    unsigned nw = prokio_runtime_workers(rt);
    struct drops d = {0}, kd = {0};
    prokio_task_t *h[3];
    for (unsigned w = 0; w < nw; w++) {
        struct parent p = {.tr.d = &d, .kid_drops = &kd};
        assert_int_equal(prokio_spawn_on(&h[w], rt, w, parent_poll, &p, sizeof p, track_drop), 0);
    }
    for (unsigned w = 0; w < nw; w++) {
        struct parent p;
        assert_int_equal(conf_join(h[w], &p, sizeof p), 0);
        for (int i = 0; i < KIDS; i++) {
            assert_int_equal(p.spawn_rc[i], 0);
            assert_int_equal(p.result[i], codes[i % NCODES]);
            assert_int_equal(p.out[i], codes[i % NCODES] * 2 + 1);
        }
    }
    assert_int_equal(atomic_load(&d.n), (int)nw);
    assert_int_equal(atomic_load(&kd.n), (int)nw * KIDS);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
    assert_int_equal(atomic_load(&kd.wrong_thread), 0);
    test_runtime_free(rt);
}

/* spawn_local: the child runs on the parent's worker and thread. */
struct where {
    unsigned worker;
    pthread_t thread;
};

static int where_poll(void *frame, prokio_cx_t *cx)
{
    struct where *f = frame;
    f->worker = prokio_cx_worker(cx);
    f->thread = pthread_self();
    return 0;
}

struct local_parent {
    int co;
    int i;
    unsigned worker;
    pthread_t thread;
    prokio_task_t *kid[4];
    int mismatches;
    int joined;
};

static int local_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct local_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    f->worker = prokio_cx_worker(cx);
    f->thread = pthread_self();
    for (f->i = 0; f->i < 4; f->i++)
        if (prokio_spawn_local(&f->kid[f->i], where_poll, NULL, sizeof(struct where), NULL, cx) < 0)
            return PROKIO_EIO;
    for (f->i = 0; f->i < 4; f->i++) {
        PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->kid[f->i], cx));
        struct where *w = prokio_task_frame(f->kid[f->i]);
        if (w->worker != f->worker || !pthread_equal(w->thread, f->thread))
            f->mismatches++;
        f->joined++;
        prokio_task_release(f->kid[f->i]);
    }
    PROKIO_END(&f->co, 0);
}

void test_spawn_local_same_worker(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(4));
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    for (unsigned w = 0; w < prokio_runtime_workers(rt); w++) {
        struct local_parent p = {0};
        assert_int_equal(conf_run_on(rt, w, local_parent_poll, &p, sizeof p, NULL), 0);
        assert_int_equal(p.worker, w);
        assert_true(pthread_equal(p.thread, threads[w]));
        assert_int_equal(p.joined, 4);
        assert_int_equal(p.mismatches, 0);
    }
    test_runtime_free(rt);
}

/* spawn_on from main and from a task, to every worker. */
struct on_parent {
    int co;
    unsigned i, n;
    prokio_task_t *kid[CONF_MAX_WORKERS];
    unsigned got[CONF_MAX_WORKERS];
    pthread_t thread[CONF_MAX_WORKERS];
    int out_of_range;
};

static int on_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct on_parent *f = frame;
    prokio_runtime_t *rt = prokio_cx_runtime(cx);
    PROKIO_BEGIN(&f->co);
    f->n = prokio_runtime_workers(rt);
    for (f->i = 0; f->i < f->n; f->i++)
        if (prokio_spawn_on(&f->kid[f->i], rt, f->i, where_poll, NULL, sizeof(struct where), NULL) <
            0)
            return PROKIO_EIO;
    f->out_of_range = prokio_spawn_on(NULL, rt, f->n, where_poll, NULL, 0, NULL);
    for (f->i = 0; f->i < f->n; f->i++) {
        PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->kid[f->i], cx));
        struct where *w = prokio_task_frame(f->kid[f->i]);
        f->got[f->i] = w->worker;
        f->thread[f->i] = w->thread;
        prokio_task_release(f->kid[f->i]);
    }
    PROKIO_END(&f->co, 0);
}

void test_spawn_on_each_worker(void **state)
{
    (void)state;
    const unsigned W = conf_workers(3);
    prokio_runtime_t *rt = test_runtime(W);
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads); /* spawn_on from main, checked inside */
    for (unsigned from = 0; from < W; from++) {
        struct on_parent p = {0};
        assert_int_equal(conf_run_on(rt, from, on_parent_poll, &p, sizeof p, NULL), 0);
        assert_int_equal(p.n, W);
        assert_int_equal(p.out_of_range, PROKIO_EINVAL);
        for (unsigned i = 0; i < W; i++) {
            assert_int_equal(p.got[i], i);
            assert_true(pthread_equal(p.thread[i], threads[i]));
        }
    }
    test_runtime_free(rt);
}

struct bad_spawner {
    int null_local;
};

static int bad_spawner_poll(void *frame, prokio_cx_t *cx)
{
    struct bad_spawner *f = frame;
    f->null_local = prokio_spawn_local(NULL, NULL, NULL, 0, track_drop, cx);
    return 0;
}

void test_spawn_invalid(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    struct track t = {.d = &d};
    /* A failed spawn sets *join_out to NULL whatever it held. */
    prokio_task_t *const stale = (prokio_task_t *)(uintptr_t)0x10, *h = stale;
    assert_int_equal(prokio_spawn_on(&h, rt, prokio_runtime_workers(rt), conf_park_forever, &t,
                                     sizeof t, track_drop),
                     PROKIO_EINVAL);
    assert_null(h);
    h = stale;
    assert_int_equal(
        prokio_spawn_on(&h, rt, UINT32_MAX, conf_park_forever, &t, sizeof t, track_drop),
        PROKIO_EINVAL);
    assert_null(h);
    h = stale;
    assert_int_equal(prokio_spawn(&h, rt, NULL, &t, sizeof t, track_drop), PROKIO_EINVAL);
    assert_null(h);
    h = stale;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, NULL, &t, sizeof t, track_drop), PROKIO_EINVAL);
    assert_null(h);
    h = stale;
    /* A frame no allocator can give: fails cleanly, drop not called. Half
     * the address space: a quarter (1 GiB) is there to take on wasm32. */
    int rc = prokio_spawn(&h, rt, conf_park_forever, NULL, SIZE_MAX / 2, track_drop);
    assert_true(rc < 0);
    assert_null(h);
    h = stale;
    rc = prokio_spawn(&h, rt, conf_park_forever, NULL, SIZE_MAX - 8, track_drop);
    assert_true(rc < 0);
    assert_null(h);
    h = stale;
    struct bad_spawner b = {0};
    assert_int_equal(prokio_runtime_block_on(rt, bad_spawner_poll, &b, sizeof b, NULL), 0);
    assert_int_equal(b.null_local, PROKIO_EINVAL);
    /* Nothing was queued: no drop ran, and nothing is left to free. */
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 0);
}

/* ------------------------------------------------------------- results */

void test_result_pending_while_running(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    atomic_int started = 0;
    struct gated g;
    prokio_oneshot_tx_t *tx;
    conf_gated_init(&g, &d, 5, &tx);
    g.started = &started;
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn(&h, rt, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
    assert_int_equal(prokio_task_result(h), PROKIO_PENDING);
    CONF_WAIT_FLAG(&started, 1);
    assert_int_equal(prokio_task_result(h), PROKIO_PENDING);
    int v = 1234;
    assert_int_equal(prokio_oneshot_send(tx, &v), 0);
    assert_int_equal(prokio_task_blocking_join(h), 5);
    assert_int_equal(prokio_task_result(h), 5);
    assert_int_equal(conf_join(h, &g, sizeof g), 5);
    assert_int_equal(g.value, 1234);
    assert_int_equal(g.recv_rc, 0);
    assert_int_equal(g.tr.polls, 2);
    assert_int_equal(g.tr.drops, 1);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* A task's result is exactly the int its poll returned: positive values,
 * 0, error codes and any other negative int but PROKIO_PENDING, through
 * every way of reading it. */
static const int exact[] = {1,          42,          INT_MAX,          0,       -1,
                            PROKIO_EIO, PROKIO_EABI, PROKIO_ECANCELED, -0xffff, -0x10000,
                            -0x10001,   -0x12345678, INT_MIN + 1};
#define NEXACT (sizeof exact / sizeof exact[0])

/* Spawns a child per value, on its own worker and on the other one in
 * turn, and awaits each with prokio_task_join_poll. */
struct exact_parent {
    int co;
    unsigned i;
    int spawn_rc[NEXACT];
    prokio_task_t *kid[NEXACT];
    int got[NEXACT];
};

static int exact_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct exact_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    for (f->i = 0; f->i < NEXACT; f->i++) {
        unsigned other = conf_other(prokio_cx_runtime(cx), prokio_cx_worker(cx));
        f->spawn_rc[f->i] = f->i % 2
                                ? prokio_spawn_on(&f->kid[f->i], prokio_cx_runtime(cx), other,
                                                  conf_value_poll, &exact[f->i], sizeof(int), NULL)
                                : prokio_spawn_local(&f->kid[f->i], conf_value_poll, &exact[f->i],
                                                     sizeof(int), NULL, cx);
        if (f->spawn_rc[f->i] < 0)
            return PROKIO_EIO;
    }
    for (f->i = 0; f->i < NEXACT; f->i++)
        PROKIO_AWAIT_INTO(&f->co, f->got[f->i], prokio_task_join_poll(f->kid[f->i], cx));
    PROKIO_END(&f->co, 0);
}

void test_result_exact(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (size_t k = 0; k < NEXACT; k++) {
        int v = exact[k];
        /* prokio_task_blocking_join, then prokio_task_result. */
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn(&h, rt, conf_value_poll, &v, sizeof v, NULL), 0);
        assert_int_equal(prokio_task_blocking_join(h), v);
        assert_int_equal(prokio_task_result(h), v);
        assert_int_equal(conf_join(h, NULL, 0), v);
        /* prokio_runtime_block_on. */
        assert_int_equal(prokio_runtime_block_on(rt, conf_value_poll, &v, sizeof v, NULL), v);
    }
    /* prokio_task_join_poll, from a task on either worker. */
    for (unsigned w = 0; w < prokio_runtime_workers(rt); w++) {
        struct exact_parent p = {0};
        assert_int_equal(conf_run_on(rt, w, exact_parent_poll, &p, sizeof p, NULL), 0);
        for (size_t k = 0; k < NEXACT; k++) {
            assert_int_equal(p.spawn_rc[k], 0);
            assert_int_equal(p.got[k], exact[k]);
            assert_int_equal(prokio_task_result(p.kid[k]), exact[k]);
            assert_int_equal(conf_join(p.kid[k], NULL, 0), exact[k]);
        }
    }
    test_runtime_free(rt);
}

/* --------------------------------------------------------- join_poll */

/* Awaits `target`; in its first poll, after registering, it opens the
 * target's gate, so the join is always registered before the target ends. */
struct joiner {
    struct track tr;
    prokio_task_t *target;
    prokio_oneshot_tx_t *gate;
    int first;
    int sent;
    int result;
};

static int joiner_poll(void *frame, prokio_cx_t *cx)
{
    struct joiner *f = frame;
    track_poll(&f->tr);
    int r = prokio_task_join_poll(f->target, cx);
    if (f->tr.polls == 1) {
        f->first = r;
        if (f->gate) {
            int v = 7;
            f->sent = prokio_oneshot_send(f->gate, &v);
            f->gate = NULL;
        }
    }
    if (r == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->result = r;
    return 0;
}

static void joiner_drop(void *frame)
{
    struct joiner *f = frame;
    if (f->gate)
        prokio_oneshot_tx_release(f->gate);
    track_dropped(&f->tr);
}

void test_join_poll_before_finish(void **state)
{
    (void)state;
    static const unsigned pairs[][2] = {{0, 1}, {1, 0}, {0, 0}, {1, 1}};
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int round = 0; round < 50; round++) {
        for (size_t k = 0; k < 4; k++) {
            unsigned joiner_w = conf_worker(rt, pairs[k][0]);
            unsigned target_w = conf_worker(rt, pairs[k][1]);
            struct gated g;
            prokio_oneshot_tx_t *tx;
            conf_gated_init(&g, &d, PROKIO_ETIMEDOUT, &tx);
            prokio_task_t *ht = NULL;
            assert_int_equal(
                prokio_spawn_on(&ht, rt, target_w, conf_gated_poll, &g, sizeof g, conf_gated_drop),
                0);
            struct joiner j = {.tr.d = &d, .target = ht, .gate = tx};
            assert_int_equal(conf_run_on(rt, joiner_w, joiner_poll, &j, sizeof j, joiner_drop), 0);
            assert_int_equal(j.first, PROKIO_PENDING);
            assert_int_equal(j.sent, 0);
            assert_int_equal(j.result, PROKIO_ETIMEDOUT);
            assert_int_equal(j.tr.polls, 2);
            /* Ended already: the joiner saw it. */
            assert_int_equal(prokio_task_result(ht), PROKIO_ETIMEDOUT);
            assert_int_equal(conf_join(ht, &g, sizeof g), PROKIO_ETIMEDOUT);
            assert_int_equal(g.value, 7);
            /* Pending then woken, or first polled after the gate opened. */
            assert_true(g.tr.polls == 1 || g.tr.polls == 2);
            assert_int_equal(g.tr.drops, 1);
            assert_int_equal(j.tr.drops, 1);
        }
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 50 * 4 * 2);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

void test_join_poll_after_finish(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (unsigned w = 0; w < 2; w++) {
        struct ret r = {.tr.d = &d, .ret = PROKIO_EPIPE};
        prokio_task_t *ht = NULL;
        unsigned tw = conf_worker(rt, w);
        assert_int_equal(prokio_spawn_on(&ht, rt, tw, ret_poll, &r, sizeof r, track_drop), 0);
        assert_int_equal(prokio_task_blocking_join(ht), PROKIO_EPIPE);
        struct joiner j = {.tr.d = &d, .target = ht};
        assert_int_equal(
            conf_run_on(rt, conf_other(rt, tw), joiner_poll, &j, sizeof j, joiner_drop), 0);
        assert_int_equal(j.first, PROKIO_EPIPE);
        assert_int_equal(j.result, PROKIO_EPIPE);
        assert_int_equal(j.tr.polls, 1);
        prokio_task_release(ht);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 4);
}

/* A join that gave a result gives it again, in the same poll and in a
 * later one, without waiting. */
struct rejoiner {
    int co;
    int value;
    unsigned kid_worker;
    prokio_task_t *kid;
    int spawn_rc, result, again, later, polls;
};

static int rejoiner_poll(void *frame, prokio_cx_t *cx)
{
    struct rejoiner *f = frame;
    f->polls++;
    PROKIO_BEGIN(&f->co);
    f->spawn_rc = prokio_spawn_on(&f->kid, prokio_cx_runtime(cx), f->kid_worker, conf_value_poll,
                                  &f->value, sizeof f->value, NULL);
    if (f->spawn_rc < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT_INTO(&f->co, f->result, prokio_task_join_poll(f->kid, cx));
    f->again = prokio_task_join_poll(f->kid, cx);
    PROKIO_YIELD(&f->co, cx);
    f->later = prokio_task_join_poll(f->kid, cx);
    PROKIO_END(&f->co, 0);
}

void test_join_poll_repoll(void **state)
{
    (void)state;
    static const int values[] = {42, 0, PROKIO_EPIPE, -0x10000};
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int k = 0; k < 8; k++) {
        unsigned w = conf_worker(rt, (unsigned)k), kw = conf_worker(rt, (unsigned)k / 2);
        struct rejoiner r = {.value = values[k % 4], .kid_worker = kw};
        assert_int_equal(conf_run_on(rt, w, rejoiner_poll, &r, sizeof r, NULL), 0);
        assert_int_equal(r.spawn_rc, 0);
        assert_int_equal(r.result, r.value);
        assert_int_equal(r.again, r.value);
        assert_int_equal(r.later, r.value);
        /* Polled once before the kid ended (or twice, woken by it), then
         * once after the yield: no poll the wakes do not explain. */
        assert_true(r.polls == 2 || r.polls == 3);
        assert_int_equal(conf_join(r.kid, NULL, 0), r.value);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------------ join from threads */

struct thread_join {
    prokio_task_t *h;
    atomic_int started;
    int result;
};

static void *thread_join_main(void *arg)
{
    struct thread_join *tj = arg;
    atomic_store(&tj->started, 1);
    tj->result = prokio_task_blocking_join(tj->h);
    return NULL;
}

void test_join_from_threads(void **state)
{
    (void)state;
    enum { ROUNDS = 200, T = 4 };
    prokio_runtime_t *rt = test_runtime(2);
    struct drops d = {0};
    for (int round = 0; round < ROUNDS; round++) {
        prokio_oneshot_tx_t *tx[T];
        struct thread_join tj[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            struct gated g;
            conf_gated_init(&g, &d, i % 2 ? PROKIO_ECONNRESET : 3, &tx[i]);
            memset(&tj[i], 0, sizeof tj[i]);
            assert_int_equal(
                prokio_spawn(&tj[i].h, rt, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
        }
        /* Odd rounds open the gates before the threads join, even rounds
         * after: both orders must work. */
        if (round % 2) {
            for (int i = 0; i < T; i++)
                assert_int_equal(prokio_oneshot_send(tx[i], &i), 0);
        }
        for (int i = 0; i < T; i++)
            assert_int_equal(pthread_create(&th[i], NULL, thread_join_main, &tj[i]), 0);
        if (!(round % 2)) {
            for (int i = 0; i < T; i++) {
                CONF_WAIT_FLAG(&tj[i].started, 1);
                assert_int_equal(prokio_oneshot_send(tx[i], &i), 0);
            }
        }
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            if (i % 2)
                assert_int_equal(tj[i].result, PROKIO_ECONNRESET);
            else
                assert_int_equal(tj[i].result, 3);
            struct gated g;
            assert_int_equal(conf_join(tj[i].h, &g, sizeof g), tj[i].result);
            assert_int_equal(g.value, i);
        }
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), ROUNDS * T);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* ------------------------------------------------------------ block_on */

struct squares {
    int co;
    int n;
    int acc[8];
    prokio_sleep_t nap;
    int ret;
};

static int squares_poll(void *frame, prokio_cx_t *cx)
{
    struct squares *f = frame;
    PROKIO_BEGIN(&f->co);
    for (f->n = 0; f->n < 8; f->n++) {
        f->acc[f->n] = f->n * f->n;
        if (f->n % 2) {
            PROKIO_YIELD(&f->co, cx);
        } else {
            prokio_sleep_init(&f->nap, PROKIO_US(100));
            PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->nap, cx));
        }
    }
    PROKIO_END(&f->co, f->ret);
}

void test_block_on_frame(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int k = 0; k < 2; k++) {
        struct squares s = {.ret = k ? PROKIO_EIO : 0};
        int rc = prokio_runtime_block_on(rt, squares_poll, &s, sizeof s, NULL);
        assert_int_equal(rc, s.ret);
        assert_int_equal(s.n, 8);
        assert_int_equal(s.co, 0);
        for (int i = 0; i < 8; i++)
            assert_int_equal(s.acc[i], i * i);
    }
    struct drops d = {0};
    struct ret r = {.tr.d = &d, .ret = PROKIO_ENOTCONN};
    assert_int_equal(prokio_runtime_block_on(rt, ret_poll, &r, sizeof r, track_drop),
                     PROKIO_ENOTCONN);
    assert_int_equal(r.out, PROKIO_ENOTCONN * 2 + 1);
    assert_int_equal(r.tr.polls, 1);
    assert_int_equal(r.tr.drops, 1);
    assert_int_equal(atomic_load(&d.n), 1);
    /* A frame-less task. */
    assert_int_equal(prokio_runtime_block_on(rt, byte_poll, NULL, 0, NULL), 0);
    test_runtime_free(rt);
}

/* ---------------------------------------------------------------- detach */

/* Waits at a gate, then tells a watcher it got through. */
struct relay {
    struct track tr;
    prokio_oneshot_rx_t *in;
    prokio_oneshot_tx_t *out;
    int value;
};

static int relay_poll(void *frame, prokio_cx_t *cx)
{
    struct relay *f = frame;
    track_poll(&f->tr);
    int rc = prokio_oneshot_recv_poll(f->in, &f->value, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->value += 1000;
    rc = prokio_oneshot_send(f->out, &f->value);
    f->out = NULL;
    return rc;
}

static void relay_drop(void *frame)
{
    struct relay *f = frame;
    prokio_oneshot_rx_release(f->in);
    if (f->out)
        prokio_oneshot_tx_release(f->out);
    track_dropped(&f->tr);
}

struct watcher {
    prokio_oneshot_rx_t *rx;
    int value;
    int rc;
};

static int watcher_poll(void *frame, prokio_cx_t *cx)
{
    struct watcher *f = frame;
    int rc = prokio_oneshot_recv_poll(f->rx, &f->value, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->rc = rc;
    prokio_oneshot_rx_release(f->rx);
    f->rx = NULL;
    return 0;
}

void test_detach(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 2; k++) {
        prokio_oneshot_tx_t *gate_tx, *done_tx;
        prokio_oneshot_rx_t *gate_rx, *done_rx;
        assert_int_equal(prokio_oneshot_new(&gate_tx, &gate_rx, sizeof(int), NULL, 0), 0);
        assert_int_equal(prokio_oneshot_new(&done_tx, &done_rx, sizeof(int), NULL, 0), 0);
        struct relay r = {.tr.d = &d, .in = gate_rx, .out = done_tx};
        if (k == 0) {
            /* Detached at spawn. */
            assert_int_equal(prokio_spawn(NULL, rt, relay_poll, &r, sizeof r, relay_drop), 0);
        } else {
            /* Detached while it waits: release the handle. */
            prokio_task_t *h = NULL;
            assert_int_equal(prokio_spawn(&h, rt, relay_poll, &r, sizeof r, relay_drop), 0);
            prokio_task_release(h);
        }
        int v = 5 + k;
        assert_int_equal(prokio_oneshot_send(gate_tx, &v), 0);
        struct watcher w = {.rx = done_rx};
        assert_int_equal(prokio_runtime_block_on(rt, watcher_poll, &w, sizeof w, NULL), 0);
        assert_int_equal(w.rc, 0);
        assert_int_equal(w.value, 1005 + k);
    }
    /* Both ended on their own, so nothing holds the runtime. */
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* ------------------------------------------------------------ coroutines */

/* A reusable sub-future written with the macros: sleeps twice. */
struct nap2 {
    int co;
    int naps;
    prokio_sleep_t s;
};

static int nap2_poll(struct nap2 *n, prokio_cx_t *cx)
{
    PROKIO_BEGIN(&n->co);
    prokio_sleep_init(&n->s, PROKIO_US(200));
    PROKIO_AWAIT(&n->co, prokio_sleep_poll(&n->s, cx));
    n->naps++;
    prokio_sleep_init(&n->s, PROKIO_US(200));
    PROKIO_AWAIT(&n->co, prokio_sleep_poll(&n->s, cx));
    n->naps++;
    PROKIO_END(&n->co, n->naps);
}

struct coro {
    struct track tr;
    int co;
    int steps[16];
    int nsteps;
    int i;
    struct nap2 nap;
    int nap_rc;
    prokio_task_t *kid;
    int kid_rc;
    prokio_oneshot_rx_t *rx;
    int got;
    int recv_rc;
};

static int failing_kid_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame;
    (void)cx;
    return PROKIO_ENOENT;
}

static int coro_poll(void *frame, prokio_cx_t *cx)
{
    struct coro *f = frame;
    track_poll(&f->tr);
    PROKIO_BEGIN(&f->co);
    f->steps[f->nsteps++] = 1;
    PROKIO_AWAIT_INTO(&f->co, f->nap_rc, nap2_poll(&f->nap, cx));
    f->steps[f->nsteps++] = 2;
    if (prokio_spawn_local(&f->kid, failing_kid_poll, NULL, 0, NULL, cx) < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT_INTO(&f->co, f->kid_rc, prokio_task_join_poll(f->kid, cx));
    prokio_task_release(f->kid);
    f->kid = NULL;
    f->steps[f->nsteps++] = 3;
    for (f->i = 0; f->i < 3; f->i++) {
        PROKIO_YIELD(&f->co, cx);
        f->steps[f->nsteps++] = 10 + f->i;
    }
    PROKIO_AWAIT_INTO(&f->co, f->recv_rc, prokio_oneshot_recv_poll(f->rx, &f->got, cx));
    f->steps[f->nsteps++] = 4;
    PROKIO_END(&f->co, f->got);
}

static void coro_drop(void *frame)
{
    struct coro *f = frame;
    if (f->rx)
        prokio_oneshot_rx_release(f->rx);
    track_dropped(&f->tr);
}

void test_coro_macros(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    struct coro c = {.tr.d = &d};
    prokio_oneshot_tx_t *tx;
    assert_int_equal(prokio_oneshot_new(&tx, &c.rx, sizeof(int), NULL, 0), 0);
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn(&h, rt, coro_poll, &c, sizeof c, coro_drop), 0);
    int v = 99;
    assert_int_equal(prokio_oneshot_send(tx, &v), 0);
    assert_int_equal(conf_join(h, &c, sizeof c), 99);
    static const int want[] = {1, 2, 3, 10, 11, 12, 4};
    assert_int_equal(c.nsteps, 7);
    for (int i = 0; i < 7; i++)
        assert_int_equal(c.steps[i], want[i]);
    assert_int_equal(c.nap_rc, 2);
    assert_int_equal(c.nap.co, 0);
    assert_int_equal(c.kid_rc, PROKIO_ENOENT);
    assert_int_equal(c.recv_rc, 0);
    assert_int_equal(c.got, 99);
    assert_int_equal(c.co, 0);
    assert_int_equal(c.tr.drops, 1);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* ---------------------------------------------------------------- yield */

struct ylog {
    char buf[64];
    int len;
};

struct yielder {
    struct ylog *log;
    char id;
    int co;
    int i;
};

/* Raw poll style. */
static int yield_raw_poll(void *frame, prokio_cx_t *cx)
{
    struct yielder *f = frame;
    if (f->i < 4) {
        f->log->buf[f->log->len++] = f->id;
        f->i++;
        return prokio_cx_yield(cx);
    }
    f->log->buf[f->log->len++] = (char)(f->id + 32);
    return 0;
}

/* Coroutine style. */
static int yield_coro_poll(void *frame, prokio_cx_t *cx)
{
    struct yielder *f = frame;
    PROKIO_BEGIN(&f->co);
    for (f->i = 0; f->i < 4; f->i++) {
        f->log->buf[f->log->len++] = f->id;
        PROKIO_YIELD(&f->co, cx);
    }
    f->log->buf[f->log->len++] = (char)(f->id + 32);
    PROKIO_END(&f->co, 0);
}

struct yield_parent {
    struct ylog *log;
    int co;
    prokio_task_t *a, *b;
};

static int yield_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct yield_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    struct yielder a = {.log = f->log, .id = 'A'}, b = {.log = f->log, .id = 'B'};
    if (prokio_spawn_local(&f->a, yield_raw_poll, &a, sizeof a, NULL, cx) < 0 ||
        prokio_spawn_local(&f->b, yield_coro_poll, &b, sizeof b, NULL, cx) < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->a, cx));
    PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->b, cx));
    prokio_task_release(f->a);
    prokio_task_release(f->b);
    PROKIO_END(&f->co, 0);
}

void test_yield_order(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < prokio_runtime_workers(rt); w++) {
        struct ylog log = {{0}, 0};
        struct yield_parent p = {.log = &log};
        assert_int_equal(conf_run_on(rt, w, yield_parent_poll, &p, sizeof p, NULL), 0);
        log.buf[log.len] = '\0';
        assert_string_equal(log.buf, "ABABABABab");
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------- handles handed over */

/* Task A starts awaiting a handle (or a receiver) and ends without
 * finishing the await; task B, on another worker, takes over. B must be
 * the one woken. */
struct handover {
    prokio_task_t *target;
    prokio_oneshot_rx_t *rx;
    prokio_oneshot_tx_t *gate; /* opens the target, or sends on rx */
    int a_first;
};

struct taker {
    struct handover *ho;
    int is_b;
    int use_rx;
    int polls, first, result, timed_out, value;
    struct conf_timeout to;
};

static int taker_poll(void *frame, prokio_cx_t *cx)
{
    struct taker *f = frame;
    f->polls++;
    int r = f->use_rx ? prokio_oneshot_recv_poll(f->ho->rx, &f->value, cx)
                      : prokio_task_join_poll(f->ho->target, cx);
    if (!f->is_b) {
        f->ho->a_first = r;
        return 0; /* walks away from the await */
    }
    if (f->polls == 1) {
        f->first = r;
        int v = 21;
        if (prokio_oneshot_send(f->ho->gate, &v) < 0)
            return PROKIO_EIO;
        f->ho->gate = NULL;
    }
    if (r == PROKIO_PENDING) {
        if (conf_timed_out(&f->to, cx)) {
            f->timed_out = 1;
            return PROKIO_ETIMEDOUT;
        }
        return PROKIO_PENDING;
    }
    conf_timeout_cancel(&f->to);
    f->result = r;
    return 0;
}

void test_handle_handover(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 8; k++) {
        int use_rx = k % 2;
        unsigned wa = conf_worker(rt, (unsigned)k / 2), wb = conf_other(rt, wa);
        struct handover ho = {0};
        struct gated g;
        prokio_oneshot_tx_t *tx;
        conf_gated_init(&g, &d, PROKIO_ENOTCONN, &tx);
        prokio_task_t *ht = NULL;
        if (use_rx) {
            ho.rx = g.rx; /* no target task: the channel itself is handed over */
            ho.gate = tx;
            g.rx = NULL;
        } else {
            assert_int_equal(
                prokio_spawn_on(&ht, rt, wb, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
            ho.target = ht;
            ho.gate = tx;
        }
        struct taker a = {.ho = &ho, .use_rx = use_rx},
                     b = {.ho = &ho, .is_b = 1, .use_rx = use_rx};
        assert_int_equal(conf_run_on(rt, wa, taker_poll, &a, sizeof a, NULL), 0);
        assert_int_equal(ho.a_first, PROKIO_PENDING);
        /* A ended while registered; B takes over on the other worker. */
        int rc = conf_run_on(rt, wb, taker_poll, &b, sizeof b, NULL);
        if (b.timed_out)
            fail_msg("%s handed over: the new awaiter was never woken",
                     use_rx ? "receiver" : "JoinHandle");
        assert_int_equal(rc, 0);
        assert_int_equal(b.first, PROKIO_PENDING);
        assert_int_equal(b.polls, 2);
        if (use_rx) {
            assert_int_equal(b.result, 0);
            assert_int_equal(b.value, 21);
            prokio_oneshot_rx_release(ho.rx);
        } else {
            assert_int_equal(b.result, PROKIO_ENOTCONN);
            prokio_task_release(ht);
        }
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 4);
}

/* --------------------------------------------------------- join waiters */

/* The waiter rules of prokio/task.h: one waiter per handle. Between tasks,
 * the last one that polled is the one woken; a thread blocked in
 * prokio_task_blocking_join is never displaced (prokio_task_join_poll
 * answers PROKIO_EBUSY meanwhile), and a thread does not displace a task
 * that awaits the handle (prokio_task_blocking_join answers PROKIO_EBUSY);
 * a task that ended awaits nothing. */

/* Awaits `target`. With a `gate`, it also waits for the gate and ends only
 * when it opens, with what the join says then; a poll before that is a
 * wake from the target. Without one, it ends when the join gives a result
 * (or when its timeout passes). `polls` is read by the test while it runs. */
struct awaiter {
    prokio_task_t *target;
    prokio_oneshot_rx_t *gate;
    atomic_int *polls;
    int first, result, woken_by_target, timed_out;
    struct conf_timeout to;
};

static int awaiter_poll(void *frame, prokio_cx_t *cx)
{
    struct awaiter *f = frame;
    /* Counted after the join: a test that waits for the first poll then
     * knows the join has registered (or seen its result), and may end the
     * target without racing the poll still in progress. */
    int r = prokio_task_join_poll(f->target, cx);
    int n = atomic_fetch_add(f->polls, 1) + 1;
    if (n == 1)
        f->first = r;
    if (f->gate != NULL) {
        int g = prokio_oneshot_recv_poll(f->gate, NULL, cx);
        if (g == PROKIO_PENDING) {
            if (n > 1)
                f->woken_by_target++;
            return PROKIO_PENDING;
        }
        prokio_oneshot_rx_release(f->gate);
        f->gate = NULL;
        /* The tests open the gate after the target ended: read the join
         * now, not the answer from before the gate was seen open (a poll
         * woken earlier may have joined before the end and found the gate
         * open only after it; seen under ASan). */
        r = prokio_task_join_poll(f->target, cx);
    } else if (r == PROKIO_PENDING) {
        if (!conf_timed_out(&f->to, cx))
            return PROKIO_PENDING;
        f->timed_out = 1;
        return PROKIO_ETIMEDOUT;
    }
    conf_timeout_cancel(&f->to);
    f->result = r;
    return 0;
}

static void awaiter_drop(void *frame)
{
    struct awaiter *f = frame;
    prokio_oneshot_rx_release(f->gate);
    f->gate = NULL;
}

void test_join_last_poller_woken(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 8; k++) {
        unsigned wa = conf_worker(rt, (unsigned)k), wb = conf_worker(rt, (unsigned)k / 2),
                 wt = conf_worker(rt, (unsigned)k / 4);
        struct gated g;
        prokio_oneshot_tx_t *open_target, *open_a;
        prokio_oneshot_rx_t *a_gate;
        conf_gated_init(&g, &d, 17, &open_target);
        assert_int_equal(prokio_oneshot_new(&open_a, &a_gate, 0, NULL, 0), 0);
        prokio_task_t *ht = NULL, *ha = NULL, *hb = NULL;
        assert_int_equal(
            prokio_spawn_on(&ht, rt, wt, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
        /* A polls the handle first and stays alive; then B polls it. */
        atomic_int a_polls = 0, b_polls = 0;
        struct awaiter a = {.target = ht, .gate = a_gate, .polls = &a_polls};
        struct awaiter b = {.target = ht, .polls = &b_polls};
        assert_int_equal(prokio_spawn_on(&ha, rt, wa, awaiter_poll, &a, sizeof a, awaiter_drop), 0);
        CONF_WAIT_FLAG(&a_polls, 1);
        assert_int_equal(prokio_spawn_on(&hb, rt, wb, awaiter_poll, &b, sizeof b, awaiter_drop), 0);
        CONF_WAIT_FLAG(&b_polls, 1);
        /* The target ends: B, the last that polled, is woken. */
        assert_int_equal(prokio_oneshot_send(open_target, &k), 0);
        int rc = conf_join(hb, &b, sizeof b);
        if (b.timed_out)
            fail_msg("round %d: the task that polled the handle last was never woken", k);
        assert_int_equal(rc, 0);
        assert_int_equal(b.first, PROKIO_PENDING);
        assert_int_equal(b.result, 17);
        assert_int_equal(atomic_load(&b_polls), 2);
        /* A was not: it runs again when its own gate opens, and only then. */
        assert_int_equal(prokio_oneshot_send(open_a, NULL), 0);
        assert_int_equal(conf_join(ha, &a, sizeof a), 0);
        assert_int_equal(a.first, PROKIO_PENDING);
        assert_int_equal(a.woken_by_target, 0);
        assert_int_equal(a.result, 17);
        assert_int_equal(atomic_load(&a_polls), 2);
        assert_int_equal(conf_join(ht, &g, sizeof g), 17);
        assert_int_equal(g.value, k);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 8);
}

/* A thread blocked in prokio_task_blocking_join. It tries again while a
 * task awaits the handle (PROKIO_EBUSY), so that it blocks once that task
 * is gone. */
struct blocked_joiner {
    prokio_task_t *h;
    atomic_int started, done, busy;
    int rc, timed_out;
};

static void *blocked_joiner_main(void *arg)
{
    struct blocked_joiner *b = arg;
    atomic_store(&b->started, 1);
    uint64_t end = mono_ns() + conf_timeout_ns();
    while ((b->rc = prokio_task_blocking_join(b->h)) == PROKIO_EBUSY) {
        atomic_fetch_add(&b->busy, 1);
        if (!conf_yield_before(end)) {
            b->timed_out = 1;
            break;
        }
    }
    atomic_store(&b->done, 1);
    return NULL;
}

/* Calls prokio_task_blocking_join once and says what it answered. */
struct once_joiner {
    prokio_task_t *h;
    atomic_int done;
    int rc;
    char msg[160];
};

static void *once_joiner_main(void *arg)
{
    struct once_joiner *o = arg;
    o->rc = prokio_task_blocking_join(o->h);
    snprintf(o->msg, sizeof o->msg, "%s", prokio_last_error());
    atomic_store(&o->done, 1);
    return NULL;
}

/* Polls the handle once and ends, saying what the join answered. */
struct prober {
    prokio_task_t *target;
    int rc;
    char msg[160];
};

static int prober_poll(void *frame, prokio_cx_t *cx)
{
    struct prober *f = frame;
    prokio_cx_yield(NULL); /* a known message, to see that the join sets its own */
    f->rc = prokio_task_join_poll(f->target, cx);
    snprintf(f->msg, sizeof f->msg, "%s", prokio_last_error());
    return 0;
}

void test_join_blocked_thread_kept(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct drops d = {0};
    for (unsigned w = 0; w < 2; w++) {
        struct gated g;
        prokio_oneshot_tx_t *open_target;
        conf_gated_init(&g, &d, -0x10000, &open_target);
        prokio_task_t *ht = NULL;
        assert_int_equal(
            prokio_spawn_on(&ht, rt, 1 - w, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
        /* A task polls the handle and ends: it awaits nothing any more, so
         * the thread takes its place. */
        struct prober p = {.target = ht};
        assert_int_equal(conf_run_on(rt, w, prober_poll, &p, sizeof p, NULL), 0);
        assert_int_equal(p.rc, PROKIO_PENDING);
        struct blocked_joiner x = {.h = ht};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, blocked_joiner_main, &x), 0);
        CONF_WAIT_FLAG(&x.started, 1);
        /* Probe until a task's join finds the thread blocked. */
        p.rc = PROKIO_PENDING;
        int probes = 0;
        for (uint64_t end = mono_ns() + conf_timeout_ns(); p.rc != PROKIO_EBUSY; probes++) {
            p.rc = PROKIO_PENDING;
            assert_int_equal(conf_run_on(rt, w, prober_poll, &p, sizeof p, NULL), 0);
            if (p.rc != PROKIO_EBUSY && p.rc != PROKIO_PENDING)
                fail_msg("worker %u: prokio_task_join_poll of a running task returned %s (%s)", w,
                         prokio_err_name(p.rc), p.msg);
            if (p.rc != PROKIO_EBUSY && !conf_yield_before(end))
                fail_msg("worker %u: after %d probes, no prokio_task_join_poll found the thread "
                         "blocked (it got PROKIO_EBUSY %d times)",
                         w, probes, atomic_load(&x.busy));
        }
        assert_non_null(strstr(p.msg, "prokio_task_join_poll"));
        /* The thread is still blocked, and a second thread gets PROKIO_EBUSY
         * at once. */
        assert_int_equal(atomic_load(&x.done), 0);
        assert_int_equal(prokio_task_blocking_join(ht), PROKIO_EBUSY);
        assert_non_null(strstr(prokio_last_error(), "prokio_task_blocking_join"));
        /* The target ends: the blocked thread, never displaced, wakes. */
        assert_int_equal(prokio_oneshot_send(open_target, &probes), 0);
        if (!conf_wait_flag(&x.done, 1))
            fail_msg("worker %u: the thread blocked on the handle was never woken (displaced by a "
                     "task's join?)",
                     w);
        pthread_join(th, NULL);
        assert_false(x.timed_out);
        assert_int_equal(x.rc, -0x10000);
        /* After it, a task's join gets the result. */
        assert_int_equal(conf_run_on(rt, w, prober_poll, &p, sizeof p, NULL), 0);
        assert_int_equal(p.rc, -0x10000);
        assert_int_equal(conf_join(ht, &g, sizeof g), -0x10000);
        assert_int_equal(g.value, probes);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
}

void test_join_blocking_takes_over(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct drops d = {0};
    for (int k = 0; k < 4; k++) {
        unsigned wa = (unsigned)k % 2, wt = (unsigned)(k / 2) % 2;
        struct gated g;
        prokio_oneshot_tx_t *open_target, *open_a;
        prokio_oneshot_rx_t *a_gate;
        conf_gated_init(&g, &d, 5, &open_target);
        assert_int_equal(prokio_oneshot_new(&open_a, &a_gate, 0, NULL, 0), 0);
        prokio_task_t *ht = NULL, *ha = NULL;
        assert_int_equal(
            prokio_spawn_on(&ht, rt, wt, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
        /* A task awaits the handle and stays alive (its gate is closed). */
        atomic_int a_polls = 0;
        struct awaiter a = {.target = ht, .gate = a_gate, .polls = &a_polls};
        assert_int_equal(prokio_spawn_on(&ha, rt, wa, awaiter_poll, &a, sizeof a, awaiter_drop), 0);
        CONF_WAIT_FLAG(&a_polls, 1);
        /* A thread's blocking join takes its place, as the last waiter
         * registered: the handle was handed to the thread. */
        struct once_joiner y = {.h = ht};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, once_joiner_main, &y), 0);
        assert_int_equal(prokio_oneshot_send(open_target, &k), 0);
        CONF_WAIT_FLAG(&y.done, 1);
        pthread_join(th, NULL);
        assert_int_equal(y.rc, 5);
        /* The task it displaced was not woken by the end; opened, it reads
         * the result through its own poll. */
        assert_int_equal(prokio_oneshot_send(open_a, NULL), 0);
        assert_int_equal(conf_join(ha, &a, sizeof a), 0);
        assert_int_equal(a.first, PROKIO_PENDING);
        assert_int_equal(a.result, 5);
        assert_int_equal(conf_join(ht, &g, sizeof g), 5);
        assert_int_equal(g.value, k);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 4);
}

/* ------------------------------------------------------------ many tasks */

enum { MANY_LOCAL = 30000, MANY_REMOTE = 30000 };

struct tiny {
    atomic_long *polls;
    int i;
};

static int tiny_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct tiny *f = frame;
    atomic_fetch_add_explicit(f->polls, 1, memory_order_relaxed);
    return f->i % 5 == 0 ? PROKIO_EAGAIN : 0;
}

static void tiny_drop(void *frame)
{
    struct tiny *f = frame;
    f->i = -f->i - 1; /* marks the drop in the frame */
}

struct spawner {
    atomic_long *polls;
    prokio_task_t **h;
    int co;
    int i, bad, round;
};

static int spawner_poll(void *frame, prokio_cx_t *cx)
{
    struct spawner *f = frame;
    PROKIO_BEGIN(&f->co);
    /* Twice: the second round runs on memory the first one freed. */
    for (f->round = 0; f->round < 2; f->round++) {
        for (f->i = 0; f->i < MANY_LOCAL; f->i++) {
            struct tiny t = {.polls = f->polls, .i = f->i};
            if (prokio_spawn_local(&f->h[f->i], tiny_poll, &t, sizeof t, tiny_drop, cx) < 0)
                return PROKIO_ENOMEM;
        }
        for (f->i = 0; f->i < MANY_LOCAL; f->i++) {
            PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->h[f->i], cx));
            if (prokio_task_result(f->h[f->i]) != (f->i % 5 == 0 ? PROKIO_EAGAIN : 0) ||
                ((struct tiny *)prokio_task_frame(f->h[f->i]))->i != -f->i - 1)
                f->bad++;
            prokio_task_release(f->h[f->i]);
        }
    }
    PROKIO_END(&f->co, 0);
}

void test_spawn_many(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    atomic_long polls = 0;
    struct spawner s = {.polls = &polls, .h = calloc(MANY_LOCAL, sizeof(prokio_task_t *))};
    assert_non_null(s.h);
    prokio_task_t *hs = NULL;
    assert_int_equal(prokio_spawn_on(&hs, rt, 0, spawner_poll, &s, sizeof s, NULL), 0);
    /* Meanwhile, from outside, onto the same worker and the other one. */
    prokio_task_t **h = calloc(MANY_REMOTE, sizeof *h);
    assert_non_null(h);
    for (int i = 0; i < MANY_REMOTE; i++) {
        struct tiny t = {.polls = &polls, .i = i};
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i % 3 == 0),
                                         tiny_poll, &t, sizeof t, tiny_drop),
                         0);
        if (i % 2 == 1) { /* release some early, keep others */
            struct tiny f;
            assert_int_equal(conf_join(h[i - 1], &f, sizeof f),
                             (i - 1) % 5 == 0 ? PROKIO_EAGAIN : 0);
            assert_int_equal(f.i, -(i - 1) - 1);
        }
    }
    for (int i = 1; i < MANY_REMOTE; i += 2)
        assert_int_equal(conf_join(h[i], NULL, 0), i % 5 == 0 ? PROKIO_EAGAIN : 0);
    assert_int_equal(conf_join(hs, &s, sizeof s), 0);
    assert_int_equal(s.bad, 0);
    assert_int_equal(atomic_load(&polls), 2 * MANY_LOCAL + MANY_REMOTE);
    free(h);
    free(s.h);
    test_runtime_free(rt);
}

/* ------------------------------------------------- drop functions re-enter */

/* A drop function that uses the runtime: releases handles of other tasks
 * (on its worker and the other), aborts a parked task, spawns a new one.
 * At a normal end all of that works; at shutdown the spawn is refused. */
struct reentrant {
    struct track tr;
    prokio_runtime_t *rt;
    prokio_task_t *hold[2];  /* handles it owns */
    prokio_task_t *victim;   /* parked task it aborts (main keeps a handle) */
    atomic_int *spawned_ran; /* set by the task its drop spawns */
    int spawn_rc;
    int end;
};

static int flag_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    atomic_store(*(atomic_int **)frame, 1);
    return 0;
}

static int reentrant_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct reentrant *f = frame;
    track_poll(&f->tr);
    return f->end ? 0 : PROKIO_PENDING;
}

static void reentrant_drop(void *frame)
{
    struct reentrant *f = frame;
    for (int i = 0; i < 2; i++)
        prokio_task_release(f->hold[i]);
    prokio_task_abort(f->victim);
    f->spawn_rc =
        prokio_spawn(NULL, f->rt, flag_poll, &f->spawned_ran, sizeof f->spawned_ran, NULL);
    track_dropped(&f->tr);
}

void test_drop_reenters(void **state)
{
    (void)state;
    struct drops d = {0};
    for (int at_shutdown = 0; at_shutdown < 2; at_shutdown++) {
        prokio_runtime_t *rt = test_runtime(conf_workers(2));
        atomic_int ran = 0;
        struct reentrant r = {.tr.d = &d, .rt = rt, .spawned_ran = &ran, .end = !at_shutdown};
        struct track t = {.d = &d};
        for (unsigned w = 0; w < 2; w++)
            assert_int_equal(prokio_spawn_on(&r.hold[w], rt, conf_worker(rt, w), conf_park_forever,
                                             &t, sizeof t, track_drop),
                             0);
        prokio_task_t *hv = NULL, *hr = NULL;
        assert_int_equal(prokio_spawn_on(&hv, rt, 0, conf_park_forever, &t, sizeof t, track_drop),
                         0);
        r.victim = hv;
        assert_int_equal(prokio_spawn_on(&hr, rt, 0, reentrant_poll, &r, sizeof r, reentrant_drop),
                         0);
        if (!at_shutdown) {
            assert_int_equal(conf_join(hr, &r, sizeof r), 0);
            assert_int_equal(conf_join(hv, NULL, 0), PROKIO_ECANCELED);
            CONF_WAIT_FLAG(&ran, 1);
            assert_int_equal(r.spawn_rc, 0);
        } else {
            assert_int_equal(prokio_runtime_shutdown(rt), 0);
            assert_int_equal(prokio_task_result(hr), PROKIO_ECANCELED);
            assert_int_equal(prokio_task_result(hv), PROKIO_ECANCELED);
            assert_int_equal(conf_join(hr, &r, sizeof r), PROKIO_ECANCELED);
            assert_int_equal(conf_join(hv, NULL, 0), PROKIO_ECANCELED);
            assert_int_equal(r.spawn_rc, PROKIO_ESHUTDOWN);
            assert_int_equal(atomic_load(&ran), 0);
        }
        assert_int_equal(r.tr.drops, 1);
        test_runtime_free(rt);
        /* Each round: the reentrant task, its victim and the two it held
         * (detached by its drop, cancelled when the runtime goes). */
        assert_int_equal(atomic_load(&d.n), 4 * (at_shutdown + 1));
    }
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}
