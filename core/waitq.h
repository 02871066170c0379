/* core/waitq.h: the waiters of channels and sync primitives, and the lock
 * and owner every such object carries.
 *
 * A waiter is the runtime's view of a prokio_wait_t (future.h): it lives in
 * the waiting task's frame (or on a blocked thread's stack) and links into
 * its primitive's FIFO queue. Everything about a waiter that another thread
 * may touch (its links, its waker, its state) changes only under the
 * primitive's lock; the waiting task reads `state` without the lock to learn
 * that it was granted (release/acquire).
 *
 * Lifetime: a queued or granted waiter is in its task's armed list
 * (armed.h), with the kind's cancel function as the disarm, so a task that
 * ends while waiting leaves its queue, and passes on what it was granted,
 * before its frame can go. The waker stored in a queued waiter is a clone,
 * moved out by whoever grants it and woken after the lock is dropped (a
 * wake list), so no lock is held across a cross-thread wake.
 *
 * Granting: under the lock, the granter unlinks the waiter, moves its waker
 * to a wake list, and stores GRANTED last; the waiter, seeing GRANTED,
 * takes what it was given (kind-specific fields), leaves its task's armed
 * list and goes back to IDLE. The granter never touches a waiter after that
 * store, so the waiter's memory is free to go the moment it sees it. */
#ifndef PROKIO_CORE_WAITQ_H
#define PROKIO_CORE_WAITQ_H

#include "armed.h"
#include "cx.h"
#include "internal.h"
#include "lock.h"

enum {
    PROKIO__WAIT_IDLE = 0,
    PROKIO__WAIT_QUEUED = 1,  /* in its primitive's queue */
    PROKIO__WAIT_GRANTED = 2, /* handed what it waited for; its next poll takes it */
};

struct prokio__waiter {
    struct prokio__waiter *next, *prev; /* queue links (under the lock) */
    uintptr_t waker;                    /* a clone while queued (under the lock) */
    void *obj;                          /* the primitive waited on */
    const void *who;                    /* the task or parker that queued it (waiter only) */
    struct prokio__armed armed;         /* .disarm: the kind's cancel */
    uint64_t u64;                       /* the kind's (a position, a version) */
    uint32_t n;                         /* the kind's (permits wanted or granted) */
    _Atomic uint32_t state;
};

_Static_assert(sizeof(struct prokio__waiter) <= PROKIO_WAIT_SIZE, "PROKIO_WAIT_SIZE too small");
_Static_assert(_Alignof(struct prokio__waiter) <= _Alignof(prokio_wait_t),
               "prokio_wait_t alignment");

static inline struct prokio__waiter *prokio__waiter_of(prokio_wait_t *wait)
{
    return (struct prokio__waiter *)wait->u.opaque;
}

static inline uint32_t prokio__waiter_state(const struct prokio__waiter *w)
{
    return atomic_load_explicit(&((struct prokio__waiter *)w)->state, memory_order_acquire);
}

/* ------------------------------------------------------------------ queue */

/* FIFO, intrusive, under the owning object's lock. */
struct prokio__waitq {
    struct prokio__waiter *head, *tail;
};

static inline bool prokio__waitq_empty(const struct prokio__waitq *q)
{
    return q->head == NULL;
}

