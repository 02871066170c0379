/* core/oneshot.c: a one-value channel between any two threads.
 *
 * Both ends point at one allocation with a state word: flags plus a count
 * of the ends still held (2, then 1, then freed). The receiver's waker
 * lives in rx_waker under the same hand-off rule as a JoinHandle's: the
 * receiver writes it only while RX_WAKER is clear and the sender has not
 * finished; the sender reads it only when its finishing instruction saw
 * RX_WAKER set. */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "waker.h"
#include "worker.h"

#define OS_VALUE    1u /* a value was sent */
#define OS_TX_DONE  2u /* the sender sent or was dropped */
#define OS_RX_DONE  4u /* the receiver was dropped */
#define OS_RX_WAKER 8u /* rx_waker holds a waker */
#define OS_REF_ONE  16u

struct oneshot {
    _Atomic uint32_t state;
    uint32_t value_size;
    uintptr_t rx_waker;
    unsigned char value[];
};

static inline struct oneshot *tx_of(prokio_oneshot_tx_t *tx)
{
    return (struct oneshot *)tx;
}

static inline struct oneshot *rx_of(prokio_oneshot_rx_t *rx)
{
    return (struct oneshot *)rx;
}

static void unref(struct oneshot *o)
{
    uint32_t prev = atomic_fetch_sub_explicit(&o->state, OS_REF_ONE, memory_order_acq_rel);
    if (prev >= 2 * OS_REF_ONE)
        return;
    if (prev & OS_RX_WAKER)
        prokio__waker_drop(o->rx_waker);
    free(o);
}

int prokio_oneshot_new(size_t value_size, prokio_oneshot_tx_t **tx, prokio_oneshot_rx_t **rx)
{
    *tx = NULL;
    *rx = NULL;
    if (value_size > UINT32_MAX)
        return prokio__error(PROKIO_EINVAL, "prokio_oneshot_new: value_size %zu too large",
                             value_size);
    struct oneshot *o = malloc(sizeof *o + value_size);
    if (o == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_oneshot_new: no memory");
    atomic_init(&o->state, 2 * OS_REF_ONE);
    o->value_size = (uint32_t)value_size;
    o->rx_waker = 0;
    *tx = (prokio_oneshot_tx_t *)o;
    *rx = (prokio_oneshot_rx_t *)o;
    return 0;
}

/* Marks the sender finished (with `flags`), wakes the receiver if it
 * waits, drops the sender's end. Returns the state before. */
static uint32_t finish_tx(struct oneshot *o, uint32_t flags)
{
    uint32_t prev = atomic_fetch_or_explicit(&o->state, flags | OS_TX_DONE, memory_order_acq_rel);
    if ((prev & (OS_RX_WAKER | OS_RX_DONE)) == OS_RX_WAKER)
        prokio__waker_wake_by_ref(o->rx_waker);
    unref(o);
    return prev;
}

int prokio_oneshot_send(prokio_oneshot_tx_t *tx, const void *value)
{
    struct oneshot *o = tx_of(tx);
    if (atomic_load_explicit(&o->state, memory_order_acquire) & OS_RX_DONE) {
        finish_tx(o, 0);
        return PROKIO_EPIPE;
    }
    if (o->value_size)
        memcpy(o->value, value, o->value_size);
    /* The receiver may have gone between the check and here: then the copy
     * is discarded with the channel and the caller still has the value. */
    return (finish_tx(o, OS_VALUE) & OS_RX_DONE) ? PROKIO_EPIPE : 0;
}

void prokio_oneshot_tx_drop(prokio_oneshot_tx_t *tx)
{
    finish_tx(tx_of(tx), 0);
}

bool prokio_oneshot_tx_is_closed(const prokio_oneshot_tx_t *tx)
{
    struct oneshot *o = tx_of((prokio_oneshot_tx_t *)tx);
    return (atomic_load_explicit(&o->state, memory_order_acquire) & OS_RX_DONE) != 0;
}

static int take(struct oneshot *o, uint32_t s, void *value_out)
{
    if (!(s & OS_VALUE))
        return PROKIO_EPIPE;
    if (o->value_size && value_out)
        memcpy(value_out, o->value, o->value_size);
    return 0;
}

int prokio_oneshot_recv_poll(prokio_oneshot_rx_t *rx, prokio_cx_t *cx, void *value_out)
{
    struct oneshot *o = rx_of(rx);
    uint32_t s = atomic_load_explicit(&o->state, memory_order_acquire);
    if (s & OS_TX_DONE)
        return take(o, s, value_out);
    uintptr_t me = (uintptr_t)cx->task;
    if (s & OS_RX_WAKER) {
        if (o->rx_waker == me)
            return PROKIO_PENDING;
        do {
            if (s & OS_TX_DONE)
                return take(o, s, value_out);
        } while (!atomic_compare_exchange_weak_explicit(
            &o->state, &s, s & ~OS_RX_WAKER, memory_order_acq_rel, memory_order_acquire));
        prokio__waker_drop(o->rx_waker);
        s &= ~OS_RX_WAKER;
    }
    o->rx_waker = prokio__waker_clone(me);
    do {
        if (s & OS_TX_DONE) {
            prokio__waker_drop(o->rx_waker);
            o->rx_waker = 0;
            return take(o, s, value_out);
        }
    } while (!atomic_compare_exchange_weak_explicit(&o->state, &s, s | OS_RX_WAKER,
                                                    memory_order_acq_rel, memory_order_acquire));
    return PROKIO_PENDING;
}

void prokio_oneshot_rx_drop(prokio_oneshot_rx_t *rx)
{
    struct oneshot *o = rx_of(rx);
    uint32_t s = atomic_load_explicit(&o->state, memory_order_acquire), n;
    uintptr_t waker = o->rx_waker;
    bool drop_waker;
    do {
        /* Take our waker back unless the sender already owns the read. */
        drop_waker = (s & OS_RX_WAKER) && !(s & OS_TX_DONE);
        n = s | OS_RX_DONE;
        if (drop_waker)
            n &= ~OS_RX_WAKER;
    } while (!atomic_compare_exchange_weak_explicit(&o->state, &s, n, memory_order_acq_rel,
                                                    memory_order_acquire));
    if (drop_waker)
        prokio__waker_drop(waker);
    unref(o);
}
