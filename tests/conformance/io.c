/* tests/conformance/io.c: descriptor readiness (prokio_fd_t) over
 * AF_UNIX socketpairs. Tasks that wait for a backend's report also poll a
 * struct conf_timeout, so that a lost report fails the test with a reason
 * instead of hanging until the watchdog ends the whole suite. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>

#include "conformance.h"

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void set_blocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
}

/* ------------------------------------------------------------ read rounds */

struct reader {
    int fd;
    int rounds;
    atomic_int *waiting; /* messages received + 1 when pending; INT_MAX: gave up */
    prokio_fd_t *io;
    struct conf_timeout to;
    int got, pendings, eagain, bad, eof, not_readable, free_rc, err, have, timed_out;
    unsigned char buf[4];
};

static int reader_poll(void *frame, prokio_cx_t *cx)
{
    struct reader *f = frame;
    if (f->io == NULL) {
        int rc = prokio_fd_new(&f->io, f->fd, cx);
        if (rc < 0)
            return f->err = rc;
    }
    for (;;) {
        int r = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
        if (r == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                f->timed_out = 1;
                atomic_store(f->waiting, INT_MAX); /* the writer stops waiting */
                break;
            }
            f->pendings++;
            atomic_store(f->waiting, f->got + 1);
            return PROKIO_PENDING;
        }
        if (r < 0) {
            f->err = r;
            break;
        }
        if (r != PROKIO_READABLE)
            f->not_readable++;
        /* Two bytes at a time: a message takes two reads. */
        ssize_t n = read(f->fd, f->buf + f->have, 2 - (size_t)(f->have % 2));
        if (n < 0 && errno == EAGAIN) {
            f->eagain++;
            prokio_fd_clear_ready(f->io, PROKIO_READABLE);
            continue;
        }
        if (n < 0) {
            f->err = -errno;
            break;
        }
        if (n == 0) {
            f->eof = 1;
            break;
        }
        f->have += (int)n;
        if (f->have == 4) {
            uint32_t v;
            memcpy(&v, f->buf, 4);
            if (v != (uint32_t)f->got)
                f->bad++;
            f->got++;
            f->have = 0;
        }
    }
    f->free_rc = prokio_fd_free(f->io);
    f->io = NULL;
    return f->err ? f->err : 0;
}

static void reader_drop(void *frame)
{
    struct reader *f = frame;
    if (f->io)
        prokio_fd_free(f->io);
    f->io = NULL;
}

/* Writes message r once the reader waits for it, then closes. */
struct writer_thread {
    int fd;
    int rounds;
    atomic_int *waiting;
    int timed_out;
};

static void *writer_thread_main(void *arg)
{
    struct writer_thread *wt = arg;
    for (int r = 0; r <= wt->rounds; r++) {
        if (!conf_wait_flag(wt->waiting, r + 1)) {
            wt->timed_out = 1;
            break;
        }
        uint32_t v = (uint32_t)r;
        if (r < wt->rounds && write(wt->fd, &v, 4) != 4)
            break;
    }
    close(wt->fd);
    return NULL;
}

void test_io_read_rounds(void **state)
{
    (void)state;
    enum { ROUNDS = 1000 };
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        int sv[2];
        pair(sv);
        atomic_int waiting = 0;
        struct writer_thread wt = {sv[1], ROUNDS, &waiting, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, writer_thread_main, &wt), 0);
        struct reader rd = {.fd = sv[0], .rounds = ROUNDS, .waiting = &waiting};
        int rc = conf_run_on(rt, w, reader_poll, &rd, sizeof rd, reader_drop);
        pthread_join(th, NULL);
        if (rd.timed_out)
            fail_msg("worker %u: no readiness report after %d messages (%d pending polls)", w,
                     rd.got, rd.pendings);
        if (wt.timed_out)
            fail_msg("worker %u: the writer waited in vain for the reader after %d messages", w,
                     rd.got);
        assert_int_equal(rc, 0);
        assert_int_equal(rd.err, 0);
        assert_int_equal(rd.got, ROUNDS);
        assert_int_equal(rd.bad, 0);
        assert_int_equal(rd.eof, 1);
        assert_int_equal(rd.free_rc, 0);
        assert_int_equal(rd.not_readable, 0);
        /* Exactly one EAGAIN per message, one pending poll per message
         * plus the one before the end: no lost and no spurious report. */
        if (rd.eagain != ROUNDS || rd.pendings != ROUNDS + 1)
            print_message("# worker %u: %d EAGAIN, %d pending polls for %d messages\n", w,
                          rd.eagain, rd.pendings, ROUNDS);
        assert_true(rd.eagain >= ROUNDS);
        assert_int_equal(rd.pendings, rd.eagain + 1);
        close(sv[0]);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------- ready before register */

