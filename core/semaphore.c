/* core/semaphore.c: the batch semaphore (semaphore.h) and the public
 * Semaphore over it (prokio/sync.h). */
#include <stdlib.h>

#include "coop.h"
#include "error_internal.h"
#include "semaphore.h"
#include "sync.h"

/* What a closed semaphore's grant carries in the waiter's u64 instead of
 * the permits it collected (those went back to the count). */
#define GRANT_CLOSED UINT64_MAX

/* The one write of the state word: a CAS for a shared semaphore; for a
 * local one, whose only thread just loaded *expect, a plain store. */
static inline bool st_cas(struct prokio__sem *s, size_t *expect, size_t desired)
{
    if (s->sh.owner != NULL) {
        atomic_store_explicit(&s->state, desired, memory_order_relaxed);
        return true;
    }
    return atomic_compare_exchange_weak_explicit(&s->state, expect, desired, memory_order_acq_rel,
                                                 memory_order_acquire);
}

int prokio__sem_init(struct prokio__sem *s, size_t permits, unsigned flags, const char *what)
{
    if (permits > PROKIO__SEM_MAX)
        return prokio__error(PROKIO_EINVAL,
                             "%s: %zu permits is more than the most a semaphore holds (%zu)", what,
                             permits, (size_t)PROKIO__SEM_MAX);
    int rc = prokio__shared_init(&s->sh, flags, what);
    if (rc < 0)
        return rc;
    atomic_init(&s->state, permits << PROKIO__SEM_SHIFT);
    atomic_init(&s->pending, 0);
    s->q.head = s->q.tail = NULL;
    return 0;
}

void prokio__sem_fini(struct prokio__sem *s)
{
    prokio__shared_fini(&s->sh);
}

int prokio__sem_try(struct prokio__sem *s, uint32_t n)
{
    size_t cur = atomic_load_explicit(&s->state, memory_order_acquire);
    for (;;) {
        if (cur & PROKIO__SEM_CLOSED)
            return PROKIO_ECLOSED;
        /* Nothing to take (sync.h: n = 0 completes at once): queued, it
         * would have nothing to wait for, and a release that gives the
         * waiters ahead exactly what they need would leave it there. */
        if (n == 0)
            return 0;
        /* WAITERS set means the count is 0 (semaphore.h), so a queued
         * waiter is never overtaken. */
        if ((cur >> PROKIO__SEM_SHIFT) < n || (cur & PROKIO__SEM_WAITERS))
            return PROKIO_EAGAIN;
        if (st_cas(s, &cur, cur - ((size_t)n << PROKIO__SEM_SHIFT)))
            return 0;
    }
}

/* Hands `rem` permits to the waiters in order, then whatever is left to the
 * count, clearing WAITERS when the queue empties. Caller holds the lock
 * (kept throughout: prokio__grant_flush). */
static void add_locked(struct prokio__sem *s, size_t rem, struct prokio__wakelist *wl)
{
    struct prokio__waiter *h;
    while (rem > 0 && (h = s->q.head) != NULL) {
        uint64_t need = h->n - h->u64;
        uint64_t give = need < rem ? need : rem;
        h->u64 += give;
        rem -= (size_t)give;
        if (h->u64 < h->n)
            break; /* rem is 0: the head collects the rest later */
        prokio__grant_flush(&s->sh, &s->q, h, wl);
    }
    size_t cur = atomic_load_explicit(&s->state, memory_order_acquire);
    for (;;) {
        size_t want = cur;
        if (s->q.head == NULL) {
            want &= ~PROKIO__SEM_WAITERS;
            size_t have = cur >> PROKIO__SEM_SHIFT;
            size_t add = rem < PROKIO__SEM_MAX - have ? rem : PROKIO__SEM_MAX - have;
            want += add << PROKIO__SEM_SHIFT;
        }
        if (want == cur || st_cas(s, &cur, want))
            return;
    }
}

