/* Checks: loops, clock, wait and wake. */
#include "backend-check.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct thread_loop_result {
    int fds_before, fds_after;
    int rc;
};

static void *thread_loop_main(void *p)
{
    struct thread_loop_result *r = p;
    struct lp L;
    /* The first loop may set up a library's once-per-process state (libuv's
     * signal pipe): count descriptors around the second one. */
    bool can_wait = g_vt->wait != NULL; /* not on a NONBLOCKING_HOST backend */
    if (lp_open(&L, 0, 1) == 0) {
        if (can_wait)
            lp_wait(&L, 0);
        lp_close(&L);
    }
    r->fds_before = count_fds();
    r->rc = lp_open(&L, 0, 1);
    if (r->rc == 0) {
        if (can_wait) {
            lp_wait(&L, 0);
            lp_wake(&L);
            lp_wait(&L, 0);
        }
        lp_close(&L);
    }
    r->fds_after = count_fds();
    return NULL;
}

void check_loop_on_thread(void)
{
    struct thread_loop_result r;
    memset(&r, 0, sizeof r);
    pthread_t th;
    if (pthread_create(&th, NULL, thread_loop_main, &r) != 0) {
        fail("pthread_create failed");
        return;
    }
    pthread_join(th, NULL);
    EXPECT(r.fds_after == r.fds_before,
           "descriptors open: %d before loop_init, %d after loop_fini (loop_fini must release "
           "everything)",
           r.fds_before, r.fds_after);
}

struct two {
    struct lp A, B;
    pthread_barrier_t bar;
    atomic_int b_phase; /* 0: B in its timed wait, 1: B in wait(NEVER) */
    atomic_bool a_woke_b;
    atomic_bool open_failed;
    unsigned a_rounds;
};

static void *two_a(void *p)
{
    struct two *t = p;
    int sv[2] = {-1, -1};
    struct tw w;
    memset(&w, 0, sizeof w);
    if (lp_open(&t->A, 0, 2) != 0)
        atomic_store(&t->open_failed, true);
    pthread_barrier_wait(&t->bar);
    if (atomic_load(&t->open_failed))
        goto out;
    if (!make_pair(sv) || tw_init(&t->A, &w, sv[0]) != 0 ||
        tw_update(&w, PROKIO_BACKEND_READABLE) != 0) {
        fail("loop A: could not set up a watch");
    } else {
        /* Events and wakes on A while B waits: none of them may reach B. */
        while (atomic_load(&t->b_phase) == 0) {
            put(sv[1], "a");
            tw_reset(&w);
            if (!wait_for(&w, PROKIO_BACKEND_READABLE, 2000)) {
                fail("loop A: READABLE not reported within 2 s");
                break;
            }
            drain(sv[0]);
            lp_wake(&t->A);
            uint64_t deadline = deadline_in(&t->A, 2000);
            lp_wait(&t->A, deadline);
            if (lp_now(&t->A) >= deadline) {
                fail("loop A: a wake before wait did not make it return");
                break;
            }
            t->a_rounds++;
        }
    }
    tw_close(&w);
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    /* Wake B from this thread once B blocks in wait(NEVER). */
    while (atomic_load(&t->b_phase) != 1) {
        pause_us(100);
    }
    wait_until_blocked(&t->B, 2000);
    atomic_store(&t->a_woke_b, true);
    lp_wake(&t->B);
out:
    pthread_barrier_wait(&t->bar);
    lp_close(&t->A);
    return NULL;
}

static void *two_b(void *p)
{
    struct two *t = p;
    if (lp_open(&t->B, 1, 2) != 0)
        atomic_store(&t->open_failed, true);
    pthread_barrier_wait(&t->bar);
    if (atomic_load(&t->open_failed)) {
        pthread_barrier_wait(&t->bar);
        lp_close(&t->B);
        return NULL;
    }
    unsigned reports = quiet(&t->B, 100);
    EXPECT(reports == 0, "loop B, which has no watch, got %u reports", reports);
    atomic_store(&t->b_phase, 1);
    bool returned = wait_never(&t->B, 5000);
    EXPECT(returned, "loop B: wait(NEVER) not ended by a wake from loop A's thread within 5 s");
    EXPECT(atomic_load(&t->a_woke_b), "loop B: wait(NEVER) returned before loop A woke it");
    pthread_barrier_wait(&t->bar);
    lp_close(&t->B);
    return NULL;
}

void check_two_loops(void)
{
    struct two *t = calloc(1, sizeof *t);
    if (!t) {
        fail("out of memory");
        return;
    }
    pthread_barrier_init(&t->bar, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, two_a, t);
    pthread_create(&b, NULL, two_b, t);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&t->bar);
    if (!atomic_load(&t->open_failed)) {
        EXPECT(t->a_rounds > 0, "loop A made no round while loop B waited");
        diag("loop A: %u event+wake rounds while loop B waited 100 ms", t->a_rounds);
    }
    free(t);
}

