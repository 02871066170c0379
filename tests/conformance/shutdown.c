/* tests/conformance/shutdown.c: shutting down with tasks in every state.
 * Every drop runs exactly once, on its worker; handles report
 * PROKIO_ECANCELED; prokio_runtime_free refuses while anything is held;
 * spawns fail afterwards; shutdown is idempotent. */
#include <sys/socket.h>

#include "conformance.h"

/* The tasks of this file count themselves in `parked` once they wait. */
struct st_sleeper {
    struct track tr;
    atomic_int *parked;
    prokio_sleep_t s;
};

static int st_sleeper_poll(void *frame, prokio_cx_t *cx)
{
    struct st_sleeper *f = frame;
    track_poll(&f->tr);
    if (f->tr.polls == 1)
        prokio_sleep_init(&f->s, PROKIO_SEC(3600));
    int rc = prokio_sleep_poll(&f->s, cx);
    if (rc == PROKIO_PENDING && f->tr.polls == 1)
        atomic_fetch_add(f->parked, 1);
    return rc;
}

struct st_io {
    struct track tr;
    atomic_int *parked;
    int sv[2];
    prokio_fd_t *io;
};

static int st_io_poll(void *frame, prokio_cx_t *cx)
{
    struct st_io *f = frame;
    track_poll(&f->tr);
    if (f->io == NULL && prokio_fd_new(&f->io, f->sv[0], cx) < 0)
        return PROKIO_EIO;
    int rc = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
    if (rc != PROKIO_PENDING)
        return PROKIO_EIO; /* nobody writes */
    if (f->tr.polls == 1)
        atomic_fetch_add(f->parked, 1);
    return PROKIO_PENDING;
}

static void st_io_drop(void *frame)
{
    struct st_io *f = frame;
    if (f->io)
        prokio_fd_free(f->io);
    f->io = NULL;
    close(f->sv[0]);
    close(f->sv[1]);
    track_dropped(&f->tr);
}

struct st_joiner {
    struct track tr;
    atomic_int *parked;
    prokio_task_t *target;
};

static int st_joiner_poll(void *frame, prokio_cx_t *cx)
{
    struct st_joiner *f = frame;
    track_poll(&f->tr);
    int rc = prokio_task_join_poll(f->target, cx);
    if (rc == PROKIO_PENDING && f->tr.polls == 1)
        atomic_fetch_add(f->parked, 1);
    return rc == PROKIO_PENDING ? rc : PROKIO_EIO; /* the target never ends */
}

static void st_joiner_drop(void *frame)
{
    struct st_joiner *f = frame;
    prokio_task_release(f->target);
    track_dropped(&f->tr);
}

struct st_yielder {
    struct track tr;
    atomic_int *parked;
};

static int st_yielder_poll(void *frame, prokio_cx_t *cx)
{
    struct st_yielder *f = frame;
    track_poll(&f->tr);
    if (f->tr.polls == 1)
        atomic_fetch_add(f->parked, 1);
    return prokio_cx_yield(cx);
}

struct st_blocker {
    struct track tr;
    atomic_int *in_poll;
    atomic_int *release;
};

/* Ends with PROKIO_ETIMEDOUT if it was not released in time. */
static int st_blocker_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct st_blocker *f = frame;
    track_poll(&f->tr);
    atomic_store(f->in_poll, 1);
    return conf_wait_flag(f->release, 1) ? 0 : PROKIO_ETIMEDOUT;
}

struct gated_parker {
    struct gated g;
    atomic_int *parked;
};

static int gated_parker_poll(void *frame, prokio_cx_t *cx)
{
    struct gated_parker *f = frame;
    int rc = conf_gated_poll(&f->g, cx);
    if (rc == PROKIO_PENDING && f->g.tr.polls == 1)
        atomic_fetch_add(f->parked, 1);
    return rc;
}

static void *shutdown_thread_main(void *arg)
{
    return (void *)(intptr_t)prokio_runtime_shutdown(arg);
}

enum { MAX_HANDLES = 256 };

struct handles {
    prokio_task_t *h[MAX_HANDLES];
    int n;
};

