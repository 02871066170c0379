/* core/mpsc.c: the multi-producer, single-consumer channel (channel.h).
 *
 * One allocation: the object header (lock, PROKIO_LOCAL owner), a ring of
 * values, the counts, the FIFO of senders waiting for capacity, and the
 * receiver's waker. Everything is under the header's lock, which a
 * PROKIO_LOCAL channel skips, so a local channel's hot path is plain loads
 * and stores; a shared one pays an uncontended mutex (two atomic RMW) per
 * operation.
 *
 * Capacity: len (values buffered) + reserved (permits handed out and not
 * yet used) never exceeds capacity. A value is copied into the ring only
 * when its send completes: a sender that waits holds nothing of it, so
 * cancelling loses nothing. Freed capacity goes to the head of the sender
 * queue as a permit (grant with MP_GRANT_PERMIT; reserved counts it), so a
 * later fast-path send never overtakes a waiting one.
 *
 * The receiver is single: its waker is one word (the channel's waker slot,
 * a clone taken when it waits, moved out and woken by the sender that
 * makes it ready) rather than a queue. The slot is only touched under the
 * lock, so it needs no handshake of its own; wakes run after the lock is
 * dropped, from a copy, never touching the channel. */
#include <stdlib.h>
#include <string.h>

#include "coop.h"
#include "error_internal.h"
#include "parker.h"
#include "task.h"
#include "waitq.h"
#include "waker.h"
#include "worker.h"

/* w->n of a granted waiter: what it was handed. */
enum { MP_GRANT_PERMIT = 1, MP_GRANT_CLOSED = 2 };
/* w->u64: what the wait is doing. */
enum { MP_KIND_SEND = 1, MP_KIND_RESERVE = 2, MP_KIND_HELD = 3 /* a permit seen by its task */ };

struct mpsc {
    struct prokio__shared sh;
    size_t value_size;
    size_t capacity; /* 0: unbounded */
    prokio_value_drop_fn value_drop;
    unsigned char *ring;
    size_t slots; /* a power of two */
    size_t head, len;
    size_t reserved;            /* permits handed out, not yet used */
    unsigned txs;               /* senders held */
    bool rx_held;               /* false once rx_release is done: the last tx frees */
    bool rx_released;           /* rx_release began: nothing is pushed any more */
    bool rx_closed;             /* rx_close or rx_release: sends fail */
    _Atomic bool closed_flag;   /* rx_closed, readable without the lock */
    uintptr_t rx_waker;         /* the receiver's waker slot: a clone, or 0 */
    struct prokio__waitq sendq; /* senders waiting for capacity */
};

static inline struct mpsc *tx_of(const prokio_mpsc_tx_t *tx)
{
    return (struct mpsc *)tx;
}

static inline struct mpsc *rx_of(const prokio_mpsc_rx_t *rx)
{
    return (struct mpsc *)rx;
}

