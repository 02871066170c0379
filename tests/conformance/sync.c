/* tests/conformance/sync.c: Mutex, RwLock, Semaphore, Notify, Barrier and
 * OnceCell: FIFO order, n-permit fairness, close, cancel of queued and of
 * granted waits, PROKIO_LOCAL, plain threads, the coop budget.
 *
 * Most tests use one kind of task, the acquirer: it awaits one primitive
 * with a wait in its frame (bounded by a conf_timeout), says when it is
 * queued, records the order in which it got through, and either gives
 * back at once or keeps what it got (the test releases it: locks and
 * permits are not tied to a task). */
#include "conformance.h"

enum kind { K_MUTEX, K_SEM, K_READ, K_WRITE, K_NOTIFY, K_BARRIER };

struct order {
    atomic_int n;
    int ids[64];
};

struct acquirer {
    struct track tr;
    enum kind kind;
    void *obj;
    uint32_t n; /* permits (K_SEM) */
    int id;
    bool hold;        /* keep what it got */
    atomic_int *gate; /* != 0: cancel the wait at the next poll (a select chose else) */
    struct order *order;
    atomic_int *queued; /* incremented once, when it first returns pending */
    prokio_wait_t w;
    struct conf_timeout to;
    int rc, pendings, cancelled;
};

static int acquire(struct acquirer *f, prokio_cx_t *cx)
{
    switch (f->kind) {
    case K_MUTEX:
        return prokio_mutex_lock_poll(&f->w, f->obj, cx);
    case K_SEM:
        return prokio_semaphore_acquire_poll(&f->w, f->obj, f->n, cx);
    case K_READ:
        return prokio_rwlock_read_poll(&f->w, f->obj, cx);
    case K_WRITE:
        return prokio_rwlock_write_poll(&f->w, f->obj, cx);
    case K_NOTIFY:
        return prokio_notify_notified_poll(&f->w, f->obj, cx);
    case K_BARRIER:
        return prokio_barrier_wait_poll(&f->w, f->obj, cx);
    }
    return PROKIO_EINVAL;
}

static void give_back(enum kind kind, void *obj, uint32_t n)
{
    switch (kind) {
    case K_MUTEX:
        prokio_mutex_unlock(obj);
        break;
    case K_SEM:
        prokio_semaphore_release(obj, n);
        break;
    case K_READ:
        prokio_rwlock_read_unlock(obj);
        break;
    case K_WRITE:
        prokio_rwlock_write_unlock(obj);
        break;
    default:
        break;
    }
}

static int acquirer_poll(void *frame, prokio_cx_t *cx)
{
    struct acquirer *f = frame;
    track_poll(&f->tr);
    if (f->gate && atomic_load(f->gate) && prokio_wait_is_pending(&f->w)) {
        prokio_wait_cancel(&f->w);
        f->cancelled = 1;
        f->rc = PROKIO_ECANCELED;
        return 0;
    }
    int rc = acquire(f, cx);
    if (rc == PROKIO_PENDING) {
        if (f->pendings++ == 0 && f->queued)
            atomic_fetch_add(f->queued, 1);
        if (conf_timed_out(&f->to, cx)) {
            f->rc = PROKIO_ETIMEDOUT;
            return 0;
        }
        return PROKIO_PENDING;
    }
    f->rc = rc;
    if (rc >= 0 && f->order)
        f->order->ids[atomic_fetch_add(&f->order->n, 1)] = f->id;
    if (rc >= 0 && !f->hold)
        give_back(f->kind, f->obj, f->n);
    return 0;
}

static void acquirer_drop(void *frame)
{
    track_dropped(frame);
}

/* Spawns an acquirer on `worker` and waits until it is queued. */
static prokio_task_t *spawn_queued(prokio_runtime_t *rt, unsigned worker, struct acquirer *a)
{
    atomic_int queued = 0;
    a->queued = &queued;
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn_on(&h, rt, worker, acquirer_poll, a, sizeof *a, acquirer_drop),
                     0);
    CONF_WAIT_FLAG(&queued, 1);
    return h;
}

static void assert_order(struct order *o, int n)
{
    assert_int_equal(atomic_load(&o->n), n);
    for (int i = 0; i < n; i++)
        assert_int_equal(o->ids[i], i);
}

/* ----------------------------------------------------------------- mutex */

