/* core/op.c: I/O operations (op.h): the io, the emulated socket ops, the
 * file ops on the blocking pool, close and cancel. The native path (backend
 * ABI 1.1) is in op_native.c.
 *
 * An op's states (op->state):
 *   IDLE        zero: nothing in progress.
 *   WAITING     emulated: the last system call said EAGAIN; the op is in
 *               io->waiting with its task's waker, and in the task's armed
 *               list. The io's readiness hooks wake every waiting op of the
 *               direction that became ready; each retries its call.
 *   CONNECTING  the same, for a connect in progress (EINPROGRESS).
 *   POOL        a file call runs on the blocking pool (struct prec).
 *   NATIVE      a backend operation is in flight (op_native.c).
 *   ENDED       the io was closed under the op: its next poll returns
 *               op->result without touching the io (which may be gone).
 * Every result makes the op IDLE again. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coop.h"
#include "cx.h"
#include "debug.h"
#include "error_internal.h"
#include "fd.h"
#include "op.h"
#include "op_internal.h"
#include "runtime.h"
#include "task.h"
#include "waker_slot.h"
#include "worker.h"

#ifndef __EMSCRIPTEN__
#include "blocking.h"

/* ----------------------------------------------------------------- io */

/* Wakes the ops waiting for `dir` readiness; with dir 0, every waiting op
 * (those waiting for an abandoned op's completion have dir 0 too). */
static void wake_waiting(struct prokio__io *io, unsigned dir)
{
    for (struct prokio__op *op = io->waiting; op; op = op->next)
        if (!dir || (op->dir & dir))
            prokio__waker_wake_by_ref(op->waker);
}

void prokio__io_wake_all(struct prokio__io *io)
{
    wake_waiting(io, 0);
    if (io->io_waker)
        prokio__waker_wake_by_ref(io->io_waker);
}

static void hook_readable(struct prokio__hook *h)
{
    wake_waiting(PROKIO_CONTAINER_OF(h, struct prokio__io, hooks), PROKIO_READABLE);
}

static void hook_writable(struct prokio__hook *h)
{
    wake_waiting(PROKIO_CONTAINER_OF(h - 1, struct prokio__io, hooks), PROKIO_WRITABLE);
}

/* The hooks live in the io, which keeps one reference of its own: the last
 * clone's release (prokio_fd_free) never frees anything. */
static void hook_free(struct prokio__hook *h)
{
    (void)h;
}

static const struct prokio__hook_ops readable_ops = {hook_readable, hook_free};
static const struct prokio__hook_ops writable_ops = {hook_writable, hook_free};

/* A file's descriptor, shared by the io and its pool calls: the last one
 * closes it, so a pool thread never reads a reused descriptor number. */
struct prokio__fileref {
    _Atomic int refs;
    int fileno;
};

static void fileref_unref(struct prokio__fileref *f)
{
    if (f && atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        close(f->fileno);
        free(f);
    }
}

int prokio__io_init(struct prokio__io *io, int fileno, unsigned kind, prokio_cx_t *cx)
{
    if (io == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio__io_init: %s is NULL", io ? "cx" : "io");
    memset(io, 0, sizeof *io);
    io->fileno = -1;
    if (fileno < 0)
        return prokio__error(PROKIO_EBADF, "prokio__io_init: bad descriptor %d", fileno);
    if (kind != PROKIO__IO_SOCKET && kind != PROKIO__IO_FILE)
        return prokio__error(PROKIO_EINVAL,
                             "prokio__io_init: kind %u is neither a socket nor a "
                             "file",
                             kind);
    if (kind == PROKIO__IO_SOCKET) {
        int fl = fcntl(fileno, F_GETFL);
        if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fileno, F_SETFL, fl | O_NONBLOCK) < 0))
            return prokio__error(-errno, "prokio__io_init: descriptor %d: fcntl: %s", fileno,
                                 prokio_strerror(-errno));
    } else {
        io->file = malloc(sizeof *io->file);
        if (io->file == NULL)
            return prokio__error(PROKIO_ENOMEM, "prokio__io_init: no memory");
        atomic_init(&io->file->refs, 1);
        io->file->fileno = fileno;
    }
    io->fileno = fileno;
    io->kind = kind;
    io->worker = cx->worker;
    io->hooks[0] = (struct prokio__hook){&readable_ops, 1};
    io->hooks[1] = (struct prokio__hook){&writable_ops, 1};
    return 0;
}

/* Checks that a new op of `kind` may start on io from cx's worker (its
 * name is looked up only for a message). */
static int io_check(struct prokio__io *io, prokio_cx_t *cx, unsigned kind)
{
    if (PROKIO_UNLIKELY(io->fileno < 0 || io->closing))
        return prokio__error(PROKIO_EBADF, "%s: the descriptor is %s", prokio__op_who(kind),
                             io->closing ? "being closed" : "closed (or was never opened)");
    if (PROKIO_UNLIKELY(io->worker != cx->worker))
        return prokio__error(PROKIO_EXDEV,
                             "%s: descriptor %d belongs to worker %u and this task runs on worker "
                             "%u: use it from the worker that made it (or hand it over with a "
                             "channel to a task there)",
                             prokio__op_who(kind), io->fileno, io->worker->index,
                             cx->worker->index);
    return 0;
}

