/* core/net_sock.c: what listeners, streams and UDP sockets share (net.h):
 * making and adopting descriptors, binding to a worker, options,
 * addresses, closing; and the public op (prokio/op.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error_internal.h"
#include "net.h"
#include "worker.h"

/* ------------------------------------------------------------------ ops */

void prokio__net_op_timer_cancel(struct prokio__net_op *op)
{
    if (op->timer_armed) {
        prokio_sleep_cancel(&op->timer);
        op->timer_armed = false;
    }
}

void prokio_op_cancel(prokio_op_t *op)
{
    if (op == NULL)
        return;
    struct prokio__net_op *o = prokio__net_op(op);
    prokio__net_op_timer_cancel(o);
    prokio__op_cancel(&o->op);
}

bool prokio_op_is_pending(const prokio_op_t *op)
{
    if (op == NULL)
        return false;
    const struct prokio__net_op *o = (const struct prokio__net_op *)(const void *)op;
    return o->op.state != 0 || o->timer_armed;
}

/* ------------------------------------------------------------ addresses */

int prokio__net_addr_check(const prokio_addr_t *addr, const char *fn)
{
    if (addr->len == 0)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the address is empty: fill it with prokio_addr_parse", fn);
    int family = addr->storage.ss_family;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return prokio__error(
            PROKIO_EINVAL, "%s: address family %d: give an IPv4, IPv6 or Unix address", fn, family);
    if (addr->len > sizeof addr->storage)
        return prokio__error(PROKIO_EINVAL, "%s: the address length %u is too large", fn,
                             (unsigned)addr->len);
    return family;
}

const char *prokio__net_addr_text(const prokio_addr_t *addr)
{
    static PROKIO_TLS char text[PROKIO_ADDR_STRLEN];
    if (prokio_addr_format(addr, text, sizeof text) < 0)
        snprintf(text, sizeof text, "(family %d)", addr->storage.ss_family);
    return text;
}

/* ------------------------------------------------------------ creation */

static const char *type_name(int type)
{
    return type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "datagram" : "other";
}

int prokio__sock_socket(int family, int type, const char *fn)
{
    int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        int e = errno;
        return prokio__error(-e, "%s: cannot create a %s socket of family %d: %s", fn,
                             type_name(type), family, strerror(e));
    }
    return fd;
}

int prokio__sock_creation_opts(int fd, int family, unsigned flags, bool reuseaddr, const char *fn)
{
    struct prokio__sock s = {.fd = fd, .family = family};
    int rc = 0;
    if (reuseaddr)
        rc = prokio__sock_setopt(&s, SOL_SOCKET, SO_REUSEADDR, 1, fn, "SO_REUSEADDR");
    if (rc == 0 && (flags & PROKIO_NET_REUSEPORT)) {
#ifdef SO_REUSEPORT
        rc = prokio__sock_setopt(&s, SOL_SOCKET, SO_REUSEPORT, 1, fn, "SO_REUSEPORT");
#else
        rc = prokio__error(PROKIO_ENOTSUP, "%s: this system has no SO_REUSEPORT", fn);
#endif
    }
    if (rc == 0 && (flags & PROKIO_NET_V6ONLY))
        rc = prokio__sock_setopt(&s, IPPROTO_IPV6, IPV6_V6ONLY, 1, fn, "IPV6_V6ONLY");
    return rc;
}

void prokio__sock_init(struct prokio__sock *s, int fd, int family, int type)
{
    memset(s, 0, sizeof *s);
    s->fd = fd;
    s->family = family;
    s->type = type;
    /* A stream of ours (socket(family, SOCK_STREAM, 0), or accepted from a
     * listener of ours) is TCP; prokio__sock_adopt asks the kernel. */
    s->tcp = type == SOCK_STREAM && (family == AF_INET || family == AF_INET6);
}

int prokio__sock_adopt(struct prokio__sock *s, int fd, int type, const char *fn)
{
    if (fd < 0)
        return prokio__error(PROKIO_EBADF, "%s: descriptor %d is not valid", fn, fd);
    int got = 0;
    socklen_t len = sizeof got;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &got, &len) < 0) {
        int e = errno;
        if (e == ENOTSOCK)
            return prokio__error(PROKIO_EINVAL, "%s: descriptor %d is not a socket", fn, fd);
        return prokio__error(-e, "%s: descriptor %d: %s", fn, fd, strerror(e));
    }
    if (got != type)
        return prokio__error(PROKIO_EINVAL, "%s: descriptor %d is a %s socket, not a %s one", fn,
                             fd, type_name(got), type_name(type));
    struct sockaddr_storage ss;
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        int e = errno;
        return prokio__error(-e, "%s: descriptor %d: getsockname: %s", fn, fd, strerror(e));
    }
    int family = ss.ss_family;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return prokio__error(PROKIO_EINVAL,
                             "%s: descriptor %d is of family %d, not IPv4, IPv6 or Unix", fn, fd,
                             family);
    int fl = fcntl(fd, F_GETFL);
    int fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0) {
        int e = errno;
        return prokio__error(-e, "%s: descriptor %d: cannot make it non-blocking: %s", fn, fd,
                             strerror(e));
    }
    prokio__sock_init(s, fd, family, type);
    /* An adopted IPv4/IPv6 stream may be SCTP (a read returns one message
     * and leaves the next queued, with no new report: the short-read rule
     * would wait for ever) or another protocol: the rule is for TCP. */
    if (s->tcp) {
        int proto = 0;
        len = sizeof proto;
        s->tcp = getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_TCP;
    }
    return 0;
}