/* Waiters on both workers are served in the order they queued. */
void test_sync_mutex_fifo(void **state)
{
    (void)state;
    enum { N = 12 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_mutex_t *m;
    assert_int_equal(prokio_mutex_new(&m, 0), 0);
    assert_int_equal(prokio_mutex_try_lock(m), 0); /* the main thread holds it */
    assert_int_equal(prokio_mutex_try_lock(m), PROKIO_EAGAIN);
    struct order order = {0};
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        struct acquirer a = {.tr.d = &d, .kind = K_MUTEX, .obj = m, .id = i, .order = &order};
        h[i] = spawn_queued(rt, conf_worker(rt, (unsigned)i), &a);
    }
    assert_int_equal(prokio_mutex_free(m), PROKIO_EBUSY);
    prokio_mutex_unlock(m);
    for (int i = 0; i < N; i++) {
        struct acquirer a;
        assert_int_equal(conf_join(h[i], &a, sizeof a), 0);
        assert_int_equal(a.rc, 0);
        assert_int_equal(a.pendings, 1);
    }
    assert_order(&order, N);
    /* Unlocked by the last one; unlock of a free mutex does nothing. */
    prokio_mutex_unlock(m);
    assert_int_equal(prokio_mutex_try_lock(m), 0);
    assert_int_equal(prokio_mutex_try_lock(m), PROKIO_EAGAIN);
    prokio_mutex_unlock(m);
    assert_int_equal(prokio_mutex_free(m), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), N);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* An aborted waiter leaves the queue; the lock goes to the next. A granted
 * wait that is cancelled passes the lock on. */
void test_sync_mutex_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_mutex_t *m;
    assert_int_equal(prokio_mutex_new(&m, 0), 0);
    assert_int_equal(prokio_mutex_try_lock(m), 0);
    struct order order = {0};
    atomic_int gate = 0;
    struct acquirer a0 = {.tr.d = &d, .kind = K_MUTEX, .obj = m, .id = 0, .order = &order};
    struct acquirer a1 = {.tr.d = &d, .kind = K_MUTEX, .obj = m, .id = 1, .gate = &gate};
    struct acquirer a2 = {.tr.d = &d, .kind = K_MUTEX, .obj = m, .id = 0, .order = &order};
    prokio_task_t *h0 = spawn_queued(rt, 0, &a0);
    prokio_task_t *h1 = spawn_queued(rt, conf_worker(rt, 1), &a1);
    prokio_task_t *h2 = spawn_queued(rt, 0, &a2);
    prokio_task_abort(h0); /* queued at the head: leaves, takes nothing */
    assert_int_equal(conf_join(h0, NULL, 0), PROKIO_ECANCELED);
    /* The unlock grants a1 (now the head); a1 then cancels its granted
     * wait, which must hand the lock to a2. */
    atomic_store(&gate, 1);
    prokio_mutex_unlock(m);
    assert_int_equal(conf_join(h1, &a1, sizeof a1), 0);
    assert_int_equal(a1.cancelled, 1);
    assert_int_equal(conf_join(h2, &a2, sizeof a2), 0);
    assert_int_equal(a2.rc, 0);
    assert_int_equal(atomic_load(&order.n), 1);
    assert_int_equal(prokio_mutex_free(m), 0); /* nothing held, nothing queued */
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 3);
}

/* Plain threads with blocking_lock and tasks with lock_poll share one
 * counter; blocking_lock on a worker is PROKIO_EDEADLK. */
struct counter {
    prokio_mutex_t *m;
    long value; /* under m */
    int rounds;
};

struct bumper {
    struct counter *c;
    prokio_wait_t w;
    int done, rc, edeadlk;
};

static int bumper_poll(void *frame, prokio_cx_t *cx)
{
    struct bumper *f = frame;
    if (f->done == 0)
        f->edeadlk = prokio_mutex_blocking_lock(f->c->m);
    while (f->done < f->c->rounds) {
        int rc = prokio_mutex_lock_poll(&f->w, f->c->m, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0) {
            f->rc = rc;
            return 0;
        }
        long v = f->c->value;
        if (f->done % 3 == 0) {
            /* Held across a yield: others queue meanwhile. */
            prokio_cx_yield(cx);
            f->c->value = v + 1;
            f->done++;
            prokio_mutex_unlock(f->c->m);
            return PROKIO_PENDING;
        }
        f->c->value = v + 1;
        f->done++;
        prokio_mutex_unlock(f->c->m);
    }
    return 0;
}

static void *bump_thread(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < c->rounds; i++) {
        if (prokio_mutex_blocking_lock(c->m) != 0)
            return arg;
        c->value++;
        prokio_mutex_unlock(c->m);
    }
    return NULL;
}

