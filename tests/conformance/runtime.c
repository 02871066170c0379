/* tests/conformance/runtime.c: creating, naming and freeing runtimes;
 * options; the calls that must refuse to run on a worker thread. */
#include "conformance.h"
#include <prokio/backend_info.h>

static void check_backend_name(prokio_runtime_t *rt)
{
    const char *name = prokio_runtime_backend_name(rt);
    assert_non_null(name);
    const char *want = conf_expected_backend();
    if (want != NULL)
        assert_string_equal(name, want);
    else
        assert_true(strcmp(name, "uring") == 0 || strcmp(name, "event") == 0 ||
                    strcmp(name, "uv") == 0);
}

static unsigned cpus_allowed(void)
{
    cpu_set_t set;
    assert_int_equal(sched_getaffinity(0, sizeof set, &set), 0);
    return (unsigned)CPU_COUNT(&set);
}

struct echo {
    int in;
    int out;
    unsigned worker;
};

static int echo_poll(void *frame, prokio_cx_t *cx)
{
    struct echo *f = frame;
    f->out = f->in * 3;
    f->worker = prokio_cx_worker(cx);
    return 0;
}

void test_runtime_defaults(void **state)
{
    (void)state;
    prokio_runtime_t *rt = (prokio_runtime_t *)&rt; /* not NULL: must be overwritten */
    assert_int_equal(prokio_runtime_new(&rt, NULL), 0);
    assert_non_null(rt);
    assert_int_equal(prokio_runtime_workers(rt), cpus_allowed());
    check_backend_name(rt);
    struct echo e = {.in = 14};
    assert_int_equal(prokio_runtime_block_on(rt, echo_poll, &e, sizeof e, NULL), 0);
    assert_int_equal(e.out, 42);
    assert_true(e.worker < prokio_runtime_workers(rt));
    test_runtime_free(rt);

    /* Options initialised with the macro and left alone are the defaults. */
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    assert_int_equal(o.size, sizeof o);
    assert_int_equal(prokio_runtime_new(&rt, &o), 0);
    assert_int_equal(prokio_runtime_workers(rt), cpus_allowed());
    check_backend_name(rt);
    test_runtime_free(rt);
}

void test_runtime_workers(void **state)
{
    (void)state;
    static const unsigned counts[] = {1, 2, 3, 4, 7};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
        unsigned n = counts[k];
        prokio_runtime_t *rt = test_runtime(n);
        assert_int_equal(prokio_runtime_workers(rt), n);
        check_backend_name(rt);
        pthread_t threads[CONF_MAX_WORKERS];
        conf_worker_threads(rt, threads);
        /* One thread per worker, none of them ours. */
        for (unsigned i = 0; i < n; i++) {
            assert_false(pthread_equal(threads[i], pthread_self()));
            for (unsigned j = 0; j < i; j++)
                assert_false(pthread_equal(threads[i], threads[j]));
        }
        test_runtime_free(rt);
    }
}

void test_runtime_backend_report(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    prokio_backend_report_t r;
    memset(&r, 0xa5, sizeof r);
    r.size = sizeof r;
    prokio_runtime_backend_report(rt, &r);
    assert_int_equal(r.size, sizeof r);
    assert_non_null(r.name);
    assert_string_equal(r.name, prokio_runtime_backend_name(rt));
    assert_int_equal(r.status, 0);
    assert_non_null(r.path);
    assert_non_null(r.version);
    assert_int_equal(r.abi_version >> 16, 1);
    /* The file is prokio-NAME.so. */
    char want[80];
    snprintf(want, sizeof want, "prokio-%s.so", r.name);
    const char *base = strrchr(r.path, '/');
    base = base ? base + 1 : r.path;
    assert_string_equal(base, want);

    /* A caller that knows only the first two members gets only those. */
    struct {
        prokio_backend_report_t r;
        unsigned char canary[16];
    } small;
    memset(&small, 0x5a, sizeof small);
    small.r.size = offsetof(prokio_backend_report_t, path);
    prokio_runtime_backend_report(rt, &small.r);
    assert_string_equal(small.r.name, r.name);
    const unsigned char *p = (const unsigned char *)&small.r.path;
    for (size_t i = 0; i < sizeof small - offsetof(prokio_backend_report_t, path); i++)
        assert_int_equal(p[i], 0x5a);
    test_runtime_free(rt);
}

