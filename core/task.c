/* core/task.c: task lifetime, polling and JoinHandles (layout and state
 * bits in task.h).
 *
 * The JoinHandle and the worker meet in the task's waker slot
 * (waker_slot.h): the joiner registers and then re-checks COMPLETE; the
 * worker sets COMPLETE and then wakes the slot. The result is written
 * before COMPLETE is published and read only after it is seen. */
#include <string.h>

#include "coop.h"
#include "debug.h"
#include "error_internal.h"
#include "parker.h"
#include "task.h"
#include "waker.h"
#include "worker.h"

static void dealloc(struct prokio_task *t)
{
    PROKIO__ASSERT(t->armed == NULL, "task %p freed with leaf futures armed", (void *)t);
    PROKIO__ASSERT(TASK_PINS(atomic_load_explicit(&t->state, memory_order_relaxed)) == 0,
                   "task %p freed with native operations in flight", (void *)t);
    prokio__waker_slot_clear(&t->join);
    prokio__pool_free(t);
}

void prokio__task_ref(struct prokio_task *t)
{
    uint64_t prev = atomic_fetch_add_explicit(&t->state, TASK_REF_ONE, memory_order_relaxed);
    PROKIO__ASSERT(TASK_REFS(prev) > 0, "task %p: a waker or handle used after its last release",
                   (void *)t);
    (void)prev;
}

void prokio__task_unref(struct prokio_task *t)
{
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, TASK_REF_ONE, memory_order_acq_rel);
    PROKIO__ASSERT(TASK_REFS(prev) > 0, "task %p: reference count underflow (released twice?)",
                   (void *)t);
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
    t->u.poll = poll;
    t->drop = drop;
    atomic_init(&t->join.waker, 0);
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

/* The end of a task once nothing points into its frame: runs its drop,
 * publishes the result and wakes the joiner. `running` says whether
 * RUNNING is set (a poll, an abort or a deferred end in progress) or not
 * (shutdown, a failed worker); `ending` whether it was ENDING. */
static void finish_final(struct prokio_task *t, int result, bool running, bool ending)
{
    if (t->drop)
        t->drop(prokio__task_frame(t));
    t->u.result = result; /* poll is never called again */

    uint64_t delta = TASK_COMPLETE - (running ? TASK_RUNNING : 0) - (ending ? TASK_ENDING : 0);
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    PROKIO__ASSERT(!(s & TASK_COMPLETE) && !!(s & TASK_RUNNING) == running &&
                       !!(s & TASK_ENDING) == ending && TASK_PINS(s) == 0,
                   "task %p ends from state %#llx (running: %d, ending: %d)", (void *)t,
                   (unsigned long long)s, running, ending);
    /* Without a JoinHandle nobody can wait for the task any more, so the
     * worker's reference can go in the same instruction. With one, the
     * reference must outlive the wake: the handle may be released (and the
     * task freed) the moment COMPLETE is visible. */
    if (!(s & TASK_JOIN_INTEREST)) {
        uint64_t prev =
            atomic_fetch_add_explicit(&t->state, delta - TASK_REF_ONE, memory_order_acq_rel);
        if (TASK_REFS(prev) == 1)
            dealloc(t);
        return;
    }
    /* Sequentially consistent: the completer's half of the slot handshake. */
    uint64_t prev = atomic_fetch_add_explicit(&t->state, delta, memory_order_seq_cst);
    if (prev & TASK_JOIN_INTEREST)
        prokio__waker_slot_wake(&t->join);
    prokio__task_unref(t);
}

/* Ends a task: disarms what it armed (which cancels its I/O operations),
 * then ends it now, or, while operations still point into its frame, makes
 * it ENDING: the rest waits for the last unpin. */
static void finish(struct prokio_task *t, int result, bool running)
{
    prokio__armed_disarm_all(&t->armed);
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
    if (PROKIO_LIKELY(TASK_PINS(s) == 0)) {
        finish_final(t, result, running, false);
        return;
    }
    /* Pins change on this thread only, so they cannot drop to zero
     * meanwhile; other threads may still set NOTIFIED or CANCELLED. */
    t->u.result = result;
    uint64_t n;
    do {
        PROKIO__ASSERT(!(s & (TASK_COMPLETE | TASK_ENDING)) && !!(s & TASK_RUNNING) == running,
                       "task %p ends from state %#llx (running: %d)", (void *)t,
                       (unsigned long long)s, running);
        n = (s | TASK_ENDING) & ~(TASK_RUNNING | TASK_NOTIFIED);
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                    memory_order_relaxed));
    struct prokio__worker *w = prokio__task_worker(t);
    PROKIO__OWNER_ADD(w->ending, 1);
}

