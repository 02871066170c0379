/* tests/conformance/select.c: prokio_select_poll and prokio_join_all_poll
 * over sleeps, joins, oneshot receives (small adapters) and the runtime's
 * own yield: the first ready wins, the others are cancelled exactly once
 * (or kept with PROKIO_SELECT_KEEP), BIASED order, fairness, join-all. */
#include "conformance.h"

/* ------------------------------------------------------------ adapters */

/* A sleep whose cancels are counted. */
struct csleep {
    prokio_sleep_t s;
    int polls, cancels;
};

static int csleep_poll(void *fut, prokio_cx_t *cx)
{
    struct csleep *c = fut;
    c->polls++;
    return prokio_sleep_poll(&c->s, cx);
}

static void csleep_cancel(void *fut)
{
    struct csleep *c = fut;
    c->cancels++;
    prokio_sleep_cancel(&c->s);
}

static prokio_branch_t csleep_branch(struct csleep *c, uint64_t ns)
{
    memset(c, 0, sizeof *c);
    prokio_sleep_init(&c->s, ns);
    return (prokio_branch_t){csleep_poll, c, csleep_cancel};
}

/* A oneshot receive of an int. */
struct crecv {
    prokio_oneshot_rx_t *rx;
    int value, polls, cancels;
};

static int crecv_poll(void *fut, prokio_cx_t *cx)
{
    struct crecv *c = fut;
    c->polls++;
    return prokio_oneshot_recv_poll(c->rx, &c->value, cx);
}

static void crecv_cancel(void *fut)
{
    ((struct crecv *)fut)->cancels++; /* the receiver end stays; nothing queued */
}

/* Ready with `value` at once, or after `yields` polls that yield. */
struct cready {
    int value, yields, polls, cancels;
};

static int cready_poll(void *fut, prokio_cx_t *cx)
{
    struct cready *c = fut;
    c->polls++;
    if (c->yields > 0) {
        c->yields--;
        return prokio_cx_yield(cx);
    }
    return c->value;
}

static void cready_cancel(void *fut)
{
    ((struct cready *)fut)->cancels++;
}

/* ---------------------------------------------------- the first ready */

struct first {
    struct track tr;
    struct csleep long_sleep;
    struct crecv recv;
    prokio_oneshot_tx_t *tx; /* sent by the task itself after its first poll */
    struct cready never;     /* a branch that yields for ever: polled, never done */
    size_t index;
    int rc, first_rc, started;
};

static int first_poll(void *frame, prokio_cx_t *cx)
{
    struct first *f = frame;
    track_poll(&f->tr);
    if (!f->started) {
        f->started = 1;
        csleep_branch(&f->long_sleep, PROKIO_SEC(3600));
        f->never = (struct cready){.yields = INT_MAX};
    }
    prokio_branch_t b[3] = {{csleep_poll, &f->long_sleep, csleep_cancel},
                            {crecv_poll, &f->recv, crecv_cancel},
                            {cready_poll, &f->never, cready_cancel}};
    int rc = prokio_select_poll(&f->index, b, 3, 0, cx);
    if (f->tr.polls == 1) {
        f->first_rc = rc;
        int v = 77;
        int sent = prokio_oneshot_send(f->tx, &v);
        f->tx = NULL;
        if (sent < 0)
            return -100;
    }
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->rc = rc;
    return 0;
}

static void first_drop(void *frame)
{
    struct first *f = frame;
    prokio_oneshot_rx_release(f->recv.rx);
    prokio_oneshot_tx_release(f->tx);
    track_dropped(&f->tr);
}