struct early {
    int fd;
    unsigned interest;
    prokio_fd_t *io;
    struct conf_timeout to;
    int mask, timed_out, nread, free_rc, pendings;
    char buf[8];
};

static int early_poll(void *frame, prokio_cx_t *cx)
{
    struct early *f = frame;
    if (f->io == NULL) {
        int rc = prokio_fd_new(&f->io, f->fd, cx);
        if (rc < 0)
            return rc;
    }
    int r = prokio_fd_ready_poll(f->io, f->interest, cx);
    if (r == PROKIO_PENDING) {
        if (!conf_timed_out(&f->to, cx)) {
            f->pendings++;
            return PROKIO_PENDING;
        }
        f->timed_out = 1;
    } else {
        f->mask = r;
        if (r > 0 && (r & PROKIO_READABLE))
            f->nread = (int)read(f->fd, f->buf, sizeof f->buf);
    }
    conf_timeout_cancel(&f->to);
    f->free_rc = prokio_fd_free(f->io);
    f->io = NULL;
    return 0;
}

void test_io_ready_before_register(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    for (int k = 0; k < 6; k++) {
        int sv[2];
        pair(sv);
        unsigned interest = k % 3 == 0   ? PROKIO_READABLE
                            : k % 3 == 1 ? PROKIO_WRITABLE
                                         : PROKIO_READABLE | PROKIO_WRITABLE;
        if (interest & PROKIO_READABLE)
            assert_int_equal(write(sv[1], "early", 5), 5);
        struct early e = {.fd = sv[0], .interest = interest};
        int rc = conf_run_on(rt, (unsigned)k % 2, early_poll, &e, sizeof e, NULL);
        if (e.timed_out)
            fail_msg("interest %u: readiness present before registration never reported", interest);
        assert_int_equal(rc, 0);
        assert_true(e.mask > 0);
        assert_int_equal(e.mask & ~(int)interest, 0);
        if (e.mask & PROKIO_READABLE) {
            assert_int_equal(e.nread, 5);
            assert_memory_equal(e.buf, "early", 5);
        }
        assert_int_equal(e.free_rc, 0);
        close(sv[0]);
        close(sv[1]);
    }
    test_runtime_free(rt);
}

/* --------------------------------------------------------------- writable */

static unsigned char stream_byte(uint64_t off)
{
    return (unsigned char)(off * 7 % 251);
}

struct filler {
    int fd;
    int rounds;
    atomic_int *blocked; /* round + 1 once the socket is full; rounds + 1 at the end */
    _Atomic uint64_t *written;
    prokio_fd_t *io;
    struct conf_timeout to;
    int round, pendings, err, free_rc, timed_out;
    uint64_t off;
    unsigned char chunk[16384];
};

static int filler_poll(void *frame, prokio_cx_t *cx)
{
    struct filler *f = frame;
    if (f->io == NULL) {
        int rc = prokio_fd_new(&f->io, f->fd, cx);
        if (rc < 0)
            return rc;
    }
    while (f->round < f->rounds) {
        int r = prokio_fd_ready_poll(f->io, PROKIO_WRITABLE, cx);
        if (r == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                f->timed_out = 1;
                break;
            }
            f->pendings++;
            return PROKIO_PENDING;
        }
        if (r < 0) {
            f->err = r;
            break;
        }
        for (size_t i = 0; i < sizeof f->chunk; i++)
            f->chunk[i] = stream_byte(f->off + i);
        ssize_t n = write(f->fd, f->chunk, sizeof f->chunk);
        if (n > 0) {
            f->off += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            prokio_fd_clear_ready(f->io, PROKIO_WRITABLE);
            atomic_store(f->written, f->off);
            atomic_store(f->blocked, ++f->round);
            continue;
        }
        f->err = n < 0 ? -errno : PROKIO_EIO;
        break;
    }
    atomic_store(f->blocked, f->rounds + 1);
    f->free_rc = prokio_fd_free(f->io);
    f->io = NULL;
    return f->err;
}

static void filler_drop(void *frame)
{
    struct filler *f = frame;
    if (f->io)
        prokio_fd_free(f->io);
}

/* Reads what the filler wrote each time it found the socket full. */
struct drainer {
    int fd;
    int rounds;
    atomic_int *blocked;
    _Atomic uint64_t *written;
    uint64_t read_total;
    int bad, timed_out;
};