void test_sync_mutex_threads(void **state)
{
    (void)state;
    enum { TASKS = 6, THREADS = 2, ROUNDS = 2000 };
    prokio_runtime_t *rt = test_runtime(2);
    struct counter c = {.rounds = ROUNDS};
    assert_int_equal(prokio_mutex_new(&c.m, 0), 0);
    prokio_task_t *h[TASKS];
    for (int i = 0; i < TASKS; i++) {
        struct bumper b = {.c = &c};
        assert_int_equal(
            prokio_spawn_on(&h[i], rt, (unsigned)i % 2, bumper_poll, &b, sizeof b, NULL), 0);
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bump_thread, &c), 0);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    for (int i = 0; i < TASKS; i++) {
        struct bumper b;
        assert_int_equal(conf_join(h[i], &b, sizeof b), 0);
        assert_int_equal(b.rc, 0);
        assert_int_equal(b.edeadlk, PROKIO_EDEADLK);
        assert_int_equal(b.done, ROUNDS);
    }
    assert_int_equal(c.value, (long)(TASKS + THREADS) * ROUNDS);
    assert_int_equal(prokio_mutex_free(c.m), 0);
    test_runtime_free(rt);
}

/* PROKIO_LOCAL: made in a task, used by local tasks of its worker, and
 * PROKIO_EXDEV from the other worker and from a plain thread. */
struct local_setup {
    prokio_mutex_t *m;
    prokio_semaphore_t *s;
    int rc;
};

static int local_setup_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct local_setup *f = frame;
    f->rc = prokio_mutex_new(&f->m, PROKIO_LOCAL);
    if (f->rc == 0)
        f->rc = prokio_semaphore_new(&f->s, 2, PROKIO_LOCAL);
    return 0;
}

struct local_user {
    prokio_mutex_t *m;
    prokio_semaphore_t *s;
    prokio_wait_t w;
    int rc_lock, rc_try, rc_sem, rc_free;
};

static int local_other_poll(void *frame, prokio_cx_t *cx)
{
    struct local_user *f = frame;
    f->rc_lock = prokio_mutex_lock_poll(&f->w, f->m, cx);
    f->rc_try = prokio_mutex_try_lock(f->m);
    f->rc_sem = prokio_semaphore_try_acquire(f->s, 1);
    f->rc_free = prokio_mutex_free(f->m);
    return 0;
}

/* On the owner worker: free while locked is EBUSY, then unlock (granting
 * the queued waiter), or (phase 1) free both. */
static int local_unlock_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct local_user *f = frame;
    if (f->rc_lock == 0) {
        f->rc_free = prokio_mutex_free(f->m);
        prokio_mutex_unlock(f->m);
    } else {
        f->rc_free = prokio_mutex_free(f->m);
        f->rc_sem = prokio_semaphore_free(f->s);
    }
    return 0;
}

void test_sync_local(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    struct local_setup ls = {0};
    assert_int_equal(conf_run_on(rt, 0, local_setup_poll, &ls, sizeof ls, NULL), 0);
    assert_int_equal(ls.rc, 0);
    /* Off its worker: EXDEV everywhere. */
    assert_int_equal(prokio_mutex_try_lock(ls.m), PROKIO_EXDEV);
    assert_non_null(strstr(prokio_last_error(), "PROKIO_LOCAL"));
    assert_int_equal(prokio_mutex_blocking_lock(ls.m), PROKIO_EXDEV);
    assert_int_equal(prokio_semaphore_try_acquire(ls.s, 1), PROKIO_EXDEV);
    /* And from another worker, where there is one. */
    if (prokio_runtime_workers(rt) > 1) {
        struct local_user o = {.m = ls.m, .s = ls.s};
        assert_int_equal(conf_run_on(rt, 1, local_other_poll, &o, sizeof o, NULL), 0);
        assert_int_equal(o.rc_lock, PROKIO_EXDEV);
        assert_int_equal(o.rc_try, PROKIO_EXDEV);
        assert_int_equal(o.rc_sem, PROKIO_EXDEV);
        assert_int_equal(o.rc_free, PROKIO_EXDEV);
    }
    /* On its worker: a holder, a queued waiter, the unlock granting it. */
    struct acquirer holder = {.tr.d = &d, .kind = K_MUTEX, .obj = ls.m, .hold = true};
    assert_int_equal(conf_run_on(rt, 0, acquirer_poll, &holder, sizeof holder, acquirer_drop), 0);
    assert_int_equal(holder.rc, 0);
    struct acquirer waiter = {.tr.d = &d, .kind = K_MUTEX, .obj = ls.m};
    prokio_task_t *hw = spawn_queued(rt, 0, &waiter);
    struct acquirer sem = {.tr.d = &d, .kind = K_SEM, .obj = ls.s, .n = 2};
    assert_int_equal(conf_run_on(rt, 0, acquirer_poll, &sem, sizeof sem, acquirer_drop), 0);
    assert_int_equal(sem.rc, 0);
    struct local_user u = {.m = ls.m, .s = ls.s};
    assert_int_equal(conf_run_on(rt, 0, local_unlock_poll, &u, sizeof u, NULL), 0);
    assert_int_equal(u.rc_free, PROKIO_EBUSY);
    assert_int_equal(conf_join(hw, &waiter, sizeof waiter), 0);
    assert_int_equal(waiter.rc, 0);
    assert_int_equal(waiter.pendings, 1);
    u.rc_lock = 1;
    assert_int_equal(conf_run_on(rt, 0, local_unlock_poll, &u, sizeof u, NULL), 0);
    assert_int_equal(u.rc_free, 0);
    assert_int_equal(u.rc_sem, 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 3);
}

