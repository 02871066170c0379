/* tests/conformance/net_tcp.c: TCP streams and listeners between tasks:
 * echo over IPv4 and IPv6 across two workers (write-all, vectored writes,
 * half-close, addresses), a slow reader (partial writes, back-pressure),
 * a peer that resets, connections refused and timing out. */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include "net_common.h"

/* ------------------------------------------------------------- helpers */

prokio_listener_t *net_listen(const char *text, prokio_addr_t *addr)
{
    prokio_addr_t a;
    assert_int_equal(prokio_addr_parse(&a, text), 0);
    prokio_listener_t *l = NULL;
    int rc = prokio_listener_new(&l, &a, 64, 0);
    if (rc < 0)
        fail_msg("prokio_listener_new(%s): %s: %s", text, prokio_err_name(rc), prokio_last_error());
    assert_int_equal(prokio_listener_local_addr(l, addr), 0);
    return l;
}

bool net_have_ipv6(const char **why)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) {
        *why = "no IPv6 sockets on this machine";
        return false;
    }
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool ok = bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;
    close(fd);
    *why = "::1 cannot be bound (no IPv6 loopback)";
    return ok;
}

int net_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* ---------------------------------------------------------------- echo */

#define ECHO_BYTES (256 * 1024 + 123)

/* Accepts one connection, echoes it until the end of the stream, then
 * half-closes, waits for the client's close and closes everything. */
struct echo_server {
    int co, timed_out;
    struct conf_timeout to;
    prokio_listener_t *l;
    prokio_stream_t *s;
    prokio_op_t op;
    prokio_addr_t peer;
    unsigned char buf[8192];
    int n, rc;
    size_t w;
    long echoed;
};

static int echo_server_poll(void *frame, prokio_cx_t *cx)
{
    struct echo_server *f = frame;
    NET_BEGIN(f);
    NET_AWAIT(f, cx, f->rc, prokio_listener_accept_poll(&f->s, &f->op, f->l, &f->peer, cx));
    if (f->rc < 0)
        return f->rc;
    for (;;) {
        NET_AWAIT(f, cx, f->n, prokio_stream_read_poll(&f->op, f->s, f->buf, sizeof f->buf, cx));
        if (f->n <= 0)
            break;
        f->w = 0;
        NET_AWAIT(f, cx, f->rc,
                  prokio_stream_write_all_poll(&f->op, f->s, f->buf, (size_t)f->n, &f->w, cx));
        if (f->rc < 0)
            return f->rc;
        f->echoed += f->n;
    }
    if (f->n < 0)
        return f->n;
    /* Half-closed by the client: ours too, so that it reads the end. */
    f->rc = prokio_stream_shutdown(f->s, PROKIO_SHUT_WRITE);
    if (f->rc < 0)
        return f->rc;
    NET_AWAIT(f, cx, f->rc, prokio_stream_close_poll(&f->op, f->s, cx));
    f->s = NULL;
    if (f->rc < 0)
        return f->rc;
    NET_AWAIT(f, cx, f->rc, prokio_listener_close_poll(&f->op, f->l, cx));
    f->l = NULL;
    NET_END(f, f->rc);
}

static void echo_server_drop(void *frame)
{
    struct echo_server *f = frame;
    prokio_stream_free(f->s);
    prokio_listener_free(f->l);
    f->s = NULL;
    f->l = NULL;
}

/* Connects, sends the pattern (write-all in odd-sized pieces, then the
 * last part with a vectored write), half-closes, reads the echo back to
 * the end of the stream and checks every byte. */
struct echo_client {
    int co, timed_out;
    struct conf_timeout to;
    prokio_addr_t addr;
    prokio_stream_t *s;
    prokio_op_t op, rop;
    prokio_addr_t local;
    unsigned char *out, *in;
    size_t sent, got, w, piece;
    struct iovec iov[3];
    int n, rc, bad;
};

