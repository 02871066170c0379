/* tests/ops/ops.c: the I/O operations layer (core/op.h) on every backend:
 * socketpairs, TCP over loopback, UDP, Unix sockets and a temporary file.
 * Run once per backend, and on io_uring twice: with native operations and
 * with PROKIO_URING_NATIVE=0 (tests/run/ops~ops.uring-emulated.test), so
 * both paths pass the same tests.
 *
 * Tasks record what they saw in their frames; the main thread asserts.
 * Every task that waits for something the main thread does bounds the wait
 * with a sleep, so a lost wake fails the test with a reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "common.h"
#include "op.h"
#include "worker.h"

static uint64_t mono_ns_test(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define BOUND PROKIO_SEC(10)

static bool native_expected(void)
{
    const char *b = getenv("PROKIO_BACKEND");
    const char *n = getenv("PROKIO_URING_NATIVE");
    return b && strstr(b, "uring") && !(n && n[0] == '0');
}

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static int tcp_listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    return fd;
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + 3 + (i >> 9));
}

/* ------------------------------------------------------------- one task
 * that sends 4 MiB through one end of a pair and receives them at the other,
 * both ops in flight at once in the same task: back-pressure (EAGAIN, or a
 * native send waiting) and readiness in both directions. */

#define STREAM_TOTAL ((size_t)4 << 20)

struct stream {
    int fds[2];
    bool inited;
    struct prokio__io a, b;
    struct prokio__op send, recv;
    size_t sent, got;
    int bad, err, polls, pendings;
    prokio_sleep_t bound;
    unsigned char out[65536];
    unsigned char in[10000];
};

static int stream_poll(void *frame, prokio_cx_t *cx)
{
    struct stream *f = frame;
    f->polls++;
    if (!f->inited) {
        f->inited = true;
        prokio_sleep_init(&f->bound, BOUND);
        if ((f->err = prokio__io_init(&f->a, f->fds[0], PROKIO__IO_SOCKET, cx)) < 0)
            return f->err;
        if ((f->err = prokio__io_init(&f->b, f->fds[1], PROKIO__IO_SOCKET, cx)) < 0)
            return f->err;
    }
    for (;;) {
        bool progress = false;
        if (f->sent < STREAM_TOTAL) {
            size_t n =
                STREAM_TOTAL - f->sent < sizeof f->out ? STREAM_TOTAL - f->sent : sizeof f->out;
            if (f->send.state == 0)
                for (size_t i = 0; i < n; i++)
                    f->out[i] = pattern(f->sent + i);
            int r = prokio__op_send_poll(&f->send, &f->a, f->out, n, 0, cx);
            if (r < 0 && r != PROKIO_PENDING)
                return f->err = r;
            if (r > 0) {
                /* A short send: the rest goes next time, from a refilled buffer. */
                f->sent += (size_t)r;
                progress = true;
            }
        }
        if (f->got < STREAM_TOTAL) {
            int r = prokio__op_recv_poll(&f->recv, &f->b, f->in, sizeof f->in, 0, cx);
            if (r < 0 && r != PROKIO_PENDING)
                return f->err = r;
            if (r == 0)
                return f->err = -1000; /* unexpected EOF */
            if (r > 0) {
                for (int i = 0; i < r; i++)
                    if (f->in[i] != pattern(f->got + (size_t)i))
                        f->bad++;
                f->got += (size_t)r;
                progress = true;
            }
        }
        if (f->got == STREAM_TOTAL && f->sent == STREAM_TOTAL)
            return 0;
        if (!progress) {
            if (prokio_sleep_poll(&f->bound, cx) == 0)
                return f->err = PROKIO_ETIMEDOUT;
            f->pendings++;
            return PROKIO_PENDING;
        }
    }
}

static void stream_drop(void *frame)
{
    struct stream *f = frame;
    prokio_sleep_cancel(&f->bound);
    prokio__io_fini(&f->a);
    prokio__io_fini(&f->b);
}

static int run_task(prokio_runtime_t *rt, unsigned worker, prokio_poll_fn poll, void *frame,
                    size_t size, prokio_drop_fn drop)
{
    prokio_task_t *h = NULL;
    int rc = prokio_spawn_on(&h, rt, worker, poll, frame, size, drop);
    if (rc < 0)
        fail_msg("spawn: %s: %s", prokio_err_name(rc), prokio_last_error());
    rc = prokio_task_blocking_join(h);
    memcpy(frame, prokio_task_frame(h), size);
    prokio_task_release(h);
    return rc;
}