static prokio_task_t **next_handle(struct handles *hs)
{
    assert_true(hs->n < MAX_HANDLES);
    return &hs->h[hs->n++];
}

void test_shutdown_every_state(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    struct drops d = {0};
    atomic_int parked = 0;
    int expect_parked = 0, tasks = 0;
    struct handles hs = {.n = 0};
    prokio_oneshot_tx_t *txs[16];
    int ntx = 0;

    for (unsigned w = 0; w < 2; w++) {
        struct track tr = {.d = &d, .thread = threads[w], .known = true};
        /* Sleeping, with a handle and detached. */
        struct st_sleeper s = {.tr = tr, .parked = &parked};
        assert_int_equal(
            prokio_spawn_on(next_handle(&hs), rt, w, st_sleeper_poll, &s, sizeof s, track_drop), 0);
        assert_int_equal(prokio_spawn_on(NULL, rt, w, st_sleeper_poll, &s, sizeof s, track_drop),
                         0);
        expect_parked += 2;
        /* Waiting on a descriptor. */
        struct st_io io = {.tr = tr, .parked = &parked};
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, io.sv), 0);
        assert_int_equal(
            prokio_spawn_on(next_handle(&hs), rt, w, st_io_poll, &io, sizeof io, st_io_drop), 0);
        expect_parked++;
        /* Waiting on a oneshot whose sender we keep. */
        struct gated_parker gp = {.parked = &parked};
        conf_gated_init(&gp.g, &d, 0, &txs[ntx++]);
        gp.g.tr = tr;
        assert_int_equal(prokio_spawn_on(next_handle(&hs), rt, w, gated_parker_poll, &gp, sizeof gp,
                                         conf_gated_drop),
                         0);
        expect_parked++;
        /* Waiting on the JoinHandle of a pending task, on the same worker
         * and on the other one; the joiner owns that handle. */
        for (unsigned tw = 0; tw < 2; tw++) {
            struct gated_parker target = {.parked = &parked};
            conf_gated_init(&target.g, &d, 0, &txs[ntx++]);
            target.g.tr.thread = threads[tw];
            target.g.tr.known = true;
            prokio_task_t *ht = NULL;
            assert_int_equal(prokio_spawn_on(&ht, rt, tw, gated_parker_poll, &target, sizeof target,
                                             conf_gated_drop),
                             0);
            struct st_joiner j = {.tr = tr, .parked = &parked, .target = ht};
            assert_int_equal(prokio_spawn_on(next_handle(&hs), rt, w, st_joiner_poll, &j, sizeof j,
                                             st_joiner_drop),
                             0);
            expect_parked += 2;
        }
        /* Always ready: yields for ever. */
        struct st_yielder y = {.tr = tr, .parked = &parked};
        assert_int_equal(
            prokio_spawn_on(next_handle(&hs), rt, w, st_yielder_poll, &y, sizeof y, track_drop), 0);
        expect_parked++;
    }
    tasks = expect_parked;
    CONF_WAIT_FLAG(&parked, expect_parked);

    /* Worker 0 held in a poll, so that what is spawned onto it now stays
     * queued. */
    atomic_int in_poll = 0, release = 0;
    struct st_blocker b = {.tr = {.d = &d, .thread = threads[0], .known = true},
                           .in_poll = &in_poll,
                           .release = &release};
    prokio_task_t *hb = NULL;
    assert_int_equal(prokio_spawn_on(&hb, rt, 0, st_blocker_poll, &b, sizeof b, track_drop), 0);
    tasks++;
    CONF_WAIT_FLAG(&in_poll, 1);
    for (int i = 0; i < 40; i++) {
        struct track t = {.d = &d, .thread = threads[0], .known = true};
        assert_int_equal(prokio_spawn_on(i % 2 ? NULL : next_handle(&hs), rt, 0, conf_park_forever,
                                         &t, sizeof t, track_drop),
                         0);
        tasks++;
    }

    /* Shut down from another thread while we keep spawning: every spawn
     * either succeeds (and its task is then cancelled) or fails cleanly. */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, shutdown_thread_main, rt), 0);
    int rc, spawned = 0;
    for (;;) {
        struct track t = {.d = &d};
        prokio_task_t *h = (prokio_task_t *)&h;
        rc = prokio_spawn(spawned < 100 ? &h : NULL, rt, conf_park_forever, &t, sizeof t,
                          track_drop);
        if (rc < 0) {
            if (spawned < 100)
                assert_null(h);
            break;
        }
        if (spawned < 100)
            *next_handle(&hs) = h;
        spawned++;
    }
    assert_int_equal(rc, PROKIO_ESHUTDOWN);
    tasks += spawned;
    atomic_store(&release, 1);
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((int)(intptr_t)ret, 0);

    print_message("# shutdown: %d tasks, %d spawned while shutting down\n", tasks, spawned);
    assert_int_equal(atomic_load(&d.n), tasks);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
    assert_int_equal(prokio_task_blocking_join(hb), 0); /* it ended on its own */
    assert_int_equal(((struct track *)prokio_task_frame(hb))->drops, 1);
    for (int i = 0; i < hs.n; i++) {
        assert_int_equal(prokio_task_result(hs.h[i]), PROKIO_ECANCELED);
        assert_int_equal(prokio_task_blocking_join(hs.h[i]), PROKIO_ECANCELED);
        assert_int_equal(((struct track *)prokio_task_frame(hs.h[i]))->drops, 1);
    }
    for (int i = 0; i < ntx; i++) {
        assert_true(prokio_oneshot_tx_is_closed(txs[i]));
        int v = i;
        assert_int_equal(prokio_oneshot_send(txs[i], &v), PROKIO_EPIPE);
    }

    /* Idempotent, and spawning stays refused. */
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    struct track t = {.d = &d};
    prokio_task_t *h = (prokio_task_t *)&h;
    assert_int_equal(prokio_spawn(&h, rt, conf_park_forever, &t, sizeof t, track_drop),
                     PROKIO_ESHUTDOWN);
    assert_null(h);
    h = (prokio_task_t *)&h;
    assert_int_equal(prokio_spawn_on(&h, rt, 1, conf_park_forever, &t, sizeof t, track_drop),
                     PROKIO_ESHUTDOWN);
    assert_null(h);

    /* Busy while any handle is held. */
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
    prokio_task_release(hb);
    for (int i = 1; i < hs.n; i++)
        prokio_task_release(hs.h[i]);
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    prokio_task_release(hs.h[0]);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), tasks); /* no drop for the refused spawns */
}