static int echo_client_poll(void *frame, prokio_cx_t *cx)
{
    struct echo_client *f = frame;
    NET_BEGIN(f);
    NET_AWAIT(f, cx, f->rc,
              prokio_stream_connect_poll(&f->s, &f->op, &f->addr, PROKIO_SEC(10), cx));
    if (f->rc < 0)
        return f->rc;
    if ((f->rc = prokio_stream_local_addr(f->s, &f->local)) < 0)
        return f->rc;
    if ((f->rc = prokio_stream_set_nodelay(f->s, true)) < 0)
        return f->rc;
    /* Most of it with write-all, in pieces of 10007 bytes. */
    while (f->sent < ECHO_BYTES - 3000) {
        f->piece = ECHO_BYTES - 3000 - f->sent;
        if (f->piece > 10007)
            f->piece = 10007;
        f->w = 0;
        NET_AWAIT(
            f, cx, f->rc,
            prokio_stream_write_all_poll(&f->op, f->s, f->out + f->sent, f->piece, &f->w, cx));
        if (f->rc < 0)
            return f->rc;
        if (f->w != f->piece)
            return PROKIO_EIO;
        f->sent += f->w;
        /* Drain what came back meanwhile, so neither side's buffers fill
         * while both write. */
        for (;;) {
            f->n = prokio_stream_read_poll(&f->rop, f->s, f->in + f->got, ECHO_BYTES - f->got, cx);
            if (f->n == PROKIO_PENDING)
                break;
            if (f->n <= 0)
                return f->n < 0 ? f->n : PROKIO_EPIPE;
            f->got += (size_t)f->n;
        }
    }
    /* The rest, 3000 bytes, in three buffers at once. */
    while (f->sent < ECHO_BYTES) {
        f->iov[0] = (struct iovec){f->out + f->sent, (ECHO_BYTES - f->sent) / 3};
        f->iov[1] = (struct iovec){f->out + f->sent + f->iov[0].iov_len, 1};
        f->iov[2] = (struct iovec){f->out + f->sent + f->iov[0].iov_len + 1,
                                   ECHO_BYTES - f->sent - f->iov[0].iov_len - 1};
        NET_AWAIT(f, cx, f->n, prokio_stream_writev_poll(&f->op, f->s, f->iov, 3, cx));
        if (f->n <= 0)
            return f->n < 0 ? f->n : PROKIO_EIO;
        f->sent += (size_t)f->n;
    }
    if ((f->rc = prokio_stream_shutdown(f->s, PROKIO_SHUT_WRITE)) < 0)
        return f->rc;
    for (;;) {
        NET_AWAIT(f, cx, f->n,
                  prokio_stream_read_poll(&f->rop, f->s, f->in + f->got,
                                          f->got < ECHO_BYTES ? ECHO_BYTES - f->got : 1, cx));
        if (f->n < 0)
            return f->n;
        if (f->n == 0)
            break;
        f->got += (size_t)f->n;
        if (f->got > ECHO_BYTES)
            return PROKIO_ERANGE;
    }
    for (size_t i = 0; i < ECHO_BYTES; i++)
        f->bad += f->in[i] != net_pattern(i);
    NET_AWAIT(f, cx, f->rc, prokio_stream_close_poll(&f->op, f->s, cx));
    f->s = NULL;
    NET_END(f, f->rc);
}

static void echo_client_drop(void *frame)
{
    struct echo_client *f = frame;
    prokio_stream_free(f->s);
    f->s = NULL;
}