static inline unsigned char *slot_at(struct mpsc *c, size_t i)
{
    return c->ring + ((c->head + i) & (c->slots - 1)) * c->value_size;
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

/* ------------------------------------------------------------- creation */

int prokio_mpsc_new(prokio_mpsc_tx_t **tx, prokio_mpsc_rx_t **rx, size_t value_size,
                    size_t capacity, prokio_value_drop_fn value_drop, unsigned flags)
{
    if (PROKIO_UNLIKELY(tx == NULL || rx == NULL)) {
        if (tx)
            *tx = NULL;
        if (rx)
            *rx = NULL;
        return prokio__error(PROKIO_EINVAL, "prokio_mpsc_new: %s is NULL", tx ? "rx" : "tx");
    }
    *tx = NULL;
    *rx = NULL;
    if ((uint64_t)capacity > ((uint64_t)1 << 40))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_mpsc_new: capacity %zu is too large (at most 2^40; use 0 "
                             "for an unbounded channel)",
                             capacity);
    size_t slots = capacity ? pow2_at_least(capacity) : 16;
    size_t unit = value_size ? value_size : 1;
    if (value_size > SIZE_MAX / 4 / slots)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_mpsc_new: value_size %zu times capacity %zu overflows",
                             value_size, capacity);
    struct mpsc *c = calloc(1, sizeof *c);
    if (c == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_mpsc_new: no memory for the channel");
    int rc = prokio__shared_init(&c->sh, flags, "prokio_mpsc_new");
    if (rc < 0) {
        free(c);
        return rc;
    }
    c->ring = malloc(slots * unit);
    if (c->ring == NULL) {
        prokio__shared_fini(&c->sh);
        free(c);
        return prokio__error(PROKIO_ENOMEM,
                             "prokio_mpsc_new: no memory for a buffer of %zu values of %zu bytes "
                             "(a bounded channel allocates its capacity at creation)",
                             slots, value_size);
    }
    c->slots = slots;
    c->value_size = value_size;
    c->capacity = capacity;
    c->value_drop = value_drop;
    c->txs = 1;
    c->rx_held = true;
    *tx = (prokio_mpsc_tx_t *)c;
    *rx = (prokio_mpsc_rx_t *)c;
    return 0;
}

/* Under the lock, after the last end went: nothing else refers to it, so
 * the lock is dropped and the channel freed. */
static void destroy(struct mpsc *c)
{
    prokio__shared_unlock(&c->sh);
    if (c->rx_waker)
        prokio__waker_release(c->rx_waker);
    prokio__shared_fini(&c->sh);
    free(c->ring);
    free(c);
}

/* ------------------------------------------------------- the ring, locked */

/* Unbounded: room for `need` values, growing the ring. False: no memory. */
static bool ensure_room(struct mpsc *c, size_t need)
{
    if (PROKIO_LIKELY(need <= c->slots))
        return true;
    size_t slots = c->slots * 2;
    while (slots < need)
        slots *= 2;
    size_t unit = c->value_size ? c->value_size : 1;
    if (slots > SIZE_MAX / unit)
        return false;
    unsigned char *ring = malloc(slots * unit);
    if (ring == NULL)
        return false;
    size_t first = c->slots - c->head < c->len ? c->slots - c->head : c->len;
    memcpy(ring, c->ring + c->head * c->value_size, first * c->value_size);
    memcpy(ring + first * c->value_size, c->ring, (c->len - first) * c->value_size);
    free(c->ring);
    c->ring = ring;
    c->slots = slots;
    c->head = 0;
    return true;
}

/* Appends a copy of value; the caller checked the room. Takes the
 * receiver's waker out (to wake after unlocking): returns it, or 0. */
static inline uintptr_t push_locked(struct mpsc *c, const void *value)
{
    if (c->value_size)
        memcpy(slot_at(c, c->len), value, c->value_size);
    c->len++;
    uintptr_t w = c->rx_waker;
    c->rx_waker = 0;
    return w;
}

static inline bool has_room(const struct mpsc *c)
{
    return c->capacity == 0 || c->len + c->reserved < c->capacity;
}

/* One slot of capacity freed (a value taken, a permit given back): to the
 * first waiting sender as a permit, or back to the channel. */
static void free_slot_locked(struct mpsc *c, struct prokio__wakelist *wl)
{
    struct prokio__waiter *w = c->sendq.head;
    if (w && c->capacity && c->len + c->reserved < c->capacity && !c->rx_closed) {
        c->reserved++;
        w->n = MP_GRANT_PERMIT;
        prokio__waiter_grant(&c->sendq, w, wl);
    }
}

/* Hands every waiting sender PROKIO_EPIPE. */
static void close_locked(struct mpsc *c, struct prokio__wakelist *wl)
{
    c->rx_closed = true;
    atomic_store_explicit(&c->closed_flag, true, memory_order_release);
    while (c->sendq.head && !prokio__wakelist_full(wl)) {
        struct prokio__waiter *w = c->sendq.head;
        w->n = MP_GRANT_CLOSED;
        prokio__waiter_grant(&c->sendq, w, wl);
    }
}

static inline void wake_out(uintptr_t w)
{
    if (w)
        prokio__waker_wake(w);
}

/* --------------------------------------------------------------- senders */

prokio_mpsc_tx_t *prokio_mpsc_tx_clone(prokio_mpsc_tx_t *tx)
{
    if (tx == NULL)
        return NULL;
    struct mpsc *c = tx_of(tx);
    if (prokio__shared_check(&c->sh, "prokio_mpsc_tx_clone") < 0)
        return NULL;
    prokio__shared_lock(&c->sh);
    c->txs++;
    prokio__shared_unlock(&c->sh);
    return tx;
}

void prokio_mpsc_tx_release(prokio_mpsc_tx_t *tx)
{
    if (tx == NULL)
        return;
    struct mpsc *c = tx_of(tx);
    if (prokio__shared_check(&c->sh, "prokio_mpsc_tx_release") < 0)
        return;
    uintptr_t w = 0;
    prokio__shared_lock(&c->sh);
    if (--c->txs == 0) {
        if (!c->rx_held) {
            destroy(c); /* the receiver went first: nobody else holds the lock */
            return;
        }
        w = c->rx_waker; /* the receiver learns PROKIO_EPIPE once the buffer is empty */
        c->rx_waker = 0;
    }
    prokio__shared_unlock(&c->sh);
    wake_out(w);
}

bool prokio_mpsc_tx_is_closed(const prokio_mpsc_tx_t *tx)
{
    return tx && atomic_load_explicit(&tx_of(tx)->closed_flag, memory_order_acquire);
}

size_t prokio_mpsc_tx_capacity(const prokio_mpsc_tx_t *tx)
{
    return tx ? tx_of(tx)->capacity : 0;
}

static int closed_error(const char *what)
{
    return prokio__error(PROKIO_EPIPE,
                         "%s: the receiver closed the channel; the value was not sent and is "
                         "still yours",
                         what);
}

static int nomem_error(const char *what, const struct mpsc *c)
{
    return prokio__error(PROKIO_ENOMEM,
                         "%s: no memory to grow the unbounded channel past %zu values; the value "
                         "was not sent and is still yours",
                         what, c->slots);
}

/* The cancel of a send or reserve wait (the armed disarm): queued, it
 * leaves the queue; granted a permit (seen or not), the permit goes to the
 * next waiter exactly as an unused permit would. */
/* Sends at once when there is room and no sender waits ahead (FIFO):
 * 0 (sent; *rw is the receiver's waker, to wake after unlocking),
 * PROKIO_EAGAIN (no room: nothing done, no error set), or a failure with
 * the error set. Caller holds the lock. */
static int try_push_locked(struct mpsc *c, const void *value, const char *what, uintptr_t *rw)
{
    if (PROKIO_UNLIKELY(c->rx_closed))
        return closed_error(what);
    if (!has_room(c) || !prokio__waitq_empty(&c->sendq))
        return PROKIO_EAGAIN;
    if (c->capacity == 0 && !ensure_room(c, c->len + c->reserved + 1))
        return nomem_error(what, c);
    *rw = push_locked(c, value);
    return 0;
}

static void wait_cancel(struct prokio__armed *a)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(a, struct prokio__waiter, armed);
    struct mpsc *c = w->obj;
    struct prokio__wakelist wl;
    wl.n = 0;
    uintptr_t rw = 0;
    prokio__shared_lock(&c->sh);
    uint32_t st = atomic_load_explicit(&w->state, memory_order_relaxed);
    if (st == PROKIO__WAIT_QUEUED) {
        prokio__waiter_dequeue(&c->sendq, w);
    } else if (st == PROKIO__WAIT_GRANTED) {
        if (w->n == MP_GRANT_PERMIT) {
            c->reserved--;
            free_slot_locked(c, &wl);
            if (c->rx_closed && c->reserved == 0) {
                /* The last permit a closed channel waited for: the receiver
                 * may now learn PROKIO_EPIPE. */
                rw = c->rx_waker;
                c->rx_waker = 0;
            }
        }
        atomic_store_explicit(&w->state, PROKIO__WAIT_IDLE, memory_order_relaxed);
    }
    prokio__shared_unlock(&c->sh);
    prokio__wakelist_wake(&wl);
    wake_out(rw);
}

