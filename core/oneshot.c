/* core/oneshot.c: a one-value channel between any two threads.
 *
 * Both ends point at one allocation with a state word: flags plus a count
 * of the ends still held (2, then 1, then freed). The receiver waits in the
 * channel's waker slot (waker_slot.h): it registers and then re-checks
 * TX_DONE; the sender publishes TX_DONE and then wakes the slot. */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "waker_slot.h"
#include "cx.h"

#define OS_VALUE   1u /* a value was sent */
#define OS_TX_DONE 2u /* the sender sent or was released */
#define OS_RX_DONE 4u /* the receiver was released */
#define OS_REF_ONE 16u

struct oneshot {
    _Atomic uint32_t state;
    uint32_t value_size;
    struct prokio__waker_slot rx_waker;
    unsigned char value[];
};

static inline struct oneshot *tx_of(const prokio_oneshot_tx_t *tx)
{
    return (struct oneshot *)tx;
}

static inline struct oneshot *rx_of(const prokio_oneshot_rx_t *rx)
{
    return (struct oneshot *)rx;
}

static void unref(struct oneshot *o)
{
    uint32_t prev = atomic_fetch_sub_explicit(&o->state, OS_REF_ONE, memory_order_acq_rel);
    if (prev >= 2 * OS_REF_ONE)
        return;
    prokio__waker_slot_clear(&o->rx_waker);
    free(o);
}

int prokio_oneshot_new(prokio_oneshot_tx_t **tx, prokio_oneshot_rx_t **rx, size_t value_size)
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
    if (PROKIO_UNLIKELY(value_size > UINT32_MAX))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_oneshot_new: value_size %zu is too large (at most %u bytes)",
                             value_size, UINT32_MAX);
    struct oneshot *o = malloc(sizeof *o + value_size);
    if (o == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_oneshot_new: no memory for %zu bytes",
                             sizeof *o + value_size);
    atomic_init(&o->state, 2 * OS_REF_ONE);
    o->value_size = (uint32_t)value_size;
    atomic_init(&o->rx_waker.waker, 0);
    *tx = (prokio_oneshot_tx_t *)o;
    *rx = (prokio_oneshot_rx_t *)o;
    return 0;
}

/* Marks the sender finished (with `flags`), wakes the receiver if it
 * waits, gives up the sender's end. Returns the state before. */
static uint32_t finish_tx(struct oneshot *o, uint32_t flags)
{
    /* Sequentially consistent: the completer's half of the slot handshake. */
    uint32_t prev = atomic_fetch_or_explicit(&o->state, flags | OS_TX_DONE, memory_order_seq_cst);
    if (!(prev & OS_RX_DONE))
        prokio__waker_slot_wake(&o->rx_waker);
    unref(o);
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
    struct oneshot *o = tx_of(tx);
    if (value == NULL && o->value_size != 0) {
        /* The sender is consumed whatever the outcome, as documented. */
        finish_tx(o, 0);
        return prokio__error(PROKIO_EINVAL,
                             "prokio_oneshot_send: value is NULL for a %u-byte value; the "
                             "sender was released and the receiver gets PROKIO_EPIPE",
                             o->value_size);
    }
    if (atomic_load_explicit(&o->state, memory_order_acquire) & OS_RX_DONE) {
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
    if (tx)
        finish_tx(tx_of(tx), 0);
}

bool prokio_oneshot_tx_is_closed(const prokio_oneshot_tx_t *tx)
{
    if (tx == NULL)
        return false;
    return (atomic_load_explicit(&tx_of(tx)->state, memory_order_acquire) & OS_RX_DONE) != 0;
}

static int take(struct oneshot *o, uint32_t s, void *value_out)
{
    if (!(s & OS_VALUE))
        return prokio__error(PROKIO_EPIPE,
                             "prokio_oneshot_recv_poll: the sender was released without sending");
    if (o->value_size)
        memcpy(value_out, o->value, o->value_size);
    return 0;
}

int prokio_oneshot_recv_poll(prokio_oneshot_rx_t *rx, void *value_out, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(rx == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_oneshot_recv_poll: %s is NULL",
                             rx ? "cx" : "rx");
    struct oneshot *o = rx_of(rx);
    if (PROKIO_UNLIKELY(value_out == NULL && o->value_size != 0))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_oneshot_recv_poll: value_out is NULL for a %u-byte value "
                             "(NULL is for a zero-sized one); nothing was received",
                             o->value_size);
    uint32_t s = atomic_load_explicit(&o->state, memory_order_acquire);
    if (s & OS_TX_DONE)
        return take(o, s, value_out);
    uintptr_t me = prokio__cx_waker(cx);
    if (prokio__waker_slot_register(&o->rx_waker, me) < 0)
        return prokio__error(PROKIO_EBUSY, "prokio_oneshot_recv_poll: a thread blocks on rx");
    /* The waiter's half of the handshake. */
    s = atomic_load_explicit(&o->state, memory_order_seq_cst);
    if (s & OS_TX_DONE) {
        prokio__waker_slot_unregister(&o->rx_waker, me);
        return take(o, s, value_out);
    }
    return PROKIO_PENDING;
}

void prokio_oneshot_rx_release(prokio_oneshot_rx_t *rx)
{
    if (rx == NULL)
        return;
    struct oneshot *o = rx_of(rx);
    prokio__waker_slot_clear(&o->rx_waker);
    atomic_fetch_or_explicit(&o->state, OS_RX_DONE, memory_order_acq_rel);
    unref(o);
}
