/* core/net_stream.c: connected stream sockets, TCP and Unix
 * (prokio_stream_t of prokio/net.h). Every read and write is one op of
 * core/op.c; what this file adds is the public contract: argument checks,
 * messages, write-all's progress, connect's timeout. */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error_internal.h"
#include "net.h"

struct prokio_stream {
    struct prokio__sock sock; /* first: net_listener.c reads a stream's sock through a cast */
};
_Static_assert(offsetof(struct prokio_stream, sock) == 0,
               "net_sock.c's prokio__sock_obj_* take the object for its sock");

/* Reads and writes move at most INT_MAX bytes, so that the count fits the
 * int result. */
static size_t clamp(size_t len)
{
    return len > INT_MAX ? INT_MAX : len;
}

int prokio__stream_wrap(prokio_stream_t **out, int fd, int family);
int prokio__stream_wrap(prokio_stream_t **out, int fd, int family)
{
    prokio_stream_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_listener_accept_poll: no memory for the "
                                            "accepted stream (the connection is closed)");
    prokio__sock_init(&s->sock, fd, family, SOCK_STREAM);
    *out = s;
    return 0;
}

/* An op's error, with a message unless the ops layer wrote one (its own
 * refusals: EXDEV, EBADF, EINVAL). */
static int op_error(int rc, const struct prokio__sock *s, const char *fn, const char *what)
{
    if (rc == PROKIO_EXDEV || rc == PROKIO_EBADF || rc == PROKIO_EINVAL)
        return rc;
    return prokio__error(rc, "%s: %s on descriptor %d: %s", fn, what, s->fd, prokio_strerror(rc));
}

/* ------------------------------------------------------------- connect */

/* Frees a stream whose connect failed, and says why. */
static int connect_failed(prokio_stream_t **out, struct prokio__net_op *o, int rc,
                          const prokio_addr_t *addr)
{
    prokio__net_op_timer_cancel(o);
    prokio__op_cancel(&o->op);
    prokio_stream_free(*out);
    *out = NULL;
    return prokio__error(rc, "prokio_stream_connect_poll: cannot connect to %s: %s%s",
                         prokio__net_addr_text(addr), prokio_strerror(rc),
                         rc == PROKIO_ETIMEDOUT      ? " (the timeout passed first)"
                         : rc == PROKIO_ECONNREFUSED ? " (nothing listens there)"
                                                     : "");
}

int prokio_stream_connect_poll(prokio_stream_t **out, prokio_op_t *op, const prokio_addr_t *addr,
                               uint64_t timeout_ns, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_stream_connect_poll";
    if (out == NULL || op == NULL || addr == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn,
                             !out    ? "out"
                             : !op   ? "op"
                             : !addr ? "addr"
                                     : "cx");
    PROKIO__NET_UNSUPPORTED(fn);
    struct prokio__net_op *o = prokio__net_op(op);
    prokio_stream_t *s = *out;
    if (s == NULL) {
        int family = prokio__net_addr_check(addr, fn);
        if (family < 0)
            return family;
        int fd = prokio__sock_socket(family, SOCK_STREAM, fn);
        if (fd < 0)
            return fd;
        int rc = prokio__stream_wrap(&s, fd, family);
        if (rc < 0) {
            close(fd);
            return prokio__error(rc, "%s: no memory", fn);
        }
        rc = prokio__sock_bind(&s->sock, cx, fn);
        if (rc < 0) {
            prokio_stream_free(s);
            return rc;
        }
        *out = s;
        if (timeout_ns != 0) {
            prokio_sleep_init(&o->timer, timeout_ns);
            o->timer_armed = true;
        }
    }
    int rc = prokio__op_connect_poll(&o->op, &s->sock.io, (const struct sockaddr *)&addr->storage,
                                     addr->len, cx);
    if (rc == PROKIO_PENDING) {
        /* The connection first, then the deadline: a connection that is
         * there is never lost to a timeout that passed meanwhile. */
        if (o->timer_armed && prokio_sleep_poll(&o->timer, cx) == 0) {
            o->timer_armed = false;
            return connect_failed(out, o, PROKIO_ETIMEDOUT, addr);
        }
        return rc;
    }
    if (rc < 0) {
        if (rc == PROKIO_EXDEV || rc == PROKIO_EINVAL)
            return rc; /* a refusal of the call, not of the connection: *out stays */
        return connect_failed(out, o, rc, addr);
    }
    prokio__net_op_timer_cancel(o);
    return 0;
}