void test_runtime_options_invalid(void **state)
{
    (void)state;
    prokio_runtime_t *rt = (prokio_runtime_t *)&rt;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.size = 0;
    assert_int_equal(prokio_runtime_new(&rt, &o), PROKIO_EINVAL);
    assert_null(rt);
    assert_true(strlen(prokio_last_error()) > 0);

    assert_int_equal(prokio_runtime_new(NULL, NULL), PROKIO_EINVAL);

    /* An explicit backend that cannot load is an error, never a fallback. */
    rt = (prokio_runtime_t *)&rt;
    o = (prokio_runtime_options_t)PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.backend = "no-such-backend";
    int rc = prokio_runtime_new(&rt, &o);
    assert_true(rc < 0);
    assert_null(rt);
    assert_non_null(strstr(prokio_last_error(), "no-such-backend"));

    rt = (prokio_runtime_t *)&rt;
    o.backend = "/nonexistent/dir/prokio-nope.so";
    rc = prokio_runtime_new(&rt, &o);
    assert_true(rc < 0);
    assert_null(rt);
    assert_non_null(strstr(prokio_last_error(), "/nonexistent/dir/prokio-nope.so"));
}

void test_runtime_options_versions(void **state)
{
    (void)state;
    /* A newer application: a bigger struct whose extra fields the library
     * does not know. It reads the fields it knows. */
    struct {
        prokio_runtime_options_t o;
        uint64_t future[4];
    } big;
    memset(&big, 0xff, sizeof big);
    big.o = (prokio_runtime_options_t)PROKIO_RUNTIME_OPTIONS_INIT;
    big.o.size = sizeof big;
    big.o.workers = 3;
    prokio_runtime_t *rt = NULL;
    assert_int_equal(prokio_runtime_new(&rt, &big.o), 0);
    assert_int_equal(prokio_runtime_workers(rt), 3);
    check_backend_name(rt);
    test_runtime_free(rt);

    /* An older application that knew `workers` but not `backend`: the
     * backend comes from the environment, as if backend were NULL; the
     * garbage after `size` bytes is never read. */
    prokio_runtime_options_t old;
    memset(&old, 0xff, sizeof old);
    old.size = offsetof(prokio_runtime_options_t, workers) + sizeof old.workers;
    old.workers = 2;
    assert_int_equal(prokio_runtime_new(&rt, &old), 0);
    assert_int_equal(prokio_runtime_workers(rt), 2);
    check_backend_name(rt);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------ EDEADLK */

struct deadlk {
    prokio_runtime_t *rt;
    int co;
    int block_on, runtime_new, shutdown, free, join;
    prokio_runtime_t *created;
    prokio_task_t *child;
    int child_result;
};

static int nop_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame;
    (void)cx;
    return 0;
}

static int deadlk_poll(void *frame, prokio_cx_t *cx)
{
    struct deadlk *f = frame;
    PROKIO_BEGIN(&f->co);
    f->block_on = prokio_runtime_block_on(f->rt, nop_poll, NULL, 0, NULL);
    f->created = (prokio_runtime_t *)f;
    f->runtime_new = prokio_runtime_new(&f->created, NULL);
    f->shutdown = prokio_runtime_shutdown(f->rt);
    f->free = prokio_runtime_free(f->rt);
    f->child_result = prokio_spawn_local(&f->child, nop_poll, NULL, 0, NULL, cx);
    if (f->child_result < 0)
        return f->child_result;
    f->join = prokio_task_blocking_join(f->child);
    PROKIO_AWAIT_INTO(&f->co, f->child_result, prokio_task_join_poll(f->child, cx));
    prokio_task_release(f->child);
    f->child = NULL;
    PROKIO_END(&f->co, 0);
}

void test_runtime_edeadlk(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct deadlk f = {.rt = rt};
    assert_int_equal(prokio_runtime_block_on(rt, deadlk_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.block_on, PROKIO_EDEADLK);
    assert_int_equal(f.runtime_new, PROKIO_EDEADLK);
    assert_null(f.created);
    assert_int_equal(f.shutdown, PROKIO_EDEADLK);
    assert_int_equal(f.free, PROKIO_EDEADLK);
    assert_int_equal(f.join, PROKIO_EDEADLK);
    assert_int_equal(f.child_result, 0);
    /* The runtime was not shut down by any of that. */
    struct echo e = {.in = 5};
    assert_int_equal(prokio_runtime_block_on(rt, echo_poll, &e, sizeof e, NULL), 0);
    assert_int_equal(e.out, 15);
    test_runtime_free(rt);
}

void test_runtime_many(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) {
        prokio_runtime_t *rt = test_runtime(conf_workers(1 + (unsigned)i % 3));
        prokio_task_t *h = NULL;
        struct echo e = {.in = i};
        assert_int_equal(prokio_spawn(&h, rt, echo_poll, &e, sizeof e, NULL), 0);
        assert_int_equal(prokio_runtime_block_on(rt, echo_poll, &e, sizeof e, NULL), 0);
        assert_int_equal(e.out, 3 * i);
        struct echo o;
        assert_int_equal(conf_join(h, &o, sizeof o), 0);
        assert_int_equal(o.out, 3 * i);
        /* A detached task still queued when the runtime goes. */
        assert_int_equal(prokio_spawn(NULL, rt, echo_poll, &e, sizeof e, NULL), 0);
        test_runtime_free(rt);
    }
}

