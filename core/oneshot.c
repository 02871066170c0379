/* core/oneshot.c: a one-value channel.
 *
 * Both ends point at one allocation whose word 0 is the state: flags plus a
 * count of the ends still held (2, then 1, then freed). Made on a worker,
 * the allocation comes from that worker's object pool (no malloc: a
 * request-reply pair is a pool pop and push); elsewhere from malloc.
 *
 * Shared channels (any thread): the receiver waits in the channel's waker
 * slot (waker_slot.h): it registers and then re-checks TX_DONE; the sender
 * publishes TX_DONE and then wakes the slot.
 *
 * PROKIO_LOCAL channels (one worker): the state is read and written with
 * plain (relaxed) loads and stores, and the receiver's task is kept as a
 * borrowed pointer, with an armed node of the channel linked into that
 * task (armed.h): if the task ends while waiting, the runtime unlinks it
 * and clears the pointer, so the sender never wakes a task that is gone,
 * and no waker reference is taken. A round trip then costs no atomic
 * instruction but the task's own wake.
 *
 * Value ownership: a value the channel accepted (the sender saw no
 * RX_DONE when it published VALUE) belongs to the receiver: it is taken by
 * the first successful receive (TAKEN), or destroyed with the channel's
 * value_drop when the receiver is released without taking it. A value the
 * channel refused is the sender's: never dropped here. */
#include <stdlib.h>
#include <string.h>

#include "armed.h"
#include "parker.h"
#include "error_internal.h"
#include "pool.h"
#include "waitq.h"
#include "waker.h"
#include "task.h"
#include "waker_slot.h"
#include "worker.h"

#define OS_VALUE    0x01u /* a value was sent */
#define OS_TX_DONE  0x02u /* the sender sent or was released */
#define OS_RX_DONE  0x04u /* the receiver was released */
#define OS_POOLED   0x08u /* in a worker's object pool, not malloc's */
#define OS_LOCAL    0x10u /* PROKIO_LOCAL: struct oneshot_local */
#define OS_HAS_DROP 0x20u /* a value_drop is stored after the value */
#define OS_TAKEN    0x40u /* a receive copied the value out (with OS_HAS_DROP only) */
#define OS_REF_ONE  0x100u

/* Values start 16 bytes in, as natively, where the members before them
 * fill 16 bytes already; ILP32 targets (wasm32) pad to that. */
#if UINTPTR_MAX > 0xffffffffu
#define OS_VALUE_ALIGN
#else
#define OS_VALUE_ALIGN _Alignas(16)
#endif

struct oneshot {
    _Atomic uint32_t state;
    uint32_t value_size;
    struct prokio__waker_slot rx_waker;
    OS_VALUE_ALIGN unsigned char value[];
};

struct oneshot_local {
    _Atomic uint32_t state; /* relaxed loads and stores only */
    uint32_t value_size;
    struct prokio__worker *owner;
    struct prokio_task *waiter; /* borrowed; `armed` is in its armed list */
    struct prokio__armed armed;
    OS_VALUE_ALIGN unsigned char value[];
};

_Static_assert(sizeof(struct oneshot) == 16, "an idle task's oneshot costs 16 bytes");
_Static_assert(sizeof(struct oneshot_local) % 16 == 0, "values stay 16-byte aligned");

static inline uint32_t load(const void *o, memory_order order)
{
    return atomic_load_explicit(&((struct oneshot *)o)->state, order);
}

static inline size_t header_of(uint32_t s)
{
    return (s & OS_LOCAL) ? sizeof(struct oneshot_local) : sizeof(struct oneshot);
}

static inline unsigned char *value_of(void *o, uint32_t s)
{
    return (unsigned char *)o + header_of(s);
}

static inline prokio_value_drop_fn *drop_slot(void *o, uint32_t s, uint32_t value_size)
{
    return (prokio_value_drop_fn *)(void *)(value_of(o, s) + ((value_size + 7u) & ~7u));
}

static void dealloc(void *o, uint32_t s)
{
    if (s & OS_POOLED)
        prokio__pool_free(o);
    else
        free(o);
}

/* The receiver gives up with `prev` the state before its release: destroys
 * a value it owns and never took. */
static void drop_untaken(void *o, uint32_t prev, uint32_t value_size)
{
    if ((prev & (OS_HAS_DROP | OS_VALUE | OS_TAKEN)) == (OS_HAS_DROP | OS_VALUE))
        (*drop_slot(o, prev, value_size))(value_of(o, prev));
}

/* --------------------------------------------------------------- create */

