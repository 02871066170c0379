/* backends/uring/uring.c: the io_uring backend, over liburing.
 *
 * One ring per loop, created on the loop thread. Readiness comes from
 * IORING_OP_POLL_ADD: multishot where the kernel has it (5.13), which reports
 * on every wakeup of the descriptor and is therefore edge-triggered in the
 * sense of CAP_EDGE; one-shot polls re-armed after each report otherwise,
 * which behave as level-triggered. Wakes go through an eventfd with a read
 * always pending on it in the ring, so a wake costs the waker one write() and
 * the loop no extra system call. Kernels from 5.5 (IORING_FEAT_NODROP) work;
 * what they lack is probed in loop_init.
 *
 * The kernel may post completions for a poll after watch_close has returned
 * (at least the final -ECANCELED), and the core frees the watch memory at
 * once, so user_data never points into core memory: every watch has a record
 * of its own, from host->alloc, which lives until no CQE naming it is due.
 * At most one poll per record is in the kernel at a time, so the record
 * address alone identifies it and a cancel cannot hit another poll
 * (libxev#233), even when the descriptor number is reused (liburing#147).
 *
 * Native operations (backend ABI 1.1): recv, send, accept, connect, read,
 * write, close, fsync and open become SQEs whose user_data is the core's
 * prokio_backend_op_t (tagged TAG_OP). op_submit only queues the SQE; the
 * next wait submits the whole batch with the one io_uring_enter it makes
 * anyway, and its CQE is the op's one terminal completion
 * (host->op_complete). op_cancel queues IORING_OP_ASYNC_CANCEL for the op's
 * user_data and submits at once, so that the op has taken hold of its file
 * before the core closes the descriptor; an op's address is never reused
 * before its CQE, which cannot have come yet when the core cancels.
 * PROKIO_URING_NATIVE=0 in the environment switches them off (the core
 * then emulates them over readiness), so both paths can be tested; the
 * kernel's opcode probe switches off what it lacks.
 */
#include <prokio/backend.h>

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

/* liburing 2.4 and later say which version they are; 2.3 is the oldest that
 * has everything used here (io_uring_submit_and_get_events, DEFER_TASKRUN). */
#ifdef IO_URING_VERSION_MAJOR
#define STR_(x)          #x
#define STR(x)           STR_(x)
#define LIBURING_VERSION STR(IO_URING_VERSION_MAJOR) "." STR(IO_URING_VERSION_MINOR)
#else
#define LIBURING_VERSION "2.3"
#endif

/* Test knobs, so that the fallbacks can be exercised on a new kernel:
 * -DURING_TEST_SKIP_SETUPS=N skips the first N ring setups below, and
 * -DURING_TEST_NO_MULTISHOT behaves as if multishot poll were refused. */
#ifndef URING_TEST_SKIP_SETUPS
#define URING_TEST_SKIP_SETUPS 0
#endif

#define RING_ENTRIES 256

/* user_data is a pointer with a tag in its three low bits (records, loops and
 * the core's ops are all 8-byte aligned). LIBURING_UDATA_TIMEOUT (all ones),
 * which liburing uses for its own timeouts on kernels without
 * IORING_FEAT_EXT_ARG, falls under TAG_IGNORE. */
enum { TAG_POLL = 0, TAG_AUX = 1, TAG_WAKE = 2, TAG_OP = 3, TAG_IGNORE = 7, TAG_MASK = 7 };
#define UD_IGNORE ((uint64_t)TAG_IGNORE)
#define UD_PROBE  ((uint64_t)(8 | TAG_IGNORE))

/* The native operations this backend implements, each with its opcode. */
#define OP_CAPS                                                                                    \
    (PROKIO_BACKEND_CAP_OP_READ | PROKIO_BACKEND_CAP_OP_WRITE | PROKIO_BACKEND_CAP_OP_RECV |       \
     PROKIO_BACKEND_CAP_OP_SEND | PROKIO_BACKEND_CAP_OP_ACCEPT | PROKIO_BACKEND_CAP_OP_CONNECT |   \
     PROKIO_BACKEND_CAP_OP_CLOSE | PROKIO_BACKEND_CAP_OP_FSYNC | PROKIO_BACKEND_CAP_OP_OPEN)

