/* core/semaphore.h: the batch semaphore under Semaphore, Mutex and RwLock
 * (Tokio's batch_semaphore).
 *
 * One state word: the available permits shifted left by 2, CLOSED (bit 0),
 * WAITERS (bit 1). The fast paths are one compare-and-swap on it (a plain
 * load and store for a PROKIO_LOCAL object): acquire when WAITERS is clear
 * and enough permits are there; release when WAITERS is clear. Everything
 * else takes the lock.
 *
 * Invariant, under the lock: the queue is not empty <=> WAITERS is set, and
 * then the count is 0: a release hands its permits to the head waiter
 * (which may take them in several instalments: u64 counts what it
 * collected, n what it asked for) and to the ones after it in order, and
 * only what nobody waits for goes back to the count. So a waiter at the
 * head that needs many permits holds back everyone behind it (fairness),
 * and nothing can overtake it through the fast path. */
#ifndef PROKIO_CORE_SEMAPHORE_H
#define PROKIO_CORE_SEMAPHORE_H

#include "waitq.h"

#define PROKIO__SEM_CLOSED  ((size_t)1)
#define PROKIO__SEM_WAITERS ((size_t)2)
#define PROKIO__SEM_SHIFT   2
#define PROKIO__SEM_MAX     (SIZE_MAX >> 3)

struct prokio__sem {
    struct prokio__shared sh; /* first, as in every object */
    _Atomic size_t state;
    struct prokio__waitq q; /* under sh's lock */
    _Atomic size_t pending; /* waits queued or granted and not yet taken */
};

int prokio__sem_init(struct prokio__sem *s, size_t permits, unsigned flags, const char *what);
void prokio__sem_fini(struct prokio__sem *s);

/* 0 (n permits taken), PROKIO_EAGAIN or PROKIO_ECLOSED; no message set.
 * The caller did the shared check. */
int prokio__sem_try(struct prokio__sem *s, uint32_t n);

/* The awaitable and the blocking call; `what` names the public function
 * in messages, `instead` (blocking) the awaitable to use on a worker. */
int prokio__sem_acquire_poll(prokio_wait_t *wait, struct prokio__sem *s, uint32_t n,
                             prokio_cx_t *cx, const char *what);
int prokio__sem_blocking_acquire(struct prokio__sem *s, uint32_t n, const char *what,
                                 const char *instead);

/* Adds n permits (saturating), serving the waiters first. */
void prokio__sem_release(struct prokio__sem *s, size_t n);

void prokio__sem_close(struct prokio__sem *s);

static inline size_t prokio__sem_available(const struct prokio__sem *s)
{
    return atomic_load_explicit(&((struct prokio__sem *)s)->state, memory_order_acquire) >>
           PROKIO__SEM_SHIFT;
}

/* For _free: true while a wait is queued, or granted and not yet polled,
 * or (full != 0) while fewer than `full` permits are available (a lock
 * held). Takes the lock, so that a granter has finished with it. */
bool prokio__sem_busy(struct prokio__sem *s, size_t full);

#endif
