/* examples/echo.c: a TCP echo server, one task per connection, on the
 * readiness leaf future (prokio_fd_t) with non-blocking system calls.
 *
 *   echo [--workers N] [PORT]     PORT 0 or none: the kernel picks one
 *
 * Binds 127.0.0.1, prints "server=prokio-BACKEND listening=127.0.0.1:PORT"
 * when ready (the format ../shared/peers/run.sh reads, so this server can
 * be measured next to the peers with EXTRA_SERVERS), and runs until killed.
 * Like the peers: TCP_NODELAY, a 64 KiB buffer per connection, echo what a
 * read returned, stop reading while a write is unfinished.
 *
 * Build: cc echo.c $(pkg-config --cflags --libs prokio) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <prokio.h>

#define BUF_SIZE (64 * 1024)

/* ------------------------------------------------------------ connection */

struct conn {
    int co, fd;
    prokio_fd_t *io;
    size_t len, off;    /* bytes read, bytes written back */
    unsigned char *buf; /* BUF_SIZE bytes, like the peers' per-connection buffer */
};

static int conn_poll(void *frame, prokio_cx_t *cx)
{
    struct conn *c = frame;
    int rc;
    ssize_t n;
    PROKIO_BEGIN(&c->co);
    if ((c->buf = malloc(BUF_SIZE)) == NULL)
        return PROKIO_ENOMEM;
    if ((rc = prokio_fd_new(&c->io, c->fd, cx)) < 0)
        return rc;
    for (;;) {
        n = read(c->fd, c->buf, BUF_SIZE);
        if (n == 0)
            break; /* the peer closed */
        if (n < 0) {
            if (errno != EAGAIN)
                break;
            prokio_fd_clear_ready(c->io, PROKIO_READABLE);
            PROKIO_AWAIT_INTO(&c->co, rc, prokio_fd_ready_poll(c->io, PROKIO_READABLE, cx));
            if (rc < 0)
                break;
            continue;
        }
        for (c->len = (size_t)n, c->off = 0; c->off < c->len;) {
            /* MSG_NOSIGNAL: a reset peer must not kill the process. */
            n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
            if (n >= 0) {
                c->off += (size_t)n;
                continue;
            }
            if (errno != EAGAIN)
                return 0;
            prokio_fd_clear_ready(c->io, PROKIO_WRITABLE);
            PROKIO_AWAIT_INTO(&c->co, rc, prokio_fd_ready_poll(c->io, PROKIO_WRITABLE, cx));
            if (rc < 0)
                return 0;
        }
    }
    PROKIO_END(&c->co, 0);
}

/* Runs on the connection's worker when the task ends, however it ends. */
static void conn_drop(void *frame)
{
    struct conn *c = frame;
    if (c->io)
        prokio_fd_free(c->io);
    close(c->fd);
    free(c->buf);
}

/* -------------------------------------------------------------- listener */

struct listener {
    int co, fd;
    prokio_fd_t *io;
    prokio_sleep_t backoff;
};

static int listener_poll(void *frame, prokio_cx_t *cx)
{
    struct listener *l = frame;
    int rc, fd;
    PROKIO_BEGIN(&l->co);
    if ((rc = prokio_fd_new(&l->io, l->fd, cx)) < 0)
        return rc;
    for (;;) {
        fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            struct conn c = {.fd = fd};
            /* A failed spawn runs no drop: the descriptor is still ours. */
            if (prokio_spawn(NULL, prokio_cx_runtime(cx), conn_poll, &c, sizeof c, conn_drop) < 0)
                close(fd);
            continue;
        }
        if (errno == EAGAIN) {
            prokio_fd_clear_ready(l->io, PROKIO_READABLE);
            PROKIO_AWAIT(&l->co, prokio_fd_ready_poll(l->io, PROKIO_READABLE, cx));
        } else if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* Out of descriptors: the listener stays readable, so retrying
             * at once would spin. Back off and let connections close. */
            prokio_sleep_init(&l->backoff, PROKIO_MS(10));
            PROKIO_AWAIT(&l->co, prokio_sleep_poll(&l->backoff, cx));
        }
        /* Anything else (ECONNABORTED...) concerns one connection only. */
    }
    PROKIO_END(&l->co, 0);
}

static void listener_drop(void *frame)
{
    struct listener *l = frame;
    if (l->io)
        prokio_fd_free(l->io);
}

int main(int argc, char **argv)
{
    unsigned workers = 1;
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            workers = (unsigned)atoi(argv[++i]);
        else
            port = atoi(argv[i]);
    }
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 1024) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("echo: listen");
        return 1;
    }
    prokio_runtime_t *rt;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = workers;
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0) {
        fprintf(stderr, "echo: %s\n", prokio_last_error());
        return 1;
    }
    printf("server=prokio-%s workers=%u listening=127.0.0.1:%d\n", prokio_runtime_backend_name(rt),
           prokio_runtime_workers(rt), ntohs(addr.sin_port));
    fflush(stdout);
    struct listener l = {.fd = lfd};
    rc = prokio_runtime_block_on(rt, listener_poll, &l, sizeof l, listener_drop);
    fprintf(stderr, "echo: listener ended: %s\n", prokio_strerror(rc));
    prokio_runtime_free(rt);
    close(lfd);
    return 1;
}
