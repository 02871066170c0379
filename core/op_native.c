/* core/op_native.c: ops run by the backend itself (backend ABI 1.1).
 *
 * A native op is a record (struct prokio__nrec) holding the backend's
 * prokio_backend_op_t, allocated at submit. The kernel writes into the
 * caller's buffer, so the submitting task is pinned (task.h) from submit
 * to the terminal completion: if it ends meanwhile, its frame (and the
 * drop that would free the caller's buffers) waits for that completion.
 *
 * The record stays in its io's `inflight` list until it is settled: taken
 * by its op's next poll, or, for an abandoned op, settled at once by the
 * completion (stash rule: a recv's bytes and an accept's connection go to
 * the io's stash for the next op; an open's descriptor is closed).
 * io->abandoned_recv/accept count abandoned ops still in the kernel: a new
 * recv (accept) waits for them, so bytes keep their order.
 *
 * Completions arrive through host->op_complete from inside the backend's
 * wait, on the worker: they only record, wake and unpin (which queues a
 * task whose deferred end can now run), never call the backend. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx.h"
#include "error_internal.h"
#include "op_internal.h"
#include "task.h"
#include "waker.h"
#include "worker.h"

#ifndef __EMSCRIPTEN__

struct prokio__nrec {
    prokio_backend_op_t bop;
    struct prokio__nrec *next, **pprev; /* io->inflight while io is known */
    struct prokio__io *io;              /* NULL once detached (io_fini) */
    struct prokio__op *op;              /* NULL once abandoned */
    struct prokio_task *task;           /* pinned until the completion */
    struct prokio__worker *w;
    uintptr_t waker;        /* the op's task, to wake at the completion */
    struct sockaddr *uaddr; /* accept: where the caller wants the address */
    socklen_t *uaddrlen;
    bool done;        /* the terminal completion came */
    bool cancel_sent; /* op_cancel was called */
    bool counted;     /* counted in io->abandoned_recv/accept */
    unsigned kind;    /* op_internal.h's K_* */
    struct sockaddr_storage addr;
    char path[]; /* open */
};

static uint64_t cap_of(unsigned kind)
{
    switch (kind) {
    case K_RECV:
        return PROKIO_BACKEND_CAP_OP_RECV;
    case K_SEND:
        return PROKIO_BACKEND_CAP_OP_SEND;
    case K_ACCEPT:
        return PROKIO_BACKEND_CAP_OP_ACCEPT;
    case K_CONNECT:
        return PROKIO_BACKEND_CAP_OP_CONNECT;
    case K_READ:
        return PROKIO_BACKEND_CAP_OP_READ;
    case K_WRITE:
        return PROKIO_BACKEND_CAP_OP_WRITE;
    case K_FSYNC:
        return PROKIO_BACKEND_CAP_OP_FSYNC;
    case K_OPEN:
        return PROKIO_BACKEND_CAP_OP_OPEN;
    case K_CLOSE:
        return PROKIO_BACKEND_CAP_OP_CLOSE;
    default:
        return 0;
    }
}

static uint32_t bkind_of(unsigned kind)
{
    static const uint32_t map[] = {
        [K_RECV] = PROKIO_BACKEND_OP_RECV,     [K_SEND] = PROKIO_BACKEND_OP_SEND,
        [K_ACCEPT] = PROKIO_BACKEND_OP_ACCEPT, [K_CONNECT] = PROKIO_BACKEND_OP_CONNECT,
        [K_READ] = PROKIO_BACKEND_OP_READ,     [K_WRITE] = PROKIO_BACKEND_OP_WRITE,
        [K_FSYNC] = PROKIO_BACKEND_OP_FSYNC,   [K_OPEN] = PROKIO_BACKEND_OP_OPEN,
        [K_CLOSE] = PROKIO_BACKEND_OP_CLOSE,
    };
    return map[kind];
}

bool prokio__op_native_ok(const struct prokio__op *op, const struct prokio__io *io, unsigned kind,
                          prokio_cx_t *cx)
{
    (void)io;
    /* The loop kept the bit only if the backend has op_submit (ABI 1.1,
     * checked at load). Without a task there is nothing to pin. */
    return (cx->worker->caps & cap_of(kind)) && cx->task != NULL && !(op->flags & OPF_EMULATE);
}

bool prokio__op_native_open_ok(const struct prokio__op *op, prokio_cx_t *cx)
{
    return prokio__op_native_ok(op, NULL, K_OPEN, cx);
}