void prokio__task_end_deferred(struct prokio_task *t)
{
    struct prokio__worker *w = prokio__task_worker(t);
    PROKIO__OWNER_ADD(w->ending, -1);
    finish_final(t, t->u.result, false, true);
}

void prokio__task_pin(struct prokio_task *t)
{
    atomic_fetch_add_explicit(&t->state, TASK_PIN_ONE, memory_order_relaxed);
}

void prokio__task_unpin(struct prokio_task *t)
{
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, TASK_PIN_ONE, memory_order_acq_rel);
    PROKIO__ASSERT(TASK_PINS(prev) > 0, "task %p unpinned more often than pinned", (void *)t);
    if (TASK_PINS(prev) != 1 || !(prev & TASK_ENDING))
        return;
    /* Queued directly, even while the worker shuts down (its schedule
     * refuses then): its run finishes the end (prokio__task_run). */
    prev = atomic_fetch_or_explicit(&t->state, TASK_NOTIFIED, memory_order_acq_rel);
    if (!(prev & (TASK_NOTIFIED | TASK_RUNNING)))
        prokio__worker_ready_local(prokio__task_worker(t), t);
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
    PROKIO__ASSERT((prev & (TASK_NOTIFIED | TASK_RUNNING | TASK_COMPLETE)) == TASK_NOTIFIED &&
                       TASK_REFS(prev) > 0,
                   "task %p run from state %#llx: queued twice, or freed while queued", (void *)t,
                   (unsigned long long)prev);
    if (PROKIO_UNLIKELY(prev & (TASK_CANCELLED | TASK_ENDING))) {
        if (prev & TASK_ENDING) {
            if (TASK_PINS(prev) == 0) {
                PROKIO__OWNER_ADD(w->ending, -1);
                finish_final(t, t->u.result, true, true);
                return;
            }
            /* Woken while still pinned: nothing to do until the last unpin. */
            prev = atomic_fetch_and_explicit(&t->state, ~TASK_RUNNING, memory_order_acq_rel);
            if (prev & TASK_NOTIFIED)
                prokio__ready_push(&w->ready, t);
            return;
        }
        live_add(w, -1);
        finish(t, PROKIO_ECANCELED, true);
        return;
    }
    w->cx.task = t;
    w->cx.yielded = false;
    w->cx.budget = PROKIO__COOP_BUDGET;
    int r = t->u.poll(prokio__task_frame(t), &w->cx);
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

void prokio__task_end(struct prokio_task *t, int result)
{
    /* Out of the live count as at a poll's end (prokio_runtime_stats_read
     * reads zero tasks after a shutdown). */
    live_add(prokio__task_worker(t), -1);
    finish(t, result, false);
}

void prokio__task_wake_by_ref(struct prokio_task *t)
{
    uint64_t prev = atomic_fetch_or_explicit(&t->state, TASK_NOTIFIED, memory_order_acq_rel);
    PROKIO__ASSERT(TASK_REFS(prev) > 0, "task %p woken after its last reference was released",
                   (void *)t);
    if (prev & (TASK_NOTIFIED | TASK_RUNNING | TASK_COMPLETE))
        return; /* already queued, will be requeued after its poll, or ended */
    prokio__worker_schedule(prokio__task_worker(t), t);
}

void prokio__task_wake(struct prokio_task *t)
{
    /* Setting NOTIFIED and giving up the reference in one step saves an
     * atomic instruction on every consuming wake. A task this wake must
     * queue is not COMPLETE, so the worker's reference keeps it allocated
     * for the schedule below, and nobody else queues it (NOTIFIED is ours). */
    uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed), n;
    do {
        PROKIO__ASSERT(TASK_REFS(s) > 0, "task %p woken after its last reference was released",
                       (void *)t);
        n = (s | TASK_NOTIFIED) - TASK_REF_ONE;
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, n, memory_order_acq_rel,
                                                    memory_order_relaxed));
    if (!(s & (TASK_NOTIFIED | TASK_RUNNING | TASK_COMPLETE)))
        prokio__worker_schedule(prokio__task_worker(t), t);
    else if (TASK_REFS(s) == 1)
        dealloc(t);
}