void test_shutdown_idle(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(3));
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    prokio_task_t *h = (prokio_task_t *)&h;
    assert_int_equal(prokio_spawn(&h, rt, conf_park_forever, NULL, sizeof(struct track), NULL),
                     PROKIO_ESHUTDOWN);
    assert_null(h);
    test_runtime_free(rt);
    /* Freed without an explicit shutdown. */
    rt = test_runtime(1);
    test_runtime_free(rt);
}

/* Threads blocked in prokio_task_blocking_join and prokio_runtime_block_on wake up with
 * PROKIO_ECANCELED when the runtime shuts down. */
struct blocked {
    prokio_runtime_t *rt;
    prokio_task_t *h;
    atomic_int started;
    int rc;
    struct track frame;
};

static void *join_blocked_main(void *arg)
{
    struct blocked *b = arg;
    atomic_store(&b->started, 1);
    b->rc = prokio_task_blocking_join(b->h);
    return NULL;
}

struct parked_flag {
    struct track tr;
    atomic_int *polled;
};

static int parked_flag_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct parked_flag *f = frame;
    track_poll(&f->tr);
    atomic_store(f->polled, 1);
    return PROKIO_PENDING;
}

static void *block_on_blocked_main(void *arg)
{
    struct blocked *b = arg;
    struct parked_flag f = {.tr = b->frame, .polled = &b->started};
    b->rc = prokio_runtime_block_on(b->rt, parked_flag_poll, &f, sizeof f, track_drop);
    b->frame = f.tr;
    return NULL;
}