static void *drainer_main(void *arg)
{
    struct drainer *d = arg;
    unsigned char buf[8192];
    for (int r = 1; r <= d->rounds; r++) {
        if (!conf_wait_flag(d->blocked, r)) {
            d->timed_out = r;
            break;
        }
        uint64_t until = atomic_load(d->written);
        while (d->read_total < until) {
            uint64_t left = until - d->read_total;
            ssize_t n = read(d->fd, buf, left < sizeof buf ? left : sizeof buf);
            if (n <= 0)
                return NULL;
            for (ssize_t i = 0; i < n; i++)
                if (buf[i] != stream_byte(d->read_total + (uint64_t)i))
                    d->bad++;
            d->read_total += (uint64_t)n;
        }
    }
    return NULL;
}

void test_io_writable(void **state)
{
    (void)state;
    enum { ROUNDS = 20 };
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        int sv[2];
        pair(sv);
        set_blocking(sv[1]);
        atomic_int blocked = 0;
        _Atomic uint64_t written = 0;
        struct drainer dr = {sv[1], ROUNDS, &blocked, &written, 0, 0, 0};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, drainer_main, &dr), 0);
        struct filler *f = calloc(1, sizeof *f);
        assert_non_null(f);
        f->fd = sv[0];
        f->rounds = ROUNDS;
        f->blocked = &blocked;
        f->written = &written;
        int rc = conf_run_on(rt, w, filler_poll, f, sizeof *f, filler_drop);
        pthread_join(th, NULL);
        if (f->timed_out)
            fail_msg("worker %u: no writable report in round %d", w, f->round);
        if (dr.timed_out)
            fail_msg("worker %u: the filler never filled the socket in round %d", w, dr.timed_out);
        assert_int_equal(rc, 0);
        assert_int_equal(f->round, ROUNDS);
        assert_int_equal(f->free_rc, 0);
        /* Every round but the last waited once for the drainer. */
        assert_true(f->pendings >= ROUNDS - 1);
        assert_int_equal(dr.bad, 0);
        assert_true(dr.read_total > 0);
        free(f);
        close(sv[0]);
        close(sv[1]);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------- a reader and a writer at once */

struct duplex_shared {
    prokio_fd_t *io;
    int fd;
    atomic_int pending; /* tasks parked on the io */
};

struct half {
    struct duplex_shared *sh;
    unsigned dir;
    struct conf_timeout to;
    int polls, mask, n, timed_out, counted;
    char buf[4];
};

static int half_poll(void *frame, prokio_cx_t *cx)
{
    struct half *f = frame;
    f->polls++;
    int r = prokio_fd_ready_poll(f->sh->io, f->dir, cx);
    if (r == PROKIO_PENDING) {
        if (!conf_timed_out(&f->to, cx)) {
            if (!f->counted) {
                f->counted = 1;
                atomic_fetch_add(&f->sh->pending, 1);
            }
            return PROKIO_PENDING;
        }
        f->timed_out = 1;
        return PROKIO_ETIMEDOUT;
    }
    conf_timeout_cancel(&f->to);
    f->mask = r;
    if (r < 0)
        return r;
    if (f->dir == PROKIO_READABLE)
        f->n = (int)read(f->sh->fd, f->buf, sizeof f->buf);
    else
        f->n = (int)write(f->sh->fd, "w", 1);
    return 0;
}

struct duplex_owner {
    struct duplex_shared *sh;
    int co;
    prokio_task_t *r, *w;
    int rr, wr, filled, free_rc;
};