int prokio_oneshot_new(prokio_oneshot_tx_t **tx, prokio_oneshot_rx_t **rx, size_t value_size,
                       prokio_value_drop_fn value_drop, unsigned flags)
{
    if (PROKIO_UNLIKELY(tx == NULL || rx == NULL)) {
        if (tx)
            *tx = NULL;
        if (rx)
            *rx = NULL;
        return prokio__error(PROKIO_EINVAL, "prokio_oneshot_new: %s is NULL", tx ? "rx" : "tx");
    }
    *tx = NULL;
    *rx = NULL;
    if (PROKIO_UNLIKELY(value_size > UINT32_MAX / 2))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_oneshot_new: value_size %zu is too large (at most %u bytes)",
                             value_size, UINT32_MAX / 2);
    if (PROKIO_UNLIKELY(flags & ~PROKIO_LOCAL))
        return prokio__error(
            PROKIO_EINVAL, "prokio_oneshot_new: unknown flags %#x (the only flag is PROKIO_LOCAL)",
            flags & ~PROKIO_LOCAL);
    struct prokio__worker *w = prokio__tls_worker;
    uint32_t s = 2 * OS_REF_ONE;
    if (flags & PROKIO_LOCAL) {
        if (w == NULL)
            return prokio__error(PROKIO_EINVAL,
                                 "prokio_oneshot_new: PROKIO_LOCAL binds the channel to the "
                                 "calling worker, and this thread is not a worker (create it "
                                 "from a task, or drop the flag)");
        s |= OS_LOCAL;
    }
    if (value_drop)
        s |= OS_HAS_DROP;
    size_t size = header_of(s) + value_size;
    if (value_drop)
        size = ((header_of(s) + value_size + 7) & ~(size_t)7) + sizeof value_drop;
    /* Made on a worker, the channel comes from that worker's object pool:
     * a request-reply pair costs no malloc, and an idle task waiting on a
     * bare signal costs 16 bytes more, not malloc's 32. prokio_runtime_free
     * then waits for both ends, as for JoinHandles. Elsewhere, malloc. */
    if (w && size <= PROKIO__POOL_MAX_OBJ)
        s |= OS_POOLED;
    void *o = (s & OS_POOLED) ? prokio__pool_alloc_local(&w->objects, size) : malloc(size);
    if (o == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_oneshot_new: no memory for %zu bytes", size);
    /* Word 0 is non-zero from here to the free: the pool's live mark. */
    atomic_init(&((struct oneshot *)o)->state, s);
    ((struct oneshot *)o)->value_size = (uint32_t)value_size;
    if (s & OS_LOCAL) {
        struct oneshot_local *l = o;
        l->owner = w;
        l->waiter = NULL;
        l->armed.next = NULL;
        l->armed.pprev = NULL;
    } else {
        atomic_init(&((struct oneshot *)o)->rx_waker.waker, 0);
    }
    if (value_drop)
        *drop_slot(o, s, (uint32_t)value_size) = value_drop;
    *tx = (prokio_oneshot_tx_t *)o;
    *rx = (prokio_oneshot_rx_t *)o;
    return 0;
}

/* ----------------------------------------------------------------- local */

static int off_worker(const struct oneshot_local *l, const char *what)
{
    return prokio__error(PROKIO_EXDEV,
                         "%s: the channel was made with PROKIO_LOCAL on worker %u and is used "
                         "from another thread; nothing was done",
                         what, l->owner->index);
}

static void local_unwait(struct oneshot_local *l)
{
    prokio__armed_remove(&l->armed);
    l->waiter = NULL;
}

static void local_disarm(struct prokio__armed *node)
{
    /* The waiting task ends (armed.h): forget it. */
    PROKIO_CONTAINER_OF(node, struct oneshot_local, armed)->waiter = NULL;
}

/* Subtracts one end's reference (with `flags` added); frees on the last. */
static void local_finish(struct oneshot_local *l, uint32_t flags)
{
    uint32_t s = load(l, memory_order_relaxed) + flags - OS_REF_ONE;
    if (s < OS_REF_ONE)
        dealloc(l, s);
    else
        atomic_store_explicit(&l->state, s, memory_order_relaxed);
}

static int local_send(struct oneshot_local *l, const void *value)
{
    uint32_t s = load(l, memory_order_relaxed);
    if (s & OS_RX_DONE) {
        local_finish(l, OS_TX_DONE);
        return 1;
    }
    if (l->value_size)
        memcpy(l->value, value, l->value_size);
    struct prokio_task *t = l->waiter;
    if (t) {
        local_unwait(l);
        prokio__task_wake_by_ref(t);
    }
    local_finish(l, OS_VALUE | OS_TX_DONE);
    return 0;
}

/* The sender gives up without sending: wakes a waiting receiver (to learn
 * PROKIO_EPIPE) and gives up the sender's end. */
