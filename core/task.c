/* core/task.c: task lifetime, polling and JoinHandles (layout and state
 * bits in task.h).
 *
 * The JoinHandle and the worker talk through join_waker. The handle writes
 * it only while JOIN_WAKER is clear and the task is not COMPLETE; the
 * worker reads it only when its completing transition saw JOIN_WAKER set.
 * After COMPLETE the slot is read-only, and it is dropped at deallocation.
 */
#include <string.h>

#include "parker.h"
#include "task.h"
#include "waker.h"
#include "worker.h"

static inline int result_of(uint64_t s)
{
    uint64_t code = (s & TASK_CODE_MASK) >> TASK_CODE_SHIFT;
    return code ? -(int)code : 0;
}

static void dealloc(struct prokio_task *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (s & TASK_JOIN_WAKER)
        prokio__waker_drop(t->join_waker);
    prokio__pool_free(t);
}

void prokio__task_ref(struct prokio_task *t)
{
    atomic_fetch_add_explicit(&t->state, TASK_REF_ONE, memory_order_relaxed);
}

void prokio__task_unref(struct prokio_task *t)
{
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, TASK_REF_ONE, memory_order_acq_rel);
    if (TASK_REFS(prev) == 1)
        dealloc(t);
}

struct prokio_task *prokio__task_new(struct prokio__worker *w, bool local, prokio_poll_fn poll,
                                     const void *frame, size_t frame_size, prokio_drop_fn drop,
                                     bool joined)
{
    if (frame_size > SIZE_MAX / 2)
        return NULL;
    size_t size = (PROKIO__TASK_HEADER + frame_size + 15) & ~(size_t)15;
    struct prokio_task *t = local ? prokio__pool_alloc_local(&w->pool, size)
                                  : prokio__pool_alloc_remote(&w->pool, size);
    if (t == NULL)
        return NULL;
    t->next = NULL;
    t->poll = poll;
    t->drop = drop;
    t->join_waker = 0;
    t->armed = NULL;
    if (frame)
        memcpy(prokio__task_frame(t), frame, frame_size);
    else
        memset(prokio__task_frame(t), 0, frame_size);
    uint64_t s = TASK_NOTIFIED | TASK_REF_ONE;
    if (joined)
        s += TASK_JOIN_INTEREST + TASK_REF_ONE;
    /* Published to the worker by the queue push that follows. */
    atomic_store_explicit(&t->state, s, memory_order_relaxed);
    return t;
}

void prokio__task_discard(struct prokio_task *t)
{
    prokio__pool_free(t);
}

/* Ends a task: disarms what it armed, runs its drop, publishes the result
 * and wakes the joiner. `running` says whether RUNNING is set (a poll or an
 * abort in progress) or not (shutdown). */
static void finish(struct prokio_task *t, int result, bool running)
{
    prokio__armed_disarm_all(&t->armed);
    if (t->drop)
        t->drop(prokio__task_frame(t));

    uint64_t code = 0;
    if (result < 0)
        code = result < -0xffff ? (uint64_t)-PROKIO_ERANGE : (uint64_t)-result;
    uint64_t delta = TASK_COMPLETE + (code << TASK_CODE_SHIFT) - (running ? TASK_RUNNING : 0);

    /* Without a JoinHandle nobody can set JOIN_WAKER any more, so the
     * worker's reference can go in the same instruction. With one, the
     * reference must outlive the read of join_waker: the handle may be
     * released (and the task freed) the moment COMPLETE is visible. */
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    if (!(s & TASK_JOIN_INTEREST)) {
        uint64_t prev =
            atomic_fetch_add_explicit(&t->state, delta - TASK_REF_ONE, memory_order_acq_rel);
        if (TASK_REFS(prev) == 1)
            dealloc(t);
        return;
    }
    uint64_t prev = atomic_fetch_add_explicit(&t->state, delta, memory_order_acq_rel);
    if ((prev & (TASK_JOIN_INTEREST | TASK_JOIN_WAKER)) == (TASK_JOIN_INTEREST | TASK_JOIN_WAKER))
        prokio__waker_wake_by_ref(t->join_waker);
    prokio__task_unref(t);
}

static inline void live_add(struct prokio__worker *w, int64_t n)
{
    /* Written by the owner only; read by spawners on other threads. */
    __atomic_store_n(&w->live_local, w->live_local + n, __ATOMIC_RELAXED);
}

