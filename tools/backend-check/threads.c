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
static void *rescue_main(void *p)
{
    struct rescue *r = p;
    uint64_t deadline = mono_ns() + r->limit_ms * g_scale * NS_PER_MS;
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        int rc = pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (rc == ETIMEDOUT && !r->done) {
            atomic_store(&r->fired, true);
            pthread_mutex_unlock(&r->mu);
            lp_wake(r->L);
            pthread_mutex_lock(&r->mu);
            deadline = mono_ns() + 50 * NS_PER_MS;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

void rescue_start(struct rescue *r, struct lp *L, uint64_t limit_ms)
{
    memset(r, 0, sizeof *r);
    r->L = L;
    r->limit_ms = limit_ms;
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

/* Returns true if the rescuer had to wake the loop. */
bool rescue_stop(struct rescue *r)
{
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    return atomic_load(&r->fired);
}

/* Waits with DEADLINE_NEVER under a rescuer; false if the wait was rescued. */
bool wait_never(struct lp *L, uint64_t limit_ms)
{
    struct rescue r;
    rescue_start(&r, L, limit_ms);
    lp_wait(L, PROKIO_BACKEND_DEADLINE_NEVER);
    return !rescue_stop(&r);
}