void check_now_ns(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    unsigned n = g_quick ? 20000 : 200000;
    uint64_t prev = lp_now(&L), first = prev, min_step = UINT64_MAX;
    for (unsigned i = 0; i < n; i++) {
        uint64_t t = lp_now(&L);
        if (t < prev) {
            fail("now_ns went backwards by %llu ns after %u calls", (unsigned long long)(prev - t),
                 i);
            break;
        }
        if (t > prev && t - prev < min_step)
            min_step = t - prev;
        prev = t;
    }
    diag("%u calls over %.3f ms, smallest step %llu ns", n, ns_to_ms((int64_t)(prev - first)),
         (unsigned long long)min_step);
    lp_close(&L);
}

void check_wait_zero(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    uint64_t now = lp_now(&L);
    uint64_t deadlines[] = {0, 0, 1, now > NS_PER_MS ? now - NS_PER_MS : 1, 0};
    for (size_t i = 0; i < sizeof deadlines / sizeof deadlines[0]; i++) {
        uint64_t t0 = mono_ns();
        int rc = lp_wait(&L, deadlines[i]);
        uint64_t took = mono_ns() - t0;
        EXPECT(rc == 0, "wait(%s) with nothing pending: expected 0, got %d",
               deadlines[i] == 0 ? "0" : "past deadline", rc);
        EXPECT(took < 50 * NS_PER_MS, "wait(%s): expected to return well under 50 ms, took %.3f ms",
               deadlines[i] == 0 ? "0" : "past deadline", ns_to_ms((int64_t)took));
    }
    lp_close(&L);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void check_wait_deadline(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    /* Deadlines off the millisecond grid catch backends that truncate. */
    static const uint64_t others_us[] = {1000, 1500, 250, 7770, 20300, 3};
    unsigned n20 = g_quick ? 3 : 10;
    int64_t late20[10] = {0};
    for (unsigned i = 0; i < n20 + sizeof others_us / sizeof others_us[0]; i++) {
        uint64_t us = i < n20 ? 20000 : others_us[i - n20];
        uint64_t deadline = lp_now(&L) + us * 1000;
        int rc = lp_wait(&L, deadline);
        uint64_t now = lp_now(&L);
        int64_t late = (int64_t)(now - deadline);
        EXPECT(rc == 0, "wait(now+%.3f ms) with nothing pending: expected 0, got %d", us / 1e3, rc);
        if (now < deadline) {
            fail("wait(now+%.3f ms) returned %.3f ms early", us / 1e3, ns_to_ms(-late));
            continue;
        }
        if (late > 500 * (int64_t)NS_PER_MS)
            fail("wait(now+%.3f ms) returned %.3f ms late (limit 500 ms)", us / 1e3,
                 ns_to_ms(late));
        if (i < n20)
            late20[i] = late;
        else
            diag("wait(now+%.3f ms): %.3f ms late", us / 1e3, ns_to_ms(late));
    }
    qsort(late20, n20, sizeof late20[0], cmp_i64);
    diag("wait(now+20 ms) x%u lateness: min %.3f ms, median %.3f ms, max %.3f ms", n20,
         ns_to_ms(late20[0]), ns_to_ms(late20[n20 / 2]), ns_to_ms(late20[n20 - 1]));
    lp_close(&L);
}

void check_wait_far_deadline(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    uint64_t now = lp_now(&L);
    const struct {
        const char *what;
        uint64_t deadline;
    } cases[] = {
        {"now+30 days", now + UINT64_C(30) * 86400 * 1000000000},
        {"now+2^62 ns", now + (UINT64_C(1) << 62)},
        {"NEVER-1", PROKIO_BACKEND_DEADLINE_NEVER - 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct actor a;
        struct rescue r;
        actor_start(&a, &L, act_wake, -1);
        rescue_start(&r, &L, 5000);
        lp_wait(&L, cases[i].deadline);
        bool acted = atomic_load(&a.acted);
        bool rescued = rescue_stop(&r);
        actor_join(&a);
        EXPECT(acted, "wait(%s) returned at once, before any wake (the deadline overflowed?)",
               cases[i].what);
        EXPECT(!rescued, "wait(%s) was not ended by a wake within 5 s", cases[i].what);
    }
    lp_close(&L);
}

void check_wake_sticky(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    lp_wake(&L);
    uint64_t t0 = mono_ns();
    bool returned = wait_never(&L, 2000);
    EXPECT(returned, "wake() then wait(NEVER): the wait did not return (wakes must be sticky)");
    if (returned)
        diag("wake() then wait(NEVER) returned after %.3f ms", ns_to_ms((int64_t)(mono_ns() - t0)));
    /* The wake is consumed: the next wait runs to its deadline. */
    unsigned rep = quiet(&L, 20);
    EXPECT(rep == 0, "unexpected reports with no watch: %u", rep);
    /* wait(0) consumes a wake as well: "since the previous wait returned". */
    lp_wake(&L);
    lp_wait(&L, 0);
    quiet(&L, 20);
    lp_close(&L);
}

void check_wake_cross_thread(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    unsigned rounds = g_quick ? 2 : 5;
    unsigned blocked = 0;
    double worst_ms = 0;
    for (unsigned i = 0; i <= rounds; i++) {
        /* The last round uses a finite deadline: a backend may arm a timer. */
        bool never = i < rounds;
        struct actor a;
        actor_start(&a, &L, act_wake, -1);
        uint64_t deadline = never ? PROKIO_BACKEND_DEADLINE_NEVER : deadline_in(&L, 10000);
        struct rescue r;
        rescue_start(&r, &L, 5000);
        lp_wait(&L, deadline);
        uint64_t t_ret = mono_ns();
        bool rescued = rescue_stop(&r);
        actor_join(&a);
        bool acted = atomic_load(&a.acted);
        EXPECT(acted, "wait(%s) returned before the other thread's wake", never ? "NEVER" : "10 s");
        EXPECT(!rescued, "wait(%s) did not return within 5 s of a wake from another thread",
               never ? "NEVER" : "10 s");
        if (acted && !rescued && t_ret > a.acted_ns &&
            ns_to_ms((int64_t)(t_ret - a.acted_ns)) > worst_ms)
            worst_ms = ns_to_ms((int64_t)(t_ret - a.acted_ns));
        blocked += a.saw_blocked;
    }
    diag("%u/%u wakes landed while the loop thread was seen asleep in wait; slowest return "
         "%.3f ms after the wake",
         blocked, rounds + 1, worst_ms);
    EXPECT(blocked > 0 || thread_state(my_tid()) == '?',
           "the loop thread was never seen asleep in wait(): the check could not exercise a "
           "blocked wait");
    lp_close(&L);
}

static void *wake_n_main(void *p)
{
    struct lp *L = p;
    for (int i = 0; i < 1000; i++)
        lp_wake(L);
    return NULL;
}

void check_wake_coalesce(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    for (int round = 0; round < 2; round++) {
        const char *who = round == 0 ? "the loop thread" : "another thread";
        if (round == 0) {
            for (int i = 0; i < 1000; i++)
                lp_wake(&L);
        } else {
            pthread_t th;
            pthread_create(&th, NULL, wake_n_main, &L);
            pthread_join(th, NULL);
        }
        bool returned = wait_never(&L, 2000);
        EXPECT(returned, "1000 wakes from %s, then wait(NEVER): did not return", who);
        uint64_t deadline = deadline_in(&L, 20);
        lp_wait(&L, deadline);
        EXPECT(lp_now(&L) >= deadline,
               "after 1000 wakes from %s and one wait, the next wait(now+20ms) returned "
               "early: wakes stayed pending",
               who);
    }
    lp_close(&L);
}

static atomic_int g_sigusr1;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_sigusr1, 1);
}

