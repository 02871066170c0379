/* core/net.h: what the socket objects of prokio/net.h share.
 *
 * Every object (listener, stream, UDP socket) starts with a struct
 * prokio__sock: the descriptor, its family and type, and the ops' view of
 * it (struct prokio__io, op.h), made at the first awaitable call so that
 * the object belongs to the worker of the task that first uses it (it can
 * be created anywhere). Until then the descriptor is the sock's own, and
 * freeing it is a plain close, from any thread.
 *
 * The public prokio_op_t is a struct net_op: the ops' struct prokio__op,
 * and a sleep for the two calls that need a timer of their own (connect's
 * timeout, accept's back-off when out of descriptors). */
#ifndef PROKIO_CORE_NET_H
#define PROKIO_CORE_NET_H

#include <sys/socket.h>

#include <prokio/net.h>

#include "cx.h"
#include "internal.h"
#include "op.h"

struct prokio__sock {
    struct prokio__io io; /* zero until bound (prokio__sock_bind) */
    int fd;               /* the descriptor; io's once bound */
    int family;           /* AF_INET, AF_INET6, AF_UNIX */
    int type;             /* SOCK_STREAM, SOCK_DGRAM */
    bool bound;           /* io was made: the object belongs to io.worker */
    bool tcp;             /* a TCP stream (op.c's short-read rule holds for TCP only) */
};

struct prokio__net_op {
    struct prokio__op op;
    prokio_sleep_t timer; /* connect timeout, accept back-off */
    bool timer_armed;
};
_Static_assert(sizeof(struct prokio__net_op) <= sizeof(prokio_op_t),
               "prokio_op_t (PROKIO_OP_SIZE) is too small for the core's op");
_Static_assert(_Alignof(struct prokio__net_op) <= _Alignof(prokio_op_t),
               "prokio_op_t is not aligned enough for the core's op");

static inline struct prokio__net_op *prokio__net_op(prokio_op_t *op)
{
    return (struct prokio__net_op *)(void *)op;
}

/* Disarms the op's timer, if armed. */
void prokio__net_op_timer_cancel(struct prokio__net_op *op);

/* Makes a socket of (family, type), close-on-exec and non-blocking.
 * Returns the descriptor or an error naming `fn`. */
int prokio__sock_socket(int family, int type, const char *fn);

/* Takes fd into s (family and type read from the socket). `type` is the
 * type it must have; `fn` names the caller. Nothing changed on failure. */
int prokio__sock_adopt(struct prokio__sock *s, int fd, int type, const char *fn);

/* Fills s from a descriptor made here. */
void prokio__sock_init(struct prokio__sock *s, int fd, int family, int type);

/* Binds s to cx's worker at the first awaitable call (io made), or checks
 * it is that worker: 0, or PROKIO_EXDEV / the io's error naming `fn`.
 * Inline: every read and write asks, and almost always the answer is 0. */
int prokio__sock_bind_slow(struct prokio__sock *s, prokio_cx_t *cx, const char *fn);
static inline int prokio__sock_bind(struct prokio__sock *s, prokio_cx_t *cx, const char *fn)
{
    if (PROKIO_LIKELY(s->bound && s->io.worker == cx->worker && s->io.fileno >= 0))
        return 0;
    return prokio__sock_bind_slow(s, cx, fn);
}

/* The close of every object: PROKIO_PENDING, then 0 or close's error; the
 * descriptor is closed then (the caller frees the object). */
int prokio__sock_close_poll(prokio_op_t *op, struct prokio__sock *s, prokio_cx_t *cx,
                            const char *fn);

/* Closes s at once (drop functions). PROKIO_EXDEV (nothing done) on
 * another worker's thread; 0 otherwise (the caller frees the object). */
int prokio__sock_fini(struct prokio__sock *s, const char *fn);

/* getsockname / getpeername into addr. */
int prokio__sock_addr(const struct prokio__sock *s, prokio_addr_t *addr, bool peer, const char *fn);

/* The public functions every socket object has (prokio_stream_t,
 * prokio_listener_t, prokio_udp_t: each starts with its struct
 * prokio__sock), done once. obj is the caller's pointer, checked for NULL
 * and named `arg` in the message; fn is the public function. close_poll
 * and free free obj once its descriptor is closed. */
int prokio__sock_obj_close_poll(prokio_op_t *op, void *obj, prokio_cx_t *cx, const char *fn,
                                const char *arg);
int prokio__sock_obj_free(void *obj, const char *fn);
int prokio__sock_obj_addr(const void *obj, prokio_addr_t *addr, bool peer, const char *fn,
                          const char *arg);
int prokio__sock_obj_fileno(const void *obj, const char *fn, const char *arg);

/* setsockopt, with a message naming fn and the option. */
int prokio__sock_setopt(const struct prokio__sock *s, int level, int name, int value,
                        const char *fn, const char *what);

/* The sockaddr family of a usable address, or PROKIO_EINVAL naming fn. */
int prokio__net_addr_check(const prokio_addr_t *addr, const char *fn);

/* The text of an address for messages (a static per-thread buffer). */
const char *prokio__net_addr_text(const prokio_addr_t *addr);

/* Sets the options of flags (PROKIO_NET_REUSEPORT, _V6ONLY) on a fresh
 * socket of `family`; SO_REUSEADDR too when `reuseaddr`. */
int prokio__sock_creation_opts(int fd, int family, unsigned flags, bool reuseaddr, const char *fn);

/* On WebAssembly, every socket call answers this. */
#ifdef __EMSCRIPTEN__
#define PROKIO__NET_UNSUPPORTED(fn)                                                                \
    return prokio__error(PROKIO_ENOTSUP,                                                           \
                         "%s: no sockets on WebAssembly: use the JS bridge (prokio/js.h) for "     \
                         "fetch or WebSocket",                                                     \
                         fn)
#else
#define PROKIO__NET_UNSUPPORTED(fn) (void)0
#endif

#endif