/* What a watch knows of the kernel, owned by the backend. */
struct rec {
    prokio_backend_watch_t *watch; /* NULL once closed: report nothing more */
    struct rec *prev, *next;       /* every record of the loop, for loop_fini */
    struct rec *dirty_next;        /* the loop's queue of records to sync */
    int fd;
    unsigned interest; /* READABLE | WRITABLE, as the core last asked */
    unsigned armed;    /* interest of the poll in the kernel; 0: no poll */
    unsigned refs;     /* SQEs naming this record whose last CQE is due */
    bool cancelling;   /* a cancel for the poll is on its way */
    bool recheck;      /* watch_update asked for the current state again */
    bool queued;       /* on the dirty queue */
};
_Static_assert(_Alignof(struct rec) > TAG_MASK, "tags need the low bits of a record address");

struct watch {
    struct rec *rec;
};

struct loop {
    struct io_uring ring;
    prokio_backend_host_loop_t *host_loop;
    struct rec *recs;  /* list of all records */
    struct rec *dirty; /* records whose poll must change before the next wait */
    unsigned inflight; /* CQEs still due that end an SQE of ours */
    unsigned ops;      /* native ops submitted whose CQE is still due (part of inflight) */
    int nevents;       /* reports delivered by the current wait */
    int ncompleted;    /* op completions delivered by the current wait */
    bool woken;        /* the current wait saw a wake */
    bool multishot;
    bool rdhup;      /* CAP_RDHUP kept: ask for POLLRDHUP and report RDHUP (not for a 1.0 core) */
    bool wake_armed; /* the eventfd read is in the kernel */
    bool closing;
    int probe_fd; /* an epoll instance of our own, for watch_init */
    uint64_t wake_buf;
    struct iovec wake_iov; /* READV, not READ: the former is in every kernel */
    /* Touched by other threads: keep it off the loop's busy cache lines. (The
     * core aligns loop memory to 16 bytes only, so no _Alignas(64).) */
    char pad[64];
    int efd;
    atomic_int wake_pending;
};

/* Set once by the entry, before any loop exists; read-only afterwards. */
static const prokio_backend_host_t *host;

static struct loop *L(prokio_backend_loop_t *loop)
{
    return (struct loop *)loop;
}

static uint64_t ud(const void *p, unsigned tag)
{
    return (uint64_t)(uintptr_t)p | tag;
}

/* The one place where kernel and liburing codes become Prokio's. liburing
 * returns -errno, and a Prokio code is -errno wherever the errno exists, so
 * those pass unchanged; the rest are reported as an i/o error. */
static int err_of(int r)
{
    switch (r) {
#define PASS(name, value, msg) case value:
        PROKIO_ERRNO_MAP(PASS)
#undef PASS
        return r;
    case -ETIME:
        return PROKIO_ETIMEDOUT;
    default:
        return PROKIO_EIO;
    }
}

/* An SQE, making room by submitting when the queue is full. NULL only when the
 * kernel refuses the submission too (out of memory). Loop thread only:
 * SINGLE_ISSUER rings accept submissions from their creator alone. */
static struct io_uring_sqe *get_sqe(struct loop *l)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
    if (!sqe && io_uring_submit(&l->ring) >= 0)
        sqe = io_uring_get_sqe(&l->ring);
    return sqe;
}

static void queue(struct loop *l, struct rec *r)
{
    if (!r->queued) {
        r->queued = true;
        r->dirty_next = l->dirty;
        l->dirty = r;
    }
}

static void rec_free(struct loop *l, struct rec *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->recs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    host->free(r);
}