struct interrupter {
    struct lp *L;
    pthread_t target;
    atomic_bool stop;
    unsigned sent;
};

static void *interrupter_main(void *p)
{
    struct interrupter *in = p;
    while (in->sent < 5 && !atomic_load(&in->stop)) {
        if (!wait_until_blocked(in->L, 500))
            break;
        if (atomic_load(&in->stop))
            break;
        int before = atomic_load(&g_sigusr1);
        pthread_kill(in->target, SIGUSR1);
        in->sent++;
        uint64_t end = mono_ns() + 1000 * NS_PER_MS;
        while (atomic_load(&g_sigusr1) == before && mono_ns() < end)
            pause_us(100);
    }
    return NULL;
}

void check_wait_eintr(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the backend's system call fails with EINTR */
    sigaction(SIGUSR1, &sa, &old);
    atomic_store(&g_sigusr1, 0);
    struct interrupter in = {.L = &L, .target = pthread_self()};
    pthread_t th;
    pthread_create(&th, NULL, interrupter_main, &in);
    uint64_t deadline = deadline_in(&L, 150);
    int rc = lp_wait(&L, deadline);
    while (lp_now(&L) < deadline) /* early returns are flagged by lp_wait */
        rc = lp_wait(&L, deadline);
    atomic_store(&in.stop, true);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    int got = atomic_load(&g_sigusr1);
    EXPECT(rc >= 0, "wait interrupted by signals returned %d (%s)", rc, err_name(rc));
    diag("%d signals delivered while the loop waited", got);
    EXPECT(got > 0, "no signal reached the loop thread during its wait: nothing was tested");
    lp_close(&L);
}