int prokio_stream_from_fd(prokio_stream_t **out, int fileno, unsigned flags)
{
    static const char fn[] = "prokio_stream_from_fd";
    if (out)
        *out = NULL;
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: out is NULL", fn);
    PROKIO__NET_UNSUPPORTED(fn);
    if (flags != 0)
        return prokio__error(PROKIO_EINVAL, "%s: flags %#x: give 0", fn, flags);
    prokio_stream_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory", fn);
    int rc = prokio__sock_adopt(&s->sock, fileno, SOCK_STREAM, fn);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ------------------------------------------------------ read and write */

#define CHECK_OP_ARGS(fn, op, s, buf, cx)                                                          \
    do {                                                                                           \
        if (op == NULL || s == NULL || buf == NULL || cx == NULL)                                  \
            return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn,                              \
                                 !op    ? "op"                                                     \
                                 : !s   ? "s"                                                      \
                                 : !buf ? #buf                                                     \
                                        : "cx");                                                   \
        PROKIO__NET_UNSUPPORTED(fn);                                                               \
    } while (0)

int prokio_stream_read_poll(prokio_op_t *op, prokio_stream_t *s, void *buf, size_t len,
                            prokio_cx_t *cx)
{
    static const char fn[] = "prokio_stream_read_poll";
    CHECK_OP_ARGS(fn, op, s, buf, cx);
    int rc = prokio__sock_bind(&s->sock, cx, fn);
    if (rc < 0)
        return rc;
    rc = prokio__op_recv_poll(&prokio__net_op(op)->op, &s->sock.io, buf, clamp(len), 0, cx);
    if (rc < 0 && rc != PROKIO_PENDING)
        return op_error(rc, &s->sock, fn, "recv");
    return rc;
}

int prokio_stream_write_poll(prokio_op_t *op, prokio_stream_t *s, const void *buf, size_t len,
                             prokio_cx_t *cx)
{
    static const char fn[] = "prokio_stream_write_poll";
    CHECK_OP_ARGS(fn, op, s, buf, cx);
    int rc = prokio__sock_bind(&s->sock, cx, fn);
    if (rc < 0)
        return rc;
    rc = prokio__op_send_poll(&prokio__net_op(op)->op, &s->sock.io, buf, clamp(len), 0, cx);
    if (rc < 0 && rc != PROKIO_PENDING)
        return op_error(rc, &s->sock, fn, "send");
    return rc;
}

