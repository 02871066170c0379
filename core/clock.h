/* core/clock.h: the default clock, offered to backends as
 * host->monotonic_ns. Deadlines are always read from the backend's now_ns,
 * which may be virtual (a simulation backend). */
#ifndef PROKIO_CLOCK_H
#define PROKIO_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. Thread: any. */
uint64_t prokio__monotonic_ns(void);

/* a + b, saturating at UINT64_MAX ("never") instead of wrapping to the
 * past: a huge timeout must not fire at once. */
static inline uint64_t prokio__add_sat(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r < a ? UINT64_MAX : r;
}

#endif
