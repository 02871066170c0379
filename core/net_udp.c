/* core/net_udp.c: UDP sockets (prokio_udp_t of prokio/net.h). */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error_internal.h"
#include "net.h"

struct prokio_udp {
    struct prokio__sock sock;
};
_Static_assert(offsetof(struct prokio_udp, sock) == 0,
               "net_sock.c's prokio__sock_obj_* take the object for its sock");

static int inet_only(const prokio_addr_t *addr, const char *fn)
{
    int family = prokio__net_addr_check(addr, fn);
    if (family == AF_UNIX)
        return prokio__error(PROKIO_EINVAL, "%s: %s is a Unix address: UDP takes IPv4 or IPv6", fn,
                             prokio__net_addr_text(addr));
    return family;
}

static int op_error(int rc, const prokio_udp_t *u, const char *fn, const char *what)
{
    if (rc == PROKIO_EXDEV || rc == PROKIO_EBADF || rc == PROKIO_EINVAL)
        return rc;
    if (rc == -EDESTADDRREQ)
        return prokio__error(PROKIO_ENOTCONN,
                             "%s: descriptor %d has no peer: prokio_udp_connect first, or send "
                             "with prokio_udp_send_to_poll",
                             fn, u->sock.fd);
    return prokio__error(rc, "%s: %s on descriptor %d: %s", fn, what, u->sock.fd,
                         prokio_strerror(rc));
}

int prokio_udp_bind(prokio_udp_t **out, const prokio_addr_t *addr, unsigned flags)
{
    static const char fn[] = "prokio_udp_bind";
    if (out)
        *out = NULL;
    if (out == NULL || addr == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, out ? "addr" : "out");
    PROKIO__NET_UNSUPPORTED(fn);
    int family = inet_only(addr, fn);
    if (family < 0)
        return family;
    if (flags & ~(PROKIO_NET_REUSEPORT | PROKIO_NET_V6ONLY))
        return prokio__error(PROKIO_EINVAL,
                             "%s: flags %#x: give 0, PROKIO_NET_REUSEPORT or PROKIO_NET_V6ONLY", fn,
                             flags);
    int fd = prokio__sock_socket(family, SOCK_DGRAM, fn);
    if (fd < 0)
        return fd;
    int rc = prokio__sock_creation_opts(fd, family, flags, false, fn);
    if (rc == 0 && bind(fd, (const struct sockaddr *)&addr->storage, addr->len) < 0) {
        int e = errno;
        rc = prokio__error(-e, "%s: cannot bind %s: %s", fn, prokio__net_addr_text(addr),
                           strerror(e));
    }
    prokio_udp_t *u = rc == 0 ? calloc(1, sizeof *u) : NULL;
    if (rc == 0 && u == NULL)
        rc = prokio__error(PROKIO_ENOMEM, "%s: no memory", fn);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    prokio__sock_init(&u->sock, fd, family, SOCK_DGRAM);
    *out = u;
    return 0;
}

int prokio_udp_from_fd(prokio_udp_t **out, int fileno, unsigned flags)
{
    static const char fn[] = "prokio_udp_from_fd";
    if (out)
        *out = NULL;
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: out is NULL", fn);
    PROKIO__NET_UNSUPPORTED(fn);
    if (flags != 0)
        return prokio__error(PROKIO_EINVAL, "%s: flags %#x: give 0", fn, flags);
    prokio_udp_t *u = calloc(1, sizeof *u);
    if (u == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory", fn);
    int rc = prokio__sock_adopt(&u->sock, fileno, SOCK_DGRAM, fn);
    if (rc < 0) {
        free(u);
        return rc;
    }
    *out = u;
    return 0;
}

int prokio_udp_connect(prokio_udp_t *u, const prokio_addr_t *addr)
{
    static const char fn[] = "prokio_udp_connect";
    if (u == NULL || addr == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, u ? "addr" : "u");
    PROKIO__NET_UNSUPPORTED(fn);
    int family = inet_only(addr, fn);
    if (family < 0)
        return family;
    /* A datagram connect only records the peer: it never blocks. */
    int rc;
    do
        rc = connect(u->sock.fd, (const struct sockaddr *)&addr->storage, addr->len);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int e = errno;
        return prokio__error(-e, "%s: descriptor %d to %s: %s", fn, u->sock.fd,
                             prokio__net_addr_text(addr), strerror(e));
    }
    return 0;
}

