/* core/watch.c: the watch channel (prokio/channel.h).
 *
 * One allocation: the header and the value. Two locks for a shared channel:
 * a rwlock around the value (borrows read it in place; a send writes it)
 * and the object's mutex around the rest (counts, the waiters). The order
 * is rwlock, then mutex: a send takes both, a borrow only the rwlock, a
 * change wait only the mutex, so a receiver that holds a borrow and asks
 * whether something changed cannot deadlock against a send. PROKIO_LOCAL
 * takes neither and counts borrows instead, so that a send under a borrow
 * fails rather than rewriting the value under the reader's feet.
 *
 * `version` counts sends; each receiver keeps the version it marked seen.
 * It is written under both locks and read under either (atomic, relaxed,
 * for the lock-free has_changed). Waiters of a change are granted all at
 * once by a send or the sender's release; a grant is only "look again". */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coop.h"
#include "error_internal.h"
#include "waitq.h"
#include "worker.h"

struct watch {
    struct prokio__shared sh; /* first, as every primitive */
    pthread_rwlock_t rw;      /* shared channels only */
    struct prokio__waitq waiters;
    prokio_value_drop_fn drop;
    size_t value_size;
    _Atomic uint64_t version;
    unsigned rxs;
    bool tx_gone;
    unsigned borrows; /* PROKIO_LOCAL only */
    /* Aligned as malloc aligns: borrows and value_drop read it typed. */
    _Alignas(max_align_t) unsigned char value[];
};

struct prokio_watch_rx {
    struct watch *c;
    uint64_t seen;
    struct prokio__waiter *w; /* queued for this receiver, or NULL (under the mutex) */
    bool borrowed;
};

#define TX(tx) ((struct watch *)(tx))

static inline bool local(const struct watch *c)
{
    return c->sh.owner != NULL;
}

static inline uint64_t version(struct watch *c)
{
    return atomic_load_explicit(&c->version, memory_order_relaxed);
}

static void destroy(struct watch *c)
{
    if (c->drop)
        c->drop(c->value);
    if (!local(c))
        pthread_rwlock_destroy(&c->rw);
    prokio__shared_fini(&c->sh);
    free(c);
}

static void grant_all(struct watch *c, struct prokio__wakelist *wl)
{
    while (!prokio__waitq_empty(&c->waiters)) {
        struct prokio__waiter *w = c->waiters.head;
        ((struct prokio_watch_rx *)w->obj)->w = NULL;
        prokio__grant_flush(&c->sh, &c->waiters, w, wl);
    }
}

int prokio_watch_new(prokio_watch_tx_t **tx, prokio_watch_rx_t **rx, size_t value_size,
                     const void *initial, prokio_value_drop_fn value_drop, unsigned flags)
{
    static const char fn[] = "prokio_watch_new";
    if (tx)
        *tx = NULL;
    if (rx)
        *rx = NULL;
    if (tx == NULL || rx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, tx ? "rx" : "tx");
    if (initial == NULL && value_size != 0)
        return prokio__error(PROKIO_EINVAL,
                             "%s: initial is NULL for a %zu-byte value (NULL is for a zero-sized "
                             "one)",
                             fn, value_size);
    if (value_size > SIZE_MAX / 2)
        return prokio__error(PROKIO_EINVAL, "%s: value_size %zu is too large", fn, value_size);
    struct watch *c = calloc(1, sizeof *c + value_size);
    struct prokio_watch_rx *r = malloc(sizeof *r);
    if (c == NULL || r == NULL) {
        free(c);
        free(r);
        return prokio__error(PROKIO_ENOMEM, "%s: no memory for a %zu-byte value", fn, value_size);
    }
    int rc = prokio__shared_init(&c->sh, flags, fn);
    if (rc == 0 && !local(c)) {
        int e = pthread_rwlock_init(&c->rw, NULL);
        if (e != 0) {
            prokio__shared_fini(&c->sh);
            rc = prokio__error(-e, "%s: pthread_rwlock_init: %s", fn, prokio_strerror(-e));
        }
    }
    if (rc < 0) {
        free(c);
        free(r);
        return rc;
    }
    c->drop = value_drop;
    c->value_size = value_size;
    c->rxs = 1;
    if (value_size)
        memcpy(c->value, initial, value_size);
    *r = (struct prokio_watch_rx){.c = c};
    *tx = (prokio_watch_tx_t *)c;
    *rx = r;
    return 0;
}