void test_select_first_ready(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (unsigned k = 0; k < 20; k++) {
        struct first f = {.tr.d = &d, .index = 99};
        assert_int_equal(prokio_oneshot_new(&f.tx, &f.recv.rx, sizeof(int), NULL, 0), 0);
        assert_int_equal(conf_run_on(rt, conf_worker(rt, k), first_poll, &f, sizeof f, first_drop),
                         0);
        assert_int_equal(f.first_rc, PROKIO_PENDING);
        assert_int_equal(f.index, 1);
        assert_int_equal(f.rc, 0);
        assert_int_equal(f.recv.value, 77);
        assert_int_equal(f.recv.cancels, 0);       /* the winner is not cancelled */
        assert_int_equal(f.long_sleep.cancels, 1); /* each loser exactly once */
        assert_int_equal(f.never.cancels, 1);
        assert_int_equal(f.tr.polls, 2);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 20);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* ------------------------------------------- biased order, cancels, keep */

struct biased {
    struct cready r[4];
    size_t index;
    int rc, rounds, zero_wins;
    unsigned flags;
};

static int biased_poll(void *frame, prokio_cx_t *cx)
{
    struct biased *f = frame;
    for (int k = 0; k < f->rounds; k++) {
        prokio_branch_t b[4];
        for (int i = 0; i < 4; i++)
            b[i] = (prokio_branch_t){cready_poll, &f->r[i], cready_cancel};
        f->rc = prokio_select_poll(&f->index, b, 4, f->flags, cx);
        if (f->index == 1)
            f->zero_wins++;
    }
    return 0;
}

void test_select_biased_cancels(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    /* Branch 0 yields for ever (so it is polled, never done); 1 and 2 are
     * ready; 3 too. BIASED: 1 always wins, 2 and 3 are never polled, and
     * every loser is cancelled once per select. */
    struct biased f = {.rounds = 100, .flags = PROKIO_SELECT_BIASED};
    f.r[0].yields = INT_MAX;
    f.r[1].value = 11;
    f.r[2].value = 22;
    f.r[3].value = 33;
    assert_int_equal(conf_run_on(rt, 0, biased_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.zero_wins, 100);
    assert_int_equal(f.rc, 11);
    assert_int_equal(f.r[0].polls, 100);
    assert_int_equal(f.r[1].polls, 100);
    assert_int_equal(f.r[2].polls, 0);
    assert_int_equal(f.r[3].polls, 0);
    assert_int_equal(f.r[0].cancels, 100);
    assert_int_equal(f.r[1].cancels, 0);
    assert_int_equal(f.r[2].cancels, 100);
    assert_int_equal(f.r[3].cancels, 100);

    /* KEEP: nothing is cancelled. */
    struct biased k = {.rounds = 10, .flags = PROKIO_SELECT_BIASED | PROKIO_SELECT_KEEP};
    k.r[0].yields = INT_MAX;
    k.r[1].value = 11;
    assert_int_equal(conf_run_on(rt, 0, biased_poll, &k, sizeof k, NULL), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(k.r[i].cancels, 0);
    test_runtime_free(rt);
}

/* Fair: with two branches always ready, over many selects each wins often. */
struct fair {
    struct cready r[2];
    int wins[2], rc;
};

static int fair_poll(void *frame, prokio_cx_t *cx)
{
    struct fair *f = frame;
    for (int k = 0; k < 2000; k++) {
        prokio_branch_t b[2] = {{cready_poll, &f->r[0], cready_cancel},
                                {cready_poll, &f->r[1], cready_cancel}};
        size_t i = 9;
        f->rc = prokio_select_poll(&i, b, 2, 0, cx);
        if (i > 1 || f->rc != (int)(100 + i))
            return -1;
        f->wins[i]++;
    }
    return 0;
}

void test_select_fair(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct fair f = {.r = {{.value = 100}, {.value = 101}}};
    assert_int_equal(conf_run_on(rt, 0, fair_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.wins[0] + f.wins[1], 2000);
    /* A fair coin gives 1000 +- 30 (one sigma is 22): 600 is far out. */
    assert_true(f.wins[0] > 600);
    assert_true(f.wins[1] > 600);
    /* Each select cancels the loser, once. */
    assert_int_equal(f.r[0].cancels, f.wins[1]);
    assert_int_equal(f.r[1].cancels, f.wins[0]);
    test_runtime_free(rt);
}

/* KEEP over a short and a long sleep, then a second select over the long
 * sleep and a join: the kept sleep is still armed and valid; the join of a
 * task on the other worker wins; the sleep is then cancelled by hand. */
struct keep {
    struct track tr;
    struct csleep s_short, s_long;
    prokio_task_t *member;
    prokio_oneshot_tx_t *gate;
    int phase;
    size_t i1, i2;
    int r1, r2;
};

static int keep_poll(void *frame, prokio_cx_t *cx)
{
    struct keep *f = frame;
    track_poll(&f->tr);
    if (f->phase == 0) {
        prokio_branch_t b[2] = {{csleep_poll, &f->s_short, csleep_cancel},
                                {csleep_poll, &f->s_long, csleep_cancel}};
        f->r1 = prokio_select_poll(&f->i1, b, 2, PROKIO_SELECT_KEEP, cx);
        if (f->r1 == PROKIO_PENDING)
            return PROKIO_PENDING;
        f->phase = 1;
        int v = 5;
        if (prokio_oneshot_send(f->gate, &v) < 0)
            return -100;
        f->gate = NULL;
    }
    /* Biased, the kept sleep first: it is polled again even when the
     * member has already ended by the first poll of this select (the
     * fair start could otherwise pick the join and never look at it). */
    prokio_branch_t b[2] = {{csleep_poll, &f->s_long, csleep_cancel},
                            prokio_branch_join(f->member)};
    f->r2 = prokio_select_poll(&f->i2, b, 2, PROKIO_SELECT_KEEP | PROKIO_SELECT_BIASED, cx);
    if (f->r2 == PROKIO_PENDING)
        return PROKIO_PENDING;
    csleep_cancel(&f->s_long);
    return 0;
}

static void keep_drop(void *frame)
{
    struct keep *f = frame;
    prokio_oneshot_tx_release(f->gate);
    track_dropped(&f->tr);
}

void test_select_keep(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    struct gated g;
    struct keep f = {.tr.d = &d};
    conf_gated_init(&g, &d, 42, &f.gate);
    assert_int_equal(prokio_spawn_on(&f.member, rt, conf_worker(rt, 1), conf_gated_poll, &g,
                                     sizeof g, conf_gated_drop),
                     0);
    csleep_branch(&f.s_short, PROKIO_MS(1));
    csleep_branch(&f.s_long, PROKIO_SEC(3600));
    prokio_task_t *member = f.member;
    assert_int_equal(conf_run_on(rt, 0, keep_poll, &f, sizeof f, keep_drop), 0);
    assert_int_equal(f.i1, 0);
    assert_int_equal(f.r1, 0);
    assert_int_equal(f.i2, 1);
    assert_int_equal(f.r2, 42);
    assert_int_equal(f.s_short.cancels, 0);
    assert_int_equal(f.s_long.cancels, 1); /* by hand, at the end */
    assert_true(f.s_long.polls >= 2);      /* kept, and polled again */
    prokio_task_release(member);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
}

/* Abort a task waiting in a select over a long sleep and a oneshot: its
 * drop releases the receiver, the sender sees it closed, nothing leaks. */
struct sel_wait {
    struct track tr;
    prokio_sleep_t s;
    struct crecv recv;
    atomic_int *pending;
    size_t index;
};

static int sel_wait_poll(void *frame, prokio_cx_t *cx)
{
    struct sel_wait *f = frame;
    track_poll(&f->tr);
    prokio_branch_t b[2] = {prokio_branch_sleep(&f->s), {crecv_poll, &f->recv, crecv_cancel}};
    int rc = prokio_select_poll(&f->index, b, 2, 0, cx);
    if (rc == PROKIO_PENDING)
        atomic_store(f->pending, 1);
    return rc;
}

static void sel_wait_drop(void *frame)
{
    struct sel_wait *f = frame;
    prokio_oneshot_rx_release(f->recv.rx);
    track_dropped(&f->tr);
}

void test_select_abort_waiting(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 10; k++) {
        atomic_int pending = 0;
        prokio_oneshot_tx_t *tx;
        struct sel_wait f = {.tr.d = &d, .pending = &pending};
        prokio_sleep_init(&f.s, PROKIO_SEC(3600));
        assert_int_equal(prokio_oneshot_new(&tx, &f.recv.rx, sizeof(int), NULL, 0), 0);
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), sel_wait_poll, &f,
                                         sizeof f, sel_wait_drop),
                         0);
        CONF_WAIT_FLAG(&pending, 1);
        prokio_task_abort(h);
        assert_int_equal(conf_join(h, &f, sizeof f), PROKIO_ECANCELED);
        assert_int_equal(f.tr.drops, 1);
        assert_true(prokio_oneshot_tx_is_closed(tx));
        int v = 1;
        assert_int_equal(prokio_oneshot_send(tx, &v), PROKIO_EPIPE);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 10);
}