/* The most one read or write moves (Linux's MAX_RW_COUNT): results are
 * ints, and io_uring takes 32-bit lengths for read and write. */
#define RW_MAX ((size_t)0x7ffff000)

/* Records without a path (all but open's) are kept on a per-worker free
 * list, up to NREC_KEEP: a server does two native ops per message, and a
 * malloc and a free for each cost more than the rest of the op's
 * bookkeeping. */
#define NREC_KEEP 256

static struct prokio__nrec *rec_new(struct prokio__worker *w, unsigned kind, size_t extra)
{
    struct prokio__nrec *r = extra == 0 ? w->nrec_free : NULL;
    if (r) {
        w->nrec_free = r->next;
        w->nrec_free_count--;
        memset(r, 0, sizeof *r);
    } else if ((r = calloc(1, sizeof *r + extra)) == NULL) {
        return NULL;
    }
    r->kind = kind;
    r->bop.size = sizeof r->bop;
    r->bop.kind = bkind_of(kind);
    return r;
}

static void rec_unlink(struct prokio__nrec *r)
{
    if (r->pprev) {
        *r->pprev = r->next;
        if (r->next)
            r->next->pprev = r->pprev;
        r->next = NULL;
        r->pprev = NULL;
    }
}

/* Frees r, or keeps it for the next op of its worker (only there: a
 * record settled elsewhere, after the runtime shut down, is freed). */
static void rec_release(struct prokio__nrec *r)
{
    struct prokio__worker *w = r->w;
    if (r->kind != K_OPEN && w && prokio__tls_worker == w && w->nrec_free_count < NREC_KEEP) {
        r->next = w->nrec_free;
        w->nrec_free = r;
        w->nrec_free_count++;
        return;
    }
    free(r);
}

static void rec_free(struct prokio__nrec *r)
{
    rec_unlink(r);
    if (r->waker)
        prokio__waker_release(r->waker);
    rec_release(r);
}

void prokio__op_native_fini_worker(struct prokio__worker *w)
{
    while (w->nrec_free) {
        struct prokio__nrec *r = w->nrec_free;
        w->nrec_free = r->next;
        free(r);
    }
    w->nrec_free_count = 0;
}

static int submit(struct prokio__op *op, struct prokio__io *io, struct prokio__nrec *r,
                  prokio_cx_t *cx)
{
    struct prokio__worker *w = cx->worker;
    r->w = w;
    int rc = w->vt->op_submit(w->loop, &r->bop);
    if (rc < 0) {
        unsigned kind = r->kind;
        rec_release(r);
        return prokio__op_end(op, prokio__error(rc, "%s: backend %s refused the operation: %s",
                                                prokio__op_who(kind), w->vt->name,
                                                prokio_strerror(rc)));
    }
    if (io) {
        r->io = io;
        r->next = io->inflight;
        if (r->next)
            r->next->pprev = &r->next;
        r->pprev = &io->inflight;
        io->inflight = r;
    }
    r->op = op;
    r->task = cx->task;
    prokio__task_pin(r->task);
    PROKIO__OWNER_ADD(w->native_ops, 1);
    r->waker = prokio__waker_clone(prokio__cx_waker(cx));
    op->state = NATIVE;
    op->kind = (uint8_t)r->kind;
    op->rec = r;
    prokio__op_arm(op, cx);
    /* coop: the op waits, so the unit spent on it goes back. */
    cx->budget++;
    return PROKIO_PENDING;
}

int prokio__op_native_start(struct prokio__op *op, struct prokio__io *io, unsigned kind, void *buf,
                            size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen,
                            prokio_cx_t *cx)
{
    struct prokio__nrec *r = rec_new(cx->worker, kind, 0);
    if (r == NULL)
        return prokio__op_end(op,
                              prokio__error(PROKIO_ENOMEM, "%s: no memory", prokio__op_who(kind)));
    r->bop.fd = io->fileno;
    r->bop.buf = buf;
    r->bop.len = len < RW_MAX ? len : RW_MAX;
    r->bop.flags = flags;
    if (kind == K_SEND)
        r->bop.flags |= MSG_NOSIGNAL;
    if (kind == K_READ || kind == K_WRITE) {
        r->bop.flags = 0;
        r->bop.offset = UINT64_MAX; /* a pipe, a terminal: no position */
    }
    if (kind == K_ACCEPT) {
        r->bop.flags = SOCK_CLOEXEC | SOCK_NONBLOCK;
        r->bop.addr = &r->addr;
        r->bop.addrlen = sizeof r->addr;
        r->uaddr = addr;
        r->uaddrlen = addrlen;
    }
    return submit(op, io, r, cx);
}