/* POLLRDHUP with POLLIN: the peer's half-close is reported (CAP_RDHUP). */
static unsigned poll_mask(const struct loop *l, unsigned events)
{
    return (events & PROKIO_BACKEND_READABLE ? POLLIN | (l->rdhup ? POLLRDHUP : 0) : 0) |
           (events & PROKIO_BACKEND_WRITABLE ? POLLOUT : 0);
}

/* Prepare what brings the kernel's poll for r in line with what the core
 * wants. Returns false when no SQE could be had: r stays queued. */
static bool reconcile(struct loop *l, struct rec *r)
{
    unsigned want = r->watch ? r->interest : 0;
    struct io_uring_sqe *sqe;

    if (r->armed ? r->cancelling || (want == r->armed && !r->recheck) : !want)
        return true; /* nothing to do, or the final CQE will queue r again */
    if (!(sqe = get_sqe(l)))
        return false;
    if (!r->armed) {
        if (l->multishot)
            io_uring_prep_poll_multishot(sqe, r->fd, poll_mask(l, want));
        else
            io_uring_prep_poll_add(sqe, r->fd, poll_mask(l, want));
        sqe->user_data = ud(r, TAG_POLL);
        r->armed = want;
    } else if (want && l->multishot) {
        /* An update re-checks the descriptor, so a direction that is ready
         * now is reported again, as the contract wants after each update. */
        io_uring_prep_poll_update(sqe, ud(r, TAG_POLL), 0, poll_mask(l, want),
                                  IORING_POLL_UPDATE_EVENTS);
        sqe->user_data = ud(r, TAG_AUX);
        r->armed = want;
    } else if (l->multishot) {
        /* IORING_OP_POLL_REMOVE fails with -EALREADY while a wakeup of the
         * poll is being processed, and a multishot poll then lives on; an
         * async cancel always ends it. The final CQE re-arms if need be. */
        io_uring_prep_cancel64(sqe, ud(r, TAG_POLL), 0);
        sqe->user_data = ud(r, TAG_AUX);
        r->cancelling = true;
    } else {
        /* A one-shot poll busy with a wakeup completes anyway, and kernels
         * without multishot may not cancel polls any other way. */
        io_uring_prep_poll_remove(sqe, ud(r, TAG_POLL));
        sqe->user_data = ud(r, TAG_AUX);
        r->cancelling = true;
    }
    r->recheck = false;
    r->refs++;
    l->inflight++;
    return true;
}

/* Everything the kernel must know before the loop sleeps. */
static void flush(struct loop *l)
{
    struct io_uring_sqe *sqe;

    while (l->dirty) {
        struct rec *r = l->dirty;
        if (!reconcile(l, r))
            break;
        l->dirty = r->dirty_next;
        r->queued = false;
        if (!r->watch && !r->refs)
            rec_free(l, r);
    }
    if (!l->wake_armed && !l->closing && (sqe = get_sqe(l))) {
        io_uring_prep_readv(sqe, l->efd, &l->wake_iov, 1, 0);
        sqe->user_data = ud(l, TAG_WAKE);
        l->wake_armed = true;
        l->inflight++;
    }
}

static void report(struct loop *l, struct rec *r, unsigned mask)
{
    unsigned ev = 0;

    if (!r->watch || !r->interest)
        return;
    if (mask & (POLLIN | POLLPRI | POLLRDHUP))
        ev |= PROKIO_BACKEND_READABLE;
    if (mask & POLLOUT)
        ev |= PROKIO_BACKEND_WRITABLE;
    ev &= r->interest;
    if ((mask & POLLRDHUP) && (ev & PROKIO_BACKEND_READABLE) && l->rdhup)
        ev |= PROKIO_BACKEND_RDHUP;
    if (mask & POLLERR)
        ev |= PROKIO_BACKEND_ERROR;
    if (mask & POLLHUP)
        ev |= PROKIO_BACKEND_HANGUP;
    if (ev) {
        host->watch_ready(l->host_loop, r->watch, ev);
        l->nevents++;
    }
}