/* Replaces the value under both locks; the old one is dropped, or copied to
 * old_out when not NULL. `need_rx`: fail with PROKIO_EPIPE when no receiver
 * is left. */
static int replace(struct watch *c, const void *value, void *old_out, bool need_rx, const char *fn)
{
    struct prokio__wakelist wl = {0};
    if (local(c)) {
        if (c->borrows)
            return prokio__error(PROKIO_EBUSY,
                                 "%s: a receiver of this PROKIO_LOCAL channel holds a borrow; "
                                 "end it (prokio_watch_borrow_end) before sending; nothing was "
                                 "sent",
                                 fn);
    } else {
        pthread_rwlock_wrlock(&c->rw);
    }
    prokio__shared_lock(&c->sh);
    if (need_rx && c->rxs == 0) {
        prokio__shared_unlock(&c->sh);
        if (!local(c))
            pthread_rwlock_unlock(&c->rw);
        return prokio__error(
            PROKIO_EPIPE, "%s: no receiver is left; the value was not sent and is still yours", fn);
    }
    if (c->value_size) {
        if (old_out)
            memcpy(old_out, c->value, c->value_size);
        else if (c->drop)
            c->drop(c->value);
        memcpy(c->value, value, c->value_size);
    } else if (!old_out && c->drop) {
        c->drop(c->value);
    }
    atomic_store_explicit(&c->version, version(c) + 1, memory_order_relaxed);
    grant_all(c, &wl);
    prokio__shared_unlock(&c->sh);
    if (!local(c))
        pthread_rwlock_unlock(&c->rw);
    prokio__wakelist_wake(&wl);
    return 0;
}