/* ------------------------------------------------------------- workers */

int prokio__sock_bind_slow(struct prokio__sock *s, prokio_cx_t *cx, const char *fn)
{
    if (PROKIO_LIKELY(s->bound)) {
        if (PROKIO_UNLIKELY(s->io.worker != cx->worker))
            return prokio__error(PROKIO_EXDEV,
                                 "%s: the socket (descriptor %d) belongs to worker %u, and this "
                                 "task runs on worker %u: use it from tasks of its worker "
                                 "(prokio_spawn_local, prokio_spawn_on)",
                                 fn, s->fd, s->io.worker->index, cx->worker->index);
        if (PROKIO_UNLIKELY(s->io.fileno < 0))
            return prokio__error(PROKIO_EBADF, "%s: the socket is being closed", fn);
        return 0;
    }
    int rc = prokio__io_init(&s->io, s->fd, PROKIO__IO_SOCKET, cx);
    if (rc < 0)
        return prokio__error(rc, "%s: cannot use descriptor %d on worker %u: %s", fn, s->fd,
                             cx->worker->index, prokio_strerror(rc));
    s->io.tcp = s->tcp;
    s->bound = true;
    return 0;
}

/* ------------------------------------------------------------- closing */

int prokio__sock_close_poll(prokio_op_t *op, struct prokio__sock *s, prokio_cx_t *cx,
                            const char *fn)
{
    if (!s->bound) {
        /* Never used by a task: nothing in flight, a plain close. */
        int rc = close(s->fd);
        s->fd = -1;
        if (rc < 0) {
            int e = errno;
            return prokio__error(-e, "%s: close: %s", fn, strerror(e));
        }
        return 0;
    }
    if (s->io.worker != cx->worker)
        return prokio__error(PROKIO_EXDEV,
                             "%s: the socket belongs to worker %u, and this task runs on worker "
                             "%u: close it there",
                             fn, s->io.worker->index, cx->worker->index);
    int rc = prokio__io_close_poll(&prokio__net_op(op)->op, &s->io, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    s->fd = -1;
    if (rc < 0)
        return prokio__error(rc, "%s: close: %s", fn, prokio_strerror(rc));
    return 0;
}

int prokio__sock_fini(struct prokio__sock *s, const char *fn)
{
    if (!s->bound) {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        return 0;
    }
    /* A worker thread of another worker would race with the owner. A
     * plain thread is taken to mean "after shutdown", as the header says. */
    if (prokio__tls_worker != NULL && prokio__tls_worker != s->io.worker)
        return prokio__error(PROKIO_EXDEV,
                             "%s: the socket belongs to worker %u, and this is worker %u: free "
                             "it there (or after prokio_runtime_shutdown)",
                             fn, s->io.worker->index, prokio__tls_worker->index);
    prokio__io_fini(&s->io);
    s->fd = -1;
    return 0;
}

/* ------------------------------------------------------ options, names */

int prokio__sock_setopt(const struct prokio__sock *s, int level, int name, int value,
                        const char *fn, const char *what)
{
    if (setsockopt(s->fd, level, name, &value, sizeof value) < 0) {
        int e = errno;
        return prokio__error(-e, "%s: setsockopt %s on descriptor %d: %s", fn, what, s->fd,
                             strerror(e));
    }
    return 0;
}

int prokio__sock_addr(const struct prokio__sock *s, prokio_addr_t *addr, bool peer, const char *fn)
{
    memset(addr, 0, sizeof *addr);
    socklen_t len = sizeof addr->storage;
    int rc = peer ? getpeername(s->fd, (struct sockaddr *)&addr->storage, &len)
                  : getsockname(s->fd, (struct sockaddr *)&addr->storage, &len);
    if (rc < 0) {
        int e = errno;
        memset(addr, 0, sizeof *addr);
        return prokio__error(-e, "%s: %s of descriptor %d: %s", fn,
                             peer ? "getpeername" : "getsockname", s->fd, strerror(e));
    }
    addr->len = len;
    return 0;
}

/* ------------------------------------------------ every socket object */

int prokio__sock_obj_close_poll(prokio_op_t *op, void *obj, prokio_cx_t *cx, const char *fn,
                                const char *arg)
{
    if (op == NULL || obj == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, !op ? "op" : !obj ? arg : "cx");
    int rc = prokio__sock_close_poll(op, obj, cx, fn);
    if (rc == PROKIO_PENDING || rc == PROKIO_EXDEV)
        return rc;
    free(obj);
    return rc;
}

int prokio__sock_obj_free(void *obj, const char *fn)
{
    if (obj == NULL)
        return 0;
    int rc = prokio__sock_fini(obj, fn);
    if (rc < 0)
        return rc;
    free(obj);
    return 0;
}

int prokio__sock_obj_addr(const void *obj, prokio_addr_t *addr, bool peer, const char *fn,
                          const char *arg)
{
    if (obj == NULL || addr == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, obj ? "addr" : arg);
    return prokio__sock_addr(obj, addr, peer, fn);
}

int prokio__sock_obj_fileno(const void *obj, const char *fn, const char *arg)
{
    if (obj == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, arg);
    return ((const struct prokio__sock *)obj)->fd;
}