static int duplex_owner_poll(void *frame, prokio_cx_t *cx)
{
    struct duplex_owner *f = frame;
    PROKIO_BEGIN(&f->co);
    if (prokio_fd_new(&f->sh->io, f->sh->fd, cx) < 0)
        return PROKIO_EIO;
    /* Fill the socket so that the writer has to wait. */
    static const char junk[4096];
    while (write(f->sh->fd, junk, sizeof junk) > 0)
        f->filled++;
    prokio_fd_clear_ready(f->sh->io, PROKIO_WRITABLE | PROKIO_READABLE);
    struct half r = {.sh = f->sh, .dir = PROKIO_READABLE};
    struct half w = {.sh = f->sh, .dir = PROKIO_WRITABLE};
    if (prokio_spawn_local(&f->r, half_poll, &r, sizeof r, NULL, cx) < 0 ||
        prokio_spawn_local(&f->w, half_poll, &w, sizeof w, NULL, cx) < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT_INTO(&f->co, f->rr, prokio_task_join_poll(f->r, cx));
    PROKIO_AWAIT_INTO(&f->co, f->wr, prokio_task_join_poll(f->w, cx));
    f->free_rc = prokio_fd_free(f->sh->io);
    f->sh->io = NULL;
    PROKIO_END(&f->co, 0);
}

void test_io_reader_and_writer(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        for (int order = 0; order < 2; order++) {
            int sv[2];
            pair(sv);
            struct duplex_shared sh = {.fd = sv[0]};
            struct duplex_owner o = {.sh = &sh};
            prokio_task_t *h = NULL;
            assert_int_equal(prokio_spawn_on(&h, rt, w, duplex_owner_poll, &o, sizeof o, NULL), 0);
            CONF_WAIT_FLAG(&sh.pending, 2);
            /* Wake them one direction at a time, in both orders. */
            for (int step = 0; step < 2; step++) {
                if ((step == 0) == (order == 0)) {
                    assert_int_equal(write(sv[1], "r", 1), 1);
                } else {
                    char buf[65536];
                    while (read(sv[1], buf, sizeof buf) > 0)
                        ;
                }
            }
            assert_int_equal(conf_join(h, &o, sizeof o), 0);
            struct half rf, wf;
            assert_int_equal(conf_join(o.r, &rf, sizeof rf), o.rr);
            assert_int_equal(conf_join(o.w, &wf, sizeof wf), o.wr);
            if (rf.timed_out || wf.timed_out)
                fail_msg("worker %u order %d: reader %s, writer %s", w, order,
                         rf.timed_out ? "never woken" : "woken",
                         wf.timed_out ? "never woken" : "woken");
            assert_true(o.filled > 0);
            assert_int_equal(o.rr, 0);
            assert_int_equal(o.wr, 0);
            assert_true(rf.mask & PROKIO_READABLE);
            assert_int_equal(rf.n, 1);
            assert_int_equal(rf.buf[0], 'r');
            assert_true(wf.mask & PROKIO_WRITABLE);
            assert_int_equal(wf.n, 1);
            assert_int_equal(o.free_rc, 0);
            close(sv[0]);
            close(sv[1]);
        }
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------------------ peer close */

struct closer_wait {
    int fd;
    atomic_int *pending;
    prokio_fd_t *io;
    struct conf_timeout to;
    int phase, timed_out, got, eof, polls, send_errno, wmask, wpendings, free_rc;
    char buf[16];
};

static int closer_wait_poll(void *frame, prokio_cx_t *cx)
{
    struct closer_wait *f = frame;
    f->polls++;
    if (f->io == NULL && prokio_fd_new(&f->io, f->fd, cx) < 0)
        return PROKIO_EIO;
    while (f->phase == 0) {
        int r = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
        if (r == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                f->timed_out = 1;
                goto out;
            }
            atomic_store(f->pending, 1);
            return PROKIO_PENDING;
        }
        if (r < 0)
            return r;
        ssize_t n = read(f->fd, f->buf + f->got, sizeof f->buf - (size_t)f->got);
        if (n < 0 && errno == EAGAIN) {
            prokio_fd_clear_ready(f->io, PROKIO_READABLE);
            continue;
        }
        if (n <= 0) {
            f->eof = n == 0;
            f->phase = 1;
            break;
        }
        f->got += (int)n;
    }
    /* The peer is gone: writable (the write fails), not pending for ever. */
    f->wmask = prokio_fd_ready_poll(f->io, PROKIO_WRITABLE, cx);
    if (f->wmask == PROKIO_PENDING) {
        if (conf_timed_out(&f->to, cx)) {
            f->timed_out = 2;
            goto out;
        }
        f->wpendings++;
        return PROKIO_PENDING;
    }
    if (f->wmask > 0 && send(f->fd, "x", 1, MSG_NOSIGNAL) < 0)
        f->send_errno = errno;
out:
    conf_timeout_cancel(&f->to);
    f->free_rc = prokio_fd_free(f->io);
    f->io = NULL;
    return 0;
}

void test_io_peer_close(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    for (int k = 0; k < 8; k++) {
        int sv[2];
        pair(sv);
        atomic_int pending = 0;
        struct closer_wait c = {.fd = sv[0], .pending = &pending};
        prokio_task_t *h = NULL;
        assert_int_equal(
            prokio_spawn_on(&h, rt, (unsigned)k % 2, closer_wait_poll, &c, sizeof c, NULL), 0);
        CONF_WAIT_FLAG(&pending, 1);
        if (k >= 4)
            assert_int_equal(write(sv[1], "bye", 3), 3);
        close(sv[1]);
        int rc = conf_join(h, &c, sizeof c);
        if (c.timed_out)
            fail_msg("peer close never reported as %s", c.timed_out == 1 ? "readable" : "writable");
        assert_int_equal(rc, 0);
        assert_int_equal(c.eof, 1);
        assert_int_equal(c.got, k >= 4 ? 3 : 0);
        assert_true(c.wmask > 0);
        assert_int_equal(c.send_errno, EPIPE);
        assert_int_equal(c.free_rc, 0);
        close(sv[0]);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------------------------ EXDEV */

struct io_maker {
    int fd;
    prokio_fd_t *io;
    int rc;
};

static int io_maker_poll(void *frame, prokio_cx_t *cx)
{
    struct io_maker *f = frame;
    f->rc = prokio_fd_new(&f->io, f->fd, cx);
    return 0;
}

struct io_user {
    prokio_fd_t *io;
    int poll_rc, free_rc, fd;
};

static int io_foreign_poll(void *frame, prokio_cx_t *cx)
{
    struct io_user *f = frame;
    f->poll_rc = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
    f->fd = prokio_fd_fileno(f->io);
    f->free_rc = prokio_fd_free(f->io);
    return 0;
}

static int io_owner_free_poll(void *frame, prokio_cx_t *cx)
{
    struct io_user *f = frame;
    f->poll_rc = prokio_fd_ready_poll(f->io, PROKIO_WRITABLE, cx);
    if (f->poll_rc == PROKIO_PENDING)
        return PROKIO_PENDING; /* woken when writable */
    f->free_rc = prokio_fd_free(f->io);
    return 0;
}

void test_io_exdev(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        int sv[2];
        pair(sv);
        struct io_maker m = {.fd = sv[0]};
        assert_int_equal(conf_run_on(rt, w, io_maker_poll, &m, sizeof m, NULL), 0);
        assert_int_equal(m.rc, 0);
        prokio_fd_t *io = m.io;
        assert_non_null(io);
        assert_int_equal(prokio_fd_fileno(io), sv[0]);
        /* From the main thread while the runtime runs: refused. */
        assert_int_equal(prokio_fd_free(io), PROKIO_EXDEV);
        /* From a task of the other worker: refused, nothing done. */
        struct io_user u = {.io = io};
        assert_int_equal(conf_run_on(rt, 1 - w, io_foreign_poll, &u, sizeof u, NULL), 0);
        assert_int_equal(u.poll_rc, PROKIO_EXDEV);
        assert_int_equal(u.free_rc, PROKIO_EXDEV);
        assert_int_equal(u.fd, sv[0]);
        /* The owner can still use it, then free it. */
        struct io_user o = {.io = io};
        assert_int_equal(conf_run_on(rt, w, io_owner_free_poll, &o, sizeof o, NULL), 0);
        assert_true(o.poll_rc > 0);
        assert_int_equal(o.free_rc, 0);
        close(sv[0]);
        close(sv[1]);
    }
    test_runtime_free(rt);
}

/* ---------------------------------------------------------------- invalid */

struct io_bad {
    int fd;
    int neg_rc, neg_out_null, new_rc;
    int zero, high, mixed, free_rc;
};

static int io_bad_poll(void *frame, prokio_cx_t *cx)
{
    struct io_bad *f = frame;
    prokio_fd_t *io = (prokio_fd_t *)f;
    f->neg_rc = prokio_fd_new(&io, -1, cx);
    f->neg_out_null = io == NULL;
    f->new_rc = prokio_fd_new(&io, f->fd, cx);
    if (f->new_rc < 0)
        return 0;
    f->zero = prokio_fd_ready_poll(io, 0, cx);
    f->high = prokio_fd_ready_poll(io, 4, cx);
    f->mixed = prokio_fd_ready_poll(io, PROKIO_READABLE | 0x100, cx);
    f->free_rc = prokio_fd_free(io);
    return 0;
}

void test_io_invalid(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    int sv[2];
    pair(sv);
    struct io_bad b = {.fd = sv[0]};
    assert_int_equal(prokio_runtime_block_on(rt, io_bad_poll, &b, sizeof b, NULL), 0);
    assert_int_equal(b.neg_rc, PROKIO_EBADF);
    assert_true(b.neg_out_null);
    assert_int_equal(b.new_rc, 0);
    assert_int_equal(b.zero, PROKIO_EINVAL);
    assert_int_equal(b.high, PROKIO_EINVAL);
    assert_int_equal(b.mixed, PROKIO_EINVAL);
    assert_int_equal(b.free_rc, 0);
    close(sv[0]);
    close(sv[1]);
    test_runtime_free(rt);
}

/* ------------------------------------------------------ free wakes waiter */

struct free_shared {
    prokio_fd_t *io;
    int freed;
    int free_rc;
};

static int io_freer_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct free_shared *sh = *(struct free_shared **)frame;
    sh->freed = 1;
    sh->free_rc = prokio_fd_free(sh->io);
    sh->io = NULL;
    return 0;
}

struct io_waiter {
    struct free_shared *sh;
    int polls, first, spawned;
    prokio_task_t *freer;
};

static int io_waiter_poll(void *frame, prokio_cx_t *cx)
{
    struct io_waiter *f = frame;
    f->polls++;
    if (f->sh->freed)
        return 0; /* must not touch the io again */
    f->first = prokio_fd_ready_poll(f->sh->io, PROKIO_READABLE, cx);
    if (f->first != PROKIO_PENDING)
        return PROKIO_EIO;
    if (!f->spawned) {
        f->spawned = 1;
        if (prokio_spawn_local(&f->freer, io_freer_poll, &f->sh, sizeof f->sh, NULL, cx) < 0)
            return PROKIO_EIO;
    }
    return PROKIO_PENDING;
}

struct io_free_parent {
    struct free_shared *sh;
    int fd;
    int co;
    prokio_task_t *waiter;
};

static int io_free_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct io_free_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    if (prokio_fd_new(&f->sh->io, f->fd, cx) < 0)
        return PROKIO_EIO;
    struct io_waiter w = {.sh = f->sh};
    if (prokio_spawn_local(&f->waiter, io_waiter_poll, &w, sizeof w, NULL, cx) < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->waiter, cx));
    PROKIO_END(&f->co, 0);
}