/* Granted (seen without the lock): takes what was handed over. Returns 0
 * with a permit now counted in c->reserved, or PROKIO_EPIPE. */
static int take_grant(struct prokio__waiter *w)
{
    int closed = w->n == MP_GRANT_CLOSED;
    return closed ? PROKIO_EPIPE : 0;
}

/* Uses a permit counted in reserved: appends value. Returns 0, or
 * PROKIO_EPIPE when the receiver was released (value not copied). */
static int permit_push(struct mpsc *c, const void *value, const char *what)
{
    uintptr_t rw;
    prokio__shared_lock(&c->sh);
    c->reserved--;
    if (PROKIO_UNLIKELY(c->rx_released)) {
        prokio__shared_unlock(&c->sh);
        return prokio__error(PROKIO_EPIPE,
                             "%s: the receiver was released; the value was not sent and is "
                             "still yours",
                             what);
    }
    rw = push_locked(c, value);
    prokio__shared_unlock(&c->sh);
    wake_out(rw);
    return 0;
}

/* Common start of send_poll and reserve_poll on a pending wait. Returns
 * PROKIO_PENDING to stay queued, or 1 when granted (handled by caller), or
 * an error. */
static int pending_wait(struct mpsc *c, struct prokio__waiter *w, prokio_cx_t *cx, const char *what,
                        uint64_t kind)
{
    if (w->obj != c || (w->u64 != kind && !(kind == MP_KIND_RESERVE && w->u64 == MP_KIND_HELD)))
        return prokio__error(PROKIO_EBUSY,
                             "%s: the wait is pending for another operation or channel; cancel "
                             "it first or use another wait",
                             what);
    uint32_t st = prokio__waiter_state(w);
    if (st == PROKIO__WAIT_QUEUED) {
        if (!prokio__waiter_repoll(&c->sh, w, cx, what))
            return PROKIO_EXDEV;
        /* Granted meanwhile? The acquire load below sees it. */
        if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED)
            return PROKIO_PENDING;
    }
    return 1;
}

