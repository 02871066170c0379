/* examples/echo-client.c: a parallel echo client: name resolution on the
 * blocking pool, connections with a timeout, many connections at once on
 * one worker, every byte checked.
 *
 *   echo-client [--connections N] [--messages M] [--size BYTES]
 *               [--timeout-ms MS] HOST PORT
 *
 * Resolves HOST (a name such as "localhost", or a numeric address) with
 * prokio_resolve_poll, then opens N connections at once (default 8); each
 * tries the addresses in the order the resolver gave them, each with a
 * connect timeout (default 2000 ms), sends M messages (default 100) of
 * BYTES bytes (default 1000) and reads each back before sending the next,
 * comparing every byte. Prints one line per fact and exits 0 when every
 * connection echoed everything, 1 otherwise.
 *
 * Build: cc echo-client.c $(pkg-config --cflags --libs prokio) */
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

#define MAX_CONNECTIONS 1000
#define MAX_SIZE        (1 << 20)

struct config {
    const char *host, *port;
    unsigned connections, messages;
    size_t size;
    uint64_t timeout_ns;
};

/* ----------------------------------------------------------- connection */

struct conn {
    int co, rc;
    unsigned id;
    const struct config *cfg;
    const prokio_addr_list_t *addrs;
    size_t next_addr; /* the address to try next */
    prokio_addr_t addr;
    prokio_stream_t *s;
    prokio_op_t op;
    unsigned sent;
    size_t written, got;
    unsigned char *out, *in;
    char why[200]; /* what went wrong, for the report */
};

static void fill(unsigned char *buf, size_t n, unsigned id, unsigned msg)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(id * 131u + msg * 31u + i);
}

static int conn_poll(void *frame, prokio_cx_t *cx)
{
    struct conn *c = frame;
    PROKIO_BEGIN(&c->co);
    c->out = malloc(c->cfg->size);
    c->in = malloc(c->cfg->size);
    if (c->out == NULL || c->in == NULL)
        CO_RETURN(&c->co, PROKIO_ENOMEM);

    /* Connect: each address in turn, each with the timeout. */
    for (c->next_addr = 0;; c->next_addr++) {
        {
            socklen_t len;
            const struct sockaddr *sa = prokio_addr_list_get(c->addrs, c->next_addr, &len);
            if (sa == NULL) {
                snprintf(c->why, sizeof c->why, "no address of %s accepted the connection",
                         c->cfg->host);
                CO_RETURN(&c->co, c->rc < 0 ? c->rc : PROKIO_ECONNREFUSED);
            }
            prokio_addr_from_sockaddr(&c->addr, sa, len);
        }
        PROKIO_AWAIT_INTO(
            &c->co, c->rc,
            prokio_stream_connect_poll(&c->s, &c->op, &c->addr, c->cfg->timeout_ns, cx));
        if (c->rc == 0)
            break;
        {
            char text[PROKIO_ADDR_STRLEN];
            prokio_addr_format(&c->addr, text, sizeof text);
            fprintf(stderr, "echo-client: connection %u: %s: %s\n", c->id, text,
                    c->rc == PROKIO_ETIMEDOUT ? "timed out" : prokio_last_error());
        }
    }
    prokio_stream_set_nodelay(c->s, true);

    for (c->sent = 0; c->sent < c->cfg->messages; c->sent++) {
        fill(c->out, c->cfg->size, c->id, c->sent);
        c->written = 0;
        PROKIO_AWAIT_INTO(
            &c->co, c->rc,
            prokio_stream_write_all_poll(&c->op, c->s, c->out, c->cfg->size, &c->written, cx));
        if (c->rc < 0) {
            snprintf(c->why, sizeof c->why, "write: %s", prokio_last_error());
            CO_RETURN(&c->co, c->rc);
        }
        for (c->got = 0; c->got < c->cfg->size; c->got += (size_t)c->rc) {
            PROKIO_AWAIT_INTO(
                &c->co, c->rc,
                prokio_stream_read_poll(&c->op, c->s, c->in + c->got, c->cfg->size - c->got, cx));
            if (c->rc <= 0) {
                snprintf(c->why, sizeof c->why, "read: %s",
                         c->rc == 0 ? "the server closed the connection" : prokio_last_error());
                CO_RETURN(&c->co, c->rc < 0 ? c->rc : PROKIO_EPIPE);
            }
        }
        if (memcmp(c->in, c->out, c->cfg->size) != 0) {
            snprintf(c->why, sizeof c->why, "message %u came back different", c->sent);
            CO_RETURN(&c->co, PROKIO_EIO);
        }
    }
    /* Half-close: the server reads the end, closes its side, and the
     * last read here sees it. */
    prokio_stream_shutdown(c->s, PROKIO_SHUT_WRITE);
    PROKIO_AWAIT_INTO(&c->co, c->rc, prokio_stream_read_poll(&c->op, c->s, c->in, 1, cx));
    if (c->rc != 0) {
        snprintf(c->why, sizeof c->why, "expected the end of the stream, got %d", c->rc);
        CO_RETURN(&c->co, PROKIO_EIO);
    }
    PROKIO_AWAIT(&c->co, prokio_stream_close_poll(&c->op, c->s, cx));
    c->s = NULL;
    PROKIO_END(&c->co, 0);
}