static void cancel(struct prokio__armed *node)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(node, struct prokio__waiter, armed);
    struct prokio__sem *s = w->obj;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&s->sh);
    uint32_t st = atomic_load_explicit(&w->state, memory_order_relaxed);
    size_t back = 0;
    if (st == PROKIO__WAIT_QUEUED) {
        prokio__waiter_dequeue(&s->q, w);
        back = (size_t)w->u64; /* collected while at the head */
    } else if (st == PROKIO__WAIT_GRANTED && w->u64 != GRANT_CLOSED) {
        back = (size_t)w->u64; /* granted, never seen: released as is */
    }
    if (st != PROKIO__WAIT_IDLE)
        prokio__pending_add(&s->sh, &s->pending, (size_t)-1);
    prokio__waiter_idle(w);
    /* Also when back is 0: the queue may have emptied (WAITERS clears). */
    add_locked(s, back, &wl);
    prokio__shared_unlock(&s->sh);
    prokio__wakelist_wake(&wl);
}

/* Under the lock: takes n permits, or queues w with what it could take.
 * 0, PROKIO_ECLOSED, or PROKIO_PENDING (w queued by `enqueue`). */
static int take_or_queue(struct prokio__sem *s, struct prokio__waiter *w, uint32_t n)
{
    size_t cur = atomic_load_explicit(&s->state, memory_order_acquire);
    for (;;) {
        if (cur & PROKIO__SEM_CLOSED)
            return PROKIO_ECLOSED;
        size_t have = cur >> PROKIO__SEM_SHIFT;
        if (!(cur & PROKIO__SEM_WAITERS) && have >= n) {
            if (st_cas(s, &cur, cur - ((size_t)n << PROKIO__SEM_SHIFT)))
                return 0;
            continue;
        }
        /* Queue empty: this waiter is the head and collects what is there.
         * Otherwise the count is 0 anyway. */
        size_t take = (cur & PROKIO__SEM_WAITERS) ? 0 : have;
        if (st_cas(s, &cur, (cur - (take << PROKIO__SEM_SHIFT)) | PROKIO__SEM_WAITERS)) {
            w->n = n;
            w->u64 = take;
            prokio__pending_add(&s->sh, &s->pending, 1);
            return PROKIO_PENDING;
        }
    }
}

static int closed_error(const char *what)
{
    return prokio__error(PROKIO_ECLOSED, "%s: the semaphore is closed; no permits were taken",
                         what);
}

/* The waiter saw GRANTED: takes the grant. */
static int take_grant(struct prokio__sem *s, struct prokio__waiter *w, const char *what)
{
    uint64_t got = w->u64;
    prokio__waiter_finish(w);
    prokio__pending_add(&s->sh, &s->pending, (size_t)-1);
    return got == GRANT_CLOSED ? closed_error(what) : 0;
}

int prokio__sem_acquire_poll(prokio_wait_t *wait, struct prokio__sem *s, uint32_t n,
                             prokio_cx_t *cx, const char *what)
{
    struct prokio__waiter *w = prokio__waiter_of(wait);
    uint32_t st = prokio__waiter_state(w);
    if (PROKIO_LIKELY(st == PROKIO__WAIT_IDLE)) {
        if (!prokio__coop_proceed(cx))
            return PROKIO_PENDING;
        int rc = prokio__sem_try(s, n);
        if (PROKIO_LIKELY(rc == 0))
            return 0;
        if (rc == PROKIO_ECLOSED)
            return closed_error(what);
        prokio__shared_lock(&s->sh);
        rc = take_or_queue(s, w, n);
        if (rc == PROKIO_PENDING) {
            prokio__waiter_enqueue(&s->q, w, s, cancel, cx);
            prokio__coop_restore(cx);
        }
        prokio__shared_unlock(&s->sh);
        return rc == PROKIO_ECLOSED ? closed_error(what) : rc;
    }
    if (w->obj != s)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the wait is pending on another object; finish it or "
                             "prokio_wait_cancel it first",
                             what);
    if (st == PROKIO__WAIT_QUEUED) {
        if (!prokio__waiter_repoll(&s->sh, w, cx, what))
            return PROKIO_EXDEV;
        if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED)
            return PROKIO_PENDING;
    }
    return take_grant(s, w, what);
}

