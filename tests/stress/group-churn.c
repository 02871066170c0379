/* tests/stress/group-churn.c: task groups churned from every worker,
 * counted exactly.
 *
 * Owner tasks on every worker each run many rounds: make a group with the
 * current runtime, spawn members across workers (ready at once, yielding a
 * few times, or parked until aborted), then one plan picked at random:
 *   join all        (no parked members) every member is handed out once,
 *                   with the result its frame says it returned;
 *   abort, join all every member is handed out once, ECANCELED or its
 *                   own result;
 *   join some, free the rest are aborted by the free while they run (and
 *                   end) on other workers;
 *   free at once    the same, with nothing joined.
 * Then, after the runtime is freed: every member's drop ran exactly once,
 * on its own worker, and every member of a fully joined group was handed
 * out exactly once. A lost hook (a member whose end the group never
 * learns) hangs its owner: the watchdog reports it.
 *
 * Under a sanitizer or valgrind (PROKIO_TEST_TIMEOUT_SCALE > 1) the
 * rounds are divided by 10, and the TAP output says so. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

enum { WORKERS = 2, OWNERS_PER_WORKER = 4, MEMBERS = 32, FULL_ROUNDS = 2000 };

struct totals {
    atomic_long spawned, dropped, wrong_thread;
    atomic_long handed, handed_value, handed_cancelled, bad_result;
    atomic_long joined_groups_spawned; /* members of groups joined to the end */
    atomic_long joined_groups_handed;
    atomic_long plans[4];
};

static struct totals tot;

enum kind { READY, YIELDING, PARKED };

struct member {
    int value;
    int kind;
    int yields;
    int polled;
    pthread_t thread;
};

static int member_poll(void *frame, prokio_cx_t *cx)
{
    struct member *m = frame;
    if (!m->polled) {
        m->polled = 1;
        m->thread = pthread_self();
    }
    if (m->kind == PARKED)
        return PROKIO_PENDING; /* ends only when aborted */
    if (m->yields > 0) {
        m->yields--;
        return prokio_cx_yield(cx);
    }
    return m->value;
}

static void member_drop(void *frame)
{
    struct member *m = frame;
    if (m->polled && !pthread_equal(m->thread, pthread_self()))
        atomic_fetch_add(&tot.wrong_thread, 1);
    atomic_fetch_add(&tot.dropped, 1);
}

struct owner {
    unsigned seed;
    int rounds, round;
    prokio_group_t *g;
    int plan, spawned, handed, stop_at, ending; /* ending: members not parked */
    int failed;                                 /* a line number */
};