static void test_stream_both_directions(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct stream *f = calloc(1, sizeof *f);
    pair(f->fds);
    int rc = run_task(rt, 0, stream_poll, f, sizeof *f, stream_drop);
    if (rc != 0)
        fail_msg("stream task: %d (%s): %s", rc, prokio_err_name(rc), prokio_last_error());
    assert_int_equal(f->bad, 0);
    assert_true(f->got == STREAM_TOTAL && f->sent == STREAM_TOTAL);
    assert_true(f->pendings > 0); /* 4 MiB never fit in a socket buffer at once */
    free(f);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------ TCP: accept,
 * connect, sendmsg (vectored), recv until EOF, close_poll. Two tasks on one
 * worker, each with its own io. */

struct server {
    int lfd;
    int step, err;
    struct prokio__io l, c;
    struct prokio__op op;
    struct sockaddr_in peer;
    socklen_t peerlen;
    size_t got;
    char buf[64];
};

static int server_poll(void *frame, prokio_cx_t *cx)
{
    struct server *f = frame;
    int r;
    switch (f->step) {
    case 0:
        if ((r = prokio__io_init(&f->l, f->lfd, PROKIO__IO_SOCKET, cx)) < 0)
            return f->err = r;
        f->step = 1;
        /* fall through */
    case 1:
        f->peerlen = sizeof f->peer;
        r = prokio__op_accept_poll(&f->op, &f->l, (struct sockaddr *)&f->peer, &f->peerlen, cx);
        if (r == PROKIO_PENDING)
            return r;
        if (r < 0)
            return f->err = r;
        if ((r = prokio__io_init(&f->c, r, PROKIO__IO_SOCKET, cx)) < 0)
            return f->err = r;
        f->step = 2;
        /* fall through */
    case 2:
        for (;;) {
            r = prokio__op_recv_poll(&f->op, &f->c, f->buf + f->got, sizeof f->buf - 1 - f->got, 0,
                                     cx);
            if (r == PROKIO_PENDING)
                return r;
            if (r < 0)
                return f->err = r;
            if (r == 0)
                break;
            f->got += (size_t)r;
        }
        f->step = 3;
        /* fall through */
    case 3:
        r = prokio__io_close_poll(&f->op, &f->c, cx);
        if (r == PROKIO_PENDING)
            return r;
        if (r < 0)
            return f->err = r;
        f->step = 4;
        /* fall through */
    default:
        r = prokio__io_close_poll(&f->op, &f->l, cx);
        if (r == PROKIO_PENDING)
            return r;
        return r < 0 ? (f->err = r) : 0;
    }
}

static void server_drop(void *frame)
{
    struct server *f = frame;
    prokio__io_fini(&f->c);
    prokio__io_fini(&f->l);
}

struct client {
    struct sockaddr_in to;
    int step, err;
    struct prokio__io s;
    struct prokio__op op;
    struct iovec iov[3];
};

static int client_poll(void *frame, prokio_cx_t *cx)
{
    struct client *f = frame;
    int r;
    switch (f->step) {
    case 0: {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return f->err = -errno;
        if ((r = prokio__io_init(&f->s, fd, PROKIO__IO_SOCKET, cx)) < 0)
            return f->err = r;
        f->step = 1;
    }
        /* fall through */
    case 1:
        r = prokio__op_connect_poll(&f->op, &f->s, (struct sockaddr *)&f->to, sizeof f->to, cx);
        if (r == PROKIO_PENDING)
            return r;
        if (r < 0)
            return f->err = r;
        f->iov[0] = (struct iovec){"hello", 5};
        f->iov[1] = (struct iovec){", ", 2};
        f->iov[2] = (struct iovec){"world", 5};
        f->step = 2;
        /* fall through */
    case 2:
        r = prokio__op_sendmsg_poll(&f->op, &f->s, f->iov, 3, cx);
        if (r == PROKIO_PENDING)
            return r;
        if (r != 12)
            return f->err = r < 0 ? r : -2000 - r;
        f->step = 3;
        /* fall through */
    default:
        r = prokio__io_close_poll(&f->op, &f->s, cx);
        if (r == PROKIO_PENDING)
            return r;
        return r < 0 ? (f->err = r) : 0;
    }
}

static void client_drop(void *frame)
{
    prokio__io_fini(&((struct client *)frame)->s);
}

static void test_tcp_accept_connect(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct server s = {.lfd = -1};
    struct client c = {0};
    s.lfd = tcp_listener(&c.to);
    prokio_task_t *hs = NULL, *hc = NULL;
    assert_int_equal(prokio_spawn_on(&hs, rt, 0, server_poll, &s, sizeof s, server_drop), 0);
    assert_int_equal(prokio_spawn_on(&hc, rt, 0, client_poll, &c, sizeof c, client_drop), 0);
    int rc = prokio_task_blocking_join(hc);
    memcpy(&c, prokio_task_frame(hc), sizeof c);
    prokio_task_release(hc);
    if (rc != 0)
        fail_msg("client: %d %s: %s", rc, prokio_err_name(rc), prokio_last_error());
    rc = prokio_task_blocking_join(hs);
    memcpy(&s, prokio_task_frame(hs), sizeof s);
    prokio_task_release(hs);
    if (rc != 0)
        fail_msg("server: %d %s: %s", rc, prokio_err_name(rc), prokio_last_error());
    s.buf[s.got] = 0;
    assert_string_equal(s.buf, "hello, world");
    assert_int_equal(s.peer.sin_family, AF_INET);
    assert_int_equal(s.peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(s.l.fileno, -1);
    assert_int_equal(s.c.fileno, -1);
    test_runtime_free(rt);
}

/* A connect to a port nobody listens on fails with ECONNREFUSED. */
struct refused {
    struct sockaddr_in to;
    bool inited;
    struct prokio__io s;
    struct prokio__op op;
};

static int refused_poll(void *frame, prokio_cx_t *cx)
{
    struct refused *f = frame;
    if (!f->inited) {
        f->inited = true;
        int r = prokio__io_init(&f->s, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                                PROKIO__IO_SOCKET, cx);
        if (r < 0)
            return r;
    }
    return prokio__op_connect_poll(&f->op, &f->s, (struct sockaddr *)&f->to, sizeof f->to, cx);
}

static void refused_drop(void *frame)
{
    prokio__io_fini(&((struct refused *)frame)->s);
}

static void test_connect_refused(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct refused f = {0};
    int lfd = tcp_listener(&f.to);
    close(lfd); /* the port is now closed */
    int rc = run_task(rt, 0, refused_poll, &f, sizeof f, refused_drop);
    assert_int_equal(rc, -ECONNREFUSED);
    assert_int_equal(f.op.state, 0); /* idle again after its result */
    test_runtime_free(rt);
}

/* ------------------------------------------------------------------ UDP */

struct udp {
    int a, b;
    struct sockaddr_in to;
    int step, err;
    struct prokio__io ia, ib;
    struct prokio__op sop, rop;
    struct sockaddr_in from;
    socklen_t fromlen;
    int n;
    char buf[32];
};

static int udp_poll(void *frame, prokio_cx_t *cx)
{
    struct udp *f = frame;
    int r;
    if (f->step == 0) {
        if ((r = prokio__io_init(&f->ia, f->a, PROKIO__IO_SOCKET, cx)) < 0)
            return r;
        if ((r = prokio__io_init(&f->ib, f->b, PROKIO__IO_SOCKET, cx)) < 0)
            return r;
        f->step = 1;
    }
    if (f->step == 1) {
        /* The receive first, so that it really waits. */
        f->fromlen = sizeof f->from;
        r = prokio__op_recvfrom_poll(&f->rop, &f->ib, f->buf, sizeof f->buf, 0,
                                     (struct sockaddr *)&f->from, &f->fromlen, cx);
        if (r != PROKIO_PENDING)
            return -3000;
        f->step = 2;
    }
    if (f->step == 2) {
        r = prokio__op_sendto_poll(&f->sop, &f->ia, "datagram", 8, 0, (struct sockaddr *)&f->to,
                                   sizeof f->to, cx);
        if (r == PROKIO_PENDING)
            return r;
        if (r != 8)
            return r < 0 ? r : -3001;
        f->step = 3;
    }
    r = prokio__op_recvfrom_poll(&f->rop, &f->ib, f->buf, sizeof f->buf, 0,
                                 (struct sockaddr *)&f->from, &f->fromlen, cx);
    if (r == PROKIO_PENDING)
        return r;
    f->n = r;
    return r < 0 ? r : 0;
}

static void udp_drop(void *frame)
{
    struct udp *f = frame;
    prokio__io_fini(&f->ia);
    prokio__io_fini(&f->ib);
}

static void test_udp_sendto_recvfrom(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct udp f = {0};
    f.a = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    f.b = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    f.to.sin_family = AF_INET;
    f.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f.b, (struct sockaddr *)&f.to, sizeof f.to), 0);
    socklen_t len = sizeof f.to;
    assert_int_equal(getsockname(f.b, (struct sockaddr *)&f.to, &len), 0);
    int rc = run_task(rt, 0, udp_poll, &f, sizeof f, udp_drop);
    if (rc != 0)
        fail_msg("udp: %d %s: %s", rc, prokio_err_name(rc), prokio_last_error());
    assert_int_equal(f.n, 8);
    assert_memory_equal(f.buf, "datagram", 8);
    assert_int_equal(f.from.sin_family, AF_INET);
    test_runtime_free(rt);
}