/* ------------------------------------------------------------ op states */

static void op_disarm(struct prokio__armed *node)
{
    prokio__op_cancel(PROKIO_CONTAINER_OF(node, struct prokio__op, armed));
}

void prokio__op_arm(struct prokio__op *op, prokio_cx_t *cx)
{
    if (op->armed.pprev == NULL && cx->task != NULL) {
        op->armed.disarm = op_disarm;
        prokio__armed_push(&cx->task->armed, &op->armed);
    }
}

static void keep_waker(struct prokio__op *op, prokio_cx_t *cx)
{
    uintptr_t me = prokio__cx_waker(cx);
    if (op->waker != me) {
        if (op->waker)
            prokio__waker_release(op->waker);
        op->waker = prokio__waker_clone(me);
    }
}

/* Enters (or stays in) WAITING for `dir` on io. */
static void op_wait(struct prokio__op *op, struct prokio__io *io, unsigned state, unsigned dir,
                    prokio_cx_t *cx)
{
    if (op->state != WAITING && op->state != CONNECTING) {
        op->io = io;
        op->next = io->waiting;
        if (op->next)
            op->next->pprev = &op->next;
        op->pprev = &io->waiting;
        io->waiting = op;
        PROKIO__OWNER_ADD(io->worker->ops_waiting, 1);
    }
    op->state = (uint8_t)state;
    op->dir = (uint8_t)dir;
    keep_waker(op, cx);
    prokio__op_arm(op, cx);
}

static void op_unwait(struct prokio__op *op)
{
    PROKIO__OWNER_ADD(op->io->worker->ops_waiting, -1);
    *op->pprev = op->next;
    if (op->next)
        op->next->pprev = op->pprev;
    op->next = NULL;
    op->pprev = NULL;
    op->io = NULL;
    if (op->waker)
        prokio__waker_release(op->waker);
    op->waker = 0;
}

/* Makes op idle and returns r. Inline here, where every op ends; the
 * other files call prokio__op_end. */
static inline __attribute__((always_inline)) int op_end(struct prokio__op *op, int r)
{
    if (op->state == WAITING || op->state == CONNECTING)
        op_unwait(op);
    prokio__armed_remove(&op->armed);
    op->state = IDLE;
    op->flags = 0;
    op->rec = NULL;
    return r;
}

int prokio__op_end(struct prokio__op *op, int r)
{
    return op_end(op, r);
}

/* The io was closed under a waiting op: it ends with `result` at its next
 * poll, which does not look at the io. */
static void op_close_under(struct prokio__op *op, int result)
{
    uintptr_t waker = op->waker;
    op->waker = 0;
    op_unwait(op);
    op->state = ENDED;
    op->result = result;
    if (waker)
        prokio__waker_wake(waker);
}

/* prokio__op_native_ok, with the call saved on loops without native
 * operations (every op of the readiness backends asks). */
static inline bool native_ok(const struct prokio__op *op, const struct prokio__io *io,
                             unsigned kind, prokio_cx_t *cx)
{
    return (cx->worker->caps & PROKIO_BACKEND_CAPS_OPS) && prokio__op_native_ok(op, io, kind, cx);
}

static int sys_error(const char *who, int fileno, int r)
{
    return prokio__error(r, "%s: descriptor %d: %s", who, fileno, prokio_strerror(r));
}

/* Waits for `dir` readiness after an EAGAIN: makes the registration at
 * the first, forgets the cached readiness, and arms the hook. Returns
 * PROKIO_PENDING, > 0 when the direction became ready meanwhile (retry),
 * or an error. */
static int await_ready(struct prokio__op *op, struct prokio__io *io, unsigned state, unsigned dir,
                       prokio_cx_t *cx, const char *who)
{
    if (io->fd == NULL) {
        int rc = prokio_fd_new(&io->fd, io->fileno, cx);
        if (rc < 0)
            return prokio__error(rc, "%s: %s", who, prokio_last_error());
    }
    io->fd->ready &= ~dir; /* prokio_fd_clear_ready, without the call */
    int r = prokio__fd_await(io->fd, dir, prokio__hook_waker(&io->hooks[dir == PROKIO_WRITABLE]));
    if (r != PROKIO_PENDING)
        return r;
    op_wait(op, io, state, dir, cx);
    return PROKIO_PENDING;
}

/* ---------------------------------------------------------- stash */

struct prokio__stash {
    struct prokio__stash *next;
    int fileno; /* an accepted connection, or -1: bytes */
    socklen_t addrlen;
    struct sockaddr_storage addr;
    size_t len, off;
    unsigned char bytes[];
};

int prokio__io_stash_bytes(struct prokio__io *io, const void *buf, size_t len)
{
    struct prokio__stash *s = malloc(sizeof *s + len);
    if (s == NULL)
        return PROKIO_ENOMEM;
    memset(s, 0, sizeof *s);
    s->fileno = -1;
    s->len = len;
    memcpy(s->bytes, buf, len);
    if (io->stash_tail)
        io->stash_tail->next = s;
    else
        io->stash = s;
    io->stash_tail = s;
    return 0;
}

