/* core/broadcast.c: the broadcast channel (prokio/channel.h).
 *
 * One allocation: the header, then `cap` slots of value_size bytes. Values
 * are numbered by send order; `tail` is the number of the next one and the
 * ring holds the numbers [head, tail), at most cap of them, value n in slot
 * n % cap. A receiver is its own small object with the number it reads
 * next (`pos`): pos < head means it lagged (head - pos values missed), pos
 * == tail that it has read everything.
 *
 * Everything is under the object's lock (none for PROKIO_LOCAL): a send or
 * a receive is one lock and unlock, two atomic read-modify-writes when
 * uncontended. Receivers that find nothing wait in one FIFO queue; a send
 * grants them all (a grant is only "look again": what to read is found at
 * the next poll, from the receiver's own position, so a cancelled wait has
 * nothing to pass on). A queued waiter points at its receiver (w->obj),
 * and the receiver at its queued waiter (rx->w), so releasing a receiver
 * takes its waiter out of the queue and the channel never points at a
 * receiver that is gone. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "coop.h"
#include "error_internal.h"
#include "waitq.h"
#include "worker.h"

struct bcast {
    struct prokio__shared sh; /* first, as every primitive */
    struct prokio__waitq waiters;
    prokio_value_drop_fn drop;
    size_t value_size, cap;
    uint64_t head, tail;
    unsigned txs, rxs;
    /* Every value aligned as malloc aligns: value_drop gets typed values. A
     * type's size is a multiple of its alignment, so slot n, at n *
     * value_size from an aligned start, is aligned too. */
    _Alignas(max_align_t) unsigned char slots[];
};

struct prokio_broadcast_rx {
    struct bcast *b;
    uint64_t pos;
    struct prokio__waiter *w; /* queued for this receiver, or NULL (under the lock) */
};

#define TAKE_EMPTY 1 /* take(): nothing new, senders alive */

static inline struct bcast *tx_of(prokio_broadcast_tx_t *tx)
{
    return (struct bcast *)tx;
}

static inline unsigned char *slot(struct bcast *b, uint64_t n)
{
    return b->slots + (size_t)(n % b->cap) * b->value_size;
}

/* Drops every value held and forgets them. Under the lock. */
static void drop_held(struct bcast *b)
{
    if (b->drop)
        for (uint64_t n = b->head; n < b->tail; n++)
            b->drop(slot(b, n));
    b->head = b->tail;
}

static void destroy(struct bcast *b)
{
    drop_held(b);
    prokio__shared_fini(&b->sh);
    free(b);
}

/* Grants every waiter (each receiver looks again at its next poll). Under
 * the lock, which it keeps (prokio__grant_flush); the caller wakes `wl`
 * after unlocking. */
static void grant_all(struct bcast *b, struct prokio__wakelist *wl)
{
    while (!prokio__waitq_empty(&b->waiters)) {
        struct prokio__waiter *w = b->waiters.head;
        ((struct prokio_broadcast_rx *)w->obj)->w = NULL;
        prokio__grant_flush(&b->sh, &b->waiters, w, wl);
    }
}

int prokio_broadcast_new(prokio_broadcast_tx_t **tx, prokio_broadcast_rx_t **rx, size_t value_size,
                         size_t capacity, prokio_value_drop_fn value_drop, unsigned flags)
{
    static const char fn[] = "prokio_broadcast_new";
    if (tx)
        *tx = NULL;
    if (rx)
        *rx = NULL;
    if (tx == NULL || rx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, tx ? "rx" : "tx");
    if (capacity == 0)
        return prokio__error(PROKIO_EINVAL, "%s: capacity is 0 (a ring holds at least one value)",
                             fn);
    size_t max = (SIZE_MAX - sizeof(struct bcast)) / 2;
    if (capacity > max || (value_size && capacity > max / value_size))
        return prokio__error(PROKIO_EINVAL,
                             "%s: capacity %zu of %zu-byte values does not fit in memory", fn,
                             capacity, value_size);
    struct bcast *b = calloc(1, sizeof *b + capacity * value_size);
    struct prokio_broadcast_rx *r = malloc(sizeof *r);
    if (b == NULL || r == NULL) {
        free(b);
        free(r);
        return prokio__error(PROKIO_ENOMEM, "%s: no memory for a ring of %zu %zu-byte values", fn,
                             capacity, value_size);
    }
    int rc = prokio__shared_init(&b->sh, flags, fn);
    if (rc < 0) {
        free(b);
        free(r);
        return rc;
    }
    b->drop = value_drop;
    b->value_size = value_size;
    b->cap = capacity;
    b->txs = 1;
    b->rxs = 1;
    *r = (struct prokio_broadcast_rx){.b = b};
    *tx = (prokio_broadcast_tx_t *)b;
    *rx = r;
    return 0;
}