/* ---------------------------------------------------------------- files */

struct file {
    char path[64];
    int step, err;
    struct prokio__io io;
    struct prokio__op op;
    int r[8];
    char buf[64];
};

static int file_poll(void *frame, prokio_cx_t *cx)
{
    struct file *f = frame;
    int r = 0;
    for (;;) {
        switch (f->step) {
        case 0:
            r = prokio__op_open_poll(&f->op, f->path, O_RDWR | O_CREAT | O_TRUNC, 0600, cx);
            if (r >= 0 && (f->err = prokio__io_init(&f->io, r, PROKIO__IO_FILE, cx)) < 0)
                return f->err;
            break;
        case 1:
            r = prokio__op_write_poll(&f->op, &f->io, "0123456789", 10, 0, cx);
            break;
        case 2:
            r = prokio__op_write_poll(&f->op, &f->io, "abc", 3, 20, cx); /* a hole at 10..19 */
            break;
        case 3:
            r = prokio__op_fsync_poll(&f->op, &f->io, f->step & 1, cx);
            break;
        case 4:
            r = prokio__op_read_poll(&f->op, &f->io, f->buf, 4, 3, cx);
            break;
        case 5: /* the current position: still 0 (positional writes do not move it) */
            r = prokio__op_read_poll(&f->op, &f->io, f->buf + 4, sizeof f->buf - 4,
                                     PROKIO__OFFSET_CURRENT, cx);
            break;
        case 6:
            r = prokio__op_read_poll(&f->op, &f->io, f->buf + 40, 8, 100, cx); /* past the end */
            break;
        case 7:
            r = prokio__io_close_poll(&f->op, &f->io, cx);
            break;
        default:
            return 0;
        }
        if (r == PROKIO_PENDING)
            return r;
        f->r[f->step++] = r;
        if (r < 0)
            return f->err = r;
    }
}