static void complete(struct loop *l, uint64_t user_data, int res, unsigned flags)
{
    struct rec *r = (struct rec *)(uintptr_t)(user_data & ~(uint64_t)TAG_MASK);

    switch (user_data & TAG_MASK) {
    case TAG_WAKE:
        /* Clearing the flag after the read has emptied the eventfd means a
         * wake from now on writes again; one from before is answered by this
         * wait returning. */
        atomic_store(&l->wake_pending, 0);
        l->wake_armed = false;
        l->woken = true;
        l->inflight--;
        return;
    case TAG_POLL:
        if (res > 0)
            report(l, r, (unsigned)res);
        if (flags & IORING_CQE_F_MORE)
            return;
        r->armed = 0;
        r->cancelling = r->recheck = false;
        if (res < 0 && res != -ECANCELED && r->watch && r->interest) {
            /* A descriptor the kernel cannot poll (EBADF...): let the next
             * system call tell the core, and re-arm only when it asks again,
             * or this would spin. */
            host->watch_ready(l->host_loop, r->watch, PROKIO_BACKEND_ERROR);
            l->nevents++;
        } else if (r->watch && r->interest) {
            queue(l, r); /* one-shot fired, cancelled for a change, or ended */
        }
        break;
    case TAG_OP: {
        /* The op's terminal completion: after op_complete it is not ours. */
        prokio_backend_op_t *op = (prokio_backend_op_t *)r;
        op->result = res; /* -errno unchanged, as the system call would say it */
        l->ops--;
        l->inflight--;
        l->ncompleted++;
        host->op_complete(l->host_loop, op);
        return;
    }
    case TAG_AUX:
        if (res == -EALREADY) {
            /* An update or remove found the poll busy with a wakeup and
             * changed nothing: try again at the next flush. */
            r->cancelling = false;
            r->recheck = l->multishot;
            queue(l, r);
        }
        break;
    default:
        return; /* probe leftovers, cancels, liburing's timeouts */
    }
    r->refs--;
    l->inflight--;
    if (!r->watch && !r->refs && !r->queued)
        rec_free(l, r);
}

static void reap(struct loop *l)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&l->ring, head, cqe)
    {
        complete(l, cqe->user_data, cqe->res, cqe->flags);
        n++;
    }
    io_uring_cq_advance(&l->ring, n);
}

/* True when the kernel holds completions that a system call must bring in:
 * deferred task work (the TASKRUN flag) or an overflowed CQ. */
static bool kernel_pending(struct loop *l)
{
    return IO_URING_READ_ONCE(*l->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

static void probe_reap(struct loop *l, unsigned *reports, bool *ended)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;

    io_uring_for_each_cqe(&l->ring, head, cqe)
    {
        if (cqe->user_data == UD_PROBE) {
            *reports += cqe->res > 0;
            *ended |= !(cqe->flags & IORING_CQE_F_MORE);
        }
        n++;
    }
    io_uring_cq_advance(&l->ring, n);
}

/* Whether multishot poll works here and is edge-triggered: arm one on the
 * eventfd, which is always writable. Kernels before 5.13 answer -EINVAL. A
 * second report with no new wakeup would mean level-triggered, for which
 * one-shot polls are the better tool. */
static bool probe_multishot(struct loop *l)
{
    struct io_uring_sqe *sqe;
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_nsec = 100000000};
    unsigned reports = 0;
    bool ended = false, edge;

#ifdef URING_TEST_NO_MULTISHOT
    return false;
#endif
    sqe = io_uring_get_sqe(&l->ring); /* the ring is new: never NULL */
    io_uring_prep_poll_multishot(sqe, l->efd, POLLOUT);
    sqe->user_data = UD_PROBE;
    io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
    probe_reap(l, &reports, &ended);
    io_uring_submit_and_get_events(&l->ring);
    probe_reap(l, &reports, &ended);
    edge = reports == 1 && !ended;
    if (!ended && (sqe = io_uring_get_sqe(&l->ring))) {
        io_uring_prep_cancel64(sqe, UD_PROBE, 0);
        sqe->user_data = UD_IGNORE;
        for (int i = 0; !ended && i < 10; i++) {
            io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
            probe_reap(l, &reports, &ended);
        }
    }
    host->log(PROKIO_BACKEND_LOG_DEBUG, "multishot poll: %s",
              edge      ? "edge-triggered"
              : reports ? "not edge-triggered"
                        : "refused");
    return edge;
}

