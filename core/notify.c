/* core/notify.c: Notify, as Tokio's (prokio/sync.h).
 *
 * Under the lock: a FIFO of registered waits, at most one stored permit,
 * and a generation counter for notify_waiters. A wait records the
 * generation it registered in (u64); notify_waiters ends the generation and
 * wakes the waits of the generations before, from the head, so a wait
 * registered after it is not woken by it. A granted waiter's n says how it was notified: by
 * notify_one (passed on if it is cancelled before it sees it) or by notify_waiters (not passed on).
 */
#include <stdlib.h>

#include "coop.h"
#include "error_internal.h"
#include "sync.h"
#include "task.h"

enum { BY_ONE = 1, BY_ALL = 2 };

struct prokio_notify {
    struct prokio__shared sh;
    struct prokio__waitq q;
    bool permit;
    uint64_t gen;
    _Atomic size_t pending;
};

int prokio_notify_new(prokio_notify_t **out, unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_notify_new: out is NULL");
    *out = NULL;
    struct prokio_notify *n = calloc(1, sizeof *n);
    if (n == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_notify_new: no memory for %zu bytes",
                             sizeof *n);
    int rc = prokio__shared_init(&n->sh, flags, "prokio_notify_new");
    if (rc < 0) {
        free(n);
        return rc;
    }
    *out = n;
    return 0;
}

int prokio_notify_free(prokio_notify_t *n)
{
    if (n == NULL)
        return 0;
    int rc = prokio__shared_check(&n->sh, "prokio_notify_free");
    if (rc < 0)
        return rc;
    if (!prokio__pending_none(&n->sh, &n->pending))
        return prokio__error(PROKIO_EBUSY, "prokio_notify_free: a wait is still registered on it "
                                           "(cancel or finish the waits first)");
    prokio__shared_fini(&n->sh);
    free(n);
    return 0;
}

/* notify_one under the lock. */
static void one_locked(struct prokio_notify *n, struct prokio__wakelist *wl)
{
    struct prokio__waiter *h = n->q.head;
    if (h == NULL) {
        n->permit = true;
        return;
    }
    h->n = BY_ONE;
    prokio__waiter_grant(&n->q, h, wl);
}

static void cancel(struct prokio__armed *node)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(node, struct prokio__waiter, armed);
    struct prokio_notify *n = w->obj;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&n->sh);
    uint32_t st = atomic_load_explicit(&w->state, memory_order_relaxed);
    if (st == PROKIO__WAIT_QUEUED)
        prokio__waiter_dequeue(&n->q, w);
    else if (st == PROKIO__WAIT_GRANTED && w->n == BY_ONE)
        one_locked(n, &wl); /* a notify_one nobody saw: the next one gets it */
    if (st != PROKIO__WAIT_IDLE)
        prokio__pending_add(&n->sh, &n->pending, (size_t)-1);
    prokio__waiter_idle(w);
    prokio__shared_unlock(&n->sh);
    prokio__wakelist_wake(&wl);
}

/* Under the lock: consumes the permit (w held as notified by it), or
 * queues w. */
static void register_locked(struct prokio_notify *n, struct prokio__waiter *w, prokio_cx_t *cx)
{
    prokio__pending_add(&n->sh, &n->pending, 1);
    if (n->permit) {
        n->permit = false;
        prokio__waiter_hold(w, n, cancel, BY_ONE, cx);
        return;
    }
    w->u64 = n->gen;
    prokio__waiter_enqueue(&n->q, w, n, cancel, cx);
}

static int check(prokio_wait_t *wait, prokio_notify_t *n, prokio_cx_t *cx, const char *what)
{
    if (PROKIO_UNLIKELY(wait == NULL || n == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : n == NULL  ? "n"
                                          : "cx");
    int rc = prokio__shared_check(&n->sh, what);
    if (rc < 0)
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (prokio__waiter_state(w) != PROKIO__WAIT_IDLE && w->obj != n)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the wait is pending on another object; finish it or "
                             "prokio_wait_cancel it first",
                             what);
    return 0;
}

int prokio_notify_enable(prokio_wait_t *wait, prokio_notify_t *n, prokio_cx_t *cx)
{
    int rc = check(wait, n, cx, "prokio_notify_enable");
    if (rc < 0)
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (prokio__waiter_state(w) != PROKIO__WAIT_IDLE)
        return 0;
    prokio__shared_lock(&n->sh);
    register_locked(n, w, cx);
    prokio__shared_unlock(&n->sh);
    return 0;
}

int prokio_notify_notified_poll(prokio_wait_t *wait, prokio_notify_t *n, prokio_cx_t *cx)
{
    static const char what[] = "prokio_notify_notified_poll";
    int rc = check(wait, n, cx, what);
    if (rc < 0)
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    uint32_t st = prokio__waiter_state(w);
    if (st == PROKIO__WAIT_IDLE) {
        if (!prokio__coop_proceed(cx))
            return PROKIO_PENDING;
        prokio__shared_lock(&n->sh);
        if (n->permit) {
            n->permit = false;
            prokio__shared_unlock(&n->sh);
            return 0;
        }
        register_locked(n, w, cx);
        prokio__shared_unlock(&n->sh);
        prokio__coop_restore(cx);
        return PROKIO_PENDING;
    }
    if (st == PROKIO__WAIT_QUEUED) {
        if (!prokio__waiter_repoll(&n->sh, w, cx, what))
            return PROKIO_EXDEV;
        if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED)
            return PROKIO_PENDING;
    }
    prokio__waiter_finish(w);
    prokio__pending_add(&n->sh, &n->pending, (size_t)-1);
    return 0;
}

void prokio_notify_notify_one(prokio_notify_t *n)
{
    if (n == NULL || prokio__shared_check(&n->sh, "prokio_notify_notify_one") < 0)
        return;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&n->sh);
    one_locked(n, &wl);
    prokio__shared_unlock(&n->sh);
    prokio__wakelist_wake(&wl);
}

void prokio_notify_notify_waiters(prokio_notify_t *n)
{
    if (n == NULL || prokio__shared_check(&n->sh, "prokio_notify_notify_waiters") < 0)
        return;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&n->sh);
    uint64_t g = n->gen++;
    struct prokio__waiter *h;
    while ((h = n->q.head) != NULL && h->u64 <= g) {
        h->n = BY_ALL;
        prokio__grant_flush(&n->sh, &n->q, h, &wl);
    }
    prokio__shared_unlock(&n->sh);
    prokio__wakelist_wake(&wl);
}