#define CHECK_ARGS(fn, op, u, buf, cx)                                                             \
    do {                                                                                           \
        if (op == NULL || u == NULL || buf == NULL || cx == NULL)                                  \
            return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn,                              \
                                 !op    ? "op"                                                     \
                                 : !u   ? "u"                                                      \
                                 : !buf ? "buf"                                                    \
                                        : "cx");                                                   \
        PROKIO__NET_UNSUPPORTED(fn);                                                               \
    } while (0)

static size_t clamp(size_t len)
{
    return len > INT_MAX ? INT_MAX : len;
}

int prokio_udp_send_to_poll(prokio_op_t *op, prokio_udp_t *u, const void *buf, size_t len,
                            const prokio_addr_t *addr, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_udp_send_to_poll";
    CHECK_ARGS(fn, op, u, buf, cx);
    if (addr == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: addr is NULL", fn);
    int rc = inet_only(addr, fn);
    if (rc < 0)
        return rc;
    rc = prokio__sock_bind(&u->sock, cx, fn);
    if (rc < 0)
        return rc;
    rc = prokio__op_sendto_poll(&prokio__net_op(op)->op, &u->sock.io, buf, clamp(len), 0,
                                (const struct sockaddr *)&addr->storage, addr->len, cx);
    if (rc < 0 && rc != PROKIO_PENDING)
        return op_error(rc, u, fn, "sendto");
    return rc;
}

int prokio_udp_recv_from_poll(prokio_op_t *op, prokio_udp_t *u, void *buf, size_t len,
                              prokio_addr_t *from, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_udp_recv_from_poll";
    CHECK_ARGS(fn, op, u, buf, cx);
    int rc = prokio__sock_bind(&u->sock, cx, fn);
    if (rc < 0)
        return rc;
    /* The sender's address is written by the op (from is the caller's, in
     * the frame like buf, so a native receive may write it later). */
    if (from && !prokio_op_is_pending(op)) {
        memset(from, 0, sizeof *from);
        from->len = sizeof from->storage;
    }
    rc = prokio__op_recvfrom_poll(&prokio__net_op(op)->op, &u->sock.io, buf, clamp(len), 0,
                                  from ? (struct sockaddr *)&from->storage : NULL,
                                  from ? &from->len : NULL, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    if (rc < 0) {
        if (from)
            memset(from, 0, sizeof *from);
        return op_error(rc, u, fn, "recvfrom");
    }
    return rc;
}

int prokio_udp_send_poll(prokio_op_t *op, prokio_udp_t *u, const void *buf, size_t len,
                         prokio_cx_t *cx)
{
    static const char fn[] = "prokio_udp_send_poll";
    CHECK_ARGS(fn, op, u, buf, cx);
    int rc = prokio__sock_bind(&u->sock, cx, fn);
    if (rc < 0)
        return rc;
    rc = prokio__op_send_poll(&prokio__net_op(op)->op, &u->sock.io, buf, clamp(len), 0, cx);
    if (rc < 0 && rc != PROKIO_PENDING)
        return op_error(rc, u, fn, "send");
    return rc;
}

int prokio_udp_recv_poll(prokio_op_t *op, prokio_udp_t *u, void *buf, size_t len, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_udp_recv_poll";
    CHECK_ARGS(fn, op, u, buf, cx);
    int rc = prokio__sock_bind(&u->sock, cx, fn);
    if (rc < 0)
        return rc;
    rc = prokio__op_recv_poll(&prokio__net_op(op)->op, &u->sock.io, buf, clamp(len), 0, cx);
    if (rc < 0 && rc != PROKIO_PENDING)
        return op_error(rc, u, fn, "recv");
    return rc;
}

int prokio_udp_local_addr(const prokio_udp_t *u, prokio_addr_t *addr)
{
    return prokio__sock_obj_addr(u, addr, false, "prokio_udp_local_addr", "u");
}

int prokio_udp_peer_addr(const prokio_udp_t *u, prokio_addr_t *addr)
{
    return prokio__sock_obj_addr(u, addr, true, "prokio_udp_peer_addr", "u");
}

int prokio_udp_fileno(const prokio_udp_t *u)
{
    return prokio__sock_obj_fileno(u, "prokio_udp_fileno", "u");
}

int prokio_udp_close_poll(prokio_op_t *op, prokio_udp_t *u, prokio_cx_t *cx)
{
    return prokio__sock_obj_close_poll(op, u, cx, "prokio_udp_close_poll", "u");
}

int prokio_udp_free(prokio_udp_t *u)
{
    return prokio__sock_obj_free(u, "prokio_udp_free");
}