int prokio__io_stash_fd(struct prokio__io *io, int fileno, const struct sockaddr *addr,
                        socklen_t addrlen)
{
    struct prokio__stash *s = calloc(1, sizeof *s);
    if (s == NULL)
        return PROKIO_ENOMEM;
    s->fileno = fileno;
    if (addr && addrlen <= sizeof s->addr) {
        memcpy(&s->addr, addr, addrlen);
        s->addrlen = addrlen;
    }
    if (io->stash_tail)
        io->stash_tail->next = s;
    else
        io->stash = s;
    io->stash_tail = s;
    return 0;
}

static void stash_pop(struct prokio__io *io)
{
    struct prokio__stash *s = io->stash;
    io->stash = s->next;
    if (io->stash == NULL)
        io->stash_tail = NULL;
    free(s);
}

static void stash_free(struct prokio__io *io)
{
    while (io->stash) {
        if (io->stash->fileno >= 0)
            close(io->stash->fileno);
        stash_pop(io);
    }
}

/* Bytes a recv finds in the stash, or -1. */
static int stash_recv(struct prokio__io *io, void *buf, size_t len, int flags)
{
    struct prokio__stash *s = io->stash;
    if (s == NULL || s->fileno >= 0)
        return -1;
    size_t n = s->len - s->off < len ? s->len - s->off : len;
    memcpy(buf, s->bytes + s->off, n);
    if (!(flags & MSG_PEEK)) {
        s->off += n;
        if (s->off == s->len)
            stash_pop(io);
    }
    return (int)n;
}

/* A connection an accept finds in the stash, or -1. */
static int stash_accept(struct prokio__io *io, struct sockaddr *addr, socklen_t *addrlen)
{
    struct prokio__stash *s = io->stash;
    if (s == NULL || s->fileno < 0)
        return -1;
    int fileno = s->fileno;
    if (addr && addrlen) {
        memcpy(addr, &s->addr, s->addrlen < *addrlen ? s->addrlen : *addrlen);
        *addrlen = s->addrlen;
    }
    stash_pop(io);
    return fileno;
}

/* ---------------------------------------------------- emulated sockets */

struct sock_args {
    void *buf;
    size_t len;
    int flags;
    struct sockaddr *addr;
    socklen_t *addrlen;
    const struct sockaddr *to;
    socklen_t tolen;
    const struct iovec *iov;
    int iovcnt;
};

static const char *const who_of[] = {
    [K_RECV] = "prokio__op_recv_poll",         [K_SEND] = "prokio__op_send_poll",
    [K_RECVFROM] = "prokio__op_recvfrom_poll", [K_SENDTO] = "prokio__op_sendto_poll",
    [K_SENDMSG] = "prokio__op_sendmsg_poll",   [K_ACCEPT] = "prokio__op_accept_poll",
    [K_CONNECT] = "prokio__op_connect_poll",   [K_READ] = "prokio__op_read_poll",
    [K_WRITE] = "prokio__op_write_poll",       [K_FSYNC] = "prokio__op_fsync_poll",
    [K_OPEN] = "prokio__op_open_poll",         [K_CLOSE] = "prokio__io_close_poll",
};

const char *prokio__op_who(unsigned kind)
{
    return kind < sizeof who_of / sizeof *who_of && who_of[kind] ? who_of[kind] : "prokio__op";
}

/* One non-blocking system call: >= 0 or -errno. */
static int sock_call(unsigned kind, int fd, const struct sock_args *a)
{
    size_t len = a->len > INT_MAX ? INT_MAX : a->len;
    ssize_t n;
    switch (kind) {
    case K_RECV:
        n = recv(fd, a->buf, len, a->flags | MSG_DONTWAIT);
        break;
    case K_SEND:
        n = send(fd, a->buf, len, a->flags | MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    case K_RECVFROM:
        n = recvfrom(fd, a->buf, len, a->flags | MSG_DONTWAIT, a->addr, a->addrlen);
        break;
    case K_SENDTO:
        n = sendto(fd, a->buf, len, a->flags | MSG_DONTWAIT | MSG_NOSIGNAL, a->to, a->tolen);
        break;
    case K_SENDMSG: {
        struct msghdr m = {.msg_iov = (struct iovec *)a->iov, .msg_iovlen = (size_t)a->iovcnt};
        n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > INT_MAX)
            n = INT_MAX; /* the bytes went; only the count is clamped */
        break;
    }
    case K_READ: /* a pipe, a FIFO, a terminal... */
        n = read(fd, a->buf, len);
        break;
    case K_WRITE:
        n = write(fd, a->buf, len);
        break;
    default: /* K_ACCEPT */
        n = accept4(fd, a->addr, a->addrlen, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (n < 0 && (errno == ECONNABORTED || errno == EPROTO))
            errno = EINTR; /* that connection is gone: take the next one */
        break;
    }
    return n < 0 ? -errno : (int)n;
}

static unsigned dir_of(unsigned kind)
{
    return kind == K_SEND || kind == K_SENDTO || kind == K_SENDMSG || kind == K_CONNECT ||
                   kind == K_WRITE
               ? PROKIO_WRITABLE
               : PROKIO_READABLE;
}

/* What op_enter returns to say "go on": never a result (a result of 1, one
 * byte, must not read as it). */
#define GO_ON (PROKIO_PENDING + 2)

/* The common part of every op poll: an ENDED op returns its result, an op
 * in flight elsewhere is polled there; a new op passes the io checks and
 * the coop budget. Returns GO_ON to go on with a new or waiting op, or the
 * result / PROKIO_PENDING to return. */
static inline __attribute__((always_inline)) int
op_enter(struct prokio__op *op, struct prokio__io *io, unsigned kind, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(op->state == ENDED))
        return prokio__op_end(op, op->result);
    if (op->state == NATIVE) {
        int r = prokio__op_native_poll(op, cx);
        if (r != PROKIO__OP_RESTART)
            return r;
    }
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    if (op->state == IDLE) {
        int rc = io_check(io, cx, kind);
        if (rc < 0)
            return rc;
        op->kind = (uint8_t)kind;
    }
    return GO_ON;
}