/* A loop of locks that are always free yields after at most 128. */
struct looper {
    prokio_mutex_t *m;
    prokio_wait_t w;
    int first_poll, total, polls;
};

static int looper_poll(void *frame, prokio_cx_t *cx)
{
    struct looper *f = frame;
    f->polls++;
    while (f->total < 1000) {
        int rc = prokio_mutex_lock_poll(&f->w, f->m, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        prokio_mutex_unlock(f->m);
        f->total++;
        if (f->polls == 1)
            f->first_poll++;
    }
    return 0;
}

void test_sync_coop_budget(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct looper l = {0};
    assert_int_equal(prokio_mutex_new(&l.m, 0), 0);
    assert_int_equal(conf_run_on(rt, 0, looper_poll, &l, sizeof l, NULL), 0);
    assert_int_equal(l.total, 1000);
    assert_true(l.first_poll > 0 && l.first_poll <= 128);
    assert_true(l.polls >= 1000 / 128);
    assert_false(prokio_wait_is_pending(&l.w));
    assert_int_equal(prokio_mutex_free(l.m), 0);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------- semaphore */

/* A waiter at the head that needs 3 collects permits one by one; a waiter
 * behind it that needs 1 does not overtake it, and neither does
 * try_acquire. */
void test_sync_semaphore_fairness(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_semaphore_t *s;
    assert_int_equal(prokio_semaphore_new(&s, 1, 0), 0);
    struct order order = {0};
    struct acquirer big = {
        .tr.d = &d, .kind = K_SEM, .obj = s, .n = 3, .id = 0, .order = &order, .hold = true};
    struct acquirer small = {
        .tr.d = &d, .kind = K_SEM, .obj = s, .n = 1, .id = 1, .order = &order, .hold = true};
    prokio_task_t *hb = spawn_queued(rt, 0, &big);
    prokio_task_t *hs = spawn_queued(rt, conf_worker(rt, 1), &small);
    assert_int_equal(prokio_semaphore_available(s), 0); /* the head collected it */
    prokio_semaphore_release(s, 1);
    assert_int_equal(prokio_semaphore_available(s), 0);
    assert_int_equal(prokio_semaphore_try_acquire(s, 1), PROKIO_EAGAIN);
    assert_int_equal(atomic_load(&order.n), 0);
    prokio_semaphore_release(s, 1); /* big complete; small still waits */
    assert_int_equal(conf_join(hb, &big, sizeof big), 0);
    assert_int_equal(big.rc, 0);
    assert_int_equal(atomic_load(&order.n), 1);
    assert_int_equal(prokio_semaphore_available(s), 0);
    prokio_semaphore_release(s, 1);
    assert_int_equal(conf_join(hs, &small, sizeof small), 0);
    assert_int_equal(small.rc, 0);
    assert_order(&order, 2);
    assert_int_equal(prokio_semaphore_available(s), 0);
    prokio_semaphore_release(s, 4);
    assert_int_equal(prokio_semaphore_available(s), 4);
    assert_int_equal(prokio_semaphore_try_acquire(s, 4), 0);
    assert_int_equal(prokio_semaphore_try_acquire(s, 1), PROKIO_EAGAIN);
    prokio_semaphore_release(s, 4);
    /* n = 0 completes at once. */
    assert_int_equal(prokio_semaphore_try_acquire(s, 0), 0);
    assert_int_equal(prokio_semaphore_free(s), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
}

/* Cancelling the head gives back what it collected; the next is served. */
void test_sync_semaphore_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_semaphore_t *s;
    assert_int_equal(prokio_semaphore_new(&s, 2, 0), 0);
    struct acquirer big = {.tr.d = &d, .kind = K_SEM, .obj = s, .n = 5, .id = 0, .hold = true};
    struct acquirer small = {.tr.d = &d, .kind = K_SEM, .obj = s, .n = 2, .id = 1, .hold = true};
    prokio_task_t *hb = spawn_queued(rt, 0, &big);
    prokio_task_t *hs = spawn_queued(rt, conf_worker(rt, 1), &small);
    assert_int_equal(prokio_semaphore_free(s), PROKIO_EBUSY);
    prokio_task_abort(hb);
    assert_int_equal(conf_join(hb, NULL, 0), PROKIO_ECANCELED);
    assert_int_equal(conf_join(hs, &small, sizeof small), 0);
    assert_int_equal(small.rc, 0);
    assert_int_equal(prokio_semaphore_available(s), 0);
    prokio_semaphore_release(s, 2);
    /* A granted wait cancelled before it saw the grant releases it. */
    assert_int_equal(prokio_semaphore_try_acquire(s, 2), 0);
    atomic_int gate = 0;
    struct acquirer g = {.tr.d = &d, .kind = K_SEM, .obj = s, .n = 2, .gate = &gate};
    prokio_task_t *hg = spawn_queued(rt, conf_worker(rt, 1), &g);
    atomic_store(&gate, 1);
    prokio_semaphore_release(s, 2);
    assert_int_equal(conf_join(hg, &g, sizeof g), 0);
    assert_int_equal(g.cancelled, 1);
    assert_int_equal(prokio_semaphore_available(s), 2);
    assert_int_equal(prokio_semaphore_free(s), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 3);
}

static void *blocking_acquirer(void *arg)
{
    return (void *)(intptr_t)prokio_semaphore_blocking_acquire(arg, 2);
}

/* Close wakes every waiter, task or thread, with PROKIO_ECLOSED; what
 * the head had collected goes back to the count. */
void test_sync_semaphore_close(void **state)
{
    (void)state;
    enum { N = 40 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_semaphore_t *s;
    assert_int_equal(prokio_semaphore_new(&s, 1, 0), 0);
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        struct acquirer a = {.tr.d = &d, .kind = K_SEM, .obj = s, .n = 2, .id = i};
        h[i] = spawn_queued(rt, conf_worker(rt, (unsigned)i), &a);
    }
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocking_acquirer, s), 0);
    assert_false(prokio_semaphore_is_closed(s));
    /* The thread may not have queued yet: close covers both cases. */
    prokio_semaphore_close(s);
    assert_true(prokio_semaphore_is_closed(s));
    void *r;
    pthread_join(th, &r);
    assert_int_equal((int)(intptr_t)r, PROKIO_ECLOSED);
    for (int i = 0; i < N; i++) {
        struct acquirer a;
        assert_int_equal(conf_join(h[i], &a, sizeof a), 0);
        assert_int_equal(a.rc, PROKIO_ECLOSED);
    }
    assert_int_equal(prokio_semaphore_available(s), 1);
    assert_int_equal(prokio_semaphore_try_acquire(s, 1), PROKIO_ECLOSED);
    prokio_semaphore_release(s, 1); /* still counted after close */
    assert_int_equal(prokio_semaphore_available(s), 2);
    assert_int_equal(prokio_semaphore_free(s), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), N);
}