static void file_drop(void *frame)
{
    prokio__io_fini(&((struct file *)frame)->io);
}

static void test_file_ops(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct file f = {0};
    snprintf(f.path, sizeof f.path, "/tmp/prokio-ops-%d", (int)getpid());
    int rc = run_task(rt, 0, file_poll, &f, sizeof f, file_drop);
    unlink(f.path);
    if (rc != 0)
        fail_msg("file task: step %d: %d %s: %s", f.step, rc, prokio_err_name(rc),
                 prokio_last_error());
    assert_true(f.r[0] >= 0);
    assert_int_equal(f.r[1], 10);
    assert_int_equal(f.r[2], 3);
    assert_int_equal(f.r[3], 0);
    assert_int_equal(f.r[4], 4);
    assert_memory_equal(f.buf, "3456", 4);
    assert_int_equal(f.r[5], 23); /* from 0: ten digits, a hole of ten zero bytes, "abc" */
    assert_memory_equal(f.buf + 4, "0123456789", 10);
    assert_int_equal(f.buf[4 + 10], 0);
    assert_int_equal(f.buf[4 + 19], 0);
    assert_memory_equal(f.buf + 4 + 20, "abc", 3);
    assert_int_equal(f.r[6], 0);
    assert_int_equal(f.r[7], 0);
    assert_int_equal(f.io.fileno, -1);
    test_runtime_free(rt);
}

/* open of a missing file: -ENOENT, with a message. */
struct openfail {
    struct prokio__op op;
};

static int openfail_poll(void *frame, prokio_cx_t *cx)
{
    return prokio__op_open_poll(&((struct openfail *)frame)->op, "/nonexistent/prokio/x", O_RDONLY,
                                0, cx);
}

static void test_open_missing(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct openfail f = {0};
    assert_int_equal(run_task(rt, 0, openfail_poll, &f, sizeof f, NULL), -ENOENT);
    test_runtime_free(rt);
}

/* --------------------------------------------------- shared io, aborts */

/* An io that outlives the tasks using it: made, used and closed by tasks
 * of worker 0, owned by the test. */
