/* examples/echo-server.c: a multi-worker TCP echo server on prokio/net.h,
 * stopped cleanly by SIGTERM or SIGINT through the signal future.
 *
 *   echo-server [--workers N] [--backend NAME] PORT
 *
 * PORT is the last argument (0: the kernel picks one); the server binds
 * 127.0.0.1 and prints "server=prokio-BACKEND listening=127.0.0.1:PORT"
 * once it accepts, the convention of ../shared/peers/run.sh, so that
 * EXTRA_SERVERS can measure it next to the raw servers and Tokio.
 * --workers defaults to 1 (run.sh pins each server to one CPU);
 * --backend (or PROKIO_BACKEND) picks uring, event or uv. On SIGTERM or
 * SIGINT it stops accepting, closes every connection, prints what it
 * served on stderr and exits with status 0.
 *
 * One listener per worker, with SO_REUSEPORT (PROKIO_NET_REUSEPORT), not
 * one listener shared by every worker. Why:
 *   - a socket belongs to one worker (thread-per-core: its readiness
 *     registration or its io_uring lives on that worker's loop), so a
 *     shared listener would accept on one worker and hand each connection
 *     to another: a cross-thread wake per connection, and that one worker
 *     accepting for all;
 *   - with one listener each, the kernel spreads new connections over
 *     the workers by a hash of the connection (no thundering herd: one
 *     listener is woken per connection), and every connection then lives
 *     and dies on the worker that accepted it, with no lock on the way.
 * The price: the spread is by hash, not by load (a busy worker keeps
 * getting its share), and connections queued on one listener's backlog
 * when it closes are reset. For an echo server, whose connections cost
 * the same, the hash is as good as a balancer.
 *
 * Like the peers: TCP_NODELAY, one 64 KiB buffer per connection, echo what
 * each read returned before reading again (write-all: a slow reader slows
 * its own connection only, nothing piles up in memory).
 *
 * Build: cc echo-server.c $(pkg-config --cflags --libs prokio) */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <prokio.h>
#include <prokio/net.h>

/* Returns from the middle of a coroutine body (PROKIO_END closes it). */
#define CO_RETURN(state, result)                                                                   \
    do {                                                                                           \
        *(state) = 0;                                                                              \
        return (result);                                                                           \
    } while (0)

#define BUF_SIZE    (64 * 1024)
#define MAX_WORKERS 64

static _Atomic unsigned long long connections, bytes_echoed;

/* ----------------------------------------------------------- connection */

struct conn {
    int co, rc;
    prokio_stream_t *s;
    prokio_op_t op;
    size_t len, written;
    unsigned long long echoed; /* bytes, added to bytes_echoed once, at the end */
    unsigned char *buf;
};

static int conn_poll(void *frame, prokio_cx_t *cx)
{
    struct conn *c = frame;
    PROKIO_BEGIN(&c->co);
    if ((c->buf = malloc(BUF_SIZE)) == NULL)
        CO_RETURN(&c->co, PROKIO_ENOMEM);
    prokio_stream_set_nodelay(c->s, true);
    for (;;) {
        PROKIO_AWAIT_INTO(&c->co, c->rc,
                          prokio_stream_read_poll(&c->op, c->s, c->buf, BUF_SIZE, cx));
        if (c->rc <= 0)
            break; /* the peer closed (0), or reset it (< 0): done either way */
        c->len = (size_t)c->rc;
        c->written = 0;
        PROKIO_AWAIT_INTO(
            &c->co, c->rc,
            prokio_stream_write_all_poll(&c->op, c->s, c->buf, c->len, &c->written, cx));
        if (c->rc < 0)
            break;
        c->echoed += c->len; /* not a shared atomic per message: workers share nothing */
    }
    PROKIO_AWAIT(&c->co, prokio_stream_close_poll(&c->op, c->s, cx));
    c->s = NULL;
    PROKIO_END(&c->co, 0);
}

/* Runs when the connection ends, or when the server stops (the runtime's
 * shutdown cancels every task): whatever was left open goes. */
static void conn_drop(void *frame)
{
    struct conn *c = frame;
    atomic_fetch_add_explicit(&bytes_echoed, c->echoed, memory_order_relaxed);
    prokio_stream_free(c->s);
    free(c->buf);
}

/* ------------------------------------------------------------- acceptor */

struct acceptor {
    prokio_listener_t *l;
    prokio_op_t op;
    prokio_stream_t *s;
};

static int acceptor_poll(void *frame, prokio_cx_t *cx)
{
    struct acceptor *a = frame;
    for (;;) {
        int rc = prokio_listener_accept_poll(&a->s, &a->op, a->l, NULL, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0) {
            fprintf(stderr, "echo-server: accept: %s\n", prokio_last_error());
            return rc;
        }
        struct conn c = {.s = a->s};
        a->s = NULL;
        /* Detached, on this worker: the connection lives where it was
         * accepted. */
        rc = prokio_spawn_local(NULL, conn_poll, &c, sizeof c, conn_drop, cx);
        if (rc < 0) {
            prokio_stream_free(c.s);
            continue;
        }
        atomic_fetch_add_explicit(&connections, 1, memory_order_relaxed);
        /* The budget of prokio_listener_accept_poll makes this loop yield
         * under a storm of connections. */
    }
}