static unsigned next(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

#define OWNER_FAIL(f)                                                                              \
    do {                                                                                           \
        (f)->failed = __LINE__;                                                                    \
        return -1;                                                                                 \
    } while (0)

static int owner_poll(void *frame, prokio_cx_t *cx)
{
    struct owner *f = frame;
    unsigned nw = prokio_runtime_workers(prokio_cx_runtime(cx));
    while (f->round < f->rounds) {
        if (f->g == NULL) {
            if (prokio_group_new(&f->g, NULL) < 0)
                OWNER_FAIL(f);
            f->plan = (int)(next(&f->seed) % 4);
            atomic_fetch_add(&tot.plans[f->plan], 1);
            f->spawned = f->handed = f->ending = 0;
            f->stop_at = (int)(next(&f->seed) % MEMBERS);
            for (int i = 0; i < MEMBERS; i++) {
                struct member m = {.value = (int)(next(&f->seed) % 1000)};
                unsigned k = next(&f->seed) % 8;
                m.kind = k < 4 ? READY : k < 7 ? YIELDING : PARKED;
                if (f->plan == 0 && m.kind == PARKED)
                    m.kind = READY;
                m.yields = m.kind == YIELDING ? (int)(next(&f->seed) % 4) + 1 : 0;
                unsigned how = next(&f->seed) % 3;
                int rc = how == 0 ? prokio_group_spawn(f->g, member_poll, &m, sizeof m, member_drop)
                         : how == 1 ? prokio_group_spawn_local(f->g, member_poll, &m, sizeof m,
                                                               member_drop, cx)
                                    : prokio_group_spawn_on(f->g, next(&f->seed) % nw, member_poll,
                                                            &m, sizeof m, member_drop);
                if (rc < 0)
                    OWNER_FAIL(f);
                f->spawned++;
                f->ending += m.kind != PARKED;
                atomic_fetch_add(&tot.spawned, 1);
            }
            if (f->plan == 1)
                prokio_group_abort_all(f->g);
            if (f->stop_at > f->ending) /* a parked member ends only when aborted */
                f->stop_at = f->ending;
        }
        if (f->plan == 3 || (f->plan == 2 && f->handed >= f->stop_at)) {
            prokio_group_free(f->g);
            f->g = NULL;
            f->round++;
            continue;
        }
        prokio_task_t *t;
        int rc = prokio_group_join_next_poll(&t, f->g, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        if (rc == PROKIO_ENOENT) {
            if (f->handed != f->spawned || prokio_group_len(f->g) != 0)
                OWNER_FAIL(f);
            atomic_fetch_add(&tot.joined_groups_spawned, f->spawned);
            atomic_fetch_add(&tot.joined_groups_handed, f->handed);
            prokio_group_free(f->g);
            f->g = NULL;
            f->round++;
            continue;
        }
        if (rc != 0)
            OWNER_FAIL(f);
        f->handed++;
        atomic_fetch_add(&tot.handed, 1);
        int r = prokio_task_result(t);
        const struct member *m = prokio_task_frame(t);
        if (r == m->value && m->kind != PARKED)
            atomic_fetch_add(&tot.handed_value, 1);
        else if (r == PROKIO_ECANCELED && f->plan != 0)
            atomic_fetch_add(&tot.handed_cancelled, 1);
        else
            atomic_fetch_add(&tot.bad_result, 1);
        prokio_task_release(t);
    }
    return 0;
}

static void owner_drop(void *frame)
{
    struct owner *f = frame;
    prokio_group_free(f->g); /* an owner that failed half-way */
    f->g = NULL;
}

static void test_group_churn(void **state)
{
    (void)state;
    bool reduced = test_reduced();
    int rounds = reduced ? FULL_ROUNDS / 10 : FULL_ROUNDS;
    if (reduced)
        print_message("# reduced run (sanitizer or valgrind): %d rounds instead of %d\n", rounds,
                      FULL_ROUNDS);
    memset(&tot, 0, sizeof tot);
    prokio_runtime_t *rt = test_runtime(WORKERS);
    enum { OWNERS = WORKERS * OWNERS_PER_WORKER };
    prokio_task_t *h[OWNERS];
    for (int i = 0; i < OWNERS; i++) {
        struct owner o = {.seed = 0x9e3779b9u * (unsigned)(i + 1), .rounds = rounds};
        assert_int_equal(
            prokio_spawn_on(&h[i], rt, (unsigned)i % WORKERS, owner_poll, &o, sizeof o, owner_drop),
            0);
    }
    for (int i = 0; i < OWNERS; i++) {
        int rc = prokio_task_blocking_join(h[i]);
        const struct owner *o = prokio_task_frame(h[i]);
        if (rc != 0)
            fail_msg("owner %d ended with %d (failed at line %d, round %d)", i, rc, o->failed,
                     o->round);
        prokio_task_release(h[i]);
    }
    test_runtime_free(rt);
    long spawned = atomic_load(&tot.spawned);
    print_message("# %ld members in %d groups (join all %ld, abort+join %ld, join some+free %ld, "
                  "free %ld); %ld handed out, %ld cancelled\n",
                  spawned, OWNERS * rounds, atomic_load(&tot.plans[0]), atomic_load(&tot.plans[1]),
                  atomic_load(&tot.plans[2]), atomic_load(&tot.plans[3]), atomic_load(&tot.handed),
                  atomic_load(&tot.handed_cancelled));
    assert_int_equal(spawned, (long)OWNERS * rounds * MEMBERS);
    assert_int_equal(atomic_load(&tot.dropped), spawned);
    assert_int_equal(atomic_load(&tot.wrong_thread), 0);
    assert_int_equal(atomic_load(&tot.bad_result), 0);
    assert_int_equal(atomic_load(&tot.handed),
                     atomic_load(&tot.handed_value) + atomic_load(&tot.handed_cancelled));
    assert_int_equal(atomic_load(&tot.joined_groups_handed),
                     atomic_load(&tot.joined_groups_spawned));
    for (int p = 0; p < 4; p++)
        assert_true(atomic_load(&tot.plans[p]) > 0);
}

int main(void)
{
    test_watchdog("group-churn", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_churn),
    };
    return cmocka_run_group_tests_name("group-churn", tests, NULL, NULL);
}