struct shared {
    struct prokio__io io;
    int fileno;
    unsigned kind;
};

struct io_task {
    struct shared *sh;
    int what; /* 0 init, 1 fini */
};

static int io_task_poll(void *frame, prokio_cx_t *cx)
{
    struct io_task *f = frame;
    if (f->what == 0)
        return prokio__io_init(&f->sh->io, f->sh->fileno, f->sh->kind, cx);
    prokio__io_fini(&f->sh->io);
    return 0;
}

static void shared_init(prokio_runtime_t *rt, struct shared *sh)
{
    struct io_task t = {sh, 0};
    assert_int_equal(run_task(rt, 0, io_task_poll, &t, sizeof t, NULL), 0);
}

static void shared_fini(prokio_runtime_t *rt, struct shared *sh)
{
    struct io_task t = {sh, 1};
    assert_int_equal(run_task(rt, 0, io_task_poll, &t, sizeof t, NULL), 0);
}

/* Receives until `want` bytes (or an error / EOF / the bound). */
struct receiver {
    struct shared *sh;
    atomic_int *pending; /* set to 1 at the first PENDING */
    size_t want, got;
    int err, drops;
    bool bounded;
    prokio_sleep_t bound;
    struct prokio__op op;
    char buf[256];
};

static int receiver_poll(void *frame, prokio_cx_t *cx)
{
    struct receiver *f = frame;
    if (!f->bounded) {
        f->bounded = true;
        prokio_sleep_init(&f->bound, BOUND);
    }
    while (f->got < f->want) {
        int r = prokio__op_recv_poll(&f->op, &f->sh->io, f->buf + f->got, f->want - f->got, 0, cx);
        if (r == PROKIO_PENDING) {
            if (f->pending)
                atomic_store(f->pending, 1);
            if (prokio_sleep_poll(&f->bound, cx) == 0)
                return f->err = PROKIO_ETIMEDOUT;
            return r;
        }
        if (r <= 0)
            return f->err = r == 0 ? -1000 : r;
        f->got += (size_t)r;
    }
    return 0;
}

static atomic_int receiver_drops;

static void receiver_drop(void *frame)
{
    struct receiver *f = frame;
    prokio_sleep_cancel(&f->bound);
    atomic_fetch_add(&receiver_drops, 1);
}

static void wait_flag(atomic_int *flag)
{
    for (uint64_t end = mono_ns_test() + BOUND; !atomic_load(flag);) {
        if (mono_ns_test() > end)
            fail_msg("timed out waiting for a task to wait");
        sched_yield();
    }
}

/* Aborted reads lose nothing: a task waits in recv, the peer writes, the
 * task is aborted (its op may have completed with those bytes, natively:
 * they go to the stash), and a new task receives exactly what was
 * written. Many rounds, to meet the races. */
static void test_abort_recv_loses_nothing(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    int sv[2];
    pair(sv);
    struct shared sh = {.fileno = sv[0], .kind = PROKIO__IO_SOCKET};
    shared_init(rt, &sh);
    atomic_store(&receiver_drops, 0);
    int rounds = TEST_SANITIZED ? 50 : 200, spawned = 0;
    for (int i = 0; i < rounds; i++) {
        atomic_int pending = 0;
        struct receiver r = {.sh = &sh, .pending = &pending, .want = 5};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn_on(&h, rt, 0, receiver_poll, &r, sizeof r, receiver_drop), 0);
        spawned++;
        wait_flag(&pending);
        char msg[6];
        snprintf(msg, sizeof msg, "m%04d", i);
        if (i % 2)
            assert_int_equal(write(sv[1], msg, 5), 5); /* before the abort: a race */
        prokio_task_abort(h);
        int rc = prokio_task_blocking_join(h);
        prokio_task_release(h);
        /* Aborted before it saw the bytes, or it had them all already. */
        assert_true(rc == PROKIO_ECANCELED || rc == 0);
        if (!(i % 2))
            assert_int_equal(write(sv[1], msg, 5), 5);
        if (rc == 0)
            continue; /* it finished first: its frame had them (counted by the join) */
        struct receiver r2 = {.sh = &sh, .want = 5};
        spawned++;
        rc = run_task(rt, 0, receiver_poll, &r2, sizeof r2, receiver_drop);
        if (rc != 0)
            fail_msg("round %d: receiver: %d %s: %s", i, rc, prokio_err_name(rc),
                     prokio_last_error());
        r2.buf[5] = 0;
        assert_string_equal(r2.buf, msg);
    }
    assert_int_equal(atomic_load(&receiver_drops), spawned); /* each drop exactly once */
    shared_fini(rt, &sh);
    close(sv[1]);
    test_runtime_free(rt);
}