int prokio_mpsc_send_poll(prokio_wait_t *wait, prokio_mpsc_tx_t *tx, const void *value,
                          prokio_cx_t *cx)
{
    static const char what[] = "prokio_mpsc_send_poll";
    if (PROKIO_UNLIKELY(wait == NULL || tx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : tx == NULL ? "tx"
                                          : "cx");
    struct mpsc *c = tx_of(tx);
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (PROKIO_UNLIKELY(value == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL,
                             "%s: value is NULL for a %zu-byte value (NULL is for a zero-sized "
                             "one); nothing was sent",
                             what, c->value_size);
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (PROKIO_UNLIKELY(prokio__waiter_state(w) != PROKIO__WAIT_IDLE)) {
        rc = pending_wait(c, w, cx, what, MP_KIND_SEND);
        if (rc != 1)
            return rc;
        rc = take_grant(w);
        prokio__waiter_finish(w);
        if (rc < 0)
            return closed_error(what);
        return permit_push(c, value, what);
    }
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    uintptr_t rw = 0;
    prokio__shared_lock(&c->sh);
    rc = try_push_locked(c, value, what, &rw);
    if (PROKIO_LIKELY(rc != PROKIO_EAGAIN)) {
        prokio__shared_unlock(&c->sh);
        wake_out(rw);
        return rc;
    }
    w->u64 = MP_KIND_SEND;
    w->n = 0;
    prokio__waiter_enqueue(&c->sendq, w, c, wait_cancel, cx);
    prokio__shared_unlock(&c->sh);
    prokio__coop_restore(cx);
    return PROKIO_PENDING;
}

int prokio_mpsc_reserve_poll(prokio_wait_t *wait, prokio_mpsc_tx_t *tx, prokio_cx_t *cx)
{
    static const char what[] = "prokio_mpsc_reserve_poll";
    if (PROKIO_UNLIKELY(wait == NULL || tx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : tx == NULL ? "tx"
                                          : "cx");
    struct mpsc *c = tx_of(tx);
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (prokio__waiter_state(w) != PROKIO__WAIT_IDLE) {
        rc = pending_wait(c, w, cx, what, MP_KIND_RESERVE);
        if (rc != 1)
            return rc;
        if (w->u64 == MP_KIND_HELD)
            return 0;
        if (take_grant(w) < 0) {
            prokio__waiter_finish(w);
            return closed_error(what);
        }
        w->u64 = MP_KIND_HELD; /* stays GRANTED and armed: the task's end gives it back */
        return 0;
    }
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    prokio__shared_lock(&c->sh);
    if (PROKIO_UNLIKELY(c->rx_closed)) {
        prokio__shared_unlock(&c->sh);
        return closed_error(what);
    }
    w->obj = c;
    w->armed.disarm = wait_cancel;
    if (has_room(c) && prokio__waitq_empty(&c->sendq)) {
        if (c->capacity == 0 && !ensure_room(c, c->len + c->reserved + 1)) {
            prokio__shared_unlock(&c->sh);
            return nomem_error(what, c);
        }
        c->reserved++;
        prokio__shared_unlock(&c->sh);
        w->u64 = MP_KIND_HELD;
        w->n = MP_GRANT_PERMIT;
        w->who = cx->task;
        w->waker = 0;
        prokio__armed_push(&cx->task->armed, &w->armed);
        atomic_store_explicit(&w->state, PROKIO__WAIT_GRANTED, memory_order_relaxed);
        return 0;
    }
    w->u64 = MP_KIND_RESERVE;
    w->n = 0;
    prokio__waiter_enqueue(&c->sendq, w, c, wait_cancel, cx);
    prokio__shared_unlock(&c->sh);
    prokio__coop_restore(cx);
    return PROKIO_PENDING;
}

int prokio_mpsc_permit_send(prokio_wait_t *wait, const void *value)
{
    static const char what[] = "prokio_mpsc_permit_send";
    if (PROKIO_UNLIKELY(wait == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: wait is NULL", what);
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED || w->u64 != MP_KIND_HELD ||
        w->armed.disarm != wait_cancel)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the wait holds no permit (prokio_mpsc_reserve_poll returns 0 "
                             "when it does)",
                             what);
    struct mpsc *c = w->obj;
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (PROKIO_UNLIKELY(value == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL,
                             "%s: value is NULL for a %zu-byte value; the permit is still held",
                             what, c->value_size);
    prokio__waiter_finish(w);
    return permit_push(c, value, what);
}

int prokio_mpsc_try_send(prokio_mpsc_tx_t *tx, const void *value)
{
    static const char what[] = "prokio_mpsc_try_send";
    if (PROKIO_UNLIKELY(tx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: tx is NULL", what);
    struct mpsc *c = tx_of(tx);
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (PROKIO_UNLIKELY(value == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL, "%s: value is NULL for a %zu-byte value", what,
                             c->value_size);
    uintptr_t rw = 0;
    prokio__shared_lock(&c->sh);
    rc = try_push_locked(c, value, what, &rw);
    prokio__shared_unlock(&c->sh);
    wake_out(rw);
    if (rc == PROKIO_EAGAIN)
        return prokio__error(PROKIO_EAGAIN,
                             "%s: the channel is full (capacity %zu); the value is still yours",
                             what, c->capacity);
    return rc;
}

int prokio_mpsc_blocking_send(prokio_mpsc_tx_t *tx, const void *value)
{
    static const char what[] = "prokio_mpsc_blocking_send";
    if (PROKIO_UNLIKELY(tx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: tx is NULL", what);
    struct mpsc *c = tx_of(tx);
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (PROKIO_UNLIKELY(value == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL, "%s: value is NULL for a %zu-byte value", what,
                             c->value_size);
    struct prokio__parker *p = prokio__blocking_parker(what, "prokio_mpsc_send_poll", &rc);
    if (p == NULL)
        return rc;
    uintptr_t rw = 0;
    prokio__shared_lock(&c->sh);
    rc = try_push_locked(c, value, what, &rw);
    if (rc != PROKIO_EAGAIN) {
        prokio__shared_unlock(&c->sh);
        wake_out(rw);
        return rc;
    }
    struct prokio__waiter w;
    memset(&w, 0, sizeof w);
    w.u64 = MP_KIND_SEND;
    prokio__waiter_enqueue_parked(&c->sendq, &w, c, wait_cancel, p);
    prokio__shared_unlock(&c->sh);
    prokio__waiter_block(&w, p);
    if (take_grant(&w) < 0)
        return closed_error(what);
    return permit_push(c, value, what);
}

/* -------------------------------------------------------------- receiver */

/* Takes up to max values into out (the caller saw len > 0), freeing their
 * capacity to waiting senders. Locked. */
static size_t take_locked(struct mpsc *c, void *out, size_t max, struct prokio__wakelist *wl)
{
    size_t n = c->len < max ? c->len : max;
    size_t vs = c->value_size;
    if (vs) {
        size_t first = c->slots - c->head < n ? c->slots - c->head : n;
        memcpy(out, c->ring + c->head * vs, first * vs);
        if (n > first)
            memcpy((unsigned char *)out + first * vs, c->ring, (n - first) * vs);
    }
    c->head = (c->head + n) & (c->slots - 1);
    c->len -= n;
    /* Every slot freed goes to a waiting sender: stopping at a full wake
     * list would leave capacity free while senders still wait (and a
     * try_send refused behind them). A full list is woken under the lock,
     * as prokio__grant_flush explains. */
    for (size_t i = 0; i < n && PROKIO_UNLIKELY(c->sendq.head != NULL); i++) {
        free_slot_locked(c, wl);
        if (prokio__wakelist_full(wl))
            prokio__wakelist_wake(wl);
    }
    return n;
}

static int rx_epipe(const char *what)
{
    return prokio__error(PROKIO_EPIPE,
                         "%s: the channel is empty and closed (every sender was released, or "
                         "the receiver closed it)",
                         what);
}

static inline bool rx_done(const struct mpsc *c)
{
    return c->txs == 0 || (c->rx_closed && c->reserved == 0);
}

static int recv_common(struct mpsc *c, void *out, size_t max, prokio_cx_t *cx, const char *what)
{
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    struct prokio__wakelist wl;
    wl.n = 0;
    uintptr_t me = prokio__cx_waker(cx), old = 0;
    prokio__shared_lock(&c->sh);
    if (PROKIO_LIKELY(c->len > 0)) {
        size_t n = take_locked(c, out, max, &wl);
        prokio__shared_unlock(&c->sh);
        if (wl.n)
            prokio__wakelist_wake(&wl);
        return (int)n;
    }
    if (rx_done(c)) {
        prokio__shared_unlock(&c->sh);
        return rx_epipe(what);
    }
    if (c->rx_waker != me) {
        if (PROKIO_UNLIKELY(c->rx_waker & PROKIO__WAKER_PARKER)) {
            prokio__shared_unlock(&c->sh);
            return prokio__error(PROKIO_EBUSY, "%s: a thread is blocked receiving on rx", what);
        }
        old = c->rx_waker;
        c->rx_waker = prokio__waker_clone(me);
    }
    prokio__shared_unlock(&c->sh);
    if (old)
        prokio__waker_release(old);
    prokio__coop_restore(cx);
    return PROKIO_PENDING;
}

int prokio_mpsc_recv_poll(prokio_mpsc_rx_t *rx, void *value_out, prokio_cx_t *cx)
{
    static const char what[] = "prokio_mpsc_recv_poll";
    if (PROKIO_UNLIKELY(rx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what, rx ? "cx" : "rx");
    struct mpsc *c = rx_of(rx);
    if (PROKIO_UNLIKELY(value_out == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL,
                             "%s: value_out is NULL for a %zu-byte value (NULL is for a "
                             "zero-sized one); nothing was received",
                             what, c->value_size);
    int rc = recv_common(c, value_out, 1, cx, what);
    return rc > 0 ? 0 : rc;
}

int prokio_mpsc_recv_many_poll(prokio_mpsc_rx_t *rx, void *values_out, size_t max, prokio_cx_t *cx)
{
    static const char what[] = "prokio_mpsc_recv_many_poll";
    if (PROKIO_UNLIKELY(rx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what, rx ? "cx" : "rx");
    struct mpsc *c = rx_of(rx);
    if (PROKIO_UNLIKELY(values_out == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL, "%s: values_out is NULL for %zu-byte values", what,
                             c->value_size);
    if (PROKIO_UNLIKELY(max == 0))
        return prokio__error(PROKIO_EINVAL, "%s: max is 0 (room for at least one value)", what);
    if (max > INT32_MAX)
        max = INT32_MAX;
    return recv_common(c, values_out, max, cx, what);
}

int prokio_mpsc_try_recv(prokio_mpsc_rx_t *rx, void *value_out)
{
    static const char what[] = "prokio_mpsc_try_recv";
    if (PROKIO_UNLIKELY(rx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", what);
    struct mpsc *c = rx_of(rx);
    if (PROKIO_UNLIKELY(value_out == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL, "%s: value_out is NULL for a %zu-byte value", what,
                             c->value_size);
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    struct prokio__wakelist wl;
    wl.n = 0;
    prokio__shared_lock(&c->sh);
    if (c->len > 0) {
        take_locked(c, value_out, 1, &wl);
        prokio__shared_unlock(&c->sh);
        prokio__wakelist_wake(&wl);
        return 0;
    }
    bool done = rx_done(c);
    prokio__shared_unlock(&c->sh);
    if (done)
        return rx_epipe(what);
    return prokio__error(PROKIO_EAGAIN, "%s: the channel is empty", what);
}

int prokio_mpsc_blocking_recv(prokio_mpsc_rx_t *rx, void *value_out)
{
    static const char what[] = "prokio_mpsc_blocking_recv";
    if (PROKIO_UNLIKELY(rx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", what);
    struct mpsc *c = rx_of(rx);
    if (PROKIO_UNLIKELY(value_out == NULL && c->value_size))
        return prokio__error(PROKIO_EINVAL, "%s: value_out is NULL for a %zu-byte value", what,
                             c->value_size);
    int rc = prokio__shared_check(&c->sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    struct prokio__parker *p = prokio__blocking_parker(what, "prokio_mpsc_recv_poll", &rc);
    if (p == NULL)
        return rc;
    uintptr_t me = (uintptr_t)p | PROKIO__WAKER_PARKER;
    for (;;) {
        struct prokio__wakelist wl;
        wl.n = 0;
        uintptr_t old = 0;
        prokio__shared_lock(&c->sh);
        if (c->len > 0) {
            take_locked(c, value_out, 1, &wl);
            if (c->rx_waker == me) {
                old = me;
                c->rx_waker = 0;
            }
            prokio__shared_unlock(&c->sh);
            if (old)
                prokio__waker_release(old);
            prokio__wakelist_wake(&wl);
            return 0;
        }
        if (rx_done(c)) {
            if (c->rx_waker == me) {
                old = me;
                c->rx_waker = 0;
            }
            prokio__shared_unlock(&c->sh);
            if (old)
                prokio__waker_release(old);
            return rx_epipe(what);
        }
        if (c->rx_waker != me) {
            old = c->rx_waker; /* a task's: displaced, and woken to learn PROKIO_EBUSY */
            c->rx_waker = prokio__waker_clone(me);
        }
        prokio__shared_unlock(&c->sh);
        if (old) {
            prokio__waker_wake_by_ref(old);
            prokio__waker_release(old);
        }
        prokio__parker_park(p);
    }
}

size_t prokio_mpsc_rx_len(const prokio_mpsc_rx_t *rx)
{
    if (rx == NULL)
        return 0;
    struct mpsc *c = rx_of(rx);
    if (prokio__shared_check(&c->sh, "prokio_mpsc_rx_len") < 0)
        return 0;
    prokio__shared_lock(&c->sh);
    size_t n = c->len;
    prokio__shared_unlock(&c->sh);
    return n;
}

/* Closes, waking every waiting sender (in rounds of a wake list). */
static void close_all(struct mpsc *c)
{
    for (;;) {
        struct prokio__wakelist wl;
        wl.n = 0;
        prokio__shared_lock(&c->sh);
        close_locked(c, &wl);
        bool more = c->sendq.head != NULL;
        prokio__shared_unlock(&c->sh);
        prokio__wakelist_wake(&wl);
        if (!more)
            return;
    }
}

void prokio_mpsc_rx_close(prokio_mpsc_rx_t *rx)
{
    if (rx == NULL)
        return;
    struct mpsc *c = rx_of(rx);
    if (prokio__shared_check(&c->sh, "prokio_mpsc_rx_close") < 0)
        return;
    close_all(c);
}

void prokio_mpsc_rx_release(prokio_mpsc_rx_t *rx)
{
    if (rx == NULL)
        return;
    struct mpsc *c = rx_of(rx);
    if (prokio__shared_check(&c->sh, "prokio_mpsc_rx_release") < 0)
        return;
    close_all(c);
    /* Nobody pushes once rx_released is set (permit_push checks it, every
     * other send sees the channel closed), so the buffered values are ours
     * to drop without the lock, which a drop function may need (releasing
     * another channel's end). rx_held stays true until they are dropped, so
     * the last sender cannot free the ring under us. */
    uintptr_t w;
    size_t head, len;
    prokio__shared_lock(&c->sh);
    c->rx_released = true;
    w = c->rx_waker;
    c->rx_waker = 0;
    head = c->head;
    len = c->len;
    c->len = 0;
    prokio__shared_unlock(&c->sh);
    if (w)
        prokio__waker_release(w);
    if (c->value_drop)
        for (size_t i = 0; i < len; i++)
            c->value_drop(c->ring + ((head + i) & (c->slots - 1)) * c->value_size);
    prokio__shared_lock(&c->sh);
    c->rx_held = false;
    if (c->txs == 0) {
        destroy(c);
        return;
    }
    prokio__shared_unlock(&c->sh);
}