/* The OP_* bits this loop cannot honour: all of them when the environment
 * says PROKIO_URING_NATIVE=0 (or the core speaks ABI 1.0), and those whose
 * opcode the kernel lacks. */
static uint64_t native_caps_off(struct loop *l)
{
    static const struct {
        uint64_t cap;
        int opcode;
    } ops[] = {
        {PROKIO_BACKEND_CAP_OP_READ, IORING_OP_READ},
        {PROKIO_BACKEND_CAP_OP_WRITE, IORING_OP_WRITE},
        {PROKIO_BACKEND_CAP_OP_RECV, IORING_OP_RECV},
        {PROKIO_BACKEND_CAP_OP_SEND, IORING_OP_SEND},
        {PROKIO_BACKEND_CAP_OP_ACCEPT, IORING_OP_ACCEPT},
        {PROKIO_BACKEND_CAP_OP_CONNECT, IORING_OP_CONNECT},
        {PROKIO_BACKEND_CAP_OP_CLOSE, IORING_OP_CLOSE},
        {PROKIO_BACKEND_CAP_OP_FSYNC, IORING_OP_FSYNC},
        {PROKIO_BACKEND_CAP_OP_OPEN, IORING_OP_OPENAT},
    };
    const char *env = getenv("PROKIO_URING_NATIVE");
    uint64_t off = 0;

    if (env && env[0] == '0') {
        host->log(PROKIO_BACKEND_LOG_DEBUG, "native operations off (PROKIO_URING_NATIVE=0)");
        return OP_CAPS | PROKIO_BACKEND_CAP_BATCH;
    }
    struct io_uring_probe *probe = io_uring_get_probe_ring(&l->ring);
    if (!probe)
        return OP_CAPS | PROKIO_BACKEND_CAP_BATCH;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!io_uring_opcode_supported(probe, ops[i].opcode))
            off |= ops[i].cap;
    io_uring_free_probe(probe);
    if (off)
        host->log(PROKIO_BACKEND_LOG_DEBUG, "kernel lacks some native operations: caps %#llx off",
                  (unsigned long long)off);
    return off;
}