/* Aborted accepts lose no connection: the same with accept. */
struct acceptor {
    struct shared *sh;
    atomic_int *pending;
    int fd, err;
    bool bounded;
    prokio_sleep_t bound;
    struct prokio__op op;
};

static int acceptor_poll(void *frame, prokio_cx_t *cx)
{
    struct acceptor *f = frame;
    if (!f->bounded) {
        f->bounded = true;
        prokio_sleep_init(&f->bound, BOUND);
    }
    int r = prokio__op_accept_poll(&f->op, &f->sh->io, NULL, NULL, cx);
    if (r == PROKIO_PENDING) {
        if (f->pending)
            atomic_store(f->pending, 1);
        if (prokio_sleep_poll(&f->bound, cx) == 0)
            return f->err = PROKIO_ETIMEDOUT;
        return r;
    }
    f->fd = r;
    return r < 0 ? r : 0;
}

static void acceptor_drop(void *frame)
{
    prokio_sleep_cancel(&((struct acceptor *)frame)->bound);
}

static unsigned short local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static unsigned short peer_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(getpeername(fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void test_abort_accept_loses_nothing(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct sockaddr_in addr;
    struct shared sh = {.fileno = tcp_listener(&addr), .kind = PROKIO__IO_SOCKET};
    shared_init(rt, &sh);
    int rounds = TEST_SANITIZED ? 30 : 100;
    for (int i = 0; i < rounds; i++) {
        atomic_int pending = 0;
        struct acceptor a = {.sh = &sh, .pending = &pending, .fd = -1};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn_on(&h, rt, 0, acceptor_poll, &a, sizeof a, acceptor_drop), 0);
        wait_flag(&pending);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (i % 2)
            assert_int_equal(connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
        prokio_task_abort(h);
        int rc = prokio_task_blocking_join(h);
        memcpy(&a, prokio_task_frame(h), sizeof a);
        prokio_task_release(h);
        assert_true(rc == PROKIO_ECANCELED || rc == 0);
        if (!(i % 2))
            assert_int_equal(connect(c, (struct sockaddr *)&addr, sizeof addr), 0);
        if (rc != 0) {
            struct acceptor a2 = {.sh = &sh, .fd = -1};
            rc = run_task(rt, 0, acceptor_poll, &a2, sizeof a2, acceptor_drop);
            if (rc != 0)
                fail_msg("round %d: accept: %d %s: %s", i, rc, prokio_err_name(rc),
                         prokio_last_error());
            a.fd = a2.fd;
        }
        assert_true(a.fd >= 0);
        assert_int_equal(peer_port(a.fd), local_port(c)); /* this very connection */
        assert_true(fcntl(a.fd, F_GETFD) & FD_CLOEXEC);
        assert_true(fcntl(a.fd, F_GETFL) & O_NONBLOCK);
        close(a.fd);
        close(c);
    }
    shared_fini(rt, &sh);
    test_runtime_free(rt);
}

/* Closing an io cancels the ops waiting on it: a receiver in another task
 * ends with PROKIO_ECANCELED, and the close returns 0 after that. */
struct closer {
    struct shared *sh;
    struct prokio__op op;
};

static int closer_poll(void *frame, prokio_cx_t *cx)
{
    struct closer *f = frame;
    return prokio__io_close_poll(&f->op, &f->sh->io, cx);
}

static void test_close_cancels_ops(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    int sv[2];
    pair(sv);
    struct shared sh = {.fileno = sv[0], .kind = PROKIO__IO_SOCKET};
    shared_init(rt, &sh);
    atomic_int pending = 0;
    struct receiver r = {.sh = &sh, .pending = &pending, .want = 5};
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, receiver_poll, &r, sizeof r, receiver_drop), 0);
    wait_flag(&pending);
    struct closer c = {.sh = &sh};
    assert_int_equal(run_task(rt, 0, closer_poll, &c, sizeof c, NULL), 0);
    int rc = prokio_task_blocking_join(h);
    prokio_task_release(h);
    assert_int_equal(rc, PROKIO_ECANCELED);
    assert_int_equal(sh.io.fileno, -1);
    /* The descriptor really is closed: the peer sees EOF. */
    char b;
    assert_int_equal(read(sv[1], &b, 1), 0);
    /* A new op on the closed io: EBADF, said. */
    struct receiver r2 = {.sh = &sh, .want = 1};
    assert_int_equal(run_task(rt, 0, receiver_poll, &r2, sizeof r2, receiver_drop), PROKIO_EBADF);
    close(sv[1]);
    test_runtime_free(rt);
}