/* ------------------------------------------------------------ JoinHandle */

static inline bool complete(const struct prokio_task *t, memory_order order)
{
    return (atomic_load_explicit(&((struct prokio_task *)t)->state, order) & TASK_COMPLETE) != 0;
}

/* Makes `waker` the one woken when t completes. Returns PROKIO_PENDING, t's
 * result if it completed meanwhile, or PROKIO_EBUSY. */
static int join_register(struct prokio_task *t, uintptr_t waker, const char *who)
{
    if (prokio__waker_slot_register(&t->join, waker) < 0)
        return prokio__error(PROKIO_EBUSY,
                             "%s: a thread is already blocked joining this task (one blocked "
                             "joiner per handle)",
                             who);
    /* The waiter's half of the handshake: the worker may have completed
     * the task before it could see our waker. */
    if (complete(t, memory_order_seq_cst)) {
        prokio__waker_slot_unregister(&t->join, waker);
        return t->u.result;
    }
    return PROKIO_PENDING;
}

int prokio_task_join_poll(prokio_task_t *t, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(t == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_task_join_poll: %s is NULL", t ? "cx" : "task");
    if (PROKIO_LIKELY(complete(t, memory_order_acquire)))
        return t->u.result;
    return join_register(t, (uintptr_t)cx->task, "prokio_task_join_poll");
}

int prokio_task_blocking_join(prokio_task_t *t)
{
    if (t == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_task_blocking_join: task is NULL");
    if (prokio__tls_worker != NULL)
        return prokio__error(PROKIO_EDEADLK,
                             "prokio_task_blocking_join: called from a worker thread, whose "
                             "tasks it would block; await the task with prokio_task_join_poll");
    if (complete(t, memory_order_acquire))
        return t->u.result;
    int blockable = prokio__host_can_block("prokio_task_blocking_join");
    if (blockable < 0)
        return blockable;
    struct prokio__parker *p = prokio__parker_current();
    if (p == NULL)
        return prokio__error(PROKIO_ENOMEM,
                             "prokio_task_blocking_join: no memory for this thread's parker");
    uintptr_t me = (uintptr_t)p | PROKIO__WAKER_PARKER;
    int r = join_register(t, me, "prokio_task_blocking_join");
    if (r != PROKIO_PENDING)
        return r;
    while (!complete(t, memory_order_acquire))
        prokio__parker_park(p);
    prokio__waker_slot_unregister(&t->join, me);
    return t->u.result;
}

int prokio_task_result(const prokio_task_t *t)
{
    if (t == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_task_result: task is NULL");
    return complete(t, memory_order_acquire) ? t->u.result : PROKIO_PENDING;
}

void *prokio_task_frame(prokio_task_t *t)
{
    return t ? prokio__task_frame(t) : NULL;
}

void prokio_task_abort(prokio_task_t *t)
{
    if (t == NULL)
        return;
    uint64_t prev =
        atomic_fetch_or_explicit(&t->state, TASK_CANCELLED | TASK_NOTIFIED, memory_order_acq_rel);
    PROKIO__ASSERT(TASK_REFS(prev) > 0, "task %p aborted after its handle was released", (void *)t);
    if (prev & (TASK_NOTIFIED | TASK_RUNNING | TASK_COMPLETE))
        return; /* the worker sees CANCELLED when it next looks */
    prokio__worker_schedule(prokio__task_worker(t), t);
}

void prokio_task_release(prokio_task_t *t)
{
    if (t == NULL)
        return;
    /* A waiter registered through this handle has no way to learn the
     * result any more: let it go first. */
    prokio__waker_slot_clear(&t->join);
    uint64_t prev = atomic_fetch_sub_explicit(&t->state, TASK_JOIN_INTEREST + TASK_REF_ONE,
                                              memory_order_acq_rel);
    PROKIO__ASSERT((prev & TASK_JOIN_INTEREST) && TASK_REFS(prev) > 0,
                   "task %p: JoinHandle released twice (state %#llx)", (void *)t,
                   (unsigned long long)prev);
    if (TASK_REFS(prev) == 1)
        dealloc(t);
}