static void local_tx_release(struct oneshot_local *l)
{
    struct prokio_task *t = l->waiter;
    if (t) {
        local_unwait(l);
        prokio__task_wake_by_ref(t);
    }
    local_finish(l, OS_TX_DONE);
}

/* ---------------------------------------------------------------- sender */

/* Marks the sender finished (with `flags`), wakes the receiver if it
 * waits, gives up the sender's end. Returns the state before. */
static uint32_t finish_tx(struct oneshot *o, uint32_t flags)
{
    /* Sequentially consistent: the completer's half of the slot handshake. */
    uint32_t prev = atomic_fetch_or_explicit(&o->state, flags | OS_TX_DONE, memory_order_seq_cst);
    if (!(prev & OS_RX_DONE))
        prokio__waker_slot_wake(&o->rx_waker);
    uint32_t last = atomic_fetch_sub_explicit(&o->state, OS_REF_ONE, memory_order_acq_rel);
    if (last < 2 * OS_REF_ONE) {
        prokio__waker_slot_clear(&o->rx_waker);
        dealloc(o, last);
    }
    return prev;
}

static int receiver_gone(void)
{
    return prokio__error(PROKIO_EPIPE,
                         "prokio_oneshot_send: the receiver was released; the value was not "
                         "delivered and is still yours");
}

int prokio_oneshot_send(prokio_oneshot_tx_t *tx, const void *value)
{
    if (tx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_oneshot_send: tx is NULL");
    struct oneshot *o = (struct oneshot *)tx;
    uint32_t s = load(o, memory_order_acquire);
    if (s & OS_LOCAL) {
        struct oneshot_local *l = (struct oneshot_local *)o;
        if (PROKIO_UNLIKELY(l->owner != prokio__tls_worker))
            return off_worker(l, "prokio_oneshot_send");
    }
    if (value == NULL && o->value_size != 0) {
        /* The sender is consumed whatever the outcome, as documented. */
        uint32_t size = o->value_size;
        if (s & OS_LOCAL)
            local_tx_release((struct oneshot_local *)o);
        else
            finish_tx(o, 0);
        return prokio__error(PROKIO_EINVAL,
                             "prokio_oneshot_send: value is NULL for a %u-byte value; the "
                             "sender was released and the receiver gets PROKIO_EPIPE",
                             size);
    }
    if (s & OS_LOCAL)
        return local_send((struct oneshot_local *)o, value) ? receiver_gone() : 0;
    if (s & OS_RX_DONE) {
        finish_tx(o, 0);
        return receiver_gone();
    }
    if (o->value_size)
        memcpy(o->value, value, o->value_size);
    /* The receiver may have gone between the check and here: then the copy
     * is discarded with the channel and the caller still has the value. */
    return (finish_tx(o, OS_VALUE) & OS_RX_DONE) ? receiver_gone() : 0;
}

void prokio_oneshot_tx_release(prokio_oneshot_tx_t *tx)
{
    if (tx == NULL)
        return;
    struct oneshot *o = (struct oneshot *)tx;
    if (load(o, memory_order_relaxed) & OS_LOCAL) {
        struct oneshot_local *l = (struct oneshot_local *)o;
        if (PROKIO_UNLIKELY(l->owner != prokio__tls_worker)) {
            off_worker(l, "prokio_oneshot_tx_release");
            return;
        }
        local_tx_release(l);
        return;
    }
    finish_tx(o, 0);
}

bool prokio_oneshot_tx_is_closed(const prokio_oneshot_tx_t *tx)
{
    if (tx == NULL)
        return false;
    return (load(tx, memory_order_acquire) & OS_RX_DONE) != 0;
}

/* -------------------------------------------------------------- receiver */

static int take(void *o, uint32_t s, void *value_out)
{
    if (!(s & OS_VALUE))
        return prokio__error(PROKIO_EPIPE,
                             "prokio_oneshot_recv_poll: the sender was released without sending");
    uint32_t size = ((struct oneshot *)o)->value_size;
    if (size)
        memcpy(value_out, value_of(o, s), size);
    if ((s & (OS_HAS_DROP | OS_TAKEN)) == OS_HAS_DROP) {
        /* The value is the receiver's now: the channel must not drop it. */
        if (s & OS_LOCAL)
            atomic_store_explicit(&((struct oneshot *)o)->state, s | OS_TAKEN,
                                  memory_order_relaxed);
        else
            atomic_fetch_or_explicit(&((struct oneshot *)o)->state, OS_TAKEN, memory_order_relaxed);
    }
    return 0;
}

static int local_recv(struct oneshot_local *l, uint32_t s, void *value_out, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(l->owner != cx->worker))
        return off_worker(l, "prokio_oneshot_recv_poll");
    if (s & OS_TX_DONE)
        return take(l, s, value_out);
    if (l->waiter != cx->task) {
        local_unwait(l);
        l->waiter = cx->task;
        l->armed.disarm = local_disarm;
        prokio__armed_push(&cx->task->armed, &l->armed);
    }
    return PROKIO_PENDING;
}

