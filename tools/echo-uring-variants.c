/* tools/echo-uring-variants.c: a raw liburing echo server (no runtime) in
 * the io_uring styles a runtime could adopt, to measure what each is worth
 * before building it into the uring backend. It follows the peers'
 * convention (../shared/peers: port as the last argument, 0 = the kernel
 * picks; binds 127.0.0.1; prints "listening=127.0.0.1:PORT"; dies on
 * SIGTERM), so that run.sh measures it with EXTRA_SERVERS next to the raw
 * servers and Tokio:
 *
 *   echo-uring-variants [--multishot [--no-copy]] [--poll-first] PORT
 *
 *   (default)     recv into the connection's buffer; at its completion a
 *                 send; at the send's, the next recv: one SQE and one CQE
 *                 each, batched over the connections into the io_uring_enter
 *                 of each turn (what the uring backend's native ops do for
 *                 examples/echo-server)
 *   --poll-first  recv with IORING_RECVSEND_POLL_FIRST: arm the poll at
 *                 once instead of trying the recv that finds nothing (in a
 *                 ping-pong the answer is never there yet)
 *   --multishot   one multishot recv per connection, buffers from a ring
 *                 the kernel picks from (IOU_PBUF_RING): no SQE and no poll
 *                 arming per message; the bytes are copied into the
 *                 connection's buffer, as a runtime would into the caller's
 *   --no-copy     with --multishot: send straight from the ring buffer and
 *                 give it back at the send's completion (what only an API
 *                 that lends its buffers could do)
 *
 * Single-threaded, SINGLE_ISSUER | DEFER_TASKRUN, like the uring backend.
 * Not installed: built by `make echo-uring-variants` where liburing is. */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_BUF   (64 * 1024) /* as the peers and examples/echo-server */
#define RING_BUFS  1024        /* provided buffers, a power of two */
#define RING_BUF   (16 * 1024)
#define BUF_GROUP  1
#define RING_DEPTH 1024

enum { UD_ACCEPT = 0, UD_RECV = 1, UD_SEND = 2, UD_MASK = 3 };

struct conn {
    int fd;
    unsigned inflight; /* SQEs whose last CQE is due */
    unsigned sends;    /* --multishot: sends from buf in flight */
    size_t fill;       /* --multishot: bytes of buf those sends use */
    bool closing;
    unsigned char buf[CONN_BUF];
} __attribute__((aligned(8)));

static struct io_uring ring;
static int listen_fd;
static bool multishot, no_copy, poll_first;
static struct io_uring_buf_ring *bufs_ring;
static unsigned char *bufs;

static void die(const char *what, int err)
{
    fprintf(stderr, "echo-uring-variants: %s: %s\n", what, strerror(err));
    exit(1);
}

static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&ring)))
        io_uring_submit(&ring);
    return sqe;
}

/* user_data: the connection, the kind in the low bits, and for a send
 * from a ring buffer that buffer's id + 1 in bits 48..63 (user pointers
 * fit in 47 bits on x86-64 and arm64). */
static uint64_t ud(struct conn *c, unsigned kind, int bid)
{
    return (uint64_t)(uintptr_t)c | kind | (uint64_t)(bid + 1) << 48;
}

static void queue_accept(void)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
    sqe->user_data = UD_ACCEPT;
}

static void queue_recv(struct conn *c)
{
    struct io_uring_sqe *sqe = sqe_get();
    if (multishot) {
        io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BUF_GROUP;
    } else {
        io_uring_prep_recv(sqe, c->fd, c->buf, sizeof c->buf, 0);
        if (poll_first)
            sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    }
    sqe->user_data = ud(c, UD_RECV, -1);
    c->inflight++;
}

/* Every send posts its completion, as a runtime's write does. MSG_WAITALL:
 * the kernel finishes a short send itself. */
static void queue_send(struct conn *c, const void *p, unsigned len, int bid)
{
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_send(sqe, c->fd, p, len, MSG_WAITALL | MSG_NOSIGNAL);
    sqe->user_data = ud(c, UD_SEND, bid);
    c->inflight++;
}

static void give_back(int bid)
{
    io_uring_buf_ring_add(bufs_ring, bufs + (size_t)bid * RING_BUF, RING_BUF, (unsigned short)bid,
                          io_uring_buf_ring_mask(RING_BUFS), 0);
    io_uring_buf_ring_advance(bufs_ring, 1);
}

static void conn_maybe_free(struct conn *c)
{
    if (c->closing && c->inflight == 0) {
        close(c->fd);
        free(c);
    }
}

static void on_accept(int res)
{
    if (res >= 0) {
        int one = 1;
        setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = calloc(1, sizeof *c);
        if (c == NULL) {
            close(res);
        } else {
            c->fd = res;
            queue_recv(c);
        }
    }
    queue_accept();
}

/* --multishot: bytes in ring buffer bid go out, copied (into the
 * connection's buffer, after what sends still in flight use) or not. */