/* ---------------------------------------------------------------- rwlock */

/* Readers share; a queued writer holds back the readers after it, so a
 * stream of readers does not starve it. */
void test_sync_rwlock_writer_not_starved(void **state)
{
    (void)state;
    enum { R = 6 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_rwlock_t *l;
    assert_int_equal(prokio_rwlock_new(&l, 0), 0);
    assert_int_equal(prokio_rwlock_try_read(l), 0);
    assert_int_equal(prokio_rwlock_try_read(l), 0); /* two readers hold it */
    assert_int_equal(prokio_rwlock_try_write(l), PROKIO_EAGAIN);
    struct order order = {0};
    struct acquirer w = {.tr.d = &d, .kind = K_WRITE, .obj = l, .id = 0, .order = &order};
    prokio_task_t *hw = spawn_queued(rt, 0, &w);
    assert_int_equal(prokio_rwlock_try_read(l), PROKIO_EAGAIN);
    prokio_task_t *hr[R];
    for (int i = 0; i < R; i++) {
        struct acquirer a = {
            .tr.d = &d, .kind = K_READ, .obj = l, .id = 1 + i, .order = &order, .hold = true};
        hr[i] = spawn_queued(rt, conf_worker(rt, (unsigned)i), &a);
    }
    prokio_rwlock_read_unlock(l);
    assert_int_equal(atomic_load(&order.n), 0);
    prokio_rwlock_read_unlock(l); /* the writer goes, then all readers */
    assert_int_equal(conf_join(hw, &w, sizeof w), 0);
    for (int i = 0; i < R; i++) {
        struct acquirer a;
        assert_int_equal(conf_join(hr[i], &a, sizeof a), 0);
        assert_int_equal(a.rc, 0);
    }
    assert_int_equal(atomic_load(&order.n), 1 + R);
    assert_int_equal(order.ids[0], 0);
    assert_int_equal(prokio_rwlock_free(l), PROKIO_EBUSY); /* R readers hold it */
    for (int i = 0; i < R; i++)
        prokio_rwlock_read_unlock(l);
    assert_int_equal(prokio_rwlock_blocking_write(l), 0);
    assert_int_equal(prokio_rwlock_try_read(l), PROKIO_EAGAIN);
    prokio_rwlock_write_unlock(l);
    assert_int_equal(prokio_rwlock_blocking_read(l), 0);
    prokio_rwlock_read_unlock(l);
    assert_int_equal(prokio_rwlock_free(l), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 1 + R);
}

/* ---------------------------------------------------------------- notify */

/* notify_one without a waiter stores exactly one permit. */
void test_sync_notify_permit(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_notify_t *n;
    assert_int_equal(prokio_notify_new(&n, 0), 0);
    prokio_notify_notify_one(n);
    prokio_notify_notify_one(n);
    struct acquirer a = {.tr.d = &d, .kind = K_NOTIFY, .obj = n};
    assert_int_equal(conf_run_on(rt, 0, acquirer_poll, &a, sizeof a, acquirer_drop), 0);
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.pendings, 0); /* at once */
    struct acquirer b = {.tr.d = &d, .kind = K_NOTIFY, .obj = n};
    prokio_task_t *h = spawn_queued(rt, conf_worker(rt, 1), &b); /* no second permit */
    prokio_notify_notify_one(n);
    assert_int_equal(conf_join(h, &b, sizeof b), 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(b.pendings, 1);
    assert_int_equal(prokio_notify_free(n), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
}

/* notify_one: FIFO. notify_waiters: every registered waiter, no permit
 * stored. A notify_one granted to a wait cancelled before it saw it goes
 * to the next waiter. */
void test_sync_notify_waiters(void **state)
{
    (void)state;
    enum { N = 40 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_notify_t *n;
    assert_int_equal(prokio_notify_new(&n, 0), 0);
    struct order order = {0};
    prokio_task_t *h[N];
    for (int i = 0; i < 3; i++) {
        struct acquirer a = {.tr.d = &d, .kind = K_NOTIFY, .obj = n, .id = i, .order = &order};
        h[i] = spawn_queued(rt, conf_worker(rt, (unsigned)i), &a);
    }
    for (int i = 0; i < 3; i++) {
        prokio_notify_notify_one(n);
        struct acquirer a;
        assert_int_equal(conf_join(h[i], &a, sizeof a), 0);
        assert_int_equal(a.rc, 0);
    }
    assert_order(&order, 3);
    /* notify_waiters: N registered, all woken; nothing stored. */
    for (int i = 0; i < N; i++) {
        struct acquirer a = {.tr.d = &d, .kind = K_NOTIFY, .obj = n, .id = i};
        h[i] = spawn_queued(rt, conf_worker(rt, (unsigned)i), &a);
    }
    prokio_notify_notify_waiters(n);
    for (int i = 0; i < N; i++) {
        struct acquirer a;
        assert_int_equal(conf_join(h[i], &a, sizeof a), 0);
        assert_int_equal(a.rc, 0);
    }
    struct acquirer late = {.tr.d = &d, .kind = K_NOTIFY, .obj = n};
    prokio_task_t *hl = spawn_queued(rt, 0, &late);
    /* Cancel a granted notify_one: passed to `late`'s successor... here a
     * waiter queued behind `cancelling`. */
    atomic_int gate = 0;
    struct acquirer c = {.tr.d = &d, .kind = K_NOTIFY, .obj = n, .gate = &gate};
    prokio_notify_notify_one(n); /* to `late` */
    assert_int_equal(conf_join(hl, &late, sizeof late), 0);
    prokio_task_t *hc = spawn_queued(rt, conf_worker(rt, 1), &c);
    struct acquirer next = {.tr.d = &d, .kind = K_NOTIFY, .obj = n};
    prokio_task_t *hn = spawn_queued(rt, 0, &next);
    atomic_store(&gate, 1);
    prokio_notify_notify_one(n); /* granted to c, which cancels */
    assert_int_equal(conf_join(hc, &c, sizeof c), 0);
    assert_int_equal(c.cancelled, 1);
    assert_int_equal(conf_join(hn, &next, sizeof next), 0);
    assert_int_equal(next.rc, 0);
    assert_int_equal(prokio_notify_free(n), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 3 + N + 3);
}

/* enable registers before the condition is checked: a notify_waiters sent
 * between enable and the poll is not missed. */
struct enabler {
    prokio_notify_t *n;
    atomic_int *enabled;
    prokio_wait_t w;
    int rc_enable, rc, polls;
};

static int enabler_poll(void *frame, prokio_cx_t *cx)
{
    struct enabler *f = frame;
    if (f->polls++ == 0) {
        f->rc_enable = prokio_notify_enable(&f->w, f->n, cx);
        atomic_store(f->enabled, 1);
        return prokio_cx_yield(cx);
    }
    f->rc = prokio_notify_notified_poll(&f->w, f->n, cx);
    return f->rc == PROKIO_PENDING ? PROKIO_PENDING : 0;
}

void test_sync_notify_enable(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_notify_t *n;
    assert_int_equal(prokio_notify_new(&n, 0), 0);
    atomic_int enabled = 0;
    struct enabler e = {.n = n, .enabled = &enabled};
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, 1), enabler_poll, &e, sizeof e, NULL),
                     0);
    CONF_WAIT_FLAG(&enabled, 1);
    prokio_notify_notify_waiters(n);
    assert_int_equal(conf_join(h, &e, sizeof e), 0);
    assert_int_equal(e.rc_enable, 0);
    assert_int_equal(e.rc, 0);
    /* A stored permit is consumed by enable. */
    prokio_notify_notify_one(n);
    struct enabler e2 = {.n = n, .enabled = &enabled};
    assert_int_equal(conf_run_on(rt, 0, enabler_poll, &e2, sizeof e2, NULL), 0);
    assert_int_equal(e2.rc, 0);
    assert_int_equal(e2.polls, 2);
    assert_int_equal(prokio_notify_free(n), 0);
    test_runtime_free(rt);
}

