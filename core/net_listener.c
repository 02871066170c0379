/* core/net_listener.c: listening sockets, TCP and Unix (prokio/net.h).
 *
 * Out of descriptors. accept(2) failing with EMFILE or ENFILE leaves the
 * connection in the backlog and the listener readable, so waiting for
 * readiness again would return at once: the loop libev calls "accept()ing
 * when you can't". libuv closes a reserve descriptor to accept and drop the
 * connection; we keep the connections instead and retry on a timer
 * (BACKOFF_NS): a server out of descriptors serves nobody new for that
 * long, wakes 20 times a second, and takes the waiting connections as soon
 * as descriptors free up. The timer is the op's own (struct
 * prokio__net_op), so any number of accepting tasks each back off. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "error_internal.h"
#include "log.h"
#include "net.h"
#include "worker.h"

#define BACKOFF_NS PROKIO_MS(50)

struct prokio_listener {
    struct prokio__sock sock;
    bool told_backoff; /* PROKIO_DEBUG=net said it once */
};
_Static_assert(offsetof(struct prokio_listener, sock) == 0,
               "net_sock.c's prokio__sock_obj_* take the object for its sock");

/* Wraps an accepted descriptor (net_stream.c). */
int prokio__stream_wrap(prokio_stream_t **out, int fd, int family);

static int listen_on(prokio_listener_t *l, const prokio_addr_t *addr, int backlog, unsigned flags)
{
    static const char fn[] = "prokio_listener_new";
    int family = addr->storage.ss_family;
    int fd = prokio__sock_socket(family, SOCK_STREAM, fn);
    if (fd < 0)
        return fd;
    int rc = 0;
    if (family == AF_UNIX && (flags & PROKIO_NET_REUSEPORT))
        rc = prokio__error(PROKIO_EINVAL,
                           "%s: PROKIO_NET_REUSEPORT is for TCP: a Unix socket path is bound "
                           "once",
                           fn);
    else if (family != AF_UNIX)
        rc = prokio__sock_creation_opts(fd, family, flags, true, fn);
    if (rc == 0 && bind(fd, (const struct sockaddr *)&addr->storage, addr->len) < 0) {
        int e = errno;
        rc = prokio__error(
            -e, "%s: cannot bind %s: %s%s", fn, prokio__net_addr_text(addr), strerror(e),
            e == EADDRINUSE && family == AF_UNIX ? " (remove the old socket file first)"
            : e == EADDRINUSE                    ? " (another socket listens there: pick another "
                                                   "port, or PROKIO_NET_REUSEPORT on every one)"
                                                 : "");
    }
    if (rc == 0 && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0) {
        int e = errno;
        rc = prokio__error(-e, "%s: cannot listen on %s: %s", fn, prokio__net_addr_text(addr),
                           strerror(e));
    }
    if (rc < 0) {
        close(fd);
        return rc;
    }
    prokio__sock_init(&l->sock, fd, family, SOCK_STREAM);
    return 0;
}