/* An io is bound to its worker: polled from another, PROKIO_EXDEV. */
static void test_exdev(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    int sv[2];
    pair(sv);
    struct shared sh = {.fileno = sv[0], .kind = PROKIO__IO_SOCKET};
    shared_init(rt, &sh);
    struct receiver r = {.sh = &sh, .want = 1};
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn_on(&h, rt, 1, receiver_poll, &r, sizeof r, receiver_drop), 0);
    int rc = prokio_task_blocking_join(h);
    prokio_task_release(h);
    assert_int_equal(rc, PROKIO_EXDEV);
    shared_fini(rt, &sh);
    close(sv[1]);
    test_runtime_free(rt);
}

/* Tasks left waiting in recv and accept at shutdown: the runtime shuts
 * down (driving the backend until native ops complete), each drop runs
 * exactly once, and the runtime frees cleanly. */
struct left {
    int fd;
    bool inited;
    struct prokio__io io;
    struct prokio__op op;
    atomic_int *pending;
    atomic_int *drops;
    char buf[16];
};

static int left_poll(void *frame, prokio_cx_t *cx)
{
    struct left *f = frame;
    if (!f->inited) {
        f->inited = true;
        int r = prokio__io_init(&f->io, f->fd, PROKIO__IO_SOCKET, cx);
        if (r < 0)
            return r;
    }
    int r = f->fd & 1 ? prokio__op_recv_poll(&f->op, &f->io, f->buf, sizeof f->buf, 0, cx)
                      : prokio__op_recv_poll(&f->op, &f->io, f->buf, 1, MSG_WAITALL, cx);
    if (r == PROKIO_PENDING)
        atomic_fetch_add(f->pending, 1);
    return r;
}

static void left_drop(void *frame)
{
    struct left *f = frame;
    prokio__io_fini(&f->io);
    atomic_fetch_add(f->drops, 1);
}

static void test_shutdown_with_ops_in_flight(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    atomic_int pending = 0, drops = 0;
    enum { N = 8 };
    int peers[N];
    for (int i = 0; i < N; i++) {
        int sv[2];
        pair(sv);
        peers[i] = sv[1];
        struct left f = {.fd = sv[0], .pending = &pending, .drops = &drops};
        assert_int_equal(
            prokio_spawn_on(NULL, rt, (unsigned)i % 2, left_poll, &f, sizeof f, left_drop), 0);
    }
    for (uint64_t end = mono_ns_test() + BOUND; atomic_load(&pending) < N;)
        if (mono_ns_test() > end)
            fail_msg("tasks did not wait: %d of %d", atomic_load(&pending), N);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_int_equal(atomic_load(&drops), N);
    for (int i = 0; i < N; i++) {
        char b;
        assert_int_equal(read(peers[i], &b, 1), 0); /* closed by the drop */
        close(peers[i]);
    }
    test_runtime_free(rt);
}

/* A loop of ready ops yields to the others after the coop budget: the
 * peer has 1000 bytes ready, a task reads them one by one without ever
 * waiting, and a second task on the worker still runs in between. */
struct coop {
    int fd;
    bool inited;
    struct prokio__io io;
    struct prokio__op op;
    int got, polls;
    atomic_int *other_ran;
    int other_seen_at;
};

static int coop_poll(void *frame, prokio_cx_t *cx)
{
    struct coop *f = frame;
    f->polls++;
    if (!f->inited) {
        f->inited = true;
        int r = prokio__io_init(&f->io, f->fd, PROKIO__IO_SOCKET, cx);
        if (r < 0)
            return r;
    }
    while (f->got < 1000) {
        char b;
        int r = prokio__op_recv_poll(&f->op, &f->io, &b, 1, 0, cx);
        if (r == PROKIO_PENDING)
            return r;
        if (r != 1)
            return r < 0 ? r : -4000;
        f->got++;
        if (!f->other_seen_at && atomic_load(f->other_ran))
            f->other_seen_at = f->got;
    }
    return 0;
}

static void coop_drop(void *frame)
{
    prokio__io_fini(&((struct coop *)frame)->io);
}

static int flag_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    atomic_store(*(atomic_int **)frame, 1);
    return 0;
}

