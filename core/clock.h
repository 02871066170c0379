/* core/clock.h: deadline arithmetic. The clock itself is the backend's
 * now_ns (which may be virtual: a simulation backend); the default one
 * offered to backends is prokio__monotonic_ns (platform.h). */
#ifndef PROKIO_CORE_CLOCK_H
#define PROKIO_CORE_CLOCK_H

#include <stdint.h>

/* a + b, saturating at UINT64_MAX ("never") instead of wrapping to the
 * past: a huge timeout must not fire at once. */
static inline uint64_t prokio__add_sat(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r < a ? UINT64_MAX : r;
}

#endif