prokio_broadcast_tx_t *prokio_broadcast_tx_clone(prokio_broadcast_tx_t *tx)
{
    if (tx == NULL)
        return NULL;
    struct bcast *b = tx_of(tx);
    if (prokio__shared_check(&b->sh, "prokio_broadcast_tx_clone") < 0)
        return NULL;
    prokio__shared_lock(&b->sh);
    b->txs++;
    prokio__shared_unlock(&b->sh);
    return tx;
}

void prokio_broadcast_tx_release(prokio_broadcast_tx_t *tx)
{
    if (tx == NULL)
        return;
    struct bcast *b = tx_of(tx);
    if (prokio__shared_check(&b->sh, "prokio_broadcast_tx_release") < 0)
        return;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&b->sh);
    bool last = --b->txs == 0;
    if (last)
        grant_all(b, &wl); /* they read what is left, then PROKIO_EPIPE */
    bool gone = last && b->rxs == 0;
    prokio__shared_unlock(&b->sh);
    prokio__wakelist_wake(&wl);
    if (gone)
        destroy(b);
}

int prokio_broadcast_send(prokio_broadcast_tx_t *tx, const void *value)
{
    static const char fn[] = "prokio_broadcast_send";
    if (PROKIO_UNLIKELY(tx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: tx is NULL", fn);
    struct bcast *b = tx_of(tx);
    if (PROKIO_UNLIKELY(value == NULL && b->value_size != 0))
        return prokio__error(PROKIO_EINVAL,
                             "%s: value is NULL for a %zu-byte value (NULL is for a zero-sized "
                             "one); nothing was sent",
                             fn, b->value_size);
    int rc = prokio__shared_check(&b->sh, fn);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    struct prokio__wakelist wl;
    wl.n = 0;
    prokio__shared_lock(&b->sh);
    if (PROKIO_UNLIKELY(b->rxs == 0)) {
        prokio__shared_unlock(&b->sh);
        return prokio__error(
            PROKIO_EPIPE, "%s: no receiver is left; the value was not sent and is still yours", fn);
    }
    unsigned char *s = slot(b, b->tail);
    if (b->tail - b->head == b->cap) {
        if (b->drop)
            b->drop(s);
        b->head++;
    }
    if (b->value_size)
        memcpy(s, value, b->value_size);
    b->tail++;
    unsigned n = b->rxs;
    if (!prokio__waitq_empty(&b->waiters))
        grant_all(b, &wl);
    prokio__shared_unlock(&b->sh);
    if (wl.n)
        prokio__wakelist_wake(&wl);
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

/* A new receiver at the tail. */
static int subscribe(struct prokio_broadcast_rx **out, struct bcast *b, const char *fn)
{
    int rc = prokio__shared_check(&b->sh, fn);
    if (rc < 0)
        return rc;
    struct prokio_broadcast_rx *r = malloc(sizeof *r);
    if (r == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory for a receiver", fn);
    prokio__shared_lock(&b->sh);
    *r = (struct prokio_broadcast_rx){.b = b, .pos = b->tail};
    b->rxs++;
    prokio__shared_unlock(&b->sh);
    *out = r;
    return 0;
}

int prokio_broadcast_subscribe(prokio_broadcast_rx_t **rx, prokio_broadcast_tx_t *tx)
{
    if (rx)
        *rx = NULL;
    if (rx == NULL || tx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_broadcast_subscribe: %s is NULL",
                             rx ? "tx" : "rx");
    return subscribe(rx, tx_of(tx), "prokio_broadcast_subscribe");
}

int prokio_broadcast_resubscribe(prokio_broadcast_rx_t **out, prokio_broadcast_rx_t *rx)
{
    if (out)
        *out = NULL;
    if (out == NULL || rx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_broadcast_resubscribe: %s is NULL",
                             out ? "rx" : "out");
    return subscribe(out, rx->b, "prokio_broadcast_resubscribe");
}

/* Reads rx's next value, under the lock: 0, PROKIO_ELAGGED (*missed set),
 * PROKIO_EPIPE, or TAKE_EMPTY. No error message (set after unlocking). */
static int take(struct bcast *b, struct prokio_broadcast_rx *rx, void *out, uint64_t *missed)
{
    if (PROKIO_UNLIKELY(rx->pos < b->head)) {
        *missed = b->head - rx->pos;
        rx->pos = b->head;
        return PROKIO_ELAGGED;
    }
    if (rx->pos == b->tail)
        return b->txs ? TAKE_EMPTY : PROKIO_EPIPE;
    if (b->value_size)
        memcpy(out, slot(b, rx->pos), b->value_size);
    rx->pos++;
    return 0;
}

/* Sets the message of a receive's result (outside the lock). */
static int result(int rc, uint64_t missed, uint64_t *missed_out, const char *fn)
{
    if (PROKIO_LIKELY(rc == 0))
        return 0;
    if (rc == PROKIO_ELAGGED) {
        if (missed_out)
            *missed_out = missed;
        return prokio__error(PROKIO_ELAGGED,
                             "%s: the receiver fell behind and missed %llu values; the next "
                             "receive returns the oldest value still held",
                             fn, (unsigned long long)missed);
    }
    if (rc == PROKIO_EPIPE)
        return prokio__error(PROKIO_EPIPE,
                             "%s: every sender is gone and this receiver has read every value", fn);
    return prokio__error(PROKIO_EAGAIN, "%s: no new value yet", fn);
}

static int check_rx(prokio_broadcast_rx_t *rx, void *value_out, const char *fn)
{
    if (PROKIO_UNLIKELY(rx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", fn);
    if (PROKIO_UNLIKELY(value_out == NULL && rx->b->value_size != 0))
        return prokio__error(PROKIO_EINVAL,
                             "%s: value_out is NULL for a %zu-byte value (NULL is for a "
                             "zero-sized one); nothing was received",
                             fn, rx->b->value_size);
    return prokio__shared_check(&rx->b->sh, fn);
}

/* The disarm of a queued or granted receive: leave the queue if still in
 * it. A grant carries nothing (the value is found from rx's position at
 * the next receive), so there is nothing to pass on. */
static void recv_cancel(struct prokio__armed *node)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(node, struct prokio__waiter, armed);
    if (prokio__waiter_state(w) == PROKIO__WAIT_QUEUED) {
        struct prokio_broadcast_rx *rx = w->obj;
        struct bcast *b = rx->b;
        prokio__shared_lock(&b->sh);
        if (atomic_load_explicit(&w->state, memory_order_relaxed) == PROKIO__WAIT_QUEUED) {
            prokio__waiter_dequeue(&b->waiters, w);
            rx->w = NULL;
        }
        prokio__shared_unlock(&b->sh);
    }
    prokio__waiter_idle(w);
}

int prokio_broadcast_recv_poll(prokio_wait_t *wait, prokio_broadcast_rx_t *rx, void *value_out,
                               uint64_t *missed_out, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_broadcast_recv_poll";
    if (PROKIO_UNLIKELY(wait == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, wait ? "cx" : "wait");
    int rc = check_rx(rx, value_out, fn);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    struct bcast *b = rx->b;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    uint32_t st = prokio__waiter_state(w);
    if (st != PROKIO__WAIT_IDLE && PROKIO_UNLIKELY(w->obj != rx))
        return prokio__error(PROKIO_EBUSY,
                             "%s: the wait is pending for another operation; use one wait per "
                             "operation, or cancel it first",
                             fn);
    if (st == PROKIO__WAIT_QUEUED) {
        /* Every send grants every waiter: queued means nothing new. */
        if (!prokio__waiter_repoll(&b->sh, w, cx, fn))
            return PROKIO_EXDEV;
        return PROKIO_PENDING;
    }
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING; /* a grant stays for the next poll */
    if (st == PROKIO__WAIT_GRANTED)
        prokio__waiter_finish(w);
    uint64_t missed = 0;
    prokio__shared_lock(&b->sh);
    rc = take(b, rx, value_out, &missed);
    if (rc == TAKE_EMPTY) {
        prokio__waiter_enqueue(&b->waiters, w, rx, recv_cancel, cx);
        rx->w = w;
        prokio__shared_unlock(&b->sh);
        prokio__coop_restore(cx);
        return PROKIO_PENDING;
    }
    prokio__shared_unlock(&b->sh);
    return result(rc, missed, missed_out, fn);
}

int prokio_broadcast_try_recv(prokio_broadcast_rx_t *rx, void *value_out, uint64_t *missed_out)
{
    static const char fn[] = "prokio_broadcast_try_recv";
    int rc = check_rx(rx, value_out, fn);
    if (rc < 0)
        return rc;
    uint64_t missed = 0;
    prokio__shared_lock(&rx->b->sh);
    rc = take(rx->b, rx, value_out, &missed);
    prokio__shared_unlock(&rx->b->sh);
    return result(rc, missed, missed_out, fn);
}

int prokio_broadcast_blocking_recv(prokio_broadcast_rx_t *rx, void *value_out, uint64_t *missed_out)
{
    static const char fn[] = "prokio_broadcast_blocking_recv";
    int rc = check_rx(rx, value_out, fn);
    if (rc < 0)
        return rc;
    struct prokio__parker *p = prokio__blocking_parker(fn, "prokio_broadcast_recv_poll", &rc);
    if (p == NULL)
        return rc;
    struct bcast *b = rx->b;
    struct prokio__waiter w;
    memset(&w, 0, sizeof w);
    uint64_t missed = 0;
    for (;;) {
        prokio__shared_lock(&b->sh);
        rc = take(b, rx, value_out, &missed);
        if (rc != TAKE_EMPTY)
            break;
        prokio__waiter_enqueue_parked(&b->waiters, &w, rx, recv_cancel, p);
        rx->w = &w;
        prokio__shared_unlock(&b->sh);
        prokio__waiter_block(&w, p);
        prokio__waiter_finish(&w);
    }
    prokio__shared_unlock(&b->sh);
    return result(rc, missed, missed_out, fn);
}

void prokio_broadcast_rx_release(prokio_broadcast_rx_t *rx)
{
    if (rx == NULL)
        return;
    struct bcast *b = rx->b;
    if (prokio__shared_check(&b->sh, "prokio_broadcast_rx_release") < 0)
        return;
    prokio__shared_lock(&b->sh);
    struct prokio__waiter *w = rx->w;
    if (w) {
        /* A receive left pending: out of the queue, so the channel never
         * points at this receiver again; out of its task's armed list too
         * when that is this thread's (its only safe place). */
        prokio__waiter_dequeue(&b->waiters, w);
        if (w->armed.pprev && prokio__tls_worker &&
            prokio__task_worker((const struct prokio_task *)w->who) == prokio__tls_worker)
            prokio__armed_remove(&w->armed);
    }
    bool last = --b->rxs == 0;
    if (last)
        drop_held(b); /* a later subscriber sees only later values */
    bool gone = last && b->txs == 0;
    prokio__shared_unlock(&b->sh);
    free(rx);
    if (gone)
        destroy(b);
}
