/* Checks: the wake storm. */
#include "backend-check.h"

#define STORM_THREADS 4

struct storm {
    struct lp *L;
    unsigned per_thread;
    atomic_int finished;
    atomic_uint_fast64_t last_wake_ns;
};

static void *storm_main(void *p)
{
    struct storm *s = p;
    for (unsigned i = 0; i < s->per_thread; i++)
        lp_wake(s->L);
    atomic_store(&s->last_wake_ns, mono_ns());
    atomic_fetch_add(&s->finished, 1);
    /* After the count: a loop that saw the count short is woken once more. */
    lp_wake(s->L);
    return NULL;
}

void check_wake_storm(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    struct storm s = {.L = &L, .per_thread = g_quick ? 100000 : 250000};
    pthread_t th[STORM_THREADS];
    uint64_t t0 = mono_ns();
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_create(&th[i], NULL, storm_main, &s);
    unsigned returns = 0;
    while (atomic_load(&s.finished) < STORM_THREADS) {
        uint64_t deadline = deadline_in(&L, 2000 * g_scale);
        uint64_t started = mono_ns();
        lp_wait(&L, deadline);
        returns++;
        if (lp_now(&L) < deadline)
            continue;
        /* Timed out: lost, unless the last wake came too late to matter. */
        uint64_t ended = mono_ns(), last = atomic_load(&s.last_wake_ns);
        if (atomic_load(&s.finished) < STORM_THREADS ||
            (last > started && last + 1000 * NS_PER_MS < ended)) {
            fail("lost wakeup: a wait during the storm ran to its %u ms deadline", 2000 * g_scale);
            break;
        }
    }
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_join(th[i], NULL);
    uint64_t took = mono_ns() - t0;
    unsigned total = STORM_THREADS * s.per_thread;
    diag("%u wakes from %d threads in %.1f ms; the loop's wait returned %u times", total,
         STORM_THREADS, ns_to_ms((int64_t)took), returns);
    /* Every storm wake is older than this wait's start: afterwards none may
     * be pending. */
    lp_wait(&L, 0);
    uint64_t deadline = deadline_in(&L, 20);
    lp_wait(&L, deadline);
    EXPECT(lp_now(&L) >= deadline, "after the storm: a stale wake ended wait(now+20ms) early");
    struct actor a;
    actor_start(&a, &L, act_wake, -1);
    bool returned = wait_never(&L, 5000);
    actor_join(&a);
    EXPECT(returned, "after the storm: one more wake did not end wait(NEVER) within 5 s");
    EXPECT(atomic_load(&a.acted), "after the storm: wait(NEVER) returned before the last wake");
    lp_close(&L);
}