int prokio__op_native_connect(struct prokio__op *op, struct prokio__io *io,
                              const struct sockaddr *addr, socklen_t addrlen, prokio_cx_t *cx)
{
    if (addrlen > sizeof(struct sockaddr_storage))
        return prokio__op_end(op, prokio__error(PROKIO_EINVAL,
                                                "prokio__op_connect_poll: addrlen %u is larger "
                                                "than any address",
                                                (unsigned)addrlen));
    struct prokio__nrec *r = rec_new(cx->worker, K_CONNECT, 0);
    if (r == NULL)
        return prokio__op_end(op, prokio__error(PROKIO_ENOMEM, "prokio__op_connect_poll: no "
                                                               "memory"));
    memcpy(&r->addr, addr, addrlen); /* the kernel may read it after this poll */
    r->bop.fd = io->fileno;
    r->bop.addr = &r->addr;
    r->bop.addrlen = addrlen;
    return submit(op, io, r, cx);
}

int prokio__op_native_file(struct prokio__op *op, struct prokio__io *io, unsigned kind, void *buf,
                           size_t len, uint64_t offset, bool datasync, prokio_cx_t *cx)
{
    struct prokio__nrec *r = rec_new(cx->worker, kind, 0);
    if (r == NULL)
        return prokio__op_end(op,
                              prokio__error(PROKIO_ENOMEM, "%s: no memory", prokio__op_who(kind)));
    r->bop.fd = io->fileno;
    r->bop.buf = buf;
    r->bop.len = len < RW_MAX ? len : RW_MAX;
    r->bop.offset = offset;
    r->bop.flags = kind == K_FSYNC && datasync;
    return submit(op, io, r, cx);
}

int prokio__op_native_open(struct prokio__op *op, const char *path, int flags, mode_t mode,
                           prokio_cx_t *cx)
{
    size_t n = strlen(path) + 1;
    struct prokio__nrec *r = rec_new(cx->worker, K_OPEN, n);
    if (r == NULL)
        return prokio__op_end(op, prokio__error(PROKIO_ENOMEM, "prokio__op_open_poll: no memory"));
    memcpy(r->path, path, n);
    r->bop.fd = -1;
    r->bop.buf = r->path;
    r->bop.flags = flags | O_CLOEXEC;
    r->bop.mode = mode;
    return submit(op, NULL, r, cx);
}

int prokio__op_native_close(struct prokio__op *op, int fileno, prokio_cx_t *cx)
{
    struct prokio__nrec *r = rec_new(cx->worker, K_CLOSE, 0);
    if (r == NULL) {
        /* The descriptor must go anyway. */
        int rc = close(fileno) < 0 && errno != EINTR ? -errno : 0;
        return prokio__op_end(op, rc);
    }
    r->bop.fd = fileno;
    int rc = submit(op, NULL, r, cx);
    if (rc != PROKIO_PENDING) /* refused: close it ourselves */
        return close(fileno) < 0 && errno != EINTR ? -errno : 0;
    return rc;
}

/* What an abandoned op's completion leaves: the stash rule. Frees r. */
static void settle_abandoned(struct prokio__nrec *r)
{
    struct prokio__io *io = r->io;
    int res = r->bop.result;
    bool rx = prokio__op_is_rx(r->kind, io);
    if (io && r->counted) {
        if (rx)
            io->abandoned_recv--;
        else if (r->kind == K_ACCEPT)
            io->abandoned_accept--;
    }
    if (rx && res > 0 && io)
        (void)prokio__io_stash_bytes(io, r->bop.buf, (size_t)res); /* ENOMEM: lost, nothing else */
    if (r->kind == K_ACCEPT && res >= 0) {
        if (!io || prokio__io_stash_fd(io, res, (struct sockaddr *)&r->addr, r->bop.addrlen) < 0)
            close(res);
    }
    if (r->kind == K_OPEN && res >= 0)
        close(res);
    rec_free(r);
    if (io)
        prokio__io_wake_all(io); /* ops waiting for order, or a close */
}