int prokio_watch_send(prokio_watch_tx_t *tx, const void *value)
{
    static const char fn[] = "prokio_watch_send";
    if (tx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: tx is NULL", fn);
    struct watch *c = TX(tx);
    if (value == NULL && c->value_size != 0)
        return prokio__error(PROKIO_EINVAL,
                             "%s: value is NULL for a %zu-byte value (NULL is for a zero-sized "
                             "one); nothing was sent",
                             fn, c->value_size);
    int rc = prokio__shared_check(&c->sh, fn);
    if (rc < 0)
        return rc;
    return replace(c, value, NULL, true, fn);
}

int prokio_watch_send_replace(prokio_watch_tx_t *tx, const void *value, void *old_out)
{
    static const char fn[] = "prokio_watch_send_replace";
    if (tx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: tx is NULL", fn);
    struct watch *c = TX(tx);
    if (c->value_size != 0 && (value == NULL || old_out == NULL))
        return prokio__error(PROKIO_EINVAL,
                             "%s: %s is NULL for a %zu-byte value (NULL is for a zero-sized "
                             "one); nothing was sent",
                             fn, value ? "old_out" : "value", c->value_size);
    int rc = prokio__shared_check(&c->sh, fn);
    if (rc < 0)
        return rc;
    /* A zero-sized value has nothing to hand back: a non-NULL marker keeps
     * replace() from dropping it. */
    return replace(c, value, old_out ? old_out : (void *)c, false, fn);
}

bool prokio_watch_tx_is_closed(prokio_watch_tx_t *tx)
{
    if (tx == NULL)
        return false;
    struct watch *c = TX(tx);
    if (prokio__shared_check(&c->sh, "prokio_watch_tx_is_closed") < 0)
        return false;
    prokio__shared_lock(&c->sh);
    bool closed = c->rxs == 0;
    prokio__shared_unlock(&c->sh);
    return closed;
}

static int subscribe(struct prokio_watch_rx **out, struct watch *c, const uint64_t *seen,
                     const char *fn)
{
    int rc = prokio__shared_check(&c->sh, fn);
    if (rc < 0)
        return rc;
    struct prokio_watch_rx *r = malloc(sizeof *r);
    if (r == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory for a receiver", fn);
    prokio__shared_lock(&c->sh);
    *r = (struct prokio_watch_rx){.c = c, .seen = seen ? *seen : version(c)};
    c->rxs++;
    prokio__shared_unlock(&c->sh);
    *out = r;
    return 0;
}

int prokio_watch_subscribe(prokio_watch_rx_t **rx, prokio_watch_tx_t *tx)
{
    if (rx)
        *rx = NULL;
    if (rx == NULL || tx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_watch_subscribe: %s is NULL", rx ? "tx" : "rx");
    return subscribe(rx, TX(tx), NULL, "prokio_watch_subscribe");
}

int prokio_watch_resubscribe(prokio_watch_rx_t **out, prokio_watch_rx_t *rx)
{
    if (out)
        *out = NULL;
    if (out == NULL || rx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_watch_resubscribe: %s is NULL",
                             out ? "rx" : "out");
    return subscribe(out, rx->c, &rx->seen, "prokio_watch_resubscribe");
}

void prokio_watch_tx_release(prokio_watch_tx_t *tx)
{
    if (tx == NULL)
        return;
    struct watch *c = TX(tx);
    if (prokio__shared_check(&c->sh, "prokio_watch_tx_release") < 0)
        return;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&c->sh);
    c->tx_gone = true;
    grant_all(c, &wl);
    bool gone = c->rxs == 0;
    prokio__shared_unlock(&c->sh);
    prokio__wakelist_wake(&wl);
    if (gone)
        destroy(c);
}

/* 0 (changed), PROKIO_EPIPE, or 1 (nothing yet). Under the mutex, or
 * lock-free for has_changed. */
/* 0 when a version newer than rx's seen one exists, 1 when rx must wait,
 * PROKIO_EPIPE when it has seen the last. Caller holds the lock. */
static int changed(struct watch *c, struct prokio_watch_rx *rx)
{
    if (version(c) != rx->seen)
        return 0;
    return c->tx_gone ? PROKIO_EPIPE : 1;
}

/* The same, marking the version seen when there is a newer one (Tokio's
 * changed(): `changed, then borrow` must not find the same change again). */
static int changed_mark(struct watch *c, struct prokio_watch_rx *rx)
{
    int rc = changed(c, rx);
    if (rc == 0)
        rx->seen = version(c);
    return rc;
}

static int closed_error(const char *fn)
{
    return prokio__error(PROKIO_EPIPE,
                         "%s: the sender is gone and this receiver has seen the last version", fn);
}

static void changed_cancel(struct prokio__armed *node)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(node, struct prokio__waiter, armed);
    if (prokio__waiter_state(w) == PROKIO__WAIT_QUEUED) {
        struct prokio_watch_rx *rx = w->obj;
        struct watch *c = rx->c;
        prokio__shared_lock(&c->sh);
        if (atomic_load_explicit(&w->state, memory_order_relaxed) == PROKIO__WAIT_QUEUED) {
            prokio__waiter_dequeue(&c->waiters, w);
            rx->w = NULL;
        }
        prokio__shared_unlock(&c->sh);
    }
    prokio__waiter_idle(w);
}

int prokio_watch_changed_poll(prokio_wait_t *wait, prokio_watch_rx_t *rx, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_watch_changed_poll";
    if (PROKIO_UNLIKELY(wait == NULL || rx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn,
                             wait == NULL ? "wait"
                             : rx == NULL ? "rx"
                                          : "cx");
    struct watch *c = rx->c;
    int rc = prokio__shared_check(&c->sh, fn);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    uint32_t st = prokio__waiter_state(w);
    if (st != PROKIO__WAIT_IDLE && PROKIO_UNLIKELY(w->obj != rx))
        return prokio__error(PROKIO_EBUSY,
                             "%s: the wait is pending for another operation; use one wait per "
                             "operation, or cancel it first",
                             fn);
    if (st == PROKIO__WAIT_QUEUED) {
        if (!prokio__waiter_repoll(&c->sh, w, cx, fn))
            return PROKIO_EXDEV;
        return PROKIO_PENDING;
    }
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    if (st == PROKIO__WAIT_GRANTED)
        prokio__waiter_finish(w);
    prokio__shared_lock(&c->sh);
    rc = changed_mark(c, rx);
    if (rc == 1) {
        prokio__waiter_enqueue(&c->waiters, w, rx, changed_cancel, cx);
        rx->w = w;
        prokio__shared_unlock(&c->sh);
        prokio__coop_restore(cx);
        return PROKIO_PENDING;
    }
    prokio__shared_unlock(&c->sh);
    return rc == 0 ? 0 : closed_error(fn);
}

int prokio_watch_has_changed(prokio_watch_rx_t *rx)
{
    static const char fn[] = "prokio_watch_has_changed";
    if (rx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", fn);
    struct watch *c = rx->c;
    int rc = prokio__shared_check(&c->sh, fn);
    if (rc < 0)
        return rc;
    prokio__shared_lock(&c->sh);
    rc = changed(c, rx);
    prokio__shared_unlock(&c->sh);
    return rc == 0 ? 1 : rc == 1 ? 0 : closed_error(fn);
}

int prokio_watch_blocking_changed(prokio_watch_rx_t *rx)
{
    static const char fn[] = "prokio_watch_blocking_changed";
    if (rx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", fn);
    struct watch *c = rx->c;
    int rc = prokio__shared_check(&c->sh, fn);
    if (rc < 0)
        return rc;
    struct prokio__parker *p = prokio__blocking_parker(fn, "prokio_watch_changed_poll", &rc);
    if (p == NULL)
        return rc;
    struct prokio__waiter w;
    memset(&w, 0, sizeof w);
    for (;;) {
        prokio__shared_lock(&c->sh);
        rc = changed_mark(c, rx);
        if (rc != 1)
            break;
        prokio__waiter_enqueue_parked(&c->waiters, &w, rx, changed_cancel, p);
        rx->w = &w;
        prokio__shared_unlock(&c->sh);
        prokio__waiter_block(&w, p);
        prokio__waiter_finish(&w);
    }
    prokio__shared_unlock(&c->sh);
    return rc == 0 ? 0 : closed_error(fn);
}

static const void *borrow(prokio_watch_rx_t *rx, bool update, const char *fn, int *rc)
{
    if (rx == NULL) {
        *rc = prokio__error(PROKIO_EINVAL, "%s: rx is NULL", fn);
        return NULL;
    }
    struct watch *c = rx->c;
    if ((*rc = prokio__shared_check(&c->sh, fn)) < 0)
        return NULL;
    if (rx->borrowed) {
        *rc = prokio__error(PROKIO_EBUSY,
                            "%s: this receiver holds a borrow already; end it with "
                            "prokio_watch_borrow_end first",
                            fn);
        return NULL;
    }
    if (local(c))
        c->borrows++;
    else
        pthread_rwlock_rdlock(&c->rw);
    rx->borrowed = true;
    if (update)
        rx->seen = version(c);
    return c->value;
}

const void *prokio_watch_borrow(prokio_watch_rx_t *rx)
{
    int rc;
    return borrow(rx, false, "prokio_watch_borrow", &rc);
}

const void *prokio_watch_borrow_and_update(prokio_watch_rx_t *rx)
{
    int rc;
    return borrow(rx, true, "prokio_watch_borrow_and_update", &rc);
}

void prokio_watch_borrow_end(prokio_watch_rx_t *rx)
{
    if (rx == NULL || !rx->borrowed)
        return;
    struct watch *c = rx->c;
    rx->borrowed = false;
    if (local(c))
        c->borrows--;
    else
        pthread_rwlock_unlock(&c->rw);
}

int prokio_watch_read(prokio_watch_rx_t *rx, void *value_out)
{
    static const char fn[] = "prokio_watch_read";
    if (rx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", fn);
    if (value_out == NULL && rx->c->value_size != 0)
        return prokio__error(PROKIO_EINVAL,
                             "%s: value_out is NULL for a %zu-byte value (NULL is for a "
                             "zero-sized one)",
                             fn, rx->c->value_size);
    int rc;
    const void *v = borrow(rx, true, fn, &rc);
    if (v == NULL)
        return rc;
    if (rx->c->value_size)
        memcpy(value_out, v, rx->c->value_size);
    prokio_watch_borrow_end(rx);
    return 0;
}

void prokio_watch_rx_release(prokio_watch_rx_t *rx)
{
    if (rx == NULL)
        return;
    struct watch *c = rx->c;
    if (prokio__shared_check(&c->sh, "prokio_watch_rx_release") < 0)
        return;
    prokio_watch_borrow_end(rx);
    prokio__shared_lock(&c->sh);
    struct prokio__waiter *w = rx->w;
    if (w) {
        /* As prokio_broadcast_rx_release: the channel must not keep it. */
        prokio__waiter_dequeue(&c->waiters, w);
        if (w->armed.pprev && prokio__tls_worker &&
            prokio__task_worker((const struct prokio_task *)w->who) == prokio__tls_worker)
            prokio__armed_remove(&w->armed);
    }
    bool gone = --c->rxs == 0 && c->tx_gone;
    prokio__shared_unlock(&c->sh);
    free(rx);
    if (gone)
        destroy(c);
}
