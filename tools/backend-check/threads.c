/* Helper threads: acting on a loop while it blocks, and rescuing a wait
 * that a lost wakeup would leave blocked. */
#include "backend-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char thread_state(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return '?';
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return '?';
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

void pause_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Returns once L's thread is inside wait() and asleep in the kernel, or false
 * after the limit. The polling interval is not synchronisation: whoever calls
 * this acts afterwards and the loop thread verifies the order. */
bool wait_until_blocked(struct lp *L, uint64_t limit_ms)
{
    uint64_t end = mono_ns() + limit_ms * g_scale * NS_PER_MS;
    for (;;) {
        if (atomic_load_explicit(&L->in_wait, memory_order_relaxed)) {
            char s = thread_state(L->tid);
            if (s == 'S' || s == 'D')
                return true;
            if (s == '?') {
                /* No /proc: give the loop a moment to block. Correctness does
                 * not depend on it; only how sharp the check is. */
                pause_us(20000);
                return false;
            }
        }
        if (mono_ns() > end)
            return false;
        pause_us(100);
    }
}

static void *actor_main(void *p)
{
    struct actor *a = p;
    a->saw_blocked = wait_until_blocked(a->L, 2000);
    a->acted_ns = mono_ns();
    atomic_store(&a->acted, true);
    a->fn(a);
    return NULL;
}

void act_wake(struct actor *a)
{
    lp_wake(a->L);
}

void act_write(struct actor *a)
{
    ssize_t r = write(a->fd, "w", 1);
    (void)r;
}

void actor_start(struct actor *a, struct lp *L, void (*fn)(struct actor *), int fd)
{
    memset(a, 0, sizeof *a);
    a->L = L;
    a->fn = fn;
    a->fd = fd;
    if (pthread_create(&a->th, NULL, actor_main, a) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
}

void actor_join(struct actor *a)
{
    pthread_join(a->th, NULL);
}
/* How long the rescuer goes on waking a loop whose wait it had to end before
 * it calls the wake lost for good. */
#define LOST_MS 1000

static void *rescue_main(void *p)
{
    struct rescue *r = p;
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        if (!r->armed_at) {
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        uint64_t now = mono_ns();
        uint64_t due = r->acted_at ? r->acted_at + 50 * NS_PER_MS
                                   : r->armed_at + r->limit_ms * g_scale * NS_PER_MS;
        if (now < due) {
            struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            continue;
        }
        bool first = !r->acted_at;
        if (first) {
            atomic_store(&r->fired, true);
            r->fired_at = now;
        }
        r->acted_at = now;
        r->wakes++;
        unsigned gen = r->gen;
        pthread_mutex_unlock(&r->mu);
        lp_wake(r->L);
        if (first && r->poke_fd >= 0 && write(r->poke_fd, "!", 1) != 1)
            fail("rescuer: write to the watched socket: %s", strerror(errno));
        pthread_mutex_lock(&r->mu);
        /* Still inside the same wait after a second of wakes: no later
         * wake will end it either, and the loop thread is stuck in the
         * backend. Better the check's failure now than the watchdog's
         * "hung" minutes later. */
        if (r->armed_at && r->gen == gen && now - r->fired_at >= LOST_MS * g_scale * NS_PER_MS &&
            atomic_load_explicit(&r->L->in_wait, memory_order_relaxed))
            bail_out_check("a wait that a wake must end was still blocked %llu ms after it "
                           "began, after %u wakes from the rescuer%s: a wake was lost for good "
                           "(for instance a wake flag cleared before the eventfd is read)",
                           (unsigned long long)((now - r->armed_at) / NS_PER_MS), r->wakes,
                           r->poke_fd >= 0 ? " and a write on a watched socket" : "");
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void rescue_init(struct rescue *r, struct lp *L, uint64_t limit_ms, int poke_fd)
{
    memset(r, 0, sizeof *r);
    r->L = L;
    r->limit_ms = limit_ms;
    r->poke_fd = poke_fd;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    if (pthread_create(&r->th, NULL, rescue_main, r) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
}

void rescue_arm(struct rescue *r)
{
    pthread_mutex_lock(&r->mu);
    r->armed_at = mono_ns();
    r->gen++;
    r->acted_at = 0;
    r->wakes = 0;
    atomic_store(&r->fired, false);
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* Returns true if the rescuer had to act since rescue_arm. */
bool rescue_disarm(struct rescue *r)
{
    pthread_mutex_lock(&r->mu);
    r->armed_at = 0;
    pthread_mutex_unlock(&r->mu);
    return atomic_load(&r->fired);
}

void rescue_fini(struct rescue *r)
{
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
}

void rescue_start(struct rescue *r, struct lp *L, uint64_t limit_ms)
{
    rescue_init(r, L, limit_ms, -1);
    rescue_arm(r);
}

/* Returns true if the rescuer had to wake the loop. */
bool rescue_stop(struct rescue *r)
{
    bool fired = rescue_disarm(r);
    rescue_fini(r);
    return fired;
}

/* Waits with DEADLINE_NEVER under a rescuer; false if the wait was rescued. */
bool wait_never(struct lp *L, uint64_t limit_ms)
{
    struct rescue r;
    rescue_start(&r, L, limit_ms);
    lp_wait(L, PROKIO_BACKEND_DEADLINE_NEVER);
    return !rescue_stop(&r);
}