void test_io_free_wakes_waiter(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        int sv[2];
        pair(sv);
        struct free_shared sh = {0};
        struct io_free_parent p = {.sh = &sh, .fd = sv[0]};
        assert_int_equal(conf_run_on(rt, w, io_free_parent_poll, &p, sizeof p, NULL), 0);
        struct io_waiter wf;
        assert_int_equal(conf_join(p.waiter, &wf, sizeof wf), 0);
        assert_int_equal(wf.first, PROKIO_PENDING);
        assert_int_equal(wf.polls, 2);
        assert_int_equal(sh.freed, 1);
        assert_int_equal(sh.free_rc, 0);
        assert_int_equal(conf_join(wf.freer, NULL, 0), 0);
        close(sv[0]);
        close(sv[1]);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------- left registered at shutdown */

struct leftover {
    int fd;
    _Atomic(prokio_fd_t *) *out;
    atomic_int *pending;
    prokio_fd_t *io;
    int drops;
};

static int leftover_poll(void *frame, prokio_cx_t *cx)
{
    struct leftover *f = frame;
    if (f->io == NULL) {
        if (prokio_fd_new(&f->io, f->fd, cx) < 0)
            return PROKIO_EIO;
        atomic_store(f->out, f->io);
    }
    int r = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
    if (r == PROKIO_PENDING)
        atomic_store(f->pending, 1);
    return r == PROKIO_PENDING ? PROKIO_PENDING : PROKIO_EIO;
}

static void leftover_drop(void *frame)
{
    struct leftover *f = frame;
    f->drops++; /* deliberately leaves the io registered */
}

void test_io_left_at_shutdown(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    int sv[2][2];
    _Atomic(prokio_fd_t *) io[2];
    atomic_int pending[2];
    prokio_task_t *h[2];
    for (unsigned w = 0; w < 2; w++) {
        pair(sv[w]);
        atomic_init(&io[w], NULL);
        atomic_init(&pending[w], 0);
        struct leftover l = {.fd = sv[w][0], .out = &io[w], .pending = &pending[w]};
        assert_int_equal(prokio_spawn_on(&h[w], rt, w, leftover_poll, &l, sizeof l, leftover_drop),
                         0);
    }
    for (unsigned w = 0; w < 2; w++)
        CONF_WAIT_FLAG(&pending[w], 1);
    /* While the runtime runs, the main thread may not free them. */
    assert_int_equal(prokio_fd_free(atomic_load(&io[0])), PROKIO_EXDEV);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    for (unsigned w = 0; w < 2; w++) {
        assert_int_equal(prokio_task_result(h[w]), PROKIO_ECANCELED);
        struct leftover l;
        assert_int_equal(conf_join(h[w], &l, sizeof l), PROKIO_ECANCELED);
        assert_int_equal(l.drops, 1);
    }
    /* Handles are gone, registrations are not. */
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
    assert_int_equal(prokio_fd_fileno(atomic_load(&io[0])), sv[0][0]);
    assert_int_equal(prokio_fd_free(atomic_load(&io[0])), 0);
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
    assert_int_equal(prokio_fd_free(atomic_load(&io[1])), 0);
    for (unsigned w = 0; w < 2; w++) {
        close(sv[w][0]);
        close(sv[w][1]);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------------ descriptor reuse */

/* A registration is freed and its descriptor closed; the next socketpair
 * gets the same numbers. Reports meant for the old registration must not
 * reach the new one, and the new one must get its own. */
struct reuse {
    int fd;
    atomic_int *pending;
    prokio_fd_t *io;
    struct conf_timeout to;
    int timed_out, nread, eagain_after, free_rc;
    unsigned char byte;
};

static int reuse_poll(void *frame, prokio_cx_t *cx)
{
    struct reuse *f = frame;
    if (f->io == NULL && prokio_fd_new(&f->io, f->fd, cx) < 0)
        return PROKIO_EIO;
    for (;;) {
        int r = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
        if (r == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                f->timed_out = 1;
                break;
            }
            atomic_store(f->pending, 1);
            return PROKIO_PENDING;
        }
        if (r < 0)
            return r;
        ssize_t n = read(f->fd, &f->byte, 1);
        if (n < 0 && errno == EAGAIN) {
            /* Readable but nothing there: a report meant for the old
             * registration of this descriptor number. Harmless if rare. */
            f->eagain_after++;
            prokio_fd_clear_ready(f->io, PROKIO_READABLE);
            continue;
        }
        f->nread = (int)n;
        break;
    }
    conf_timeout_cancel(&f->to);
    f->free_rc = prokio_fd_free(f->io);
    f->io = NULL;
    return 0;
}

void test_io_fd_reuse(void **state)
{
    (void)state;
    enum { ROUNDS = 300 };
    prokio_runtime_t *rt = test_runtime(2);
    int first_fd = -1, reused = 0, stale = 0;
    for (int k = 0; k < ROUNDS; k++) {
        int sv[2];
        pair(sv);
        if (first_fd < 0)
            first_fd = sv[0];
        reused += sv[0] == first_fd;
        atomic_int pending = 0;
        struct reuse r = {.fd = sv[0], .pending = &pending};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn_on(&h, rt, (unsigned)k % 2, reuse_poll, &r, sizeof r, NULL),
                         0);
        CONF_WAIT_FLAG(&pending, 1);
        unsigned char b = (unsigned char)k;
        assert_int_equal(write(sv[1], &b, 1), 1);
        int rc = conf_join(h, &r, sizeof r);
        if (r.timed_out)
            fail_msg("round %d (fd %d): the new registration got no report", k, sv[0]);
        assert_int_equal(rc, 0);
        assert_int_equal(r.nread, 1);
        assert_int_equal(r.byte, b);
        assert_int_equal(r.free_rc, 0);
        stale += r.eagain_after;
        /* Readiness for the freed registration, then the number goes. */
        if (k % 2)
            assert_int_equal(write(sv[1], &b, 1), 1);
        close(sv[0]);
        close(sv[1]);
    }
    if (stale)
        print_message("# %d stale readiness reports after descriptor reuse\n", stale);
    assert_true(reused > ROUNDS / 2);
    test_runtime_free(rt);
}

/* ----------------------------------------------- one descriptor, two watches */

struct twin {
    int fd;
    atomic_int *pending;
    prokio_fd_t *io;
    struct conf_timeout to;
    int new_rc, mask, timed_out, free_rc;
};

static int twin_poll(void *frame, prokio_cx_t *cx)
{
    struct twin *f = frame;
    if (f->io == NULL) {
        f->new_rc = prokio_fd_new(&f->io, f->fd, cx);
        if (f->new_rc < 0) {
            atomic_fetch_add(f->pending, 1);
            return 0;
        }
    }
    int r = prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx);
    if (r == PROKIO_PENDING) {
        if (!conf_timed_out(&f->to, cx)) {
            if (f->mask == 0) {
                f->mask = -1; /* parked: count it once */
                atomic_fetch_add(f->pending, 1);
            }
            return PROKIO_PENDING;
        }
        f->timed_out = 1;
    } else {
        f->mask = r;
    }
    conf_timeout_cancel(&f->to);
    f->free_rc = prokio_fd_free(f->io);
    f->io = NULL;
    return 0;
}