/* --------------------------------------------------------------- barrier */

struct party {
    prokio_barrier_t *b;
    atomic_int *leaders; /* per generation */
    int gens, gen;
    prokio_wait_t w;
    struct conf_timeout to;
    int rc;
};

static int party_poll(void *frame, prokio_cx_t *cx)
{
    struct party *f = frame;
    while (f->gen < f->gens) {
        int rc = prokio_barrier_wait_poll(&f->w, f->b, cx);
        if (rc == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                f->rc = PROKIO_ETIMEDOUT;
                return 0;
            }
            return rc;
        }
        conf_timeout_cancel(&f->to);
        if (rc < 0) {
            f->rc = rc;
            return 0;
        }
        if (rc == 1)
            atomic_fetch_add(&f->leaders[f->gen], 1);
        f->gen++;
    }
    return 0;
}

void test_sync_barrier_generations(void **state)
{
    (void)state;
    enum { WORKERS = 4, PARTIES = 12, GENS = 50 };
    prokio_runtime_t *rt = test_runtime(conf_workers(WORKERS));
    prokio_barrier_t *b;
    assert_int_equal(prokio_barrier_new(&b, PARTIES, 0), 0);
    static atomic_int leaders[GENS];
    for (int g = 0; g < GENS; g++)
        atomic_store(&leaders[g], 0);
    prokio_task_t *h[PARTIES];
    for (int i = 0; i < PARTIES; i++) {
        struct party p = {.b = b, .leaders = leaders, .gens = GENS};
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), party_poll, &p,
                                         sizeof p, NULL),
                         0);
    }
    for (int i = 0; i < PARTIES; i++) {
        struct party p;
        assert_int_equal(conf_join(h[i], &p, sizeof p), 0);
        assert_int_equal(p.rc, 0);
        assert_int_equal(p.gen, GENS);
    }
    for (int g = 0; g < GENS; g++)
        assert_int_equal(atomic_load(&leaders[g]), 1);
    assert_int_equal(prokio_barrier_free(b), 0);
    test_runtime_free(rt);
}