int prokio_stream_write_all_poll(prokio_op_t *op, prokio_stream_t *s, const void *buf, size_t len,
                                 size_t *written, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_stream_write_all_poll";
    CHECK_OP_ARGS(fn, op, s, buf, cx);
    if (written == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: written is NULL", fn);
    if (*written > len)
        return prokio__error(PROKIO_EINVAL,
                             "%s: *written (%zu) is beyond len (%zu): set it to 0 before the "
                             "first poll",
                             fn, *written, len);
    int rc = prokio__sock_bind(&s->sock, cx, fn);
    if (rc < 0)
        return rc;
    /* Each send is one op; the ops layer spends the cooperative budget on
     * each, so a long write to a fast reader still lets the worker breathe. */
    while (*written < len) {
        rc = prokio__op_send_poll(&prokio__net_op(op)->op, &s->sock.io,
                                  (const char *)buf + *written, clamp(len - *written), 0, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0)
            return op_error(rc, &s->sock, fn, "send");
        *written += (size_t)rc;
    }
    return 0;
}

int prokio_stream_writev_poll(prokio_op_t *op, prokio_stream_t *s, const struct iovec *iov,
                              int iovcnt, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_stream_writev_poll";
    CHECK_OP_ARGS(fn, op, s, iov, cx);
    if (iovcnt <= 0 || iovcnt > IOV_MAX)
        return prokio__error(PROKIO_EINVAL, "%s: iovcnt %d: give 1 to %d buffers", fn, iovcnt,
                             IOV_MAX);
    int rc = prokio__sock_bind(&s->sock, cx, fn);
    if (rc < 0)
        return rc;
    rc = prokio__op_sendmsg_poll(&prokio__net_op(op)->op, &s->sock.io, iov, iovcnt, cx);
    if (rc < 0 && rc != PROKIO_PENDING)
        return op_error(rc, &s->sock, fn, "sendmsg");
    return rc;
}

/* ------------------------------------------------------------ the rest */

int prokio_stream_shutdown(prokio_stream_t *s, unsigned how)
{
    static const char fn[] = "prokio_stream_shutdown";
    if (s == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: s is NULL", fn);
    PROKIO__NET_UNSUPPORTED(fn);
    int h = how == PROKIO_SHUT_READ    ? SHUT_RD
            : how == PROKIO_SHUT_WRITE ? SHUT_WR
            : how == PROKIO_SHUT_BOTH  ? SHUT_RDWR
                                       : -1;
    if (h < 0)
        return prokio__error(PROKIO_EINVAL,
                             "%s: how %#x: give PROKIO_SHUT_READ, PROKIO_SHUT_WRITE or "
                             "PROKIO_SHUT_BOTH",
                             fn, how);
    if (shutdown(s->sock.fd, h) < 0) {
        int e = errno;
        return prokio__error(-e, "%s: descriptor %d: %s", fn, s->sock.fd, strerror(e));
    }
    return 0;
}

static int tcp_only(const prokio_stream_t *s, const char *fn)
{
    if (s->sock.family == AF_UNIX)
        return prokio__error(PROKIO_ENOTSUP, "%s: a Unix stream has no TCP options", fn);
    return 0;
}

int prokio_stream_set_nodelay(prokio_stream_t *s, bool on)
{
    static const char fn[] = "prokio_stream_set_nodelay";
    if (s == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: s is NULL", fn);
    PROKIO__NET_UNSUPPORTED(fn);
    int rc = tcp_only(s, fn);
    return rc < 0 ? rc
                  : prokio__sock_setopt(&s->sock, IPPROTO_TCP, TCP_NODELAY, on, fn, "TCP_NODELAY");
}

int prokio_stream_set_keepalive(prokio_stream_t *s, unsigned idle_seconds)
{
    static const char fn[] = "prokio_stream_set_keepalive";
    if (s == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: s is NULL", fn);
    PROKIO__NET_UNSUPPORTED(fn);
    int rc = tcp_only(s, fn);
    if (rc < 0)
        return rc;
    if (idle_seconds > INT_MAX)
        return prokio__error(PROKIO_EINVAL, "%s: idle_seconds %u is too large", fn, idle_seconds);
    rc = prokio__sock_setopt(&s->sock, SOL_SOCKET, SO_KEEPALIVE, idle_seconds != 0, fn,
                             "SO_KEEPALIVE");
#ifdef TCP_KEEPIDLE
    if (rc == 0 && idle_seconds != 0)
        rc = prokio__sock_setopt(&s->sock, IPPROTO_TCP, TCP_KEEPIDLE, (int)idle_seconds, fn,
                                 "TCP_KEEPIDLE");
#endif
    return rc;
}

int prokio_stream_local_addr(const prokio_stream_t *s, prokio_addr_t *addr)
{
    return prokio__sock_obj_addr(s, addr, false, "prokio_stream_local_addr", "s");
}

int prokio_stream_peer_addr(const prokio_stream_t *s, prokio_addr_t *addr)
{
    return prokio__sock_obj_addr(s, addr, true, "prokio_stream_peer_addr", "s");
}

int prokio_stream_fileno(const prokio_stream_t *s)
{
    return prokio__sock_obj_fileno(s, "prokio_stream_fileno", "s");
}

int prokio_stream_close_poll(prokio_op_t *op, prokio_stream_t *s, prokio_cx_t *cx)
{
    return prokio__sock_obj_close_poll(op, s, cx, "prokio_stream_close_poll", "s");
}

int prokio_stream_free(prokio_stream_t *s)
{
    return prokio__sock_obj_free(s, "prokio_stream_free");
}
