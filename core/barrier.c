/* core/barrier.c: Barrier, as Tokio's (prokio/sync.h).
 *
 * Under the lock: how many arrived in the current generation, and the FIFO
 * of those waiting, each with the generation it arrived in (u64). The last
 * to arrive ends the generation (the next starts at once, so the barrier is
 * reusable) and wakes the waits of the ended one (and any earlier one)
 * from the head; waits of the next generation queue behind them. */
#include <stdlib.h>

#include "coop.h"
#include "error_internal.h"
#include "sync.h"

struct prokio_barrier {
    struct prokio__shared sh;
    struct prokio__waitq q;
    size_t parties, arrived;
    uint64_t gen;
    _Atomic size_t pending;
};

int prokio_barrier_new(prokio_barrier_t **out, size_t parties, unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_barrier_new: out is NULL");
    *out = NULL;
    struct prokio_barrier *b = calloc(1, sizeof *b);
    if (b == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_barrier_new: no memory for %zu bytes",
                             sizeof *b);
    int rc = prokio__shared_init(&b->sh, flags, "prokio_barrier_new");
    if (rc < 0) {
        free(b);
        return rc;
    }
    b->parties = parties ? parties : 1;
    *out = b;
    return 0;
}

int prokio_barrier_free(prokio_barrier_t *b)
{
    if (b == NULL)
        return 0;
    int rc = prokio__shared_check(&b->sh, "prokio_barrier_free");
    if (rc < 0)
        return rc;
    if (!prokio__pending_none(&b->sh, &b->pending))
        return prokio__error(PROKIO_EBUSY, "prokio_barrier_free: a wait is still queued on it "
                                           "(cancel or finish the waits first)");
    prokio__shared_fini(&b->sh);
    free(b);
    return 0;
}

static void cancel(struct prokio__armed *node)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(node, struct prokio__waiter, armed);
    struct prokio_barrier *b = w->obj;
    prokio__shared_lock(&b->sh);
    uint32_t st = atomic_load_explicit(&w->state, memory_order_relaxed);
    /* The arrival stays counted (sync.h says why); a granted wait had
     * nothing to pass on. */
    if (st == PROKIO__WAIT_QUEUED)
        prokio__waiter_dequeue(&b->q, w);
    if (st != PROKIO__WAIT_IDLE)
        prokio__pending_add(&b->sh, &b->pending, (size_t)-1);
    prokio__waiter_idle(w);
    prokio__shared_unlock(&b->sh);
}

int prokio_barrier_wait_poll(prokio_wait_t *wait, prokio_barrier_t *b, prokio_cx_t *cx)
{
    static const char what[] = "prokio_barrier_wait_poll";
    if (PROKIO_UNLIKELY(wait == NULL || b == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : b == NULL  ? "b"
                                          : "cx");
    int rc = prokio__shared_check(&b->sh, what);
    if (rc < 0)
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    uint32_t st = prokio__waiter_state(w);
    if (st == PROKIO__WAIT_IDLE) {
        if (!prokio__coop_proceed(cx))
            return PROKIO_PENDING;
        prokio__shared_lock(&b->sh);
        if (++b->arrived < b->parties) {
            w->u64 = b->gen;
            prokio__pending_add(&b->sh, &b->pending, 1);
            prokio__waiter_enqueue(&b->q, w, b, cancel, cx);
            prokio__shared_unlock(&b->sh);
            prokio__coop_restore(cx);
            return PROKIO_PENDING;
        }
        /* The leader. */
        struct prokio__wakelist wl = {0};
        uint64_t g = b->gen++;
        b->arrived = 0;
        struct prokio__waiter *h;
        /* <=, not ==: while a leader before this one dropped the lock to
         * wake a full wake list, waits of its generation may still be at
         * the head, and this generation's queue behind them. */
        while ((h = b->q.head) != NULL && h->u64 <= g)
            prokio__grant_flush(&b->sh, &b->q, h, &wl);
        prokio__shared_unlock(&b->sh);
        prokio__wakelist_wake(&wl);
        return 1;
    }
    if (w->obj != b)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the wait is pending on another object; finish it or "
                             "prokio_wait_cancel it first",
                             what);
    if (st == PROKIO__WAIT_QUEUED) {
        if (!prokio__waiter_repoll(&b->sh, w, cx, what))
            return PROKIO_EXDEV;
        if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED)
            return PROKIO_PENDING;
    }
    prokio__waiter_finish(w);
    prokio__pending_add(&b->sh, &b->pending, (size_t)-1);
    return 0;
}