/* A cancelled wait still counts as arrived (as in Tokio). */
void test_sync_barrier_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_barrier_t *b;
    assert_int_equal(prokio_barrier_new(&b, 3, 0), 0);
    struct acquirer a0 = {.tr.d = &d, .kind = K_BARRIER, .obj = b};
    struct acquirer a1 = {.tr.d = &d, .kind = K_BARRIER, .obj = b};
    prokio_task_t *h0 = spawn_queued(rt, 0, &a0);
    prokio_task_t *h1 = spawn_queued(rt, conf_worker(rt, 1), &a1);
    assert_int_equal(prokio_barrier_free(b), PROKIO_EBUSY);
    prokio_task_abort(h0);
    assert_int_equal(conf_join(h0, NULL, 0), PROKIO_ECANCELED);
    struct acquirer a2 = {.tr.d = &d, .kind = K_BARRIER, .obj = b};
    assert_int_equal(conf_run_on(rt, 0, acquirer_poll, &a2, sizeof a2, acquirer_drop), 0);
    assert_int_equal(a2.rc, 1); /* the third arrival: the leader */
    assert_int_equal(conf_join(h1, &a1, sizeof a1), 0);
    assert_int_equal(a1.rc, 0);
    assert_int_equal(prokio_barrier_free(b), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 3);
}

/* ------------------------------------------------------------------ once */

struct initer {
    struct track tr;
    prokio_once_t *o;
    atomic_int *initialising; /* incremented when PROKIO_ONCE_INIT is seen */
    atomic_int *completed;    /* initialisations completed */
    atomic_int *queued;
    bool finish; /* sets the value; else stays initialising */
    int id;
    prokio_wait_t w;
    struct conf_timeout to;
    int rc, value, inits;
};