void prokio__task_run(struct prokio__worker *w, struct prokio_task *t)
{
    /* Queued means NOTIFIED set and RUNNING clear, and only the owner
     * changes those two here, so an add does the swap without a CAS loop. */
    uint64_t prev =
        atomic_fetch_add_explicit(&t->state, TASK_RUNNING - TASK_NOTIFIED, memory_order_acquire);
    if (PROKIO_UNLIKELY(prev & TASK_CANCELLED)) {
        live_add(w, -1);
        finish(t, PROKIO_ECANCELED, true);
        return;
    }
    w->cx.task = t;
    w->cx.yielded = false;
    int r = t->poll(prokio__task_frame(t), &w->cx);
    w->cx.task = NULL;
    if (r != PROKIO_PENDING) {
        live_add(w, -1);
        finish(t, r, true);
        return;
    }
    if (w->cx.yielded) {
        /* Back of the queue, NOTIFIED set so that wakes meanwhile do not
         * queue it twice. */
        uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&t->state, &s,
                                                      (s & ~TASK_RUNNING) | TASK_NOTIFIED,
                                                      memory_order_acq_rel, memory_order_relaxed))
            ;
        prokio__ready_push(&w->ready, t);
        return;
    }
    prev = atomic_fetch_and_explicit(&t->state, ~TASK_RUNNING, memory_order_acq_rel);
    if (prev & TASK_NOTIFIED) /* woken (or aborted) during the poll */
        prokio__ready_push(&w->ready, t);
}

void prokio__task_cancel_at_shutdown(struct prokio_task *t)
{
    finish(t, PROKIO_ECANCELED, false);
}

void prokio__task_wake_by_ref(struct prokio_task *t)
{
    uint64_t prev = atomic_fetch_or_explicit(&t->state, TASK_NOTIFIED, memory_order_acq_rel);
    if (prev & (TASK_NOTIFIED | TASK_RUNNING | TASK_COMPLETE))
        return; /* already queued, will be requeued after its poll, or ended */
    prokio__worker_schedule(prokio__task_worker(t), t);
}

/* ------------------------------------------------------------ JoinHandle */

/* Stores `waker` (borrowed; cloned when kept) as the one to wake when t
 * completes. Returns PROKIO_PENDING or t's result. */
static int join_register(struct prokio_task *t, uintptr_t waker)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (s & TASK_COMPLETE)
        return result_of(s);
    if (s & TASK_JOIN_WAKER) {
        if (t->join_waker == waker)
            return PROKIO_PENDING;
        /* Take the slot back before replacing it; the worker only reads it
         * under JOIN_WAKER. */
        do {
            if (s & TASK_COMPLETE)
                return result_of(s);
        } while (!atomic_compare_exchange_weak_explicit(
            &t->state, &s, s & ~TASK_JOIN_WAKER, memory_order_acq_rel, memory_order_acquire));
        prokio__waker_drop(t->join_waker);
        s &= ~TASK_JOIN_WAKER;
    }
    t->join_waker = prokio__waker_clone(waker);
    do {
        if (s & TASK_COMPLETE) {
            prokio__waker_drop(t->join_waker);
            t->join_waker = 0;
            return result_of(s);
        }
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, s | TASK_JOIN_WAKER,
                                                    memory_order_acq_rel, memory_order_acquire));
    return PROKIO_PENDING;
}

int prokio_task_join_poll(prokio_task_t *t, prokio_cx_t *cx)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (PROKIO_LIKELY(s & TASK_COMPLETE))
        return result_of(s);
    return join_register(t, (uintptr_t)cx->task);
}

int prokio_task_join(prokio_task_t *t)
{
    if (prokio__tls_worker != NULL)
        return PROKIO_EDEADLK;
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    if (s & TASK_COMPLETE)
        return result_of(s);
    struct prokio__parker *p = prokio__parker_new();
    if (p == NULL)
        return PROKIO_ENOMEM;
    int r = join_register(t, (uintptr_t)p | PROKIO__WAKER_PARKER);
    while (r == PROKIO_PENDING) {
        prokio__parker_park(p);
        s = atomic_load_explicit(&t->state, memory_order_acquire);
        if (s & TASK_COMPLETE)
            r = result_of(s);
    }
    prokio__parker_unref(p);
    return r;
}

int prokio_task_result(const prokio_task_t *t)
{
    uint64_t s = atomic_load_explicit(&((prokio_task_t *)t)->state, memory_order_acquire);
    return (s & TASK_COMPLETE) ? result_of(s) : PROKIO_PENDING;
}

void *prokio_task_frame(prokio_task_t *t)
{
    return prokio__task_frame(t);
}

void prokio_task_abort(prokio_task_t *t)
{
    uint64_t prev =
        atomic_fetch_or_explicit(&t->state, TASK_CANCELLED | TASK_NOTIFIED, memory_order_acq_rel);
    if (prev & (TASK_NOTIFIED | TASK_RUNNING | TASK_COMPLETE))
        return; /* the worker sees CANCELLED when it next looks */
    prokio__worker_schedule(prokio__task_worker(t), t);
}

void prokio_task_release(prokio_task_t *t)
{
    uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire), n;
    /* join_waker is stable while JOIN_WAKER is set; read it before the
     * reference goes, since the task may be freed right after. */
    uintptr_t waker = t->join_waker;
    bool drop_waker;
    do {
        n = (s & ~TASK_JOIN_INTEREST) - TASK_REF_ONE;
        drop_waker = !(s & TASK_COMPLETE) && (s & TASK_JOIN_WAKER);
        if (drop_waker)
            n &= ~TASK_JOIN_WAKER;
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                    memory_order_acquire));
    if (drop_waker)
        prokio__waker_drop(waker);
    if (TASK_REFS(s) == 1)
        dealloc(t);
}