/* ------------------------------------------------------------- join-all */

struct all {
    struct track tr;
    struct csleep s;
    struct crecv recv;
    struct cready y;
    prokio_task_t *member;
    prokio_oneshot_tx_t *tx;
    int results[4];
    int polls_pending;
};

static int all_poll(void *frame, prokio_cx_t *cx)
{
    struct all *f = frame;
    track_poll(&f->tr);
    prokio_branch_t b[4] = {{csleep_poll, &f->s, csleep_cancel},
                            {crecv_poll, &f->recv, crecv_cancel},
                            {cready_poll, &f->y, cready_cancel},
                            prokio_branch_join(f->member)};
    int rc = prokio_join_all_poll(f->results, b, 4, cx);
    if (f->tx) { /* the value arrives after the first poll */
        int v = 9;
        if (prokio_oneshot_send(f->tx, &v) < 0)
            return -100;
        f->tx = NULL;
    }
    if (rc == PROKIO_PENDING)
        f->polls_pending++;
    return rc;
}

static void all_drop(void *frame)
{
    struct all *f = frame;
    prokio_oneshot_rx_release(f->recv.rx);
    prokio_oneshot_tx_release(f->tx);
    track_dropped(&f->tr);
}

void test_join_all_collects(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    struct all f = {.tr.d = &d, .y = {.value = -7, .yields = 3}};
    for (int i = 0; i < 4; i++)
        f.results[i] = PROKIO_PENDING;
    csleep_branch(&f.s, PROKIO_MS(2));
    assert_int_equal(prokio_oneshot_new(&f.tx, &f.recv.rx, sizeof(int), NULL, 0), 0);
    int v = 1234;
    assert_int_equal(
        prokio_spawn_on(&f.member, rt, conf_worker(rt, 1), conf_value_poll, &v, sizeof v, NULL), 0);
    prokio_task_t *member = f.member;
    assert_int_equal(conf_run_on(rt, 0, all_poll, &f, sizeof f, all_drop), 0);
    assert_int_equal(f.results[0], 0);
    assert_int_equal(f.results[1], 0);
    assert_int_equal(f.recv.value, 9);
    assert_int_equal(f.results[2], -7); /* a negative result is stored, not returned */
    assert_int_equal(f.results[3], 1234);
    /* Each branch polled only while pending: the ready one once per
     * yield, plus once. */
    assert_int_equal(f.y.polls, 4);
    assert_int_equal(f.recv.polls, 2);
    assert_int_equal(f.s.cancels, 0);
    assert_true(f.polls_pending >= 1);
    prokio_task_release(member);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 1);
}