void prokio__op_native_complete(struct prokio__worker *w, prokio_backend_op_t *bop)
{
    (void)w;
    struct prokio__nrec *r = PROKIO_CONTAINER_OF(bop, struct prokio__nrec, bop);
    struct prokio_task *task = r->task;
    struct prokio__io *io = r->io;
    r->task = NULL;
    r->done = true;
    PROKIO__OWNER_ADD(r->w->native_ops, -1);
    if (r->op) {
        uintptr_t waker = r->waker;
        r->waker = 0;
        if (waker)
            prokio__waker_wake(waker);
        if (io && io->closing)
            prokio__io_wake_all(io);
    } else {
        settle_abandoned(r);
    }
    /* Last: the deferred end of an ended task may now run (queued, never
     * inline: this is the backend's dispatch). */
    if (task)
        prokio__task_unpin(task);
}

int prokio__op_native_poll(struct prokio__op *op, prokio_cx_t *cx)
{
    struct prokio__nrec *r = op->rec;
    if (!r->done) {
        uintptr_t me = prokio__cx_waker(cx);
        if (r->waker != me) {
            if (r->waker)
                prokio__waker_release(r->waker);
            r->waker = prokio__waker_clone(me);
        }
        return PROKIO_PENDING;
    }
    int res = r->bop.result;
    unsigned kind = r->kind;
    if (res == -EAGAIN && kind != K_CONNECT && kind != K_OPEN && kind != K_CLOSE) {
        /* The kernel gave the op back (a descriptor it would not wait on):
         * nothing happened; the caller emulates it. */
        rec_free(r);
        prokio__op_end(op, 0);
        op->flags |= OPF_EMULATE;
        return PROKIO__OP_RESTART;
    }
    if (kind == K_ACCEPT && res >= 0 && r->uaddr && r->uaddrlen) {
        socklen_t n = r->bop.addrlen < *r->uaddrlen ? r->bop.addrlen : *r->uaddrlen;
        memcpy(r->uaddr, &r->addr, n);
        *r->uaddrlen = r->bop.addrlen;
    }
    int fileno = r->bop.fd;
    rec_free(r);
    if (res < 0)
        res = prokio__error(res, "%s: descriptor %d: %s", prokio__op_who(kind), fileno,
                            prokio_strerror(res));
    return prokio__op_end(op, res);
}

static void cancel_rec(struct prokio__nrec *r)
{
    /* A close is never cancelled: a backend that honoured the cancel
     * would leave the descriptor open, and nobody would close it (the io
     * already forgot its number). It completes on its own, soon. */
    if (r->kind == K_CLOSE)
        return;
    if (!r->done && !r->cancel_sent) {
        r->cancel_sent = true;
        (void)r->w->vt->op_cancel(r->w->loop, &r->bop); /* it completes either way */
    }
}

void prokio__op_native_abandon(struct prokio__op *op)
{
    struct prokio__nrec *r = op->rec;
    r->op = NULL;
    if (r->waker) {
        prokio__waker_release(r->waker);
        r->waker = 0;
    }
    if (r->done) {
        settle_abandoned(r); /* completed, never taken: the stash rule still holds */
        return;
    }
    bool rx = prokio__op_is_rx(r->kind, r->io);
    if (r->io && (rx || r->kind == K_ACCEPT)) {
        r->counted = true;
        if (rx)
            r->io->abandoned_recv++;
        else
            r->io->abandoned_accept++;
    }
    cancel_rec(r);
}

void prokio__op_native_cancel_io(struct prokio__io *io)
{
    for (struct prokio__nrec *r = io->inflight; r; r = r->next)
        cancel_rec(r);
}

void prokio__op_native_detach_io(struct prokio__io *io)
{
    while (io->inflight) {
        struct prokio__nrec *r = io->inflight;
        cancel_rec(r);
        rec_unlink(r);
        r->io = NULL;
        r->counted = false;
    }
    io->abandoned_recv = io->abandoned_accept = 0;
}

bool prokio__io_native_pending(const struct prokio__io *io)
{
    for (const struct prokio__nrec *r = io->inflight; r; r = r->next)
        if (!r->done)
            return true;
    return false;
}

#else /* __EMSCRIPTEN__: no backend there has native ops (the loader refuses                       \
       * them on a host that cannot block), so no completion ever comes. */
void prokio__op_native_complete(struct prokio__worker *w, prokio_backend_op_t *bop)
{
    (void)w, (void)bop;
}
void prokio__op_native_fini_worker(struct prokio__worker *w)
{
    (void)w;
}
#endif