/* Tokio's rule, one system call less per message: a read on a TCP socket
 * that returns fewer bytes than asked emptied the receive queue, so the
 * next read waits for the next readiness report instead of asking the
 * kernel to hear EAGAIN. It holds because new bytes make a new report
 * (edge) or the report repeats (level), and an end of stream or a reset
 * that came with the bytes read is known from RDHUP, HANGUP or ERROR
 * (fd->read_closed; backend.h's CAP_RDHUP asks for all three, and
 * tests/regress/short-read-then-reset.c holds the reset). Only TCP:
 * a Unix stream read also stops short before bytes that carry descriptors
 * or other credentials, with more queued and no new report to come. Not
 * for MSG_PEEK (it empties nothing), nor before the registration exists
 * (the first EAGAIN makes it). Known limit, Tokio's too: a read stops
 * short at TCP urgent data (MSG_OOB from the peer), and the bytes after
 * it wait for the next report. The wake-up this rule once lost, and its
 * test: tests/regress/short-read-then-eof.c. */
static void note_short_read(struct prokio__io *io, const struct sock_args *a, int r)
{
    io->drained = io->tcp && io->fd && io->worker->short_read_empties && r > 0 &&
                  (size_t)r < a->len && !(a->flags & (MSG_PEEK | MSG_OOB));
    if (io->drained)
        io->fd->ready &= ~(unsigned)PROKIO_READABLE;
}

static int sock_poll(struct prokio__op *op, struct prokio__io *io, unsigned kind,
                     const struct sock_args *a, prokio_cx_t *cx)
{
    /* The op's name is looked up only for a message. */
    if (PROKIO_UNLIKELY(op == NULL || io == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", prokio__op_who(kind),
                             !op   ? "op"
                             : !io ? "io"
                                   : "cx");
    int r = op_enter(op, io, kind, cx);
    if (r != GO_ON)
        return r;
    unsigned dir = dir_of(kind);
    /* (dir 0: waiting for an abandoned op's completion, not for readiness;
     * there may be no registration at all then.) */
    if (op->state == WAITING && op->dir && !(io->fd->ready & dir)) {
        keep_waker(op, cx); /* a poll without news: no system call */
        prokio__coop_restore(cx);
        return PROKIO_PENDING;
    }
    bool rx = prokio__op_is_rx(kind, io);
    if (rx || kind == K_ACCEPT) {
        /* What abandoned ops left comes first; while one is still in the
         * kernel, later ops wait for it, so bytes keep their order. */
        r = rx ? stash_recv(io, a->buf, a->len, a->flags) : stash_accept(io, a->addr, a->addrlen);
        if (r >= 0)
            return op_end(op, r);
        if (rx ? io->abandoned_recv : io->abandoned_accept) {
            op_wait(op, io, WAITING, 0, cx);
            prokio__coop_restore(cx);
            return PROKIO_PENDING;
        }
        if (op->state == IDLE && native_ok(op, io, kind, cx)) {
            return prokio__op_native_start(op, io, kind, a->buf, a->len, a->flags, a->addr,
                                           a->addrlen, cx);
        }
    } else if (op->state == IDLE && (kind == K_SEND || kind == K_WRITE) &&
               native_ok(op, io, kind, cx)) {
        return prokio__op_native_start(op, io, kind, a->buf, a->len, a->flags, NULL, NULL, cx);
    }
    /* A TCP socket whose last read came back short was empty then; unless
     * a report came since, a read now would say EAGAIN: wait at once. */
    bool known_empty =
        rx && io->drained && !(io->fd->ready & PROKIO_READABLE) && !io->fd->read_closed;
    for (;;) {
        r = known_empty ? -EAGAIN : sock_call(kind, io->fileno, a);
        known_empty = false;
        if (r == -EINTR)
            continue;
        if (r != -EAGAIN && r != -EWOULDBLOCK) {
            if (rx)
                note_short_read(io, a, r);
            return op_end(op, r < 0 ? sys_error(prokio__op_who(kind), io->fileno, r) : r);
        }
        r = await_ready(op, io, WAITING, dir, cx, prokio__op_who(kind));
        if (r == PROKIO_PENDING) {
            prokio__coop_restore(cx);
            return r;
        }
        if (r < 0)
            return op_end(op, r);
    }
}

int prokio__op_recv_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                         int flags, prokio_cx_t *cx)
{
    struct sock_args a = {.buf = buf, .len = len, .flags = flags};
    return sock_poll(op, io, K_RECV, &a, cx);
}

