/* core/waker_slot.h: the one waiter of something that completes once or
 * repeatedly: a JoinHandle's joiner, a oneshot's receiver, and later every
 * single-consumer channel end (Tokio's AtomicWaker).
 *
 * The slot is one atomic word holding a waker (a tagged pointer, waker.h) or
 * 0. Every store and every take is an atomic exchange or compare-exchange,
 * so each waker put in is released exactly once, by whoever takes it out,
 * even when a waiter and the completer race, or when a careless caller
 * registers from two threads at once.
 *
 * The protocol with the completer, whose condition lives elsewhere (the
 * task's COMPLETE bit, the oneshot's TX_DONE):
 *   waiter:     register(slot, me); then re-check the condition; if it now
 *               holds, unregister(slot, me) and take the result.
 *   completer:  publish the condition; then wake(slot).
 * Both sides' two steps are sequentially consistent, so at least one of
 * them sees the other: the waiter sees the condition, or the completer sees
 * the waker (a Dekker handshake: no wakeup is lost, and a spurious one at
 * worst). */
#ifndef PROKIO_CORE_WAKER_SLOT_H
#define PROKIO_CORE_WAKER_SLOT_H

#include "internal.h"

struct prokio__waker_slot {
    _Atomic uintptr_t waker; /* 0: nobody waits */
};

/* Stores a clone of `waker` as the one to wake, replacing (and releasing) a
 * task's waker that was there: a handle handed from one task to another is
 * awaited by the last one that polled. A thread blocked on the slot (a
 * parker) is never displaced: then returns PROKIO_EBUSY, storing nothing.
 * A parker that displaces a task wakes it, so that a task still waiting
 * polls again and gets PROKIO_EBUSY rather than waiting for ever (a task
 * that has moved on just sees a spurious wake). Returns 0 when stored, or
 * when the slot already held `waker` (no clone). Thread: any. */
int prokio__waker_slot_register(struct prokio__waker_slot *slot, uintptr_t waker);

/* Takes `waker` back if the slot still holds it (the waiter saw the
 * condition itself, or gives up). Thread: any. */
void prokio__waker_slot_unregister(struct prokio__waker_slot *slot, uintptr_t waker);

/* Takes whatever waker is there and wakes it, releasing the slot's
 * reference. Inline when nobody waits (one load). Thread: any. */
void prokio__waker_slot_wake_slow(struct prokio__waker_slot *slot);

static inline void prokio__waker_slot_wake(struct prokio__waker_slot *slot)
{
    /* The load is the completer's half of the handshake: sequentially
     * consistent, after the store that published the condition. */
    if (atomic_load_explicit(&slot->waker, memory_order_seq_cst) != 0)
        prokio__waker_slot_wake_slow(slot);
}

/* Takes whatever waker is there and releases it without waking. Inline
 * when empty: every task's end passes here. Thread: any. */
void prokio__waker_slot_clear_slow(struct prokio__waker_slot *slot);

static inline void prokio__waker_slot_clear(struct prokio__waker_slot *slot)
{
    if (atomic_load_explicit(&slot->waker, memory_order_acquire) != 0)
        prokio__waker_slot_clear_slow(slot);
}

#endif
