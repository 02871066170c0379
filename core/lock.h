/* core/lock.h: the small lock inside every channel and sync primitive.
 *
 * Why not pthread_mutex_t: the lock is taken around a few loads and stores
 * (push a value, pop a waiter), on every channel operation; glibc's mutex is
 * a call through the PLT and a type dispatch each way, which in a
 * request-reply round trip (four lock/unlock pairs) cost more than the
 * channel work itself. This is the classic three-state futex lock
 * (Drepper, "Futexes Are Tricky", mutex 3): one compare-exchange to take
 * it, one exchange to drop it, inline; a thread that finds it taken spins
 * briefly (the holder is usually running, for a few nanoseconds), then
 * sleeps in the kernel. Never held across a call that can block, a wake
 * of another worker or user code, except the value destructors the
 * channels document. */
#ifndef PROKIO_CORE_LOCK_H
#define PROKIO_CORE_LOCK_H

#include <stdatomic.h>
#include <stdint.h>

#include "internal.h"

struct prokio__lock {
    _Atomic uint32_t state; /* 0 free, 1 held, 2 held and someone may sleep on it */
};

#define PROKIO__LOCK_INIT                                                                          \
    {                                                                                              \
        0                                                                                          \
    }

void prokio__lock_acquire_slow(struct prokio__lock *l);
void prokio__lock_wake(struct prokio__lock *l);

static inline void prokio__lock_acquire(struct prokio__lock *l)
{
    uint32_t free_ = 0;
    if (PROKIO_LIKELY(atomic_compare_exchange_strong_explicit(
            &l->state, &free_, 1, memory_order_acquire, memory_order_relaxed)))
        return;
    prokio__lock_acquire_slow(l);
}

static inline void prokio__lock_release(struct prokio__lock *l)
{
    if (PROKIO_UNLIKELY(atomic_exchange_explicit(&l->state, 0, memory_order_release) == 2))
        prokio__lock_wake(l);
}

#endif