static inline void prokio__waitq_push(struct prokio__waitq *q, struct prokio__waiter *w)
{
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

static inline void prokio__waitq_remove(struct prokio__waitq *q, struct prokio__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->next = w->prev = NULL;
}

/* ------------------------------------------------------------- wake list */

/* Wakers taken out under a lock, woken after it is dropped. A granter that
 * fills it (more than 32 waiters granted at once) wakes them with the lock
 * held: see prokio__grant_flush. */
#define PROKIO__WAKELIST_CAP 32
struct prokio__wakelist {
    unsigned n;
    uintptr_t v[PROKIO__WAKELIST_CAP];
};

static inline bool prokio__wakelist_full(const struct prokio__wakelist *l)
{
    return l->n == PROKIO__WAKELIST_CAP;
}

/* Wakes (consuming) every waker in the list and empties it. Normally after
 * the object's lock is dropped (prokio__grant_flush says when not). */
void prokio__wakelist_wake(struct prokio__wakelist *l);

/* -------------------------------------------------------------- the object */

/* The lock and the owner every channel and sync primitive starts with.
 * owner is NULL for a shared object, or the worker of a PROKIO_LOCAL one,
 * whose operations then take no lock. */
struct prokio__shared {
    struct prokio__lock lock;
    struct prokio__worker *owner;
};

/* Initialises from creation flags; `what` names the creating function in
 * errors. Returns 0 or a PROKIO_E* code with prokio_last_error() set. */
int prokio__shared_init(struct prokio__shared *s, unsigned flags, const char *what);
void prokio__shared_fini(struct prokio__shared *s);

/* 0, or PROKIO_EXDEV (with the error set, naming `what`) when a local
 * object is used off its worker. */
int prokio__shared_check_slow(const struct prokio__shared *s, const char *what);
static inline int prokio__shared_check(const struct prokio__shared *s, const char *what)
{
    if (PROKIO_LIKELY(s->owner == NULL || s->owner == prokio__tls_worker))
        return 0;
    return prokio__shared_check_slow(s, what);
}

static inline void prokio__shared_lock(struct prokio__shared *s)
{
    if (s->owner == NULL)
        prokio__lock_acquire(&s->lock);
}

static inline void prokio__shared_unlock(struct prokio__shared *s)
{
    if (s->owner == NULL)
        prokio__lock_release(&s->lock);
}

/* -------------------------------------------------------------- waiting */

/* Who is waiting: a task being polled (cx), or a blocked thread (parker). */
struct prokio__parker;

/* Queues w (idle) at the back of q for the task of cx: clones the task's
 * waker and links w into the task's armed list with `cancel` as its
 * disarm. Caller holds the object's lock. */
void prokio__waiter_enqueue(struct prokio__waitq *q, struct prokio__waiter *w, void *obj,
                            void (*cancel)(struct prokio__armed *), struct prokio_cx *cx);

/* The same for a thread about to block in prokio__waiter_block. */
void prokio__waiter_enqueue_parked(struct prokio__waitq *q, struct prokio__waiter *w, void *obj,
                                   void (*cancel)(struct prokio__armed *),
                                   struct prokio__parker *p);

/* A queued waiter polled again: if another task of the same worker polls
 * it now (a sub-future handed over), its waker and armed link follow. True
 * when it may stay queued; false (with PROKIO_EXDEV set) when polled from
 * another worker. Caller holds no lock; takes it only when the task changed. */
bool prokio__waiter_repoll(struct prokio__shared *s, struct prokio__waiter *w, struct prokio_cx *cx,
                           const char *what);

/* Grants a queued waiter: unlinks it from q, moves its waker into wl, and
 * stores GRANTED. The caller set the kind's fields first. Caller holds the
 * lock. */
void prokio__waiter_grant(struct prokio__waitq *q, struct prokio__waiter *w,
                          struct prokio__wakelist *wl);

/* prokio__waiter_grant, then, when wl is full, wakes it at once, with the
 * lock held, so that one wake list serves any number of waiters. Why not
 * drop the lock to wake: the moment it is dropped, the waiters just granted
 * may take their grants and free the object (a _free, or the last end's
 * release, finds nothing pending), and the granter would take the lock of
 * freed memory (found in review). A wake never takes an object's lock
 * (it queues a task, or unparks a thread), so waking under it cannot
 * deadlock; it only lengthens the critical section of a grant to more than
 * 32 waiters at once, which is rare. Caller holds the lock. */
static inline void prokio__grant_flush(struct prokio__shared *sh, struct prokio__waitq *q,
                                       struct prokio__waiter *w, struct prokio__wakelist *wl)
{
    (void)sh;
    prokio__waiter_grant(q, w, wl);
    if (prokio__wakelist_full(wl))
        prokio__wakelist_wake(wl);
}

/* Unlinks a queued waiter that gives up, releasing its waker. Caller holds
 * the lock. */
void prokio__waiter_dequeue(struct prokio__waitq *q, struct prokio__waiter *w);

/* The waiter took what it was granted (it saw GRANTED): leaves its task's
 * armed list, idle again. Thread: the waiter's. */
static inline void prokio__waiter_finish(struct prokio__waiter *w)
{
    prokio__armed_remove(&w->armed);
    atomic_store_explicit(&w->state, PROKIO__WAIT_IDLE, memory_order_relaxed);
}

/* Sets a waiter that was never queued (or was just dequeued) idle. */
static inline void prokio__waiter_idle(struct prokio__waiter *w)
{
    prokio__armed_remove(&w->armed);
    atomic_store_explicit(&w->state, PROKIO__WAIT_IDLE, memory_order_relaxed);
}

/* Parks the calling thread until w is granted. Caller holds no lock. */
void prokio__waiter_block(struct prokio__waiter *w, struct prokio__parker *p);

/* For the blocking_ calls: the calling thread's parker, or NULL with the
 * error set: PROKIO_EDEADLK on a worker thread, PROKIO_ENOMEM. `what`
 * names the call; `instead` the awaitable to use from a task. */
struct prokio__parker *prokio__blocking_parker(const char *what, const char *instead, int *rc);

#endif
