/* Checks: the wake race, which finds wakes lost for good. */
#include "backend-check.h"

#include <sched.h>
#include <string.h>

/* The lost wake of a backend whose wake() writes its eventfd only when it
 * flips a flag: if the loop clears the flag before it drains the eventfd, a
 * wake() in between writes, the drain swallows that write, the flag stays
 * set, and every later wake() skips its write. The window is a few hundred
 * nanoseconds wide and opens once each time the loop handles a wake, so the
 * occasional cross-thread wake of the other checks rarely hits it. Here
 * another thread wakes without pause while the loop waits again and again
 * (a round), then stops; one more wake must then end a wait(NEVER). A
 * rescuer ends a stuck wait through a watched socket, so that a lost wake
 * fails this check instead of hanging the run.
 *
 * What makes the window likely: the waker spinning on a CPU of its own, and
 * waits with a deadline, which the waker's write ends from the kernel. On
 * one CPU the waker runs only while the loop thread does not, and hits the
 * window about never; on two, a backend with this bug fails in the first
 * round or so. */

#define RACE_WAITS 32

struct racer {
    struct lp *L;
    atomic_uint cmd;       /* odd: wake without pause; even: stop */
    atomic_uint ack;       /* the even cmd seen, once its last wake returned */
    atomic_uint final_req; /* a round: wake once, racing the loop into wait */
    atomic_bool stop;
    atomic_uint_fast64_t sent;
};

static void *racer_main(void *p)
{
    struct racer *rc = p;
    struct lp *L = rc->L;
    unsigned final_seen = 0;
    while (!atomic_load(&rc->stop)) {
        unsigned c = atomic_load(&rc->cmd);
        if (c & 1) {
            /* Not lp_wake, whose two counters per call would slow the spin:
             * the sooner this thread sees the flag clear, the likelier it
             * hits the window. Counted once around the spin, they say "a
             * wake is running", which excuses the loop's early returns. */
            uint64_t sent = 0;
            atomic_fetch_add(&L->wakes, 1);
            tl_hot = HOT_WAKE;
            while (atomic_load_explicit(&rc->cmd, memory_order_relaxed) == c) {
                g_vt->wake(L->mem);
                /* A pause now and then for a scheduler that runs one
                 * thread at a time (valgrind's), which would otherwise
                 * leave the loop thread waiting for this one. */
                if (++sent % 256 == 0)
                    sched_yield();
            }
            tl_hot = HOT_NONE;
            atomic_fetch_add(&L->wakes_done, 1);
            atomic_fetch_add(&rc->sent, sent);
            continue;
        }
        if (atomic_load(&rc->ack) != c)
            atomic_store(&rc->ack, c);
        unsigned f = atomic_load(&rc->final_req);
        if (f != final_seen) {
            final_seen = f;
            lp_wake(L);
        } else {
            sched_yield();
        }
    }
    return NULL;
}

/* Puts the calling thread on every allowed CPU but the last, and returns the
 * last for the racer in *racer_cpus; false with fewer than two CPUs. */
static bool split_cpus(cpu_set_t *saved, cpu_set_t *racer_cpus)
{
    if (pthread_getaffinity_np(pthread_self(), sizeof *saved, saved) != 0 || CPU_COUNT(saved) < 2)
        return false;
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, saved))
            last = c;
    cpu_set_t mine = *saved;
    CPU_CLR(last, &mine);
    CPU_ZERO(racer_cpus);
    CPU_SET(last, racer_cpus);
    return pthread_setaffinity_np(pthread_self(), sizeof mine, &mine) == 0;
}

void check_wake_race(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    int sv[2] = {-1, -1};
    struct tw poked;
    memset(&poked, 0, sizeof poked);
    cpu_set_t saved, racer_cpus;
    bool split = false;
    if (!make_pair(sv) || tw_init(&L, &poked, sv[0]) != 0 ||
        tw_update(&poked, PROKIO_BACKEND_READABLE) != 0) {
        fail("could not set up the watch through which the rescuer ends a stuck wait");
        goto out;
    }
    split = split_cpus(&saved, &racer_cpus);
    if (!split)
        diag("note: one CPU only: the waker cannot race the loop hard, and a lost wake may go "
             "unseen");
    struct racer rc = {.L = &L};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (split)
        pthread_attr_setaffinity_np(&attr, sizeof racer_cpus, &racer_cpus);
    pthread_t th;
    int err = pthread_create(&th, &attr, racer_main, &rc);
    pthread_attr_destroy(&attr);
    if (err != 0) {
        fail("pthread_create: %s", strerror(err));
        goto out;
    }
    struct rescue r;
    rescue_init(&r, &L, 1000, sv[1]);
    uint64_t budget = (g_quick ? 200 : 500) * NS_PER_MS, t0 = mono_ns(), slowest = 0;
    unsigned rounds = 0;
    while (mono_ns() - t0 < budget) {
        unsigned round = ++rounds;
        atomic_store(&rc.cmd, 2 * round + 1);
        for (int i = 0; i < RACE_WAITS; i++)
            lp_wait(&L, deadline_in(&L, 1));
        atomic_store(&rc.cmd, 2 * round + 2);
        while (atomic_load(&rc.ack) != 2 * round + 2)
            sched_yield();
        /* The final wake: from this thread before the wait, or from the
         * other one, racing this thread into the wait. */
        bool from_racer = round % 2;
        tw_reset(&poked);
        rescue_arm(&r);
        uint64_t w0 = mono_ns();
        if (from_racer)
            atomic_store(&rc.final_req, round);
        else
            lp_wake(&L);
        lp_wait(&L, PROKIO_BACKEND_DEADLINE_NEVER);
        uint64_t took = mono_ns() - w0;
        bool rescued = rescue_disarm(&r);
        if (!rescued && !poked.nreports) {
            slowest = took > slowest ? took : slowest;
            continue;
        }
        fail("round %u, after %.0f ms and %llu wakes from another thread racing %u waits: the "
             "final wake (from %s) did not end wait(NEVER) within %u ms; the rescuer ended it "
             "%s",
             round, ns_to_ms((int64_t)(w0 - t0)), (unsigned long long)atomic_load(&rc.sent),
             round * RACE_WAITS,
             from_racer ? "the other thread, during the wait" : "this thread, before the wait",
             1000 * g_scale, poked.nreports ? "through a watched socket" : "with another wake");
        drain(sv[0]);
        lp_wake(&L);
        uint64_t deadline = deadline_in(&L, 200);
        lp_wait(&L, deadline);
        if (lp_now(&L) >= deadline)
            diag("then one more wake did not end wait(now+200ms) either: every wake is lost "
                 "from now on (is a wake flag cleared before the eventfd is read?)");
        else
            diag("then one more wake ended a wait: that wake was late or lost, not every one");
        break;
    }
    atomic_store(&rc.stop, true);
    pthread_join(th, NULL);
    rescue_fini(&r);
    if (!atomic_load(&g_failed))
        diag("%u rounds in %.0f ms: %llu wakes from another thread raced %u waits; each final "
             "wake ended its wait(NEVER), the slowest after %.3f ms",
             rounds, ns_to_ms((int64_t)(mono_ns() - t0)), (unsigned long long)atomic_load(&rc.sent),
             rounds * RACE_WAITS, ns_to_ms((int64_t)slowest));
out:
    if (split)
        pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
    tw_close(&poked);
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    lp_close(&L);
}