static void echo_ring_buffer(struct conn *c, int bid, size_t len)
{
    unsigned char *p = bufs + (size_t)bid * RING_BUF;
    if (no_copy) {
        queue_send(c, p, (unsigned)len, bid);
        return;
    }
    if (c->fill + len > sizeof c->buf) {
        c->closing = true; /* a peer that does not read: beyond this tool */
        give_back(bid);
        return;
    }
    memcpy(c->buf + c->fill, p, len);
    give_back(bid);
    queue_send(c, c->buf + c->fill, (unsigned)len, -1);
    c->fill += len;
    c->sends++;
}

static void on_recv(struct conn *c, int res, unsigned flags)
{
    bool more = multishot && (flags & IORING_CQE_F_MORE);
    if (!more)
        c->inflight--;
    if (res > 0 && !c->closing) {
        if (multishot) {
            echo_ring_buffer(c, (int)(flags >> IORING_CQE_BUFFER_SHIFT), (size_t)res);
            if (!more && !c->closing)
                queue_recv(c);
        } else {
            queue_send(c, c->buf, (unsigned)res, -1); /* then recv, at its completion */
        }
    } else if (res > 0) {
        if (multishot)
            give_back((int)(flags >> IORING_CQE_BUFFER_SHIFT));
    } else if (res == -ENOBUFS && !more && !c->closing) {
        queue_recv(c); /* the ring ran dry: completed sends give buffers back */
    } else if (res <= 0) {
        c->closing = true;
    }
    conn_maybe_free(c);
}

static void on_send(struct conn *c, int res, uint64_t user_data)
{
    int bid = (int)(user_data >> 48) - 1;
    c->inflight--;
    if (bid >= 0)
        give_back(bid);
    else if (multishot && --c->sends == 0)
        c->fill = 0;
    if (res < 0)
        c->closing = true;
    else if (!multishot && !c->closing)
        queue_recv(c);
    conn_maybe_free(c);
}

static void setup_buffer_ring(void)
{
    size_t ring_bytes = RING_BUFS * sizeof(struct io_uring_buf);
    bufs_ring = aligned_alloc(4096, (ring_bytes + 4095) & ~(size_t)4095);
    bufs = aligned_alloc(4096, (size_t)RING_BUFS * RING_BUF);
    if (bufs_ring == NULL || bufs == NULL)
        die("buffers", ENOMEM);
    memset(bufs_ring, 0, ring_bytes);
    io_uring_buf_ring_init(bufs_ring);
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)bufs_ring, .ring_entries = RING_BUFS, .bgid = BUF_GROUP};
    int r = io_uring_register_buf_ring(&ring, &reg, 0);
    if (r < 0)
        die("io_uring_register_buf_ring", -r);
    for (int i = 0; i < RING_BUFS; i++)
        io_uring_buf_ring_add(bufs_ring, bufs + (size_t)i * RING_BUF, RING_BUF, (unsigned short)i,
                              io_uring_buf_ring_mask(RING_BUFS), i);
    io_uring_buf_ring_advance(bufs_ring, RING_BUFS);
}

static int listen_loopback(const char *port_arg)
{
    char *end;
    long port = strtol(port_arg, &end, 10);
    if (*end || port < 0 || port > 65535) {
        fprintf(stderr, "echo-uring-variants: bad port '%s' (give 0 to 65535)\n", port_arg);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket", errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((unsigned short)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1024) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("bind/listen", errno);
    printf("server=echo-uring-variants listening=127.0.0.1:%u style=%s%s%s\n", ntohs(a.sin_port),
           multishot ? "multishot" : "recv+send", multishot && no_copy ? ",no-copy" : "",
           poll_first ? ",poll-first" : "");
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--multishot") == 0)
            multishot = true;
        else if (strcmp(argv[i], "--no-copy") == 0)
            no_copy = true;
        else if (strcmp(argv[i], "--poll-first") == 0)
            poll_first = true;
        else
            break;
    }
    if (i != argc - 1 || (no_copy && !multishot) || (poll_first && multishot)) {
        fprintf(stderr, "usage: echo-uring-variants [--multishot [--no-copy]] [--poll-first] PORT\n"
                        "  (--no-copy needs --multishot; --poll-first is for plain recv)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct io_uring_params p = {.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN};
    int r = io_uring_queue_init_params(RING_DEPTH, &ring, &p);
    if (r < 0)
        die("io_uring_queue_init_params (SINGLE_ISSUER | DEFER_TASKRUN)", -r);
    io_uring_register_ring_fd(&ring);
    if (multishot)
        setup_buffer_ring();
    listen_fd = listen_loopback(argv[argc - 1]);
    queue_accept();
    for (;;) {
        r = io_uring_submit_and_wait(&ring, 1);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
            die("io_uring_submit_and_wait", -r);
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            uint64_t u = cqe->user_data;
            struct conn *c = (struct conn *)(uintptr_t)(u & ((UINT64_C(1) << 48) - 1) & ~UD_MASK);
            switch (u & UD_MASK) {
            case UD_ACCEPT:
                on_accept(cqe->res);
                break;
            case UD_RECV:
                on_recv(c, cqe->res, cqe->flags);
                break;
            default:
                on_send(c, cqe->res, u);
            }
            n++;
        }
        io_uring_cq_advance(&ring, n);
    }
}