static int loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    /* DEFER_TASKRUN (6.1) runs completions only when the loop asks, on its own
     * thread; COOP_TASKRUN (5.19) at least spares it an interrupt. With
     * TASKRUN_FLAG the kernel says when completions wait for a system call,
     * which lets wait(0) skip it when nothing does. */
    static const struct {
        unsigned flags;
        const char *name;
    } setups[] = {
        {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
         "single_issuer|defer_taskrun"},
        {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG, "coop_taskrun"},
        {0, "plain"},
    };
    struct loop *l = L(loop);
    struct io_uring_params p;
    int r = -EINVAL;

    (void)config;
    for (size_t i = URING_TEST_SKIP_SETUPS; i < sizeof setups / sizeof *setups; i++) {
        p = (struct io_uring_params){.flags = setups[i].flags};
        r = io_uring_queue_init_params(RING_ENTRIES, &l->ring, &p);
        host->log(PROKIO_BACKEND_LOG_DEBUG, "io_uring_setup(%s): %s", setups[i].name,
                  r ? strerrorname_np(-r) : "ok");
        /* Only an unknown flag is worth another try; EPERM (io_uring_disabled
         * sysctl, seccomp), ENOSYS or ENOMEM will not change. */
        if (r != -EINVAL)
            break;
    }
    if (r < 0)
        return err_of(r);
    if (!(p.features & IORING_FEAT_NODROP)) {
        /* Before 5.5 a full CQ drops completions, and a lost poll CQE is a
         * lost event and a record that is never freed. */
        host->log(PROKIO_BACKEND_LOG_DEBUG, "kernel without IORING_FEAT_NODROP: not used");
        r = -ENOTSUP;
        goto fail_ring;
    }
    io_uring_register_ring_fd(&l->ring); /* saves a file lookup per enter; optional */
    if ((l->efd = eventfd(0, EFD_CLOEXEC)) < 0) {
        r = -errno;
        host->log(PROKIO_BACKEND_LOG_DEBUG, "eventfd: %s", strerrorname_np(-r));
        goto fail_ring;
    }
    if ((l->probe_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        r = -errno;
        host->log(PROKIO_BACKEND_LOG_DEBUG, "epoll_create1: %s", strerrorname_np(-r));
        goto fail_efd;
    }
    l->wake_iov = (struct iovec){&l->wake_buf, sizeof l->wake_buf};
    l->host_loop = host_loop;
    l->multishot = probe_multishot(l);
    /* RDHUP is a report bit of ABI 1.1: a 1.0 core's vtable has no
     * CAP_RDHUP (entry), and *caps holds the vtable's bits here. */
    l->rdhup = (*caps & PROKIO_BACKEND_CAP_RDHUP) != 0;
    if (!l->multishot)
        *caps &= ~PROKIO_BACKEND_CAP_EDGE;
    *caps &= ~native_caps_off(l);
    flush(l); /* arms the wake read */
    return 0;

fail_efd:
    close(l->efd);
fail_ring:
    io_uring_queue_exit(&l->ring);
    return err_of(r);
}

static void loop_fini(prokio_backend_loop_t *loop)
{
    struct loop *l = L(loop);
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = {.tv_nsec = 100000000};

    /* Every watch is closed, so every poll has a cancel on its way or queued.
     * The eventfd read is ended by a write, which every kernel completes
     * (a cancel may not reach a read blocked in an io-wq worker). Then reap
     * until no CQE can name memory of ours; the bound only guards against a
     * kernel that never answers. */
    l->closing = true;
    for (struct rec *r = l->recs; r; r = r->next)
        if (r->watch) { /* the core forgot one: do not report it */
            r->watch = NULL;
            queue(l, r);
        }
    flush(l);
    if (l->wake_armed)
        eventfd_write(l->efd, 1);
    for (int i = 0; l->inflight && i < 50; i++) {
        io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
        reap(l);
        flush(l);
    }
    /* After the ring is gone no CQE can arrive: what is left can go. */
    io_uring_queue_exit(&l->ring);
    while (l->recs)
        rec_free(l, l->recs);
    close(l->efd);
    close(l->probe_fd);
}

static uint64_t loop_now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static int loop_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    struct loop *l = L(loop);
    struct io_uring_cqe *cqe;

    l->nevents = 0;
    l->ncompleted = 0;
    l->woken = false;
    for (;;) {
        int r = 0;
        uint64_t now;

        /* Without anything to submit or to run in the kernel, the CQ ring
         * holds all there is: peeking at it costs no system call. */
        flush(l);
        if (io_uring_sq_ready(&l->ring) || kernel_pending(l))
            r = io_uring_submit_and_get_events(&l->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            return err_of(r);
        reap(l);
        if (l->nevents || l->woken || l->ncompleted)
            return l->nevents; /* completions are not counted: the core reads the sign */
        if ((now = host->monotonic_ns()) >= deadline_ns)
            return 0;
        /* Re-arms queued by reap must reach the kernel before it sleeps. The
         * timeout is relative: -ETIME, an early or spurious return, and
         * EINTR all come back here, where the clock decides. */
        flush(l);
        if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER) {
            r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, NULL, NULL);
        } else {
            uint64_t left = deadline_ns - now;
            struct __kernel_timespec ts = {.tv_sec = (long long)(left / 1000000000u),
                                           .tv_nsec = (long long)(left % 1000000000u)};
            r = io_uring_submit_and_wait_timeout(&l->ring, &cqe, 1, &ts, NULL);
        }
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            return err_of(r);
    }
}