int prokio_oneshot_recv_poll(prokio_oneshot_rx_t *rx, void *value_out, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(rx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_oneshot_recv_poll: %s is NULL",
                             rx ? "cx" : "rx");
    struct oneshot *o = (struct oneshot *)rx;
    if (PROKIO_UNLIKELY(value_out == NULL && o->value_size != 0))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_oneshot_recv_poll: value_out is NULL for a %u-byte value "
                             "(NULL is for a zero-sized one); nothing was received",
                             o->value_size);
    uint32_t s = load(o, memory_order_acquire);
    if (s & OS_LOCAL)
        return local_recv((struct oneshot_local *)o, s, value_out, cx);
    if (s & OS_TX_DONE)
        return take(o, s, value_out);
    uintptr_t me = prokio__cx_waker(cx);
    if (prokio__waker_slot_register(&o->rx_waker, me) < 0)
        return prokio__error(PROKIO_EBUSY, "prokio_oneshot_recv_poll: a thread blocks on rx");
    /* The waiter's half of the handshake. */
    s = load(o, memory_order_seq_cst);
    if (s & OS_TX_DONE) {
        prokio__waker_slot_unregister(&o->rx_waker, me);
        return take(o, s, value_out);
    }
    return PROKIO_PENDING;
}

int prokio_oneshot_blocking_recv(prokio_oneshot_rx_t *rx, void *value_out)
{
    static const char what[] = "prokio_oneshot_blocking_recv";
    if (PROKIO_UNLIKELY(rx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: rx is NULL", what);
    struct oneshot *o = (struct oneshot *)rx;
    if (PROKIO_UNLIKELY(value_out == NULL && o->value_size != 0))
        return prokio__error(PROKIO_EINVAL,
                             "%s: value_out is NULL for a %u-byte value (NULL is for a "
                             "zero-sized one); nothing was received",
                             what, o->value_size);
    uint32_t s = load(o, memory_order_acquire);
    if (s & OS_LOCAL)
        return off_worker((struct oneshot_local *)o, what);
    int rc;
    struct prokio__parker *p = prokio__blocking_parker(what, "prokio_oneshot_recv_poll", &rc);
    if (p == NULL)
        return rc;
    if (s & OS_TX_DONE)
        return take(o, s, value_out);
    uintptr_t me = (uintptr_t)p | PROKIO__WAKER_PARKER;
    if (prokio__waker_slot_register(&o->rx_waker, me) < 0)
        return prokio__error(PROKIO_EBUSY, "%s: another thread blocks on rx", what);
    /* The waiter's half of the handshake, then park until the sender's. */
    while (!((s = load(o, memory_order_seq_cst)) & OS_TX_DONE))
        prokio__parker_park(p);
    prokio__waker_slot_unregister(&o->rx_waker, me);
    return take(o, s, value_out);
}

void prokio_oneshot_rx_release(prokio_oneshot_rx_t *rx)
{
    if (rx == NULL)
        return;
    struct oneshot *o = (struct oneshot *)rx;
    uint32_t size = o->value_size;
    if (load(o, memory_order_relaxed) & OS_LOCAL) {
        struct oneshot_local *l = (struct oneshot_local *)o;
        if (PROKIO_UNLIKELY(l->owner != prokio__tls_worker)) {
            off_worker(l, "prokio_oneshot_rx_release");
            return;
        }
        local_unwait(l);
        drop_untaken(l, load(l, memory_order_relaxed), size);
        local_finish(l, OS_RX_DONE);
        return;
    }
    prokio__waker_slot_clear(&o->rx_waker);
    uint32_t prev;
    if (load(o, memory_order_relaxed) & OS_HAS_DROP) {
        /* RX_DONE decides who owns a value sent meanwhile; the reference
         * is kept until the value is destroyed, since the sender may be
         * about to give up the last other one. */
        prev = atomic_fetch_or_explicit(&o->state, OS_RX_DONE, memory_order_acq_rel);
        drop_untaken(o, prev, size);
        prev = atomic_fetch_sub_explicit(&o->state, OS_REF_ONE, memory_order_acq_rel);
    } else {
        /* RX_DONE and the reference in one instruction: RX_DONE was clear
         * (the receiver is released once), so adding it sets it. */
        prev = atomic_fetch_add_explicit(&o->state, OS_RX_DONE - OS_REF_ONE, memory_order_acq_rel);
    }
    if (prev < 2 * OS_REF_ONE) {
        prokio__waker_slot_clear(&o->rx_waker);
        dealloc(o, prev);
    }
}