/* ------------------------------------------------------- current runtime */

/* Records prokio_runtime_current() in its poll and its drop. Parks when
 * `park` is set (until aborted or shut down). */
struct whose {
    prokio_runtime_t *in_poll, *cx_rt, *in_drop;
    int park;
    atomic_int *polled;
    _Atomic(prokio_runtime_t *) *drop_out; /* for a detached task */
};

static int whose_poll(void *frame, prokio_cx_t *cx)
{
    struct whose *f = frame;
    f->in_poll = prokio_runtime_current();
    f->cx_rt = prokio_cx_runtime(cx);
    if (f->polled)
        atomic_store(f->polled, 1);
    return f->park ? PROKIO_PENDING : 0;
}

static void whose_drop(void *frame)
{
    struct whose *f = frame;
    f->in_drop = prokio_runtime_current();
    if (f->drop_out)
        atomic_store(f->drop_out, f->in_drop);
}

struct plain_thread {
    prokio_runtime_t *current;
    int called;
};

static void *plain_thread_main(void *arg)
{
    struct plain_thread *p = arg;
    p->current = prokio_runtime_current();
    p->called = 1;
    return NULL;
}

void test_runtime_current(void **state)
{
    (void)state;
    assert_null(prokio_runtime_current());
    struct plain_thread p = {(prokio_runtime_t *)&p, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, plain_thread_main, &p), 0);
    pthread_join(th, NULL);
    assert_int_equal(p.called, 1);
    assert_null(p.current);

    /* Two runtimes at once: each task sees its own. */
    prokio_runtime_t *rts[2] = {test_runtime(2), test_runtime(1)};
    for (int r = 0; r < 2; r++) {
        prokio_runtime_t *rt = rts[r];
        for (unsigned w = 0; w < prokio_runtime_workers(rt); w++) {
            /* A poll, and the drop of a task that ended. */
            struct whose f = {0};
            assert_int_equal(conf_run_on(rt, w, whose_poll, &f, sizeof f, whose_drop), 0);
            assert_ptr_equal(f.in_poll, rt);
            assert_ptr_equal(f.cx_rt, rt);
            assert_ptr_equal(f.in_drop, rt);
            /* The drop of a task aborted while it waits. */
            atomic_int polled = 0;
            f = (struct whose){.park = 1, .polled = &polled};
            prokio_task_t *h = NULL;
            assert_int_equal(prokio_spawn_on(&h, rt, w, whose_poll, &f, sizeof f, whose_drop), 0);
            CONF_WAIT_FLAG(&polled, 1);
            prokio_task_abort(h);
            assert_int_equal(conf_join(h, &f, sizeof f), PROKIO_ECANCELED);
            assert_ptr_equal(f.in_poll, rt);
            assert_ptr_equal(f.in_drop, rt);
            /* The drop of a task aborted before it ran. */
            f = (struct whose){.park = 1};
            assert_int_equal(prokio_spawn_on(&h, rt, w, whose_poll, &f, sizeof f, whose_drop), 0);
            prokio_task_abort(h);
            assert_int_equal(conf_join(h, &f, sizeof f), PROKIO_ECANCELED);
            assert_ptr_equal(f.in_drop, rt);
        }
    }
    /* The drops that run at shutdown, with a handle and detached. */
    prokio_runtime_t *rt = rts[0];
    prokio_task_t *h[2];
    _Atomic(prokio_runtime_t *) detached[2];
    for (unsigned w = 0; w < 2; w++) {
        atomic_init(&detached[w], NULL);
        struct whose f = {.park = 1};
        assert_int_equal(prokio_spawn_on(&h[w], rt, w, whose_poll, &f, sizeof f, whose_drop), 0);
        f.drop_out = &detached[w];
        assert_int_equal(prokio_spawn_on(NULL, rt, w, whose_poll, &f, sizeof f, whose_drop), 0);
    }
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    for (unsigned w = 0; w < 2; w++) {
        struct whose f;
        assert_int_equal(conf_join(h[w], &f, sizeof f), PROKIO_ECANCELED);
        assert_ptr_equal(f.in_drop, rt);
        assert_ptr_equal(atomic_load(&detached[w]), rt);
    }
    test_runtime_free(rts[0]);
    test_runtime_free(rts[1]);
    assert_null(prokio_runtime_current());
}

/* -------------------------------------------------------------- clones */

