/* core/sync.h: what the sync primitives (semaphore.c, notify.c,
 * barrier.c, once.c) share besides waitq.h. */
#ifndef PROKIO_CORE_SYNC_H
#define PROKIO_CORE_SYNC_H

#include "task.h"
#include "waitq.h"

/* Adds d (may be (size_t)-1) to a count of waits that still point at the
 * object (queued, or granted and not yet taken), which _free checks under
 * the lock. Not under the lock itself, since a waiter taking its grant
 * holds none; a plain load and store for a PROKIO_LOCAL object. */
static inline void prokio__pending_add(const struct prokio__shared *sh, _Atomic size_t *pending,
                                       size_t d)
{
    if (sh->owner != NULL)
        atomic_store_explicit(pending, atomic_load_explicit(pending, memory_order_relaxed) + d,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(pending, d, memory_order_acq_rel);
}

/* True when no wait points at the object any more, read under its lock:
 * a thread still handing out a grant is done with the object once this
 * says so, and _free may go on. */
static inline bool prokio__pending_none(struct prokio__shared *sh, _Atomic size_t *pending)
{
    prokio__shared_lock(sh);
    bool none = atomic_load_explicit(pending, memory_order_acquire) == 0;
    prokio__shared_unlock(sh);
    return none;
}

/* Makes an idle waiter GRANTED without queueing it (it got what it asked
 * for at once but keeps holding it: a consumed Notify permit, the right to
 * initialise a OnceCell), armed in the task of cx so that the task's end
 * passes it on through `cancel`. Caller holds the lock. */
static inline void prokio__waiter_hold(struct prokio__waiter *w, void *obj,
                                       void (*cancel)(struct prokio__armed *), uint32_t n,
                                       struct prokio_cx *cx)
{
    w->next = w->prev = NULL;
    w->waker = 0;
    w->obj = obj;
    w->who = cx->task;
    w->n = n;
    w->armed.disarm = cancel;
    prokio__armed_push(&cx->task->armed, &w->armed);
    atomic_store_explicit(&w->state, PROKIO__WAIT_GRANTED, memory_order_relaxed);
}

#endif