int prokio__sem_blocking_acquire(struct prokio__sem *s, uint32_t n, const char *what,
                                 const char *instead)
{
    /* The thread check first: a worker thread fails even when the permits
     * are free, so the mistake shows at once and not under contention. */
    int rc = 0;
    struct prokio__parker *p = prokio__blocking_parker(what, instead, &rc);
    if (p == NULL)
        return rc;
    rc = prokio__sem_try(s, n);
    if (rc == 0)
        return 0;
    if (rc == PROKIO_ECLOSED)
        return closed_error(what);
    prokio_wait_t wait = {{{0}}};
    struct prokio__waiter *w = prokio__waiter_of(&wait);
    prokio__shared_lock(&s->sh);
    rc = take_or_queue(s, w, n);
    if (rc == PROKIO_PENDING)
        prokio__waiter_enqueue_parked(&s->q, w, s, cancel, p);
    prokio__shared_unlock(&s->sh);
    if (rc != PROKIO_PENDING)
        return rc == PROKIO_ECLOSED ? closed_error(what) : rc;
    prokio__waiter_block(w, p);
    return take_grant(s, w, what);
}

void prokio__sem_release(struct prokio__sem *s, size_t n)
{
    if (n == 0)
        return;
    size_t cur = atomic_load_explicit(&s->state, memory_order_relaxed);
    while (PROKIO_LIKELY(!(cur & PROKIO__SEM_WAITERS))) {
        size_t have = cur >> PROKIO__SEM_SHIFT;
        size_t add = n < PROKIO__SEM_MAX - have ? n : PROKIO__SEM_MAX - have;
        if (st_cas(s, &cur, cur + (add << PROKIO__SEM_SHIFT)))
            return;
    }
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&s->sh);
    add_locked(s, n, &wl);
    prokio__shared_unlock(&s->sh);
    prokio__wakelist_wake(&wl);
}

bool prokio__sem_busy(struct prokio__sem *s, size_t full)
{
    /* Under the lock: a granter still inside add_locked holds it, so once
     * this returns false nobody touches the semaphore any more. */
    prokio__shared_lock(&s->sh);
    bool busy = atomic_load_explicit(&s->pending, memory_order_acquire) != 0 ||
                (full != 0 && prokio__sem_available(s) != full);
    prokio__shared_unlock(&s->sh);
    return busy;
}

void prokio__sem_close(struct prokio__sem *s)
{
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&s->sh);
    size_t cur = atomic_load_explicit(&s->state, memory_order_acquire);
    while (!(cur & PROKIO__SEM_CLOSED) && !st_cas(s, &cur, cur | PROKIO__SEM_CLOSED)) {
    }
    size_t back = 0;
    struct prokio__waiter *h;
    while ((h = s->q.head) != NULL) {
        back += (size_t)h->u64;
        h->u64 = GRANT_CLOSED;
        prokio__grant_flush(&s->sh, &s->q, h, &wl);
    }
    add_locked(s, back, &wl);
    prokio__shared_unlock(&s->sh);
    prokio__wakelist_wake(&wl);
}

/* ------------------------------------------------------------ public */

struct prokio_semaphore {
    struct prokio__sem sem;
};