/* Takes a clone of the runtime it runs on; with `park`, keeps it while it
 * waits and gives it up in its drop. */
struct cloner {
    prokio_runtime_t *clone;
    int park;
    atomic_int *polled;
};

static int cloner_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct cloner *f = frame;
    if (f->clone == NULL)
        f->clone = prokio_runtime_clone(prokio_runtime_current());
    if (f->polled)
        atomic_store(f->polled, 1);
    return f->park ? PROKIO_PENDING : 0;
}

static void cloner_drop(void *frame)
{
    struct cloner *f = frame;
    if (f->park)
        prokio_runtime_release(f->clone);
}

/* A library's thread that holds a clone: once told, it finds the runtime
 * shut down, is refused spawns, and gives the clone up (the last one). */
struct clone_user {
    prokio_runtime_t *rt;
    atomic_int go;
    bool shut_down;
    int spawn, spawn_on, block_on;
    prokio_task_t *h;
    unsigned workers;
    int timed_out;
};

static void *clone_user_main(void *arg)
{
    struct clone_user *u = arg;
    if (!conf_wait_flag(&u->go, 1))
        u->timed_out = 1;
    int v = 1;
    u->shut_down = prokio_runtime_is_shut_down(u->rt);
    u->h = (prokio_task_t *)u;
    u->spawn = prokio_spawn(&u->h, u->rt, conf_value_poll, &v, sizeof v, NULL);
    u->spawn_on = prokio_spawn_on(NULL, u->rt, 0, conf_value_poll, &v, sizeof v, NULL);
    u->block_on = prokio_runtime_block_on(u->rt, conf_value_poll, &v, sizeof v, NULL);
    u->workers = prokio_runtime_workers(u->rt);
    prokio_runtime_release(u->rt);
    return NULL;
}

void test_runtime_clone(void **state)
{
    (void)state;
    assert_null(prokio_runtime_clone(NULL));
    prokio_runtime_release(NULL);
    assert_false(prokio_runtime_is_shut_down(NULL));

    prokio_runtime_t *rt = test_runtime(2);
    assert_false(prokio_runtime_is_shut_down(rt));
    /* A release without a clone is ignored: the runtime goes on. */
    prokio_runtime_release(rt);
    struct echo e = {.in = 4};
    assert_int_equal(prokio_runtime_block_on(rt, echo_poll, &e, sizeof e, NULL), 0);
    assert_int_equal(e.out, 12);
    assert_false(prokio_runtime_is_shut_down(rt));

    /* A clone taken inside a task, handed to another thread. */
    struct cloner c = {0};
    assert_int_equal(conf_run_on(rt, 1, cloner_poll, &c, sizeof c, NULL), 0);
    assert_ptr_equal(c.clone, rt);
    struct clone_user u = {.rt = c.clone};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, clone_user_main, &u), 0);
    /* A clone of the clone, given up at once; and one a waiting task gives
     * up in its drop, when the runtime shuts down. */
    prokio_runtime_release(prokio_runtime_clone(c.clone));
    atomic_int polled = 0;
    struct cloner keeper = {.park = 1, .polled = &polled};
    assert_int_equal(prokio_spawn_on(NULL, rt, 0, cloner_poll, &keeper, sizeof keeper, cloner_drop),
                     0);
    CONF_WAIT_FLAG(&polled, 1);

    /* The creator's free is not delayed by the clone. */
    test_runtime_free(rt);
    atomic_store(&u.go, 1);
    pthread_join(th, NULL);
    assert_false(u.timed_out);
    assert_true(u.shut_down);
    assert_int_equal(u.spawn, PROKIO_ESHUTDOWN);
    assert_null(u.h);
    assert_int_equal(u.spawn_on, PROKIO_ESHUTDOWN);
    assert_int_equal(u.block_on, PROKIO_ESHUTDOWN);
    assert_int_equal(u.workers, 2);
    /* Its release was the last: the memory is gone (a leak shows under
     * AddressSanitizer). */

    /* Clones all given up before the creator's free, then a release too
     * many: ignored; the free frees. */
    rt = test_runtime(1);
    prokio_runtime_t *c1 = prokio_runtime_clone(rt), *c2 = prokio_runtime_clone(rt);
    assert_ptr_equal(c1, rt);
    assert_ptr_equal(c2, rt);
    prokio_runtime_release(c1);
    prokio_runtime_release(c2);
    prokio_runtime_release(rt);
    e.in = 5;
    assert_int_equal(prokio_runtime_block_on(rt, echo_poll, &e, sizeof e, NULL), 0);
    assert_int_equal(e.out, 15);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_true(prokio_runtime_is_shut_down(rt));
    test_runtime_free(rt);
}
