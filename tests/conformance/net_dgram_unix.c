/* tests/conformance/net_dgram_unix.c: UDP between two tasks (send_to /
 * recv_from with addresses, then connected send / recv), over IPv4 and
 * IPv6; Unix stream sockets (a path and an abstract name): listen,
 * accept, connect, the same stream calls as TCP. */
#include <sys/socket.h>
#include <sys/stat.h>

#include "net_common.h"

/* ------------------------------------------------------------------ UDP */

#define UDP_ROUNDS 50

/* Ping-pong: `a` sends round i to b's address, b answers from its own;
 * then both connect to each other and do it again with send/recv. */
struct udp_ping {
    int co, timed_out;
    struct conf_timeout to;
    prokio_udp_t *a, *b;
    prokio_addr_t a_addr, b_addr, from;
    prokio_op_t op;
    unsigned char out[100], in[200];
    int i, n, bad_from, bad_data;
};

static int udp_ping_poll(void *frame, prokio_cx_t *cx)
{
    struct udp_ping *f = frame;
    NET_BEGIN(f);
    for (f->i = 0; f->i < UDP_ROUNDS; f->i++) {
        memset(f->out, f->i, sizeof f->out);
        NET_AWAIT(
            f, cx, f->n,
            prokio_udp_send_to_poll(&f->op, f->a, f->out, (size_t)(f->i + 1), &f->b_addr, cx));
        if (f->n != f->i + 1)
            return f->n < 0 ? f->n : PROKIO_EIO;
        NET_AWAIT(f, cx, f->n,
                  prokio_udp_recv_from_poll(&f->op, f->b, f->in, sizeof f->in, &f->from, cx));
        if (f->n != f->i + 1)
            return f->n < 0 ? f->n : PROKIO_EIO;
        f->bad_from += f->from.len != f->a_addr.len ||
                       memcmp(&f->from.storage, &f->a_addr.storage, f->a_addr.len) != 0;
        f->bad_data += memcmp(f->in, f->out, (size_t)f->n) != 0;
        /* The answer, to the sender's address. */
        NET_AWAIT(f, cx, f->n, prokio_udp_send_to_poll(&f->op, f->b, f->in, 1, &f->from, cx));
        NET_AWAIT(f, cx, f->n, prokio_udp_recv_from_poll(&f->op, f->a, f->in, 1, NULL, cx));
        if (f->n != 1)
            return f->n < 0 ? f->n : PROKIO_EIO;
    }
    if (prokio_udp_connect(f->a, &f->b_addr) < 0 || prokio_udp_connect(f->b, &f->a_addr) < 0)
        return PROKIO_EIO;
    for (f->i = 0; f->i < UDP_ROUNDS; f->i++) {
        memset(f->out, 0x80 + f->i, sizeof f->out);
        NET_AWAIT(f, cx, f->n, prokio_udp_send_poll(&f->op, f->a, f->out, sizeof f->out, cx));
        if (f->n != (int)sizeof f->out)
            return f->n < 0 ? f->n : PROKIO_EIO;
        NET_AWAIT(f, cx, f->n, prokio_udp_recv_poll(&f->op, f->b, f->in, sizeof f->in, cx));
        if (f->n != (int)sizeof f->out)
            return f->n < 0 ? f->n : PROKIO_EIO;
        f->bad_data += memcmp(f->in, f->out, sizeof f->out) != 0;
    }
    NET_AWAIT(f, cx, f->n, prokio_udp_close_poll(&f->op, f->a, cx));
    f->a = NULL;
    NET_AWAIT(f, cx, f->n, prokio_udp_close_poll(&f->op, f->b, cx));
    f->b = NULL;
    NET_END(f, f->n);
}

static void udp_ping_drop(void *frame)
{
    struct udp_ping *f = frame;
    prokio_udp_free(f->a);
    prokio_udp_free(f->b);
}

static void udp_over(const char *text)
{
    prokio_runtime_t *rt = test_runtime(1);
    struct udp_ping *f = calloc(1, sizeof *f);
    prokio_addr_t any;
    assert_int_equal(prokio_addr_parse(&any, text), 0);
    assert_int_equal(prokio_udp_bind(&f->a, &any, 0), 0);
    assert_int_equal(prokio_udp_bind(&f->b, &any, 0), 0);
    assert_int_equal(prokio_udp_local_addr(f->a, &f->a_addr), 0);
    assert_int_equal(prokio_udp_local_addr(f->b, &f->b_addr), 0);
    int rc = conf_run_on(rt, 0, udp_ping_poll, f, sizeof *f, udp_ping_drop);
    if (rc != 0)
        fail_msg("%s: %s (line %d): %s", text, prokio_err_name(rc), f->timed_out,
                 prokio_last_error());
    assert_int_equal(f->bad_from, 0);
    assert_int_equal(f->bad_data, 0);
    free(f);
    test_runtime_free(rt);
}

void test_net_udp_v4(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    udp_over("127.0.0.1:0");
}

void test_net_udp_v6(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    const char *why;
    if (!net_have_ipv6(&why)) {
        print_message("# SKIP IPv6 UDP: %s\n", why);
        return;
    }
    udp_over("[::1]:0");
}