static int initer_poll(void *frame, prokio_cx_t *cx)
{
    struct initer *f = frame;
    track_poll(&f->tr);
    const void *v = NULL;
    int rc = prokio_once_init_poll(&v, &f->w, f->o, cx);
    if (rc == PROKIO_ONCE_INIT) {
        if (f->inits++ == 0)
            atomic_fetch_add(f->initialising, 1);
        if (!f->finish)
            return PROKIO_PENDING; /* "computing" until aborted */
        int value = 1000 + f->id;
        f->rc = prokio_once_set(&f->w, f->o, &value);
        atomic_fetch_add(f->completed, 1);
        f->value = *(const int *)prokio_once_get(f->o);
        return 0;
    }
    if (rc == PROKIO_PENDING) {
        if (f->queued)
            atomic_store(f->queued, 1);
        if (conf_timed_out(&f->to, cx)) {
            f->rc = PROKIO_ETIMEDOUT;
            return 0;
        }
        return rc;
    }
    f->rc = rc;
    if (rc == 0)
        f->value = *(const int *)v;
    return 0;
}

static atomic_int value_drops;

static void count_drop(void *value)
{
    (void)value;
    atomic_fetch_add(&value_drops, 1);
}

/* The first two initialisers are aborted while initialising: the right
 * passes on each time, and exactly one initialiser completes; everybody
 * sees its value. */
void test_sync_once_aborted_initialisers(void **state)
{
    (void)state;
    enum { N = 8 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    atomic_store(&value_drops, 0);
    prokio_once_t *o;
    assert_int_equal(prokio_once_new(&o, sizeof(int), count_drop, 0), 0);
    assert_null(prokio_once_get(o));
    atomic_int initialising = 0, completed = 0;
    prokio_task_t *h[N];
    /* 0 and 1 never finish; 2.. would. */
    struct initer first = {
        .tr.d = &d, .o = o, .initialising = &initialising, .completed = &completed, .id = 0};
    assert_int_equal(
        prokio_spawn_on(&h[0], rt, 0, initer_poll, &first, sizeof first, acquirer_drop), 0);
    CONF_WAIT_FLAG(&initialising, 1);
    for (int i = 1; i < N; i++) {
        atomic_int queued = 0;
        struct initer f = {.tr.d = &d,
                           .o = o,
                           .initialising = &initialising,
                           .completed = &completed,
                           .queued = &queued,
                           .finish = i >= 2,
                           .id = i};
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), initer_poll, &f,
                                         sizeof f, acquirer_drop),
                         0);
        CONF_WAIT_FLAG(&queued, 1);
    }
    assert_int_equal(prokio_once_set_now(o, &(int){5}), PROKIO_EBUSY);
    assert_int_equal(prokio_once_free(o), PROKIO_EBUSY);
    prokio_task_abort(h[0]);
    assert_int_equal(conf_join(h[0], NULL, 0), PROKIO_ECANCELED);
    CONF_WAIT_FLAG(&initialising, 2); /* 1 got the right */
    prokio_task_abort(h[1]);
    assert_int_equal(conf_join(h[1], NULL, 0), PROKIO_ECANCELED);
    for (int i = 2; i < N; i++) {
        struct initer f;
        assert_int_equal(conf_join(h[i], &f, sizeof f), 0);
        assert_int_equal(f.rc, 0);
        assert_int_equal(f.value, 1002);
        assert_int_equal(f.inits, i == 2 ? 1 : 0);
    }
    assert_int_equal(atomic_load(&initialising), 3);
    assert_int_equal(atomic_load(&completed), 1);
    assert_int_equal(*(const int *)prokio_once_get(o), 1002);
    assert_int_equal(prokio_once_set_now(o, &(int){5}), PROKIO_EEXIST);
    assert_int_equal(prokio_once_free(o), 0);
    assert_int_equal(atomic_load(&value_drops), 1);
    /* set_now on an empty cell; a wait cancelled while holding the right
     * leaves the cell empty for the next caller. */
    assert_int_equal(prokio_once_new(&o, sizeof(int), NULL, 0), 0);
    struct initer solo = {
        .tr.d = &d, .o = o, .initialising = &initialising, .completed = &completed, .id = 9};
    prokio_task_t *hs = NULL;
    assert_int_equal(prokio_spawn_on(&hs, rt, conf_worker(rt, 1), initer_poll, &solo, sizeof solo,
                                     acquirer_drop),
                     0);
    CONF_WAIT_FLAG(&initialising, 4);
    prokio_task_abort(hs);
    assert_int_equal(conf_join(hs, NULL, 0), PROKIO_ECANCELED);
    assert_int_equal(prokio_once_set_now(o, &(int){7}), 0);
    assert_int_equal(*(const int *)prokio_once_get(o), 7);
    assert_int_equal(prokio_once_free(o), 0);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), N + 1);
}