int prokio__op_send_poll(struct prokio__op *op, struct prokio__io *io, const void *buf, size_t len,
                         int flags, prokio_cx_t *cx)
{
    struct sock_args a = {.buf = (void *)buf, .len = len, .flags = flags};
    return sock_poll(op, io, K_SEND, &a, cx);
}

int prokio__op_recvfrom_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                             int flags, struct sockaddr *addr, socklen_t *addrlen, prokio_cx_t *cx)
{
    struct sock_args a = {.buf = buf, .len = len, .flags = flags, .addr = addr, .addrlen = addrlen};
    return sock_poll(op, io, K_RECVFROM, &a, cx);
}

int prokio__op_sendto_poll(struct prokio__op *op, struct prokio__io *io, const void *buf,
                           size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen,
                           prokio_cx_t *cx)
{
    struct sock_args a = {
        .buf = (void *)buf, .len = len, .flags = flags, .to = addr, .tolen = addrlen};
    return sock_poll(op, io, K_SENDTO, &a, cx);
}

int prokio__op_sendmsg_poll(struct prokio__op *op, struct prokio__io *io, const struct iovec *iov,
                            int iovcnt, prokio_cx_t *cx)
{
    if (iovcnt < 0 || (iov == NULL && iovcnt > 0))
        return prokio__error(PROKIO_EINVAL, "prokio__op_sendmsg_poll: iovcnt %d with iov %p",
                             iovcnt, (const void *)iov);
    struct sock_args a = {.iov = iov, .iovcnt = iovcnt};
    return sock_poll(op, io, K_SENDMSG, &a, cx);
}

int prokio__op_accept_poll(struct prokio__op *op, struct prokio__io *io, struct sockaddr *addr,
                           socklen_t *addrlen, prokio_cx_t *cx)
{
    struct sock_args a = {.addr = addrlen ? addr : NULL, .addrlen = addr ? addrlen : NULL};
    return sock_poll(op, io, K_ACCEPT, &a, cx);
}

/* connect: the first call starts the connection; EINPROGRESS waits for
 * writability (CONNECTING), then SO_ERROR says how it went. A Unix socket
 * whose listener's backlog is full says EAGAIN instead: wait and call
 * again. */