static void conn_drop(void *frame)
{
    struct conn *c = frame;
    prokio_stream_free(c->s);
    free(c->out);
    free(c->in);
}

/* ----------------------------------------------------------------- root */

struct root {
    int co, rc;
    const struct config *cfg;
    prokio_resolve_t res;
    prokio_addr_list_t *addrs;
    prokio_task_t *conns[MAX_CONNECTIONS];
    unsigned spawned, joined, ok;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    PROKIO_BEGIN(&r->co);
    PROKIO_AWAIT_INTO(
        &r->co, r->rc,
        prokio_resolve_poll(&r->addrs, &r->res, r->cfg->host, r->cfg->port, AF_UNSPEC, 0, cx));
    if (r->rc < 0) {
        fprintf(stderr, "echo-client: %s\n", prokio_last_error());
        CO_RETURN(&r->co, r->rc);
    }
    printf("resolved %s to %d address%s:", r->cfg->host, r->rc, r->rc == 1 ? "" : "es");
    for (size_t i = 0; i < prokio_addr_list_count(r->addrs); i++) {
        socklen_t len;
        const struct sockaddr *sa = prokio_addr_list_get(r->addrs, i, &len);
        prokio_addr_t a;
        char text[PROKIO_ADDR_STRLEN];
        if (prokio_addr_from_sockaddr(&a, sa, len) == 0 &&
            prokio_addr_format(&a, text, sizeof text) >= 0)
            printf(" %s", text);
    }
    printf("\n");

    for (r->spawned = 0; r->spawned < r->cfg->connections; r->spawned++) {
        struct conn c = {.id = r->spawned, .cfg = r->cfg, .addrs = r->addrs};
        if (prokio_spawn_local(&r->conns[r->spawned], conn_poll, &c, sizeof c, conn_drop, cx) < 0)
            break;
    }
    for (r->joined = 0; r->joined < r->spawned; r->joined++) {
        PROKIO_AWAIT_INTO(&r->co, r->rc, prokio_task_join_poll(r->conns[r->joined], cx));
        if (r->rc == 0)
            r->ok++;
        else
            fprintf(stderr, "echo-client: connection %u: %s (%s)\n", r->joined,
                    ((struct conn *)prokio_task_frame(r->conns[r->joined]))->why,
                    prokio_err_name(r->rc));
        prokio_task_release(r->conns[r->joined]);
    }
    prokio_addr_list_free(r->addrs);
    r->addrs = NULL;
    PROKIO_END(&r->co, r->ok == r->cfg->connections ? 0 : PROKIO_EIO);
}

/* ----------------------------------------------------------------- main */

static int usage(const char *why)
{
    fprintf(stderr,
            "echo-client: %s\nusage: echo-client [--connections N] [--messages M] "
            "[--size BYTES] [--timeout-ms MS] HOST PORT\n",
            why);
    return 2;
}

int main(int argc, char **argv)
{
    struct config cfg = {
        .connections = 8, .messages = 100, .size = 1000, .timeout_ns = PROKIO_MS(2000)};
    if (argc < 3)
        return usage("HOST and PORT are missing");
    for (int i = 1; i < argc - 2; i += 2) { /* options come in pairs */
        const char *v = i + 1 < argc - 2 ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage("an option without its value");
        unsigned long n = strtoul(v, NULL, 10);
        if (strcmp(argv[i], "--connections") == 0)
            cfg.connections = (unsigned)n;
        else if (strcmp(argv[i], "--messages") == 0)
            cfg.messages = (unsigned)n;
        else if (strcmp(argv[i], "--size") == 0)
            cfg.size = n;
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            cfg.timeout_ns = PROKIO_MS(n);
        else
            return usage("unknown option");
    }
    if (cfg.connections == 0 || cfg.connections > MAX_CONNECTIONS)
        return usage("--connections must be 1 to 1000");
    if (cfg.size == 0 || cfg.size > MAX_SIZE)
        return usage("--size must be 1 to 1048576");
    cfg.host = argv[argc - 2];
    cfg.port = argv[argc - 1];

    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, &o) < 0) {
        fprintf(stderr, "echo-client: %s\n", prokio_last_error());
        return 1;
    }
    struct root *r = calloc(1, sizeof *r);
    if (r == NULL)
        return 1;
    r->cfg = &cfg;
    int rc = prokio_runtime_block_on(rt, root_poll, r, sizeof *r, NULL);
    unsigned ok = r->ok; /* block_on copies the final frame back into r */
    prokio_runtime_free(rt);
    free(r);
    printf("connections=%u ok=%u messages=%u size=%zu %s\n", cfg.connections, ok, cfg.messages,
           cfg.size, rc == 0 ? "all echoed byte for byte" : "FAILED");
    return rc == 0 ? 0 : 1;
}
