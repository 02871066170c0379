/* core/debug.h: assertions of the core's invariants.
 *
 * On in debug builds (configure --enable-debug defines PROKIO_DEBUG_ASSERTS),
 * compiled out otherwise: the condition is not even evaluated. They guard
 * invariants only, never runtime conditions (those get an error code): a
 * failed one is a bug in Prokio, or memory of the runtime corrupted by the
 * application (a waker used after its last release, a handle released
 * twice). It prints what was expected and aborts, so that a debugger or a
 * sanitizer shows where. */
#ifndef PROKIO_CORE_DEBUG_H
#define PROKIO_CORE_DEBUG_H

#include "internal.h"

#ifdef PROKIO_DEBUG_ASSERTS
#define PROKIO__ASSERT(cond, ...)                                                                  \
    do {                                                                                           \
        if (PROKIO_UNLIKELY(!(cond)))                                                              \
            prokio__assert_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
    } while (0)
#define PROKIO__DEBUG_ONLY(...) __VA_ARGS__
#else
#define PROKIO__ASSERT(cond, ...) ((void)0)
#define PROKIO__DEBUG_ONLY(...)
#endif

/* Prints "prokio: invariant broken at FILE:LINE: COND: message" on stderr
 * and aborts. Thread: any. */
_Noreturn void prokio__assert_failed(const char *file, int line, const char *cond, const char *fmt,
                                     ...) __attribute__((format(printf, 4, 5)));

#endif