static void echo_over(const char *text)
{
    prokio_runtime_t *rt = test_runtime(2);
    struct echo_server *srv = calloc(1, sizeof *srv);
    struct echo_client *cli = calloc(1, sizeof *cli);
    assert_non_null(srv);
    assert_non_null(cli);
    srv->l = net_listen(text, &cli->addr);
    cli->out = malloc(ECHO_BYTES);
    cli->in = calloc(1, ECHO_BYTES + 1);
    for (size_t i = 0; i < ECHO_BYTES; i++)
        cli->out[i] = net_pattern(i);
    prokio_task_t *hs, *hc;
    assert_int_equal(
        prokio_spawn_on(&hs, rt, 0, echo_server_poll, srv, sizeof *srv, echo_server_drop), 0);
    assert_int_equal(
        prokio_spawn_on(&hc, rt, 1, echo_client_poll, cli, sizeof *cli, echo_client_drop), 0);
    int rc_c = conf_join(hc, cli, sizeof *cli);
    int rc_s = conf_join(hs, srv, sizeof *srv);
    if (rc_c != 0 || rc_s != 0)
        fail_msg("%s: client %s (timed out at line %d), server %s (line %d): %s", text,
                 prokio_err_name(rc_c), cli->timed_out, prokio_err_name(rc_s), srv->timed_out,
                 prokio_last_error());
    assert_int_equal(cli->got, ECHO_BYTES);
    assert_int_equal(cli->bad, 0);
    assert_int_equal(srv->echoed, ECHO_BYTES);
    /* The server saw the client's address as the client's own. */
    char a[PROKIO_ADDR_STRLEN], b[PROKIO_ADDR_STRLEN];
    assert_true(prokio_addr_format(&srv->peer, a, sizeof a) > 0);
    assert_true(prokio_addr_format(&cli->local, b, sizeof b) > 0);
    assert_string_equal(a, b);
    free(cli->out);
    free(cli->in);
    free(cli);
    free(srv);
    test_runtime_free(rt);
}

void test_net_tcp_echo_v4(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    echo_over("127.0.0.1:0");
}

void test_net_tcp_echo_v6(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    const char *why;
    if (!net_have_ipv6(&why)) {
        print_message("# SKIP IPv6 echo: %s\n", why);
        return;
    }
    echo_over("[::1]:0");
}

/* --------------------------------------------------------- slow reader */

#define SLOW_BYTES (8u << 20)

/* Writes SLOW_BYTES to the first connection with one write-all; records
 * how far it got when it first had to wait. */
struct slow_writer {
    int co, timed_out;
    struct conf_timeout to;
    prokio_listener_t *l;
    prokio_stream_t *s;
    prokio_op_t op;
    unsigned char *data;
    size_t w;
    atomic_int *blocked;
    size_t w_at_block;
    int pendings, rc;
};

static int slow_writer_poll(void *frame, prokio_cx_t *cx)
{
    struct slow_writer *f = frame;
    NET_BEGIN(f);
    NET_AWAIT(f, cx, f->rc, prokio_listener_accept_poll(&f->s, &f->op, f->l, NULL, cx));
    if (f->rc < 0)
        return f->rc;
    NET_POINT(f)
    f->rc = prokio_stream_write_all_poll(&f->op, f->s, f->data, SLOW_BYTES, &f->w, cx);
    if (f->rc == PROKIO_PENDING) {
        if (f->pendings++ == 0) {
            f->w_at_block = f->w;
            atomic_store(f->blocked, 1);
        }
        if (conf_timed_out(&f->to, cx)) {
            f->timed_out = __LINE__;
            return PROKIO_ETIMEDOUT;
        }
        return PROKIO_PENDING;
    }
    if (f->rc < 0)
        return f->rc;
    NET_AWAIT(f, cx, f->rc, prokio_stream_close_poll(&f->op, f->s, cx));
    f->s = NULL;
    NET_AWAIT(f, cx, f->rc, prokio_listener_close_poll(&f->op, f->l, cx));
    f->l = NULL;
    NET_END(f, f->rc);
}

static void slow_writer_drop(void *frame)
{
    struct slow_writer *f = frame;
    prokio_stream_free(f->s);
    prokio_listener_free(f->l);
}

/* The reader (a plain blocking socket on the main thread) reads nothing
 * until the writer had to wait: the writer is then partway, holding
 * nothing but the kernel's socket buffers; then everything arrives, in
 * order. */