int prokio__op_connect_poll(struct prokio__op *op, struct prokio__io *io,
                            const struct sockaddr *addr, socklen_t addrlen, prokio_cx_t *cx)
{
    const char *who = "prokio__op_connect_poll";
    if (PROKIO_UNLIKELY(op == NULL || io == NULL || cx == NULL || addr == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who,
                             !op   ? "op"
                             : !io ? "io"
                             : !cx ? "cx"
                                   : "addr");
    int r = op_enter(op, io, K_CONNECT, cx);
    if (r != GO_ON)
        return r;
    if (op->state == IDLE && native_ok(op, io, K_CONNECT, cx))
        return prokio__op_native_connect(op, io, addr, addrlen, cx);
    if ((op->state == WAITING || op->state == CONNECTING) && !(io->fd->ready & PROKIO_WRITABLE)) {
        keep_waker(op, cx);
        prokio__coop_restore(cx);
        return PROKIO_PENDING;
    }
    for (;;) {
        if (op->state == CONNECTING) {
            int err = 0;
            socklen_t len = sizeof err;
            if (getsockopt(io->fileno, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err)
                return prokio__op_end(op, sys_error(who, io->fileno, -err));
        }
        r = connect(io->fileno, addr, addrlen) < 0 ? -errno : 0;
        if (r == 0 || (r == -EISCONN && op->state == CONNECTING))
            return prokio__op_end(op, 0);
        unsigned state;
        if (r == -EINPROGRESS || r == -EALREADY || r == -EINTR)
            state = CONNECTING; /* EINTR: the connection goes on regardless */
        else if (r == -EAGAIN)
            state = WAITING;
        else
            return prokio__op_end(op, sys_error(who, io->fileno, r));
        r = await_ready(op, io, state, PROKIO_WRITABLE, cx, who);
        if (r == PROKIO_PENDING) {
            prokio__coop_restore(cx);
            return r;
        }
        if (r < 0)
            return prokio__op_end(op, r);
        op->state = (uint8_t)state; /* ready at once: look again */
    }
}

/* --------------------------------------------------------- files: pool */

/* A file call on the blocking pool. Two references, the op's and the
 * pool's; the op copies the result out when it sees `done`. */
struct prec {
    _Atomic int refs;
    _Atomic int done;
    int result;
    bool taken; /* the op took the result (an opened descriptor is then the caller's) */
    unsigned kind;
    struct prokio__waker_slot waker;
    struct prokio__fileref *file; /* NULL for open */
    uint64_t offset;
    size_t len;
    int flags;
    mode_t mode;
    bool datasync;
    _Atomic int64_t *pool_ops;         /* the runtime's count (stats.c) while on the pool */
    _Alignas(16) unsigned char data[]; /* read/write bytes, or open's path */
};

static void prec_unref(struct prec *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (p->kind == K_OPEN && p->result >= 0 && !p->taken)
        close(p->result); /* opened for an abandoned op */
    fileref_unref(p->file);
    prokio__waker_slot_clear(&p->waker);
    free(p);
}

/* Runs on a pool thread. */
static int prec_run(void *arg)
{
    struct prec *p = arg;
    int fd = p->file ? p->file->fileno : -1;
    ssize_t n;
    do {
        switch (p->kind) {
        case K_READ:
            n = p->offset == PROKIO__OFFSET_CURRENT ? read(fd, p->data, p->len)
                                                    : pread(fd, p->data, p->len, (off_t)p->offset);
            break;
        case K_WRITE:
            n = p->offset == PROKIO__OFFSET_CURRENT ? write(fd, p->data, p->len)
                                                    : pwrite(fd, p->data, p->len, (off_t)p->offset);
            break;
        case K_FSYNC:
            n = p->datasync ? fdatasync(fd) : fsync(fd);
            break;
        default: /* K_OPEN */
            n = open((const char *)p->data, p->flags | O_CLOEXEC, p->mode);
            break;
        }
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : (int)n;
}

/* Runs on the pool thread after prec_run (or wherever the call failed to
 * start): publishes the result, then wakes the op's task. */
static void prec_done(void *arg, int result)
{
    struct prec *p = arg;
    p->result = result;
    atomic_fetch_sub_explicit(p->pool_ops, 1, memory_order_relaxed);
    atomic_store_explicit(&p->done, 1, memory_order_seq_cst);
    prokio__waker_slot_wake(&p->waker);
    prec_unref(p);
}

static int pool_wait(struct prokio__op *op, void *buf, size_t len, prokio_cx_t *cx)
{
    struct prec *p = op->rec;
    if (!atomic_load_explicit(&p->done, memory_order_seq_cst)) {
        prokio__waker_slot_register(&p->waker, prokio__cx_waker(cx));
        if (!atomic_load_explicit(&p->done, memory_order_seq_cst)) {
            prokio__coop_restore(cx);
            return PROKIO_PENDING;
        }
        prokio__waker_slot_unregister(&p->waker, prokio__cx_waker(cx));
    }
    int r = p->result;
    if (p->kind == K_READ && r > 0)
        memcpy(buf, p->data, (size_t)r <= len ? (size_t)r : len);
    p->taken = true;
    if (r < 0)
        r = sys_error(prokio__op_who(p->kind), p->file ? p->file->fileno : -1, r);
    prec_unref(p);
    return prokio__op_end(op, r);
}

static int pool_start(struct prokio__op *op, struct prokio__io *io, unsigned kind, const void *src,
                      size_t len, uint64_t offset)
{
    size_t room = kind == K_FSYNC ? 0 : len;
    struct prec *p = malloc(sizeof *p + room);
    if (p == NULL)
        return prokio__op_end(op,
                              prokio__error(PROKIO_ENOMEM, "%s: no memory", prokio__op_who(kind)));
    memset(p, 0, sizeof *p);
    atomic_init(&p->refs, 2);
    p->kind = kind;
    p->len = len;
    p->offset = offset;
    if (kind == K_WRITE || kind == K_OPEN)
        memcpy(p->data, src, len);
    if (io) {
        p->file = io->file;
        atomic_fetch_add_explicit(&io->file->refs, 1, memory_order_relaxed);
    }
    op->rec = p;
    return 0;
}

static int pool_submit(struct prokio__op *op, prokio_cx_t *cx)
{
    struct prec *p = op->rec;
    /* Counted before the call: prec_done may run before it returns. */
    p->pool_ops = &cx->worker->rt->pool_ops;
    atomic_fetch_add_explicit(p->pool_ops, 1, memory_order_relaxed);
    int rc = prokio__blocking_call(cx->worker->rt, prec_run, prec_done, p);
    if (rc < 0) {
        const char *who = prokio__op_who(p->kind);                       /* p is freed below */
        atomic_fetch_sub_explicit(p->pool_ops, 1, memory_order_relaxed); /* done never runs */
        p->taken = true;
        atomic_store_explicit(&p->refs, 1, memory_order_relaxed);
        prec_unref(p);
        op->rec = NULL;
        return prokio__op_end(op, prokio__error(rc, "%s: the blocking pool refused the call: %s",
                                                who, prokio_strerror(rc)));
    }
    op->state = POOL;
    prokio__op_arm(op, cx);
    return PROKIO_PENDING;
}

static int file_poll(struct prokio__op *op, struct prokio__io *io, unsigned kind, void *buf,
                     size_t len, uint64_t offset, bool datasync, prokio_cx_t *cx)
{
    const char *who = prokio__op_who(kind);
    if (PROKIO_UNLIKELY(op == NULL || io == NULL || cx == NULL ||
                        (buf == NULL && len > 0 && kind != K_FSYNC)))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who,
                             !op   ? "op"
                             : !io ? "io"
                             : !cx ? "cx"
                                   : "buf");
    int r = op_enter(op, io, kind, cx);
    if (r != GO_ON)
        return r;
    if (op->state == POOL)
        return pool_wait(op, buf, len, cx);
    if (io->kind != PROKIO__IO_FILE) {
        /* A pollable descriptor (a pipe, a terminal): as a socket, through
         * readiness or natively, from its current position only. */
        if (kind == K_FSYNC || offset != PROKIO__OFFSET_CURRENT) {
            prokio__coop_restore(cx);
            return prokio__error(
                PROKIO_EINVAL, "%s: descriptor %d is not a file (a socket, a pipe): %s", who,
                io->fileno,
                kind == K_FSYNC ? "nothing to sync" : "give PROKIO__OFFSET_CURRENT as the offset");
        }
        struct sock_args a = {.buf = buf, .len = len};
        prokio__coop_restore(cx); /* sock_poll spends it again */
        return sock_poll(op, io, kind, &a, cx);
    }
    if (native_ok(op, io, kind, cx))
        return prokio__op_native_file(op, io, kind, buf, len, offset, datasync, cx);
    if (len > PROKIO__OP_POOL_MAX)
        len = PROKIO__OP_POOL_MAX;
    if ((r = pool_start(op, io, kind, buf, len, offset)) < 0)
        return r;
    ((struct prec *)op->rec)->datasync = datasync;
    r = pool_submit(op, cx);
    return r == PROKIO_PENDING ? pool_wait(op, buf, len, cx) : r;
}

int prokio__op_read_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                         uint64_t offset, prokio_cx_t *cx)
{
    return file_poll(op, io, K_READ, buf, len, offset, false, cx);
}

int prokio__op_write_poll(struct prokio__op *op, struct prokio__io *io, const void *buf, size_t len,
                          uint64_t offset, prokio_cx_t *cx)
{
    return file_poll(op, io, K_WRITE, (void *)buf, len, offset, false, cx);
}

int prokio__op_fsync_poll(struct prokio__op *op, struct prokio__io *io, bool datasync,
                          prokio_cx_t *cx)
{
    return file_poll(op, io, K_FSYNC, NULL, 0, 0, datasync, cx);
}

int prokio__op_open_poll(struct prokio__op *op, const char *path, int flags, mode_t mode,
                         prokio_cx_t *cx)
{
    const char *who = "prokio__op_open_poll";
    if (PROKIO_UNLIKELY(op == NULL || path == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who,
                             !op     ? "op"
                             : !path ? "path"
                                     : "cx");
    if (op->state == ENDED)
        return prokio__op_end(op, op->result);
    if (op->state == NATIVE) {
        int r = prokio__op_native_poll(op, cx);
        if (r != PROKIO__OP_RESTART)
            return r;
    }
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    if (op->state == POOL)
        return pool_wait(op, NULL, 0, cx);
    op->kind = K_OPEN;
    if (prokio__op_native_open_ok(op, cx))
        return prokio__op_native_open(op, path, flags, mode, cx);
    int r = pool_start(op, NULL, K_OPEN, path, strlen(path) + 1, 0);
    if (r < 0)
        return r;
    struct prec *p = op->rec;
    p->flags = flags;
    p->mode = mode;
    r = pool_submit(op, cx);
    return r == PROKIO_PENDING ? pool_wait(op, NULL, 0, cx) : r;
}

/* -------------------------------------------------------- cancel, close */

void prokio__op_cancel(struct prokio__op *op)
{
    if (op == NULL)
        return;
    switch (op->state) {
    case POOL: {
        struct prec *p = op->rec;
        prokio__waker_slot_clear(&p->waker);
        prec_unref(p); /* the pool's reference finishes the call, and closes what it opened */
        break;
    }
    case NATIVE:
        prokio__op_native_abandon(op);
        break;
    default:
        break;
    }
    prokio__op_end(op, 0);
}

/* Ends every waiting op of io with PROKIO_ECANCELED, and asks the backend
 * to cancel the native ones. */
static void cancel_all(struct prokio__io *io)
{
    while (io->waiting)
        op_close_under(io->waiting,
                       prokio__error(PROKIO_ECANCELED, "the descriptor was closed while the "
                                                       "operation waited"));
    prokio__op_native_cancel_io(io);
}

static int close_now(struct prokio__io *io)
{
    int r = 0;
    if (io->fd) {
        prokio_fd_free(io->fd);
        io->fd = NULL;
    }
    stash_free(io);
    if (io->file) {
        fileref_unref(io->file); /* the last pool call using it closes it */
        io->file = NULL;
    } else if (io->fileno >= 0 && close(io->fileno) < 0 && errno != EINTR) {
        r = -errno; /* EINTR: Linux closed it anyway */
    }
    io->fileno = -1;
    return r;
}

int prokio__io_close_poll(struct prokio__op *op, struct prokio__io *io, prokio_cx_t *cx)
{
    const char *who = "prokio__io_close_poll";
    if (PROKIO_UNLIKELY(op == NULL || io == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who, !op ? "op" : !io ? "io" : "cx");
    if (op->state == NATIVE) /* the close itself, in the backend */
        return prokio__op_native_poll(op, cx);
    if (io->fileno < 0)
        return prokio__error(PROKIO_EBADF, "%s: the descriptor is already closed", who);
    if (io->worker != cx->worker)
        return prokio__error(PROKIO_EXDEV, "%s: descriptor %d belongs to worker %u, not %u", who,
                             io->fileno, io->worker->index, cx->worker->index);
    if (!io->closing) {
        io->closing = true;
        cancel_all(io);
    }
    if (prokio__io_native_pending(io)) {
        /* Their terminal completions wake us (op_native.c). */
        uintptr_t me = prokio__cx_waker(cx);
        if (io->io_waker != me) {
            if (io->io_waker)
                prokio__waker_release(io->io_waker);
            io->io_waker = prokio__waker_clone(me);
        }
        return PROKIO_PENDING;
    }
    if (io->io_waker) {
        prokio__waker_release(io->io_waker);
        io->io_waker = 0;
    }
    /* Results not yet taken by their ops stay theirs, but no longer point
     * at io, whose memory is the owner's once this returns. */
    prokio__op_native_detach_io(io);
    if (io->fd) {
        prokio_fd_free(io->fd);
        io->fd = NULL;
    }
    if (io->kind == PROKIO__IO_SOCKET && native_ok(op, io, K_CLOSE, cx)) {
        stash_free(io);
        int fileno = io->fileno;
        io->fileno = -1;
        return prokio__op_native_close(op, fileno, cx);
    }
    int r = close_now(io);
    return r < 0 ? sys_error(who, -1, r) : 0;
}

void prokio__io_fini(struct prokio__io *io)
{
    if (io == NULL || io->fileno < 0)
        return;
    io->closing = true;
    cancel_all(io);
    prokio__op_native_detach_io(io); /* their completions no longer look at io */
    if (io->io_waker) {
        prokio__waker_release(io->io_waker);
        io->io_waker = 0;
    }
    close_now(io);
}

#else /* __EMSCRIPTEN__: no descriptors */

static int nosup(const char *who)
{
    return prokio__error(PROKIO_ENOTSUP,
                         "%s: WebAssembly has no sockets or files here; use the JS bridge "
                         "(prokio/js.h: fetch, WebSocket)",
                         who);
}

int prokio__io_init(struct prokio__io *io, int fileno, unsigned kind, prokio_cx_t *cx)
{
    (void)fileno, (void)kind, (void)cx;
    if (io)
        memset(io, 0, sizeof *io), io->fileno = -1;
    return nosup("prokio__io_init");
}
/* No io can be made, so no op can be polled with one: each reports why. */
int prokio__op_recv_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                         int flags, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)buf, (void)len, (void)flags, (void)cx;
    return nosup("prokio__op_recv_poll");
}
int prokio__op_send_poll(struct prokio__op *op, struct prokio__io *io, const void *buf, size_t len,
                         int flags, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)buf, (void)len, (void)flags, (void)cx;
    return nosup("prokio__op_send_poll");
}
int prokio__op_recvfrom_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                             int flags, struct sockaddr *addr, socklen_t *addrlen, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)buf, (void)len, (void)flags, (void)addr, (void)addrlen, (void)cx;
    return nosup("prokio__op_recvfrom_poll");
}
int prokio__op_sendto_poll(struct prokio__op *op, struct prokio__io *io, const void *buf,
                           size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen,
                           prokio_cx_t *cx)
{
    (void)op, (void)io, (void)buf, (void)len, (void)flags, (void)addr, (void)addrlen, (void)cx;
    return nosup("prokio__op_sendto_poll");
}
int prokio__op_sendmsg_poll(struct prokio__op *op, struct prokio__io *io, const struct iovec *iov,
                            int iovcnt, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)iov, (void)iovcnt, (void)cx;
    return nosup("prokio__op_sendmsg_poll");
}
int prokio__op_accept_poll(struct prokio__op *op, struct prokio__io *io, struct sockaddr *addr,
                           socklen_t *addrlen, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)addr, (void)addrlen, (void)cx;
    return nosup("prokio__op_accept_poll");
}
int prokio__op_connect_poll(struct prokio__op *op, struct prokio__io *io,
                            const struct sockaddr *addr, socklen_t addrlen, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)addr, (void)addrlen, (void)cx;
    return nosup("prokio__op_connect_poll");
}
int prokio__op_read_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                         uint64_t offset, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)buf, (void)len, (void)offset, (void)cx;
    return nosup("prokio__op_read_poll");
}
int prokio__op_write_poll(struct prokio__op *op, struct prokio__io *io, const void *buf, size_t len,
                          uint64_t offset, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)buf, (void)len, (void)offset, (void)cx;
    return nosup("prokio__op_write_poll");
}
int prokio__op_fsync_poll(struct prokio__op *op, struct prokio__io *io, bool datasync,
                          prokio_cx_t *cx)
{
    (void)op, (void)io, (void)datasync, (void)cx;
    return nosup("prokio__op_fsync_poll");
}
int prokio__op_open_poll(struct prokio__op *op, const char *path, int flags, mode_t mode,
                         prokio_cx_t *cx)
{
    (void)op, (void)path, (void)flags, (void)mode, (void)cx;
    return nosup("prokio__op_open_poll");
}
int prokio__io_close_poll(struct prokio__op *op, struct prokio__io *io, prokio_cx_t *cx)
{
    (void)op, (void)io, (void)cx;
    return nosup("prokio__io_close_poll");
}
void prokio__io_fini(struct prokio__io *io)
{
    (void)io;
}
void prokio__op_cancel(struct prokio__op *op)
{
    (void)op;
}
#endif
