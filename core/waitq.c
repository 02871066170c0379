/* core/waitq.c: waiters, wake lists and the object header (waitq.h). */
#include <string.h>

#include "error_internal.h"
#include "parker.h"
#include "task.h"
#include "waitq.h"
#include "waker.h"
#include "worker.h"

void prokio__wakelist_wake(struct prokio__wakelist *l)
{
    for (unsigned i = 0; i < l->n; i++)
        prokio__waker_wake(l->v[i]);
    l->n = 0;
}

int prokio__shared_init(struct prokio__shared *s, unsigned flags, const char *what)
{
    if (flags & ~PROKIO_LOCAL)
        return prokio__error(PROKIO_EINVAL, "%s: unknown flags %#x (the only flag is PROKIO_LOCAL)",
                             what, flags & ~PROKIO_LOCAL);
    s->owner = NULL;
    if (flags & PROKIO_LOCAL) {
        if (prokio__tls_worker == NULL)
            return prokio__error(PROKIO_EINVAL,
                                 "%s: PROKIO_LOCAL binds the object to the calling worker, and "
                                 "this thread is not a worker (create it from a task, or drop "
                                 "the flag)",
                                 what);
        s->owner = prokio__tls_worker;
        return 0;
    }
    atomic_init(&s->lock.state, 0);
    return 0;
}

void prokio__shared_fini(struct prokio__shared *s)
{
    (void)s; /* nothing to destroy: kept so that objects say where they end */
}

int prokio__shared_check_slow(const struct prokio__shared *s, const char *what)
{
    struct prokio__worker *me = prokio__tls_worker;
    if (me == NULL)
        return prokio__error(PROKIO_EXDEV,
                             "%s: the object was created with PROKIO_LOCAL on worker %u, and "
                             "this is not a worker thread",
                             what, s->owner->index);
    return prokio__error(PROKIO_EXDEV,
                         "%s: the object was created with PROKIO_LOCAL on worker %u, and this "
                         "is worker %u",
                         what, s->owner->index, me->index);
}

static void link_waiter(struct prokio__waitq *q, struct prokio__waiter *w, void *obj,
                        void (*cancel)(struct prokio__armed *), uintptr_t waker, const void *who)
{
    w->waker = prokio__waker_clone(waker);
    w->obj = obj;
    w->who = who;
    w->armed.disarm = cancel;
    atomic_store_explicit(&w->state, PROKIO__WAIT_QUEUED, memory_order_relaxed);
    prokio__waitq_push(q, w);
}

void prokio__waiter_enqueue(struct prokio__waitq *q, struct prokio__waiter *w, void *obj,
                            void (*cancel)(struct prokio__armed *), struct prokio_cx *cx)
{
    link_waiter(q, w, obj, cancel, prokio__cx_waker(cx), cx->task);
    prokio__armed_push(&cx->task->armed, &w->armed);
}

void prokio__waiter_enqueue_parked(struct prokio__waitq *q, struct prokio__waiter *w, void *obj,
                                   void (*cancel)(struct prokio__armed *), struct prokio__parker *p)
{
    w->armed.next = NULL;
    w->armed.pprev = NULL;
    link_waiter(q, w, obj, cancel, (uintptr_t)p | PROKIO__WAKER_PARKER, p);
}

bool prokio__waiter_repoll(struct prokio__shared *s, struct prokio__waiter *w, struct prokio_cx *cx,
                           const char *what)
{
    if (PROKIO_LIKELY(w->who == cx->task))
        return true;
    struct prokio_task *from = (struct prokio_task *)w->who;
    if (prokio__task_worker(from) != cx->worker) {
        prokio__error(PROKIO_EXDEV,
                      "%s: the wait is pending for a task of worker %u and was polled on worker "
                      "%u (a wait never moves between workers)",
                      what, prokio__task_worker(from)->index, cx->worker->index);
        return false;
    }
    uintptr_t old = 0;
    prokio__shared_lock(s);
    if (atomic_load_explicit(&w->state, memory_order_relaxed) == PROKIO__WAIT_QUEUED) {
        old = w->waker;
        w->waker = prokio__waker_clone(prokio__cx_waker(cx));
    }
    prokio__shared_unlock(s);
    if (old)
        prokio__waker_release(old);
    w->who = cx->task;
    prokio__armed_remove(&w->armed);
    prokio__armed_push(&cx->task->armed, &w->armed);
    return true;
}

void prokio__waiter_grant(struct prokio__waitq *q, struct prokio__waiter *w,
                          struct prokio__wakelist *wl)
{
    prokio__waitq_remove(q, w);
    wl->v[wl->n++] = w->waker;
    w->waker = 0;
    /* Last: the waiter may reuse or free its memory once it sees this. */
    atomic_store_explicit(&w->state, PROKIO__WAIT_GRANTED, memory_order_release);
}

void prokio__waiter_dequeue(struct prokio__waitq *q, struct prokio__waiter *w)
{
    prokio__waitq_remove(q, w);
    uintptr_t waker = w->waker;
    w->waker = 0;
    /* The waiter's own task (or parker): never its last reference, since
     * the waiter's task (or thread) is the one giving up. */
    prokio__waker_release(waker);
    atomic_store_explicit(&w->state, PROKIO__WAIT_IDLE, memory_order_relaxed);
}

void prokio__waiter_block(struct prokio__waiter *w, struct prokio__parker *p)
{
    while (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED)
        prokio__parker_park(p);
}

struct prokio__parker *prokio__blocking_parker(const char *what, const char *instead, int *rc)
{
    if (prokio__tls_worker != NULL) {
        *rc = prokio__error(PROKIO_EDEADLK,
                            "%s: called from a worker thread, whose tasks it would block; "
                            "await %s instead",
                            what, instead);
        return NULL;
    }
    if ((*rc = prokio__host_can_block(what)) < 0)
        return NULL;
    struct prokio__parker *p = prokio__parker_current();
    if (p == NULL)
        *rc = prokio__error(PROKIO_ENOMEM, "%s: no memory for this thread's parker", what);
    return p;
}

/* ------------------------------------------------------------ public */

void prokio_wait_cancel(prokio_wait_t *wait)
{
    if (wait == NULL)
        return;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (prokio__waiter_state(w) == PROKIO__WAIT_IDLE)
        return;
    prokio__armed_remove(&w->armed);
    w->armed.disarm(&w->armed);
}

bool prokio_wait_is_pending(const prokio_wait_t *wait)
{
    return wait &&
           prokio__waiter_state((const struct prokio__waiter *)wait->u.opaque) != PROKIO__WAIT_IDLE;
}