static void acceptor_drop(void *frame)
{
    struct acceptor *a = frame;
    prokio_listener_free(a->l);
}

/* ---------------------------------------------------------------- stop */

/* Waits for SIGTERM or SIGINT: the signal future. */
struct stopper {
    prokio_signal_t *term, *intr;
};

static int stopper_poll(void *frame, prokio_cx_t *cx)
{
    struct stopper *s = frame;
    int a = prokio_signal_recv_poll(s->term, cx);
    int b = prokio_signal_recv_poll(s->intr, cx);
    if (a == PROKIO_PENDING && b == PROKIO_PENDING)
        return PROKIO_PENDING;
    return a != PROKIO_PENDING ? SIGTERM : SIGINT;
}

/* ----------------------------------------------------------------- main */

static int usage(const char *why)
{
    fprintf(stderr, "echo-server: %s\nusage: echo-server [--workers N] [--backend NAME] PORT\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    unsigned workers = 1;
    const char *backend = NULL;
    if (argc < 2)
        return usage("the port is missing (0: the kernel picks one)");
    for (int i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc - 1)
            workers = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc - 1)
            backend = argv[++i];
        else
            return usage("unknown argument");
    }
    if (workers == 0 || workers > MAX_WORKERS)
        return usage("--workers must be 1 to 64");
    char *end;
    unsigned long port = strtoul(argv[argc - 1], &end, 10);
    if (*end != '\0' || port > 65535)
        return usage("the port must be a number from 0 to 65535");

    /* The signals first: a SIGTERM that comes as soon as the port is
     * announced must find the listeners there, not end the process. */
    struct stopper stop;
    if (prokio_signal_new(&stop.term, SIGTERM, 0) < 0 ||
        prokio_signal_new(&stop.intr, SIGINT, 0) < 0) {
        fprintf(stderr, "echo-server: %s\n", prokio_last_error());
        return 1;
    }

    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = workers;
    o.backend = backend;
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, &o) < 0) {
        fprintf(stderr, "echo-server: %s\n", prokio_last_error());
        return 1;
    }

    /* Every listener on the same port: the first one's, when the kernel
     * picked it. */
    prokio_listener_t *ls[MAX_WORKERS] = {0};
    prokio_addr_t addr;
    char text[PROKIO_ADDR_STRLEN];
    snprintf(text, sizeof text, "127.0.0.1:%lu", port);
    int rc = prokio_addr_parse(&addr, text);
    for (unsigned w = 0; rc >= 0 && w < workers; w++) {
        rc = prokio_listener_new(&ls[w], &addr, 1024, PROKIO_NET_REUSEPORT);
        if (rc >= 0 && w == 0)
            rc = prokio_listener_local_addr(ls[0], &addr);
    }
    for (unsigned w = 0; rc >= 0 && w < workers; w++) {
        struct acceptor a = {.l = ls[w]};
        rc = prokio_spawn_on(NULL, rt, w, acceptor_poll, &a, sizeof a, acceptor_drop);
        if (rc >= 0)
            ls[w] = NULL; /* the acceptor's now */
    }
    if (rc < 0) {
        fprintf(stderr, "echo-server: %s\n", prokio_last_error());
        for (unsigned w = 0; w < workers; w++)
            prokio_listener_free(ls[w]);
        prokio_runtime_free(rt);
        return 1;
    }
    prokio_addr_format(&addr, text, sizeof text);
    printf("server=prokio-%s listening=%s\n", prokio_runtime_backend_name(rt), text);
    fflush(stdout);

    int sig = prokio_runtime_block_on(rt, stopper_poll, &stop, sizeof stop, NULL);
    /* Shutting down cancels the acceptors and the connections: their drop
     * functions close every socket. */
    /* The listener of the signal that came stays until the process ends:
     * a duplicate of that signal (timeout(1), as run.sh uses it, sends it
     * to the server and to its process group) must find it there, not end
     * the process with the default action halfway through the shutdown.
     * Its receive completed, so it holds no waker. The other listener
     * still holds the stopper task's waker, a reference the runtime's free
     * would wait for: it goes now. */
    prokio_signal_t *came = sig == SIGTERM ? stop.term : sig == SIGINT ? stop.intr : NULL;
    if (came != stop.term)
        prokio_signal_free(stop.term);
    if (came != stop.intr)
        prokio_signal_free(stop.intr);
    int freed = prokio_runtime_free(rt);
    if (freed < 0)
        fprintf(stderr, "echo-server: %s\n", prokio_last_error());
    fprintf(stderr, "echo-server: %s: stopped after %llu connections, %llu bytes echoed\n",
            sig == SIGTERM  ? "SIGTERM"
            : sig == SIGINT ? "SIGINT"
                            : "error",
            (unsigned long long)atomic_load(&connections),
            (unsigned long long)atomic_load(&bytes_echoed));
    return (sig == SIGTERM || sig == SIGINT) && freed == 0 ? 0 : 1;
}
