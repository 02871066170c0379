/* tests/regress/short-read-then-eof.c: an end of stream that came with the
 * last bytes must still be read after a short read.
 *
 * The bug: to save the read that says EAGAIN after a short one (Tokio's
 * rule), the emulated recv waited for the next readiness report once a
 * read had come back short. On an edge-triggered loop (libevent with
 * EV_ET, io_uring's multishot poll) the peer's FIN that arrived together
 * with the bytes makes no report of its own after the read: the reader
 * never saw its end of stream. The churn test's server stopped echoing
 * and net_tcp_echo_v6 hung (both half-close). Now a backend reports the
 * half-close (PROKIO_BACKEND_RDHUP, CAP_RDHUP), the core remembers it
 * (fd->read_closed), and the rule is used only where that is known or the
 * loop is level-triggered.
 *
 * The window is made certain: a second task on the reader's worker writes
 * the bytes and shuts down its side in one turn, while the reader waits
 * with its registration made, so the bytes and the FIN reach the socket
 * before the worker's next wait and come in one report. Per backend,
 * emulated (native io_uring recv does not take this path).
 * (tests/run/regress~short-read-then-eof.{event,uv,uring-emulated}.test) */
#include <netinet/in.h>
#include <sys/socket.h>

#include "common.h"

struct writer {
    int fd;
    bool shut; /* shut down the writing side after the bytes */
};

static int write_then_shut(void *frame, prokio_cx_t *cx)
{
    struct writer *w = frame;
    (void)cx;
    if (write(w->fd, "hello", 5) != 5)
        return -1;
    if (w->shut && shutdown(w->fd, SHUT_WR) < 0)
        return -2;
    return 0;
}

static int shut_only(void *frame, prokio_cx_t *cx)
{
    struct writer *w = frame;
    (void)cx;
    return shutdown(w->fd, SHUT_WR) < 0 ? -2 : 0;
}

struct reader {
    prokio_stream_t *s;
    int peer;
    bool fin_with_bytes; /* else the FIN comes after the short read */
    int step;
    prokio_op_t op;
    prokio_sleep_t limit;
    char buf[64];
    int got;       /* bytes of the short read */
    int end;       /* the read after it: 0 for the end of stream */
    bool timedout; /* the end of stream never came */
};

static int spawn_writer(prokio_poll_fn fn, int peer, bool shut, prokio_cx_t *cx)
{
    struct writer w = {.fd = peer, .shut = shut};
    return prokio_spawn_local(NULL, fn, &w, sizeof w, NULL, cx);
}

static int reader_poll(void *frame, prokio_cx_t *cx)
{
    struct reader *r = frame;
    int rc;
    switch (r->step) {
    case 0: /* nothing sent yet: the first read makes the registration */
        rc = prokio_stream_read_poll(&r->op, r->s, r->buf, sizeof r->buf, cx);
        if (rc != PROKIO_PENDING)
            return -100;
        if (spawn_writer(write_then_shut, r->peer, r->fin_with_bytes, cx) < 0)
            return -101;
        r->step = 1;
        return PROKIO_PENDING;
    case 1: /* the bytes, fewer than asked */
        rc = prokio_stream_read_poll(&r->op, r->s, r->buf, sizeof r->buf, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        r->got = rc;
        if (!r->fin_with_bytes && spawn_writer(shut_only, r->peer, false, cx) < 0)
            return -102;
        prokio_sleep_init(&r->limit, PROKIO_SEC(5) * test_timeout_scale());
        r->step = 2;
        /* fall through */
    case 2: /* the end of stream, not a wait for a report that never comes */
        rc = prokio_stream_read_poll(&r->op, r->s, r->buf, sizeof r->buf, cx);
        if (rc == PROKIO_PENDING) {
            if (prokio_sleep_poll(&r->limit, cx) == PROKIO_PENDING)
                return PROKIO_PENDING;
            prokio_op_cancel(&r->op);
            r->timedout = true;
            return 0;
        }
        r->end = rc;
        return 0;
    }
    return -103;
}

static struct reader seen;

static void keep(void *frame)
{
    struct reader *r = frame;
    seen = *r;
    prokio_stream_free(r->s);
}

/* A connected TCP pair on the loopback: *server is adopted, *client raw. */
static void tcp_pair(int *server, int *client)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(*client >= 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&a, sizeof a), 0);
    *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    assert_true(*server >= 0);
    close(l);
}

static void run(bool fin_with_bytes)
{
    prokio_runtime_t *rt = test_runtime(1);
    int server, client;
    tcp_pair(&server, &client);
    struct reader r = {.peer = client, .fin_with_bytes = fin_with_bytes};
    assert_int_equal(prokio_stream_from_fd(&r.s, server, 0), 0);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(prokio_runtime_block_on(rt, reader_poll, &r, sizeof r, keep), 0);
    test_runtime_free(rt);
    close(client);
    assert_int_equal(seen.got, 5);
    if (seen.timedout)
        fail_msg("the end of stream after a short read was never seen (%s)",
                 fin_with_bytes ? "it came with the bytes" : "it came after the read");
    assert_int_equal(seen.end, 0);
}

static void test_fin_with_the_bytes(void **state)
{
    (void)state;
    run(true);
}

static void test_fin_after_the_short_read(void **state)
{
    (void)state;
    run(false);
}

int main(void)
{
    test_watchdog("short-read-then-eof", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fin_with_the_bytes),
        cmocka_unit_test(test_fin_after_the_short_read),
    };
    return cmocka_run_group_tests_name("an end of stream after a short read", tests, NULL, NULL);
}