/* ---------------------------------------------------------------- Unix */

/* Server and client on one worker: the client sends "ping", half-closes;
 * the server answers "pong" and closes; both see the end. */
struct unix_pair {
    int co, timed_out;
    struct conf_timeout to;
    prokio_listener_t *l;
    prokio_addr_t addr, peer, local;
    prokio_stream_t *c, *s;
    prokio_op_t cop, aop, op;
    char buf[16];
    size_t w;
    int n, rc, eof_c, eof_s;
};

static int unix_pair_poll(void *frame, prokio_cx_t *cx)
{
    struct unix_pair *f = frame;
    NET_BEGIN(f);
    /* Connect and accept side by side: the first poll of each starts it. */
    NET_POINT(f)
    if (f->c == NULL || prokio_op_is_pending(&f->cop)) {
        f->rc = prokio_stream_connect_poll(&f->c, &f->cop, &f->addr, PROKIO_SEC(5), cx);
        if (f->rc < 0 && f->rc != PROKIO_PENDING)
            return f->rc;
    }
    if (f->s == NULL) {
        f->n = prokio_listener_accept_poll(&f->s, &f->aop, f->l, &f->peer, cx);
        if (f->n < 0 && f->n != PROKIO_PENDING)
            return f->n;
    }
    if (f->s == NULL || prokio_op_is_pending(&f->cop)) {
        if (conf_timed_out(&f->to, cx)) {
            f->timed_out = __LINE__;
            return PROKIO_ETIMEDOUT;
        }
        return PROKIO_PENDING;
    }
    if ((f->rc = prokio_stream_local_addr(f->c, &f->local)) < 0)
        return f->rc;
    NET_AWAIT(f, cx, f->rc, prokio_stream_write_all_poll(&f->op, f->c, "ping", 4, &f->w, cx));
    if (f->rc < 0 || prokio_stream_shutdown(f->c, PROKIO_SHUT_WRITE) < 0)
        return PROKIO_EIO;
    NET_AWAIT(f, cx, f->n, prokio_stream_read_poll(&f->op, f->s, f->buf, sizeof f->buf, cx));
    if (f->n != 4 || memcmp(f->buf, "ping", 4) != 0)
        return PROKIO_EIO;
    NET_AWAIT(f, cx, f->eof_s, prokio_stream_read_poll(&f->op, f->s, f->buf, sizeof f->buf, cx));
    f->w = 0;
    NET_AWAIT(f, cx, f->rc, prokio_stream_write_all_poll(&f->op, f->s, "pong", 4, &f->w, cx));
    NET_AWAIT(f, cx, f->rc, prokio_stream_close_poll(&f->op, f->s, cx));
    f->s = NULL;
    NET_AWAIT(f, cx, f->n, prokio_stream_read_poll(&f->op, f->c, f->buf, sizeof f->buf, cx));
    if (f->n != 4 || memcmp(f->buf, "pong", 4) != 0)
        return PROKIO_EIO;
    NET_AWAIT(f, cx, f->eof_c, prokio_stream_read_poll(&f->op, f->c, f->buf, sizeof f->buf, cx));
    NET_AWAIT(f, cx, f->rc, prokio_stream_close_poll(&f->op, f->c, cx));
    f->c = NULL;
    NET_AWAIT(f, cx, f->rc, prokio_listener_close_poll(&f->op, f->l, cx));
    f->l = NULL;
    NET_END(f, f->rc);
}

static void unix_pair_drop(void *frame)
{
    struct unix_pair *f = frame;
    prokio_stream_free(f->c);
    prokio_stream_free(f->s);
    prokio_listener_free(f->l);
}

static void unix_over(const char *text)
{
    prokio_runtime_t *rt = test_runtime(1);
    struct unix_pair *f = calloc(1, sizeof *f);
    f->l = net_listen(text, &f->addr);
    int rc = conf_run_on(rt, 0, unix_pair_poll, f, sizeof *f, unix_pair_drop);
    if (rc != 0)
        fail_msg("%s: %s (line %d): %s", text, prokio_err_name(rc), f->timed_out,
                 prokio_last_error());
    assert_int_equal(f->eof_s, 0);
    assert_int_equal(f->eof_c, 0);
    char buf[PROKIO_ADDR_STRLEN];
    assert_int_equal(prokio_addr_format(&f->addr, buf, sizeof buf), (int)strlen(text));
    assert_string_equal(buf, text);
    /* The client's socket is unnamed: so is the peer the server saw. */
    assert_int_equal(prokio_addr_family(&f->peer), AF_UNIX);
    assert_int_equal(prokio_addr_format(&f->peer, buf, sizeof buf), 0);
    free(f);
    test_runtime_free(rt);
}

void test_net_unix_stream(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    char path[64];
    snprintf(path, sizeof path, "/tmp/prokio-net-%d.sock", (int)getpid());
    unlink(path);
    unix_over(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0); /* the path is not removed for you */
    assert_true(S_ISSOCK(st.st_mode));
    unlink(path);
    unix_over("@prokio-net-abstract");
}