static void twins(prokio_runtime_t *rt, unsigned w0, unsigned w1, bool may_refuse)
{
    int sv[2];
    pair(sv);
    atomic_int pending = 0;
    struct twin t = {.fd = sv[0], .pending = &pending};
    prokio_task_t *h[2];
    assert_int_equal(prokio_spawn_on(&h[0], rt, w0, twin_poll, &t, sizeof t, NULL), 0);
    assert_int_equal(prokio_spawn_on(&h[1], rt, w1, twin_poll, &t, sizeof t, NULL), 0);
    CONF_WAIT_FLAG(&pending, 2);
    assert_int_equal(write(sv[1], "!", 1), 1);
    for (int i = 0; i < 2; i++) {
        struct twin f;
        assert_int_equal(conf_join(h[i], &f, sizeof f), 0);
        if (f.new_rc < 0) {
            /* A second watch of one descriptor on one worker may be refused,
             * cleanly. */
            if (!may_refuse)
                fail_msg("workers %u/%u: registration %d refused: %s", w0, w1, i,
                         prokio_err_name(f.new_rc));
            continue;
        }
        if (f.timed_out)
            fail_msg("workers %u/%u: watch %d of the descriptor never reported it readable", w0, w1,
                     i);
        assert_int_equal(f.mask, PROKIO_READABLE);
        assert_int_equal(f.free_rc, 0);
    }
    close(sv[0]);
    close(sv[1]);
}