static void loop_wake(prokio_backend_loop_t *loop)
{
    struct loop *l = L(loop);
    uint64_t one = 1;
    int saved = errno; /* async-signal-safe callers keep their errno */

    /* One write per wait: later wakes find the flag set until the loop has
     * consumed the eventfd and cleared it. */
    if (!atomic_exchange(&l->wake_pending, 1))
        while (write(l->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    errno = saved;
}

static int watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    struct loop *l = L(loop);
    struct epoll_event ev = {0};
    struct rec *r;

    /* On a file without a poll method the kernel completes a poll at once,
     * multishot or not, without IORING_CQE_F_MORE, and every flush would arm
     * it again: the loop would spin. epoll refuses exactly those files
     * (EPERM), which no file type tells (regular files, directories, block
     * devices and /dev/null are among them, some files of /proc are not),
     * and a bad descriptor (EBADF), which a poll would report only at the
     * next wait. So epoll is asked, at two system calls per watch, as
     * libuv's uv_poll_init does. */
    if (epoll_ctl(l->probe_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return err_of(-errno);
    epoll_ctl(l->probe_fd, EPOLL_CTL_DEL, fd, &ev);
    if (!(r = host->alloc(sizeof *r)))
        return PROKIO_ENOMEM;
    r->watch = watch;
    r->fd = fd;
    r->next = l->recs;
    if (l->recs)
        l->recs->prev = r;
    l->recs = r;
    ((struct watch *)watch)->rec = r;
    return 0;
}

static int watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, unsigned events)
{
    struct rec *r = ((struct watch *)watch)->rec;

    /* Changes reach the kernel in the next wait, batched and coalesced. */
    r->interest = events & (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE);
    r->recheck = r->interest && L(loop)->multishot; /* see reconcile() */
    queue(L(loop), r);
    return 0;
}

static void watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct loop *l = L(loop);
    struct rec *r = ((struct watch *)watch)->rec;

    r->watch = NULL;
    r->interest = 0;
    /* A poll holds a reference to the file, and closing the descriptor does
     * not cancel it (liburing#568): cancel it now, so that the core's close()
     * really closes. Entering with GETEVENTS runs the cancellation, which a
     * DEFER_TASKRUN ring would otherwise keep until the next wait. */
    if (r->armed) {
        if (reconcile(l, r))
            io_uring_submit_and_get_events(&l->ring);
        else
            queue(l, r);
    }
    if (!r->refs && !r->queued)
        rec_free(l, r);
}

static int op_submit(prokio_backend_loop_t *loop, prokio_backend_op_t *op)
{
    struct loop *l = L(loop);
    struct io_uring_sqe *sqe = get_sqe(l);

    if (!sqe)
        return PROKIO_ENOMEM;
    switch (op->kind) {
    case PROKIO_BACKEND_OP_READ:
        /* An offset of -1 is the file's position (IORING_FEAT_RW_CUR_POS). */
        io_uring_prep_read(sqe, op->fd, op->buf, (unsigned)op->len, op->offset);
        break;
    case PROKIO_BACKEND_OP_WRITE:
        io_uring_prep_write(sqe, op->fd, op->buf, (unsigned)op->len, op->offset);
        break;
    case PROKIO_BACKEND_OP_RECV:
        io_uring_prep_recv(sqe, op->fd, op->buf, op->len, op->flags);
        break;
    case PROKIO_BACKEND_OP_SEND:
        io_uring_prep_send(sqe, op->fd, op->buf, op->len, op->flags);
        break;
    case PROKIO_BACKEND_OP_ACCEPT:
        io_uring_prep_accept(sqe, op->fd, op->addr, op->addr ? (socklen_t *)&op->addrlen : NULL,
                             op->flags);
        break;
    case PROKIO_BACKEND_OP_CONNECT:
        io_uring_prep_connect(sqe, op->fd, op->addr, op->addrlen);
        break;
    case PROKIO_BACKEND_OP_CLOSE:
        io_uring_prep_close(sqe, op->fd);
        break;
    case PROKIO_BACKEND_OP_FSYNC:
        io_uring_prep_fsync(sqe, op->fd, op->flags & 1 ? IORING_FSYNC_DATASYNC : 0);
        break;
    case PROKIO_BACKEND_OP_OPEN:
        io_uring_prep_openat(sqe, AT_FDCWD, op->buf, op->flags, op->mode);
        break;
    default:
        /* Unknown kind: give the SQE back as a no-op, ignored. */
        io_uring_prep_nop(sqe);
        sqe->user_data = UD_IGNORE;
        return PROKIO_ENOTSUP;
    }
    sqe->user_data = ud(op, TAG_OP);
    l->ops++;
    l->inflight++;
    return 0; /* submitted by the next wait, with everything else queued */
}

static int op_cancel(prokio_backend_loop_t *loop, prokio_backend_op_t *op)
{
    struct loop *l = L(loop);
    struct io_uring_sqe *sqe = get_sqe(l);
    int r;

    if (!sqe)
        return PROKIO_ENOMEM;
    io_uring_prep_cancel64(sqe, ud(op, TAG_OP), 0);
    sqe->user_data = UD_IGNORE;
    /* Submitting now issues the op's own SQE (queued before) with it, so the
     * op holds its file when the core closes the descriptor next. */
    r = io_uring_submit(&l->ring);
    return r < 0 ? err_of(r) : 0;
}

static const prokio_backend_vtable_t vtable = {
    .size = sizeof(prokio_backend_vtable_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
    .name = "uring",
    .version = "1.1 (liburing " LIBURING_VERSION ")",
    .caps = PROKIO_BACKEND_CAP_EDGE | OP_CAPS | PROKIO_BACKEND_CAP_BATCH | PROKIO_BACKEND_CAP_RDHUP,
    .loop_size = sizeof(struct loop),
    .watch_size = sizeof(struct watch),
    .loop_init = loop_init,
    .loop_fini = loop_fini,
    .now_ns = loop_now_ns,
    .wait = loop_wait,
    .wake = loop_wake,
    .arm = NULL,
    .watch_init = watch_init,
    .watch_update = watch_update,
    .watch_close = watch_close,
    .op_submit = op_submit,
    .op_cancel = op_cancel,
};

/* What a 1.0 core gets: readiness only (it knows nothing of native ops). */
static const prokio_backend_vtable_t vtable_1_0 = {
    .size = PROKIO_BACKEND_VTABLE_SIZE_1_0,
    .abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0,
    .name = "uring",
    .version = "1.1 (liburing " LIBURING_VERSION "), as ABI 1.0",
    .caps = PROKIO_BACKEND_CAP_EDGE,
    .loop_size = sizeof(struct loop),
    .watch_size = sizeof(struct watch),
    .loop_init = loop_init,
    .loop_fini = loop_fini,
    .now_ns = loop_now_ns,
    .wait = loop_wait,
    .wake = loop_wake,
    .arm = NULL,
    .watch_init = watch_init,
    .watch_update = watch_update,
    .watch_close = watch_close,
};

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(uring)(const prokio_backend_host_t *h,
                                                      uint32_t core_abi,
                                                      const prokio_backend_vtable_t **out)
{
    int rc = prokio_backend_check_core(h, core_abi, "uring");
    if (rc < 0)
        return rc;
    host = h;
    bool v1_1 = PROKIO_BACKEND_ABI_MINOR_OF(core_abi) >= 1 &&
                h->size >= PROKIO_BACKEND_HOST_SIZE_1_1 && h->op_complete;
    *out = v1_1 ? &vtable : &vtable_1_0;
    return 0;
}