void test_net_tcp_slow_reader(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    prokio_runtime_t *rt = test_runtime(1);
    atomic_int blocked = 0;
    struct slow_writer *f = calloc(1, sizeof *f);
    prokio_addr_t addr;
    f->l = net_listen("127.0.0.1:0", &addr);
    f->blocked = &blocked;
    f->data = malloc(SLOW_BYTES);
    for (size_t i = 0; i < SLOW_BYTES; i++)
        f->data[i] = net_pattern(i);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn(&h, rt, slow_writer_poll, f, sizeof *f, slow_writer_drop), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    int small = 64 * 1024;
    setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    assert_int_equal(connect(c, (struct sockaddr *)&addr.storage, addr.len), 0);
    CONF_WAIT_FLAG(&blocked, 1);
    unsigned char *in = malloc(SLOW_BYTES);
    size_t got = 0;
    while (got < SLOW_BYTES) {
        ssize_t n = read(c, in + got, SLOW_BYTES - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(c);
    int rc = conf_join(h, f, sizeof *f);
    if (rc != 0)
        fail_msg("writer: %s (line %d): %s", prokio_err_name(rc), f->timed_out,
                 prokio_last_error());
    assert_int_equal(got, SLOW_BYTES);
    size_t bad = 0;
    for (size_t i = 0; i < SLOW_BYTES; i++)
        bad += in[i] != net_pattern(i);
    assert_int_equal(bad, 0);
    assert_int_equal(f->w, SLOW_BYTES);
    /* Partial writes: it waited partway, with at most the socket buffers
     * (a few MiB on Linux) in flight, far from the 8 MiB. */
    print_message("# the writer first waited after %zu bytes, %d waits in all\n", f->w_at_block,
                  f->pendings);
    assert_true(f->w_at_block > 0);
    assert_true(f->w_at_block < SLOW_BYTES / 2);
    assert_true(f->pendings >= 1);
    free(in);
    free(f->data);
    free(f);
    test_runtime_free(rt);
}

/* ----------------------------------------------------------- peer reset */

struct reset_client {
    int co, timed_out;
    struct conf_timeout to;
    prokio_addr_t addr;
    prokio_stream_t *s;
    prokio_op_t op;
    atomic_int *connected;
    unsigned char buf[256];
    int read_rc, write_rc, writes, rc;
    size_t w;
};

static int reset_client_poll(void *frame, prokio_cx_t *cx)
{
    struct reset_client *f = frame;
    NET_BEGIN(f);
    NET_AWAIT(f, cx, f->rc, prokio_stream_connect_poll(&f->s, &f->op, &f->addr, 0, cx));
    if (f->rc < 0)
        return f->rc;
    atomic_store(f->connected, 1);
    /* The peer resets: the read waiting for it fails. */
    NET_AWAIT(f, cx, f->read_rc, prokio_stream_read_poll(&f->op, f->s, f->buf, sizeof f->buf, cx));
    /* Writes to it fail too, and no SIGPIPE ends the process. */
    for (f->writes = 0; f->writes < 100; f->writes++) {
        f->w = 0;
        NET_AWAIT(f, cx, f->write_rc,
                  prokio_stream_write_all_poll(&f->op, f->s, f->buf, sizeof f->buf, &f->w, cx));
        if (f->write_rc < 0)
            break;
    }
    NET_AWAIT(f, cx, f->rc, prokio_stream_close_poll(&f->op, f->s, cx));
    f->s = NULL;
    NET_END(f, f->rc);
}

static void reset_client_drop(void *frame)
{
    struct reset_client *f = frame;
    prokio_stream_free(f->s);
}

void test_net_tcp_peer_reset(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    /* SIGPIPE's default action (ending the process) in force. */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    sigaction(SIGPIPE, &dfl, &old);
    prokio_runtime_t *rt = test_runtime(1);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(lfd, 4), 0);
    struct reset_client *f = calloc(1, sizeof *f);
    atomic_int connected = 0;
    f->connected = &connected;
    socklen_t len = sizeof f->addr.storage;
    getsockname(lfd, (struct sockaddr *)&f->addr.storage, &len);
    f->addr.len = len;
    prokio_task_t *h;
    assert_int_equal(prokio_spawn(&h, rt, reset_client_poll, f, sizeof *f, reset_client_drop), 0);
    CONF_WAIT_FLAG(&connected, 1);
    int a = accept(lfd, NULL, NULL);
    assert_true(a >= 0);
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST */
    assert_int_equal(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(a);
    int rc = conf_join(h, f, sizeof *f);
    close(lfd);
    sigaction(SIGPIPE, &old, NULL);
    if (rc != 0)
        fail_msg("client: %s (line %d): %s", prokio_err_name(rc), f->timed_out,
                 prokio_last_error());
    assert_int_equal(f->read_rc, PROKIO_ECONNRESET);
    if (f->write_rc != PROKIO_EPIPE && f->write_rc != PROKIO_ECONNRESET)
        fail_msg("write to a reset peer: %d (%s), not EPIPE or ECONNRESET", f->write_rc,
                 prokio_err_name(f->write_rc));
    assert_true(f->writes < 100);
    free(f);
    test_runtime_free(rt);
}

/* -------------------------------------------------- refused, timed out */

struct connector {
    int co, timed_out;
    struct conf_timeout to;
    prokio_addr_t addr;
    uint64_t timeout_ns;
    prokio_stream_t *s;
    prokio_op_t op;
    uint64_t start, end;
    int rc;
    char msg[512];
};

static int connector_poll(void *frame, prokio_cx_t *cx)
{
    struct connector *f = frame;
    NET_BEGIN(f);
    f->start = prokio_cx_now_ns(cx);
    NET_AWAIT(f, cx, f->rc, prokio_stream_connect_poll(&f->s, &f->op, &f->addr, f->timeout_ns, cx));
    f->end = prokio_cx_now_ns(cx);
    snprintf(f->msg, sizeof f->msg, "%s", prokio_last_error());
    if (f->s) {
        prokio_stream_free(f->s);
        f->s = NULL;
        f->rc = f->rc == 0 ? PROKIO_EIO : f->rc; /* connected: not what the test wants */
    }
    NET_END(f, 0);
}

static void connector_drop(void *frame)
{
    struct connector *f = frame;
    prokio_stream_free(f->s);
}

void test_net_tcp_connect_refused(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    prokio_runtime_t *rt = test_runtime(1);
    /* A port that is bound but not listening refuses, deterministically. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    struct connector f = {0};
    socklen_t len = sizeof f.addr.storage;
    getsockname(fd, (struct sockaddr *)&f.addr.storage, &len);
    f.addr.len = len;
    int before = net_open_fds();
    assert_int_equal(conf_run_on(rt, 0, connector_poll, &f, sizeof f, connector_drop), 0);
    assert_int_equal(f.rc, PROKIO_ECONNREFUSED);
    assert_null(f.s);
    char text[PROKIO_ADDR_STRLEN];
    prokio_addr_format(&f.addr, text, sizeof text);
    if (!strstr(f.msg, text) || !strstr(f.msg, "prokio_stream_connect_poll"))
        fail_msg("the message \"%s\" does not name the call and %s", f.msg, text);
    assert_int_equal(net_open_fds(), before); /* the socket was closed */
    close(fd);
    test_runtime_free(rt);
}

/* A listener whose backlog is full drops new SYNs (Linux, whatever
 * tcp_abort_on_overflow says about the handshake's last step): a connect
 * to it stays in progress until its timeout, deterministically. */
void test_net_tcp_connect_timeout(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    prokio_runtime_t *rt = test_runtime(1);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(lfd, 0), 0);
    struct connector f = {.timeout_ns = PROKIO_MS(200)};
    socklen_t len = sizeof f.addr.storage;
    getsockname(lfd, (struct sockaddr *)&f.addr.storage, &len);
    f.addr.len = len;
    /* Fill the queue: connections nobody accepts. */
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)!connect(fill[i], (struct sockaddr *)&f.addr.storage, f.addr.len);
    }
    int before = net_open_fds();
    assert_int_equal(conf_run_on(rt, 0, connector_poll, &f, sizeof f, connector_drop), 0);
    if (f.rc != PROKIO_ETIMEDOUT)
        fail_msg("connect to a full backlog: %s (%s), not ETIMEDOUT", prokio_err_name(f.rc), f.msg);
    assert_null(f.s);
    assert_true(f.end - f.start >= PROKIO_MS(200)); /* never early */
    assert_true(f.end - f.start < conf_timeout_ns());
    assert_true(strstr(f.msg, "timeout") != NULL);
    assert_int_equal(net_open_fds(), before);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
    test_runtime_free(rt);
}
