/* tests/conformance/net_common.h: what the net_*.c tests share. */
#ifndef PROKIO_TESTS_NET_COMMON_H
#define PROKIO_TESTS_NET_COMMON_H

#include "conformance.h"

/* Sockets are not on WebAssembly (every socket call is PROKIO_ENOTSUP). */
#define NET_SKIP_ON_WASM() TEST_SKIP_ON_WASM("no sockets on WebAssembly")

/* Coroutine steps for the net tasks, as prokio/coro.h's, with the task's
 * bound: a frame that has `int co`, `struct conf_timeout to` and
 * `int timed_out` ends with PROKIO_ETIMEDOUT (timed_out = the line) when
 * an await outlives conf_timeout_ns(), instead of hanging the suite. */
#define NET_BEGIN(f)                                                                               \
    switch ((f)->co) {                                                                             \
    case 0:
#define NET_END(f, rc)                                                                             \
    }                                                                                              \
    (f)->co = -1;                                                                                  \
    return (rc)
#define NET_AWAIT(f, cx, lv, expr)                                                                 \
    do {                                                                                           \
        (f)->co = __LINE__;                                                                        \
        /* fall through */                                                                         \
    case __LINE__:                                                                                 \
        if (((lv) = (expr)) == PROKIO_PENDING) {                                                   \
            if (!conf_timed_out(&(f)->to, cx))                                                     \
                return PROKIO_PENDING;                                                             \
            (f)->timed_out = __LINE__;                                                             \
            return PROKIO_ETIMEDOUT;                                                               \
        }                                                                                          \
    } while (0)

/* A resume point of its own, for a step that polls several things at
 * once: the task comes back here at its next poll. One per line. */
#define NET_POINT(f)                                                                               \
    (f)->co = __LINE__;                                                                            \
    /* fall through */                                                                             \
    case __LINE__:

/* A listener on `text` ("127.0.0.1:0"...), its address in *addr. */
prokio_listener_t *net_listen(const char *text, prokio_addr_t *addr);

/* True when this machine can bind ::1 (else *why says why not). */
bool net_have_ipv6(const char **why);

/* The byte at offset i of the test pattern. */
static inline unsigned char net_pattern(size_t i)
{
    return (unsigned char)((i * 7 + (i >> 8)) & 0xff);
}

/* The descriptors open in this process. */
int net_open_fds(void);

#endif