void test_shutdown_wakes_blocked_threads(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct drops d = {0};
    struct blocked j = {.rt = rt}, bo = {.rt = rt, .frame = {.d = &d}};
    struct track t = {.d = &d};
    assert_int_equal(prokio_spawn(&j.h, rt, conf_park_forever, &t, sizeof t, track_drop), 0);
    pthread_t tj, tb;
    assert_int_equal(pthread_create(&tj, NULL, join_blocked_main, &j), 0);
    assert_int_equal(pthread_create(&tb, NULL, block_on_blocked_main, &bo), 0);
    CONF_WAIT_FLAG(&j.started, 1);
    CONF_WAIT_FLAG(&bo.started, 1); /* its task was polled: block_on is waiting */
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    pthread_join(tj, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(j.rc, PROKIO_ECANCELED);
    assert_int_equal(bo.rc, PROKIO_ECANCELED);
    assert_int_equal(bo.frame.drops, 1); /* the final frame was copied back */
    assert_int_equal(atomic_load(&d.n), 2);
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
    prokio_task_release(j.h);
    test_runtime_free(rt);
}

/* Frames of every size class, and beyond, cancelled at shutdown. */
void test_shutdown_large_frames(void **state)
{
    (void)state;
    static const size_t sizes[] = {
        sizeof(struct track), 100, 1000, 5000, 8192 - 48, 8192, 20000, 200000};
    enum { K = sizeof sizes / sizeof sizes[0] };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    struct drops d = {0};
    prokio_task_t *h[K][2];
    for (size_t k = 0; k < K; k++) {
        unsigned char *buf = calloc(1, sizes[k]);
        assert_non_null(buf);
        for (unsigned w = 0; w < 2; w++) {
            struct track t = {.d = &d, .thread = threads[conf_worker(rt, w)], .known = true};
            memcpy(buf, &t, sizeof t);
            assert_int_equal(prokio_spawn_on(&h[k][w], rt, conf_worker(rt, w), conf_park_forever,
                                             buf, sizes[k], track_drop),
                             0);
            /* and a detached twin */
            assert_int_equal(prokio_spawn_on(NULL, rt, conf_worker(rt, w), conf_park_forever, buf,
                                             sizes[k], track_drop),
                             0);
        }
        free(buf);
    }
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_int_equal(atomic_load(&d.n), 4 * K);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
    for (size_t k = 0; k < K; k++) {
        for (unsigned w = 0; w < 2; w++) {
            assert_int_equal(prokio_task_result(h[k][w]), PROKIO_ECANCELED);
            assert_int_equal(((struct track *)prokio_task_frame(h[k][w]))->drops, 1);
        }
    }
    for (size_t k = 0; k < K; k++) {
        assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
        prokio_task_release(h[k][0]);
        prokio_task_release(h[k][1]);
    }
    test_runtime_free(rt);
}

/* A waker is a reference: the runtime is busy while one is held. */
struct waker_out {
    struct track tr;
    prokio_waker_t **out;
    int finish;
    atomic_int *parked;
};

static int waker_out_poll(void *frame, prokio_cx_t *cx)
{
    struct waker_out *f = frame;
    track_poll(&f->tr);
    *f->out = prokio_waker_clone(prokio_cx_waker(cx));
    atomic_store(f->parked, 1);
    return f->finish ? 0 : PROKIO_PENDING;
}

void test_free_busy_while_waker_held(void **state)
{
    (void)state;
    struct drops d = {0};
    for (int finish = 0; finish < 2; finish++) {
        prokio_runtime_t *rt = test_runtime(conf_workers(2));
        prokio_waker_t *w = NULL;
        atomic_int parked = 0;
        struct waker_out f = {.tr.d = &d, .out = &w, .finish = finish, .parked = &parked};
        assert_int_equal(prokio_spawn(NULL, rt, waker_out_poll, &f, sizeof f, track_drop), 0);
        CONF_WAIT_FLAG(&parked, 1);
        assert_int_equal(prokio_runtime_shutdown(rt), 0);
        assert_int_equal(atomic_load(&d.n), finish + 1);
        assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
        /* Waking a task that ended (cancelled or not) does nothing. */
        prokio_waker_wake_by_ref(w);
        prokio_waker_t *c = prokio_waker_clone(w);
        prokio_waker_wake(c);
        assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
        prokio_waker_release(w);
        test_runtime_free(rt);
    }
    assert_int_equal(atomic_load(&d.n), 2);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}