int prokio_semaphore_new(prokio_semaphore_t **out, size_t permits, unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_semaphore_new: out is NULL");
    *out = NULL;
    struct prokio_semaphore *s = malloc(sizeof *s);
    if (s == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_semaphore_new: no memory for %zu bytes",
                             sizeof *s);
    int rc = prokio__sem_init(&s->sem, permits, flags, "prokio_semaphore_new");
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int prokio_semaphore_free(prokio_semaphore_t *s)
{
    if (s == NULL)
        return 0;
    int rc = prokio__shared_check(&s->sem.sh, "prokio_semaphore_free");
    if (rc < 0)
        return rc;
    if (prokio__sem_busy(&s->sem, 0))
        return prokio__error(PROKIO_EBUSY,
                             "prokio_semaphore_free: a wait is still queued on the semaphore "
                             "(close it, let the waits finish, then free it)");
    prokio__sem_fini(&s->sem);
    free(s);
    return 0;
}

static int check_n(uint32_t n, const char *what)
{
#if SIZE_MAX >> 3 < UINT32_MAX
    if ((size_t)n > PROKIO__SEM_MAX)
        return prokio__error(PROKIO_EINVAL, "%s: n = %u is more than a semaphore can hold (%zu)",
                             what, n, (size_t)PROKIO__SEM_MAX);
#else
    (void)n, (void)what; /* a 64-bit count holds any uint32_t */
#endif
    return 0;
}

int prokio_semaphore_acquire_poll(prokio_wait_t *wait, prokio_semaphore_t *s, uint32_t n,
                                  prokio_cx_t *cx)
{
    static const char what[] = "prokio_semaphore_acquire_poll";
    if (PROKIO_UNLIKELY(wait == NULL || s == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : s == NULL  ? "s"
                                          : "cx");
    int rc = prokio__shared_check(&s->sem.sh, what);
    if (rc < 0 || (rc = check_n(n, what)) < 0)
        return rc;
    return prokio__sem_acquire_poll(wait, &s->sem, n, cx, what);
}

int prokio_semaphore_try_acquire(prokio_semaphore_t *s, uint32_t n)
{
    static const char what[] = "prokio_semaphore_try_acquire";
    if (s == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: s is NULL", what);
    int rc = prokio__shared_check(&s->sem.sh, what);
    if (rc < 0 || (rc = check_n(n, what)) < 0)
        return rc;
    rc = prokio__sem_try(&s->sem, n);
    if (rc == PROKIO_EAGAIN)
        return prokio__error(rc, "%s: fewer than %u permits available, or others wait first", what,
                             n);
    if (rc == PROKIO_ECLOSED)
        return closed_error(what);
    return rc;
}

int prokio_semaphore_blocking_acquire(prokio_semaphore_t *s, uint32_t n)
{
    static const char what[] = "prokio_semaphore_blocking_acquire";
    if (s == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: s is NULL", what);
    int rc = prokio__shared_check(&s->sem.sh, what);
    if (rc < 0 || (rc = check_n(n, what)) < 0)
        return rc;
    return prokio__sem_blocking_acquire(&s->sem, n, what, "prokio_semaphore_acquire_poll");
}

void prokio_semaphore_release(prokio_semaphore_t *s, size_t n)
{
    if (s == NULL || prokio__shared_check(&s->sem.sh, "prokio_semaphore_release") < 0)
        return;
    prokio__sem_release(&s->sem, n);
}

void prokio_semaphore_close(prokio_semaphore_t *s)
{
    if (s == NULL || prokio__shared_check(&s->sem.sh, "prokio_semaphore_close") < 0)
        return;
    prokio__sem_close(&s->sem);
}

bool prokio_semaphore_is_closed(const prokio_semaphore_t *s)
{
    if (s == NULL || prokio__shared_check(&s->sem.sh, "prokio_semaphore_is_closed") < 0)
        return false;
    return (atomic_load_explicit(&((prokio_semaphore_t *)s)->sem.state, memory_order_acquire) &
            PROKIO__SEM_CLOSED) != 0;
}

size_t prokio_semaphore_available(const prokio_semaphore_t *s)
{
    if (s == NULL || prokio__shared_check(&s->sem.sh, "prokio_semaphore_available") < 0)
        return 0;
    return prokio__sem_available(&s->sem);
}
