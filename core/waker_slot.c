/* core/waker_slot.c: see waker_slot.h. */
#include <sched.h>

#include "error_internal.h"
#include "waker.h"
#include "waker_slot.h"

/* What the slot holds while a thread looks at the task waker it found there
 * (register, below). Never a waker: a task waker is a 16-byte aligned
 * pointer, a parker's is an aligned pointer tagged 1. */
#define CHECKING ((uintptr_t)3)

/* A thread that wants to block on the slot found a task's waker there and
 * took it out (the slot holds CHECKING), so it owns the slot's reference
 * and may look at the task. A task that has not ended still awaits: it is
 * put back, and the thread gets PROKIO_EBUSY. A task that ended awaits
 * nothing any more: the thread takes its place (0). Returns 1, `mine` still
 * the caller's, when the slot was emptied meanwhile and the thread should
 * register afresh. */
static int check_task(struct prokio__waker_slot *slot, uintptr_t task, uintptr_t mine)
{
    bool awaits = prokio__waker_task_alive(task);
    uintptr_t expected = CHECKING;
    if (atomic_compare_exchange_strong_explicit(&slot->waker, &expected, awaits ? task : mine,
                                                memory_order_seq_cst, memory_order_seq_cst)) {
        prokio__waker_release(awaits ? mine : task);
        return awaits ? PROKIO_EBUSY : 0;
    }
    /* Only a wake or a clear replaces CHECKING, and they leave it alone:
     * the slot is empty. A task that awaits gets the wake it missed. */
    if (awaits) {
        prokio__waker_release(mine);
        prokio__waker_wake_by_ref(task);
        prokio__waker_release(task);
        return PROKIO_EBUSY;
    }
    prokio__waker_release(task);
    return 1;
}

int prokio__waker_slot_register(struct prokio__waker_slot *slot, uintptr_t waker)
{
    bool thread = (waker & PROKIO__WAKER_PARKER) != 0;
    uintptr_t cur = atomic_load_explicit(&slot->waker, memory_order_seq_cst);
    if (cur == waker)
        return 0;
    uintptr_t mine = prokio__waker_clone(waker);
    for (;;) {
        if (cur == CHECKING && !thread) {
            /* A thread looks at the task waker it found there: a moment. */
            sched_yield();
            cur = atomic_load_explicit(&slot->waker, memory_order_seq_cst);
            continue;
        }
        if (cur & PROKIO__WAKER_PARKER) { /* a thread blocks here (or is about to: CHECKING) */
            prokio__waker_release(mine);
            return PROKIO_EBUSY;
        }
        if (thread && cur != 0) {
            /* A task's waker: take it out to see whether the task awaits. */
            if (atomic_compare_exchange_weak_explicit(&slot->waker, &cur, CHECKING,
                                                      memory_order_seq_cst, memory_order_seq_cst)) {
                int rc = check_task(slot, cur, mine);
                if (rc <= 0)
                    return rc;
                cur = atomic_load_explicit(&slot->waker, memory_order_seq_cst);
            }
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&slot->waker, &cur, mine, memory_order_seq_cst,
                                                  memory_order_seq_cst))
            break;
        if (cur == waker) { /* registered meanwhile by the same waiter */
            prokio__waker_release(mine);
            return 0;
        }
    }
    if (cur)
        prokio__waker_release(cur);
    return 0;
}

void prokio__waker_slot_unregister(struct prokio__waker_slot *slot, uintptr_t waker)
{
    uintptr_t expected = waker;
    if (atomic_compare_exchange_strong_explicit(&slot->waker, &expected, 0, memory_order_acq_rel,
                                                memory_order_relaxed))
        prokio__waker_release(waker);
}

void prokio__waker_slot_wake(struct prokio__waker_slot *slot)
{
    /* The load is the completer's half of the handshake: sequentially
     * consistent, after the store that published the condition. */
    if (atomic_load_explicit(&slot->waker, memory_order_seq_cst) == 0)
        return;
    uintptr_t w = atomic_exchange_explicit(&slot->waker, 0, memory_order_acq_rel);
    if (w && w != CHECKING) { /* CHECKING: the thread that put it wakes the task it holds */
        prokio__waker_wake_by_ref(w);
        prokio__waker_release(w);
    }
}

void prokio__waker_slot_clear(struct prokio__waker_slot *slot)
{
    if (atomic_load_explicit(&slot->waker, memory_order_acquire) == 0)
        return;
    uintptr_t w = atomic_exchange_explicit(&slot->waker, 0, memory_order_acq_rel);
    if (w && w != CHECKING)
        prokio__waker_release(w);
}