/* Spawns the reader, then the other task, on its own worker: both are in
 * the ready queue, in that order, before the reader first runs. */
struct coop_start {
    struct coop *f;
    atomic_int **flag;
    prokio_task_t *h, *o;
};

static int coop_start_poll(void *frame, prokio_cx_t *cx)
{
    struct coop_start *s = frame;
    int rc = prokio_spawn_local(&s->h, coop_poll, s->f, sizeof *s->f, coop_drop, cx);
    if (rc < 0)
        return rc;
    return prokio_spawn_local(&s->o, flag_poll, s->flag, sizeof *s->flag, NULL, cx);
}

static void test_coop_budget(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    int sv[2];
    pair(sv);
    char data[1000];
    memset(data, 'x', sizeof data);
    assert_int_equal(write(sv[1], data, sizeof data), (ssize_t)sizeof data);
    atomic_int other = 0;
    atomic_int *op = &other;
    struct coop f = {.fd = sv[0], .other_ran = &other};
    struct coop_start st = {.f = &f, .flag = &op};
    assert_int_equal(run_task(rt, 0, coop_start_poll, &st, sizeof st, NULL), 0);
    prokio_task_t *h = st.h, *o = st.o;
    assert_int_equal(prokio_task_blocking_join(h), 0);
    memcpy(&f, prokio_task_frame(h), sizeof f);
    prokio_task_release(h);
    assert_int_equal(prokio_task_blocking_join(o), 0);
    prokio_task_release(o);
    assert_int_equal(f.got, 1000);
    assert_true(f.polls >= 1000 / 128);
    assert_true(f.other_seen_at > 0 && f.other_seen_at <= 129);
    close(sv[1]);
    test_runtime_free(rt);
}

/* NULL arguments: PROKIO_EINVAL with a message, never a crash. */
static int null_poll(void *frame, prokio_cx_t *cx)
{
    int *n = frame;
    struct prokio__op op = {0};
    struct prokio__io io = {0};
    char b;
    n[0] = prokio__op_recv_poll(NULL, &io, &b, 1, 0, cx);
    n[1] = prokio__op_send_poll(&op, NULL, &b, 1, 0, cx);
    n[2] = prokio__op_accept_poll(&op, NULL, NULL, NULL, cx);
    n[3] = prokio__op_connect_poll(&op, &io, NULL, 0, cx);
    n[4] = prokio__op_read_poll(&op, &io, NULL, 1, 0, cx);
    n[5] = prokio__op_open_poll(&op, NULL, 0, 0, cx);
    n[6] = prokio__io_close_poll(NULL, &io, cx);
    n[7] = prokio__io_init(NULL, 0, PROKIO__IO_SOCKET, cx);
    n[8] = prokio__io_init(&io, 0, 99, cx);
    n[9] = prokio__op_sendmsg_poll(&op, &io, NULL, 2, cx);
    prokio__op_cancel(NULL);
    prokio__io_fini(NULL);
    prokio__io_fini(&io); /* never initialised (fileno -1 after the failed init) */
    return 0;
}

static void test_null_args(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    int n[10];
    memset(n, 0, sizeof n);
    assert_int_equal(run_task(rt, 0, null_poll, n, sizeof n, NULL), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(n[i], PROKIO_EINVAL);
    test_runtime_free(rt);
}

/* The loop says whether it runs ops natively, as the runner asked. */
static int caps_poll(void *frame, prokio_cx_t *cx)
{
    *(uint64_t *)frame = cx->worker->caps;
    return 0;
}

static void test_native_as_asked(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    uint64_t caps = 0;
    assert_int_equal(run_task(rt, 0, caps_poll, &caps, sizeof caps, NULL), 0);
    bool native = (caps & PROKIO_BACKEND_CAP_OP_RECV) != 0;
    print_message("# native ops: %s\n", native ? "yes" : "no (emulated)");
    assert_int_equal(native, native_expected());
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("ops", 120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_both_directions),
        cmocka_unit_test(test_tcp_accept_connect),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_udp_sendto_recvfrom),
        cmocka_unit_test(test_file_ops),
        cmocka_unit_test(test_open_missing),
        cmocka_unit_test(test_abort_recv_loses_nothing),
        cmocka_unit_test(test_abort_accept_loses_nothing),
        cmocka_unit_test(test_close_cancels_ops),
        cmocka_unit_test(test_exdev),
        cmocka_unit_test(test_shutdown_with_ops_in_flight),
        cmocka_unit_test(test_coop_budget),
        cmocka_unit_test(test_null_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