int prokio_listener_new(prokio_listener_t **out, const prokio_addr_t *addr, int backlog,
                        unsigned flags)
{
    static const char fn[] = "prokio_listener_new";
    if (out)
        *out = NULL;
    if (out == NULL || addr == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, out ? "addr" : "out");
    PROKIO__NET_UNSUPPORTED(fn);
    int family = prokio__net_addr_check(addr, fn);
    if (family < 0)
        return family;
    if (flags & ~(PROKIO_NET_REUSEPORT | PROKIO_NET_V6ONLY))
        return prokio__error(PROKIO_EINVAL,
                             "%s: flags %#x: give 0, PROKIO_NET_REUSEPORT or PROKIO_NET_V6ONLY", fn,
                             flags);
    prokio_listener_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory", fn);
    int rc = listen_on(l, addr, backlog, flags);
    if (rc < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int prokio_listener_from_fd(prokio_listener_t **out, int fileno, unsigned flags)
{
    static const char fn[] = "prokio_listener_from_fd";
    if (out)
        *out = NULL;
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: out is NULL", fn);
    PROKIO__NET_UNSUPPORTED(fn);
    if (flags != 0)
        return prokio__error(PROKIO_EINVAL, "%s: flags %#x: give 0", fn, flags);
    int on = 0;
    socklen_t len = sizeof on;
    if (fileno >= 0 && getsockopt(fileno, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && !on)
        return prokio__error(PROKIO_EINVAL,
                             "%s: descriptor %d is not listening: call listen(2) first, or use "
                             "prokio_listener_new",
                             fn, fileno);
    prokio_listener_t *l = calloc(1, sizeof *l);
    if (l == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory", fn);
    int rc = prokio__sock_adopt(&l->sock, fileno, SOCK_STREAM, fn);
    if (rc < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

/* Out of descriptors: wait BACKOFF_NS on the op's timer. */
static int back_off(prokio_listener_t *l, struct prokio__net_op *o, int err, prokio_cx_t *cx)
{
    if (!l->told_backoff) {
        l->told_backoff = true;
        prokio__log(PROKIO_LOG_NET,
                    "listener on descriptor %d: accept failed with %s (out of descriptors): "
                    "retrying every %u ms until descriptors free up (said once per listener)",
                    l->sock.fd, prokio_err_name(err), (unsigned)(BACKOFF_NS / PROKIO_MS(1)));
    }
    prokio_sleep_init(&o->timer, BACKOFF_NS);
    o->timer_armed = true;
    int rc = prokio_sleep_poll(&o->timer, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    o->timer_armed = false;
    return rc; /* 0: expired already; the caller retries */
}

int prokio_listener_accept_poll(prokio_stream_t **out, prokio_op_t *op, prokio_listener_t *l,
                                prokio_addr_t *peer, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_listener_accept_poll";
    if (out == NULL || op == NULL || l == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn,
                             !out  ? "out"
                             : !op ? "op"
                             : !l  ? "l"
                                   : "cx");
    PROKIO__NET_UNSUPPORTED(fn);
    struct prokio__net_op *o = prokio__net_op(op);
    int rc = prokio__sock_bind(&l->sock, cx, fn);
    if (rc < 0)
        return rc;
    for (;;) {
        if (o->timer_armed) {
            rc = prokio_sleep_poll(&o->timer, cx);
            if (rc == PROKIO_PENDING)
                return rc;
            o->timer_armed = false;
        }
        /* No address buffer: a native accept would write it while the
         * task sleeps, and it would have to live in the op; the rare
         * caller who wants it pays a getpeername instead. */
        int fd = prokio__op_accept_poll(&o->op, &l->sock.io, NULL, NULL, cx);
        if (fd == PROKIO_PENDING)
            return fd;
        if (fd == PROKIO_EMFILE || fd == PROKIO_ENFILE) {
            rc = back_off(l, o, fd, cx);
            if (rc == PROKIO_PENDING)
                return rc;
            continue;
        }
        if (fd == PROKIO_ECONNABORTED)
            continue; /* that peer gave up; the next one may be waiting */
        if (fd < 0)
            return prokio__error(fd, "%s: accept on descriptor %d: %s", fn, l->sock.fd,
                                 prokio_strerror(fd));
        rc = prokio__stream_wrap(out, fd, l->sock.family);
        if (rc < 0) {
            close(fd);
            return rc;
        }
        /* The connection is of the listener's protocol (an adopted SCTP
         * listener accepts SCTP streams). */
        ((struct prokio__sock *)*out)->tcp = l->sock.tcp;
        if (peer && prokio__sock_addr((const struct prokio__sock *)*out, peer, true, fn) < 0)
            memset(peer, 0, sizeof *peer); /* the peer left already: no address to give */
        return 0;
    }
}

int prokio_listener_local_addr(const prokio_listener_t *l, prokio_addr_t *addr)
{
    return prokio__sock_obj_addr(l, addr, false, "prokio_listener_local_addr", "l");
}

int prokio_listener_fileno(const prokio_listener_t *l)
{
    return prokio__sock_obj_fileno(l, "prokio_listener_fileno", "l");
}

int prokio_listener_close_poll(prokio_op_t *op, prokio_listener_t *l, prokio_cx_t *cx)
{
    return prokio__sock_obj_close_poll(op, l, cx, "prokio_listener_close_poll", "l");
}

int prokio_listener_free(prokio_listener_t *l)
{
    return prokio__sock_obj_free(l, "prokio_listener_free");
}