void test_io_same_fd_two_workers(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    /* A descriptor shared by workers (a listening socket, say): each
     * worker's watch reports it. */
    for (int k = 0; k < 20; k++)
        twins(rt, 0, 1, false);
    /* Twice on one worker: both report, or the second is refused. */
    for (int k = 0; k < 4; k++)
        twins(rt, (unsigned)k % 2, (unsigned)k % 2, true);
    test_runtime_free(rt);
}

/* ---------------------------------------------------------------- many */

enum { MANY_PAIRS = 256, MANY_ROUNDS = 3 };

struct many_io {
    int fd[MANY_PAIRS / 2];
    prokio_fd_t *io[MANY_PAIRS / 2];
    int got[MANY_PAIRS / 2];
    int n;
    int round;
    atomic_int *waiting; /* round + 1 once every descriptor waits */
    struct conf_timeout to;
    int timed_out, bad, free_rc, pendings;
};

static int many_io_poll(void *frame, prokio_cx_t *cx)
{
    struct many_io *f = frame;
    if (f->round == 0 && f->io[0] == NULL) {
        for (int i = 0; i < f->n; i++)
            if (prokio_fd_new(&f->io[i], f->fd[i], cx) < 0)
                return PROKIO_EIO;
    }
    while (f->round < MANY_ROUNDS) {
        int done = 0;
        for (int i = 0; i < f->n; i++) {
            if (f->got[i] > f->round) {
                done++;
                continue;
            }
            for (;;) {
                int r = prokio_fd_ready_poll(f->io[i], PROKIO_READABLE, cx);
                if (r == PROKIO_PENDING)
                    break;
                if (r < 0)
                    return r;
                unsigned char b;
                ssize_t n = read(f->fd[i], &b, 1);
                if (n < 0 && errno == EAGAIN) {
                    prokio_fd_clear_ready(f->io[i], PROKIO_READABLE);
                    continue;
                }
                if (n != 1 || b != (unsigned char)(f->round * 31 + i))
                    f->bad++;
                f->got[i]++;
                done++;
                break;
            }
        }
        if (done < f->n) {
            if (conf_timed_out(&f->to, cx)) {
                f->timed_out = 1;
                break;
            }
            f->pendings++;
            if (done == 0)
                atomic_store(f->waiting, f->round + 1);
            return PROKIO_PENDING;
        }
        f->round++;
        conf_timeout_cancel(&f->to);
    }
    /* Free everything, in the middle of whatever the backend has pending. */
    for (int i = 0; i < f->n; i++)
        if (prokio_fd_free(f->io[i]) < 0)
            f->free_rc = PROKIO_EIO;
    return 0;
}

