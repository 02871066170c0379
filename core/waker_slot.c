/* core/waker_slot.c: see waker_slot.h. */
#include "error_internal.h"
#include "waker.h"
#include "waker_slot.h"

int prokio__waker_slot_register(struct prokio__waker_slot *slot, uintptr_t waker)
{
    uintptr_t cur = atomic_load_explicit(&slot->waker, memory_order_seq_cst);
    if (cur == waker)
        return 0;
    uintptr_t mine = prokio__waker_clone(waker);
    for (;;) {
        if (cur & PROKIO__WAKER_PARKER) {
            prokio__waker_release(mine);
            return PROKIO_EBUSY;
        }
        if (atomic_compare_exchange_weak_explicit(&slot->waker, &cur, mine, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            break;
        if (cur == waker) { /* registered meanwhile by the same waiter */
            prokio__waker_release(mine);
            return 0;
        }
    }
    if (cur) {
        /* A task displaced by a thread may be waiting still: woken, it
         * polls again and learns (PROKIO_EBUSY) instead of waiting for
         * ever. A task displaced by a task is not woken: the handle was
         * handed over, and two tasks polling it would wake each other in
         * turn for ever. */
        if (waker & PROKIO__WAKER_PARKER)
            prokio__waker_wake_by_ref(cur);
        prokio__waker_release(cur);
    }
    return 0;
}

void prokio__waker_slot_unregister(struct prokio__waker_slot *slot, uintptr_t waker)
{
    uintptr_t expected = waker;
    if (atomic_compare_exchange_strong_explicit(&slot->waker, &expected, 0, memory_order_acq_rel,
                                                memory_order_relaxed))
        prokio__waker_release(waker);
}

void prokio__waker_slot_wake_slow(struct prokio__waker_slot *slot)
{
    uintptr_t w = atomic_exchange_explicit(&slot->waker, 0, memory_order_acq_rel);
    if (w)
        prokio__waker_wake(w);
}

void prokio__waker_slot_clear_slow(struct prokio__waker_slot *slot)
{
    uintptr_t w = atomic_exchange_explicit(&slot->waker, 0, memory_order_acq_rel);
    if (w)
        prokio__waker_release(w);
}