void test_io_many(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    int sv[MANY_PAIRS][2];
    for (int i = 0; i < MANY_PAIRS; i++)
        pair(sv[i]);
    atomic_int waiting[2];
    prokio_task_t *h[2];
    struct many_io *m = calloc(1, sizeof *m);
    assert_non_null(m);
    for (unsigned w = 0; w < 2; w++) {
        atomic_init(&waiting[w], 0);
        memset(m, 0, sizeof *m);
        m->n = MANY_PAIRS / 2;
        m->waiting = &waiting[w];
        for (int i = 0; i < m->n; i++)
            m->fd[i] = sv[(int)w * m->n + i][0];
        assert_int_equal(prokio_spawn_on(&h[w], rt, w, many_io_poll, m, sizeof *m, NULL), 0);
    }
    for (int round = 0; round < MANY_ROUNDS; round++) {
        for (unsigned w = 0; w < 2; w++)
            CONF_WAIT_FLAG(&waiting[w], round + 1);
        /* Writes in a scrambled order. */
        for (int j = 0; j < MANY_PAIRS; j++) {
            int i = (j * 97 + round) % MANY_PAIRS;
            int local = i % (MANY_PAIRS / 2);
            unsigned char b = (unsigned char)(round * 31 + local);
            assert_int_equal(write(sv[i][1], &b, 1), 1);
        }
    }
    for (unsigned w = 0; w < 2; w++) {
        int rc = conf_join(h[w], m, sizeof *m);
        if (m->timed_out)
            fail_msg("worker %u: round %d never completed", w, m->round);
        assert_int_equal(rc, 0);
        assert_int_equal(m->round, MANY_ROUNDS);
        assert_int_equal(m->bad, 0);
        assert_int_equal(m->free_rc, 0);
        for (int i = 0; i < m->n; i++)
            assert_int_equal(m->got[i], MANY_ROUNDS);
    }
    free(m);
    for (int i = 0; i < MANY_PAIRS; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
    test_runtime_free(rt);
}
