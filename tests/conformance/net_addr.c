/* tests/conformance/net_addr.c: addresses (prokio_addr_t) and what the
 * socket objects do without waiting: creation, options, adoption, names,
 * freeing objects no task used. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conformance.h"
#include "net_common.h"

/* Text -> address -> text gives the text back. */
static void roundtrip(const char *text, int family, int port)
{
    prokio_addr_t a;
    int rc = prokio_addr_parse(&a, text);
    if (rc != 0)
        fail_msg("prokio_addr_parse(\"%s\"): %s: %s", text, prokio_err_name(rc),
                 prokio_last_error());
    assert_int_equal(prokio_addr_family(&a), family);
    if (port >= 0)
        assert_int_equal(prokio_addr_port(&a), port);
    char buf[PROKIO_ADDR_STRLEN];
    rc = prokio_addr_format(&a, buf, sizeof buf);
    assert_int_equal(rc, (int)strlen(text));
    assert_string_equal(buf, text);
}

void test_net_addr_parse_format(void **state)
{
    (void)state;
    roundtrip("127.0.0.1:8080", AF_INET, 8080);
    roundtrip("0.0.0.0:0", AF_INET, 0);
    roundtrip("255.255.255.255:65535", AF_INET, 65535);
    roundtrip("[::1]:0", AF_INET6, 0);
    roundtrip("[2001:db8::42]:443", AF_INET6, 443);
    roundtrip("[::ffff:10.0.0.1]:53", AF_INET6, 53);
    roundtrip("/tmp/prokio.sock", AF_UNIX, -1);
    roundtrip("@prokio-abstract", AF_UNIX, -1);

    /* The exact bytes the system gets. */
    prokio_addr_t a;
    assert_int_equal(prokio_addr_parse(&a, "10.1.2.3:80"), 0);
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a.storage;
    assert_int_equal(a.len, sizeof *in);
    assert_int_equal(ntohs(in->sin_port), 80);
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a010203);
    assert_int_equal(prokio_addr_parse(&a, "@x"), 0);
    assert_int_equal(a.len, offsetof(struct sockaddr_un, sun_path) + 2);
    assert_int_equal(((struct sockaddr_un *)&a.storage)->sun_path[0], '\0');

    /* Relative Unix paths through prokio_addr_unix. */
    assert_int_equal(prokio_addr_unix(&a, "rel.sock"), 0);
    char buf[PROKIO_ADDR_STRLEN];
    assert_int_equal(prokio_addr_format(&a, buf, sizeof buf), 8);
    assert_string_equal(buf, "rel.sock");

    /* From a system address. */
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(9)};
    s6.sin6_addr.s6_addr[15] = 1;
    assert_int_equal(prokio_addr_from_sockaddr(&a, (struct sockaddr *)&s6, sizeof s6), 0);
    assert_int_equal(prokio_addr_format(&a, buf, sizeof buf), 7);
    assert_string_equal(buf, "[::1]:9");
    assert_int_equal(prokio_addr_from_sockaddr(&a, (struct sockaddr *)&s6, 3), PROKIO_EINVAL);

    /* Too small a buffer: ERANGE, and as much as fits. */
    assert_int_equal(prokio_addr_parse(&a, "127.0.0.1:1"), 0);
    assert_int_equal(prokio_addr_format(&a, buf, 5), PROKIO_ERANGE);
    assert_string_equal(buf, "127.");
    assert_true(strstr(prokio_last_error(), "PROKIO_ADDR_STRLEN") != NULL);
}

void test_net_addr_invalid(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "127.0.0.1",
        "127.0.0.1:",
        "127.0.0.1:65536",
        "127.0.0.1:http",
        ":80",
        "localhost:80",
        "1.2.3:80",
        "::1:80",
        "[::1]",
        "[::1]80",
        "[::1:80",
        "[]:80",
        "[1.2.3.4]:80",
        "127.0.0.1:-1",
        "127.0.0.1:123456",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        prokio_addr_t a;
        memset(&a, 0xAB, sizeof a);
        int rc = prokio_addr_parse(&a, bad[i]);
        if (rc != PROKIO_EINVAL)
            fail_msg("prokio_addr_parse(\"%s\") returned %d, not PROKIO_EINVAL", bad[i], rc);
        /* Cleared, and the message quotes the text. */
        assert_int_equal(a.len, 0);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
        if (!strstr(prokio_last_error(), quoted))
            fail_msg("the message \"%s\" does not quote %s", prokio_last_error(), quoted);
    }
    char longpath[200];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    prokio_addr_t a;
    assert_int_equal(prokio_addr_parse(&a, longpath), PROKIO_ENAMETOOLONG);
    assert_int_equal(prokio_addr_unix(&a, ""), PROKIO_EINVAL);
    prokio_addr_t empty = {0};
    char buf[PROKIO_ADDR_STRLEN];
    assert_int_equal(prokio_addr_format(&empty, buf, sizeof buf), PROKIO_EINVAL);
    assert_int_equal(prokio_addr_family(&empty), PROKIO_EINVAL);
    assert_int_equal(prokio_addr_parse(&a, "/x"), 0);
    assert_int_equal(prokio_addr_port(&a), PROKIO_EINVAL);
}

/* -------------------------------------------------------- sync sockets */

static int sockopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

void test_net_listener_sync(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    prokio_addr_t any, a, b;
    assert_int_equal(prokio_addr_parse(&any, "127.0.0.1:0"), 0);
    prokio_listener_t *l1, *l2;
    assert_int_equal(prokio_listener_new(&l1, &any, 16, 0), 0);
    int fd = prokio_listener_fileno(l1);
    assert_true(fd >= 0);
    assert_int_equal(sockopt(fd, SOL_SOCKET, SO_REUSEADDR), 1);
    assert_int_equal(sockopt(fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(prokio_listener_local_addr(l1, &a), 0);
    assert_true(prokio_addr_port(&a) > 0);

    /* The same port again: in use, with the address in the message... */
    assert_int_equal(prokio_listener_new(&l2, &a, 16, 0), PROKIO_EADDRINUSE);
    assert_null(l2);
    char text[PROKIO_ADDR_STRLEN];
    prokio_addr_format(&a, text, sizeof text);
    assert_true(strstr(prokio_last_error(), text) != NULL);
    assert_int_equal(prokio_listener_free(l1), 0);

    /* ...unless every socket asks for SO_REUSEPORT. */
    assert_int_equal(prokio_listener_new(&l1, &any, 0, PROKIO_NET_REUSEPORT), 0);
    assert_int_equal(prokio_listener_local_addr(l1, &a), 0);
    assert_int_equal(prokio_listener_new(&l2, &a, 0, PROKIO_NET_REUSEPORT), 0);
    assert_int_equal(sockopt(prokio_listener_fileno(l2), SOL_SOCKET, SO_REUSEPORT), 1);
    assert_int_equal(prokio_listener_local_addr(l2, &b), 0);
    assert_int_equal(prokio_addr_port(&a), prokio_addr_port(&b));
    assert_int_equal(prokio_listener_free(l2), 0);
    assert_int_equal(prokio_listener_free(l1), 0);

    /* Bad flags, bad families. */
    assert_int_equal(prokio_listener_new(&l1, &any, 0, 0x4), PROKIO_EINVAL);
    prokio_addr_t empty = {0};
    assert_int_equal(prokio_listener_new(&l1, &empty, 0, 0), PROKIO_EINVAL);
    prokio_addr_t un;
    assert_int_equal(prokio_addr_parse(&un, "@prokio-net-sync"), 0);
    assert_int_equal(prokio_listener_new(&l1, &un, 0, PROKIO_NET_REUSEPORT), PROKIO_EINVAL);

    /* Unix: an abstract name, and a path that exists already. */
    assert_int_equal(prokio_listener_new(&l1, &un, 0, 0), 0);
    assert_int_equal(prokio_listener_local_addr(l1, &a), 0);
    assert_int_equal(prokio_addr_format(&a, text, sizeof text), 16);
    assert_string_equal(text, "@prokio-net-sync");
    assert_int_equal(prokio_listener_new(&l2, &un, 0, 0), PROKIO_EADDRINUSE);
    assert_int_equal(prokio_listener_free(l1), 0);
}

void test_net_adopt(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    prokio_stream_t *s = NULL;
    prokio_listener_t *l = NULL;
    prokio_udp_t *u = NULL;
    /* Not a socket, not a descriptor, the wrong type: refused, left open. */
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(prokio_stream_from_fd(&s, p[0], 0), PROKIO_EINVAL);
    assert_true(strstr(prokio_last_error(), "not a socket") != NULL);
    assert_int_equal(fcntl(p[0], F_GETFD) >= 0, 1);
    close(p[0]), close(p[1]);
    assert_int_equal(prokio_stream_from_fd(&s, -1, 0), PROKIO_EBADF);
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(d >= 0);
    assert_int_equal(prokio_stream_from_fd(&s, d, 0), PROKIO_EINVAL);
    assert_true(strstr(prokio_last_error(), "datagram") != NULL);
    assert_int_equal(prokio_listener_from_fd(&l, d, 0), PROKIO_EINVAL);
    assert_null(s);
    assert_null(l);
    /* A UDP socket is a UDP socket: adopted, made non-blocking. */
    assert_int_equal(prokio_udp_from_fd(&u, d, 0), 0);
    assert_true(fcntl(d, F_GETFL) & O_NONBLOCK);
    assert_int_equal(prokio_udp_fileno(u), d);
    assert_int_equal(prokio_udp_free(u), 0);
    assert_true(fcntl(d, F_GETFD) < 0 && errno == EBADF); /* closed with it */

    /* A stream socket that is not listening is not a listener. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(prokio_listener_from_fd(&l, sv[0], 0), PROKIO_EINVAL);
    assert_true(strstr(prokio_last_error(), "not listening") != NULL);
    /* A socketpair end is a stream: options that are TCP's refused. */
    assert_int_equal(prokio_stream_from_fd(&s, sv[0], 1), PROKIO_EINVAL);
    assert_int_equal(prokio_stream_from_fd(&s, sv[0], 0), 0);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);
    assert_int_equal(prokio_stream_set_nodelay(s, true), PROKIO_ENOTSUP);
    assert_int_equal(prokio_stream_set_keepalive(s, 5), PROKIO_ENOTSUP);
    prokio_addr_t a;
    assert_int_equal(prokio_stream_peer_addr(s, &a), 0);
    assert_int_equal(prokio_addr_family(&a), AF_UNIX);
    /* Half-close from here: the peer reads the end at once. */
    assert_int_equal(prokio_stream_shutdown(s, PROKIO_SHUT_WRITE), 0);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 0);
    assert_int_equal(prokio_stream_shutdown(s, 0), PROKIO_EINVAL);
    assert_int_equal(prokio_stream_free(s), 0);
    close(sv[1]);

    /* An inherited listener. */
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(prokio_listener_from_fd(&l, lfd, 0), 0);
    assert_int_equal(prokio_listener_local_addr(l, &a), 0);
    assert_true(prokio_addr_port(&a) > 0);
    assert_int_equal(prokio_listener_free(l), 0);
}

void test_net_tcp_options(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    /* A TCP stream made by hand, adopted: the options land on it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    prokio_stream_t *s;
    assert_int_equal(prokio_stream_from_fd(&s, fd, 0), 0);
    assert_int_equal(prokio_stream_set_nodelay(s, true), 0);
    assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_int_equal(prokio_stream_set_nodelay(s, false), 0);
    assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(prokio_stream_set_keepalive(s, 7), 0);
    assert_int_equal(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(sockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
    assert_int_equal(prokio_stream_set_keepalive(s, 0), 0);
    assert_int_equal(sockopt(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    /* Not connected: no peer, and shutdown says so. */
    prokio_addr_t a;
    assert_int_equal(prokio_stream_peer_addr(s, &a), PROKIO_ENOTCONN);
    assert_int_equal(a.len, 0);
    assert_int_equal(prokio_stream_shutdown(s, PROKIO_SHUT_BOTH), PROKIO_ENOTCONN);
    assert_int_equal(prokio_stream_free(s), 0);
}

void test_net_udp_sync(void **state)
{
    (void)state;
    NET_SKIP_ON_WASM();
    prokio_addr_t any, a, peer;
    assert_int_equal(prokio_addr_parse(&any, "127.0.0.1:0"), 0);
    prokio_udp_t *u;
    assert_int_equal(prokio_udp_bind(&u, &any, 0), 0);
    assert_int_equal(prokio_udp_local_addr(u, &a), 0);
    assert_true(prokio_addr_port(&a) > 0);
    assert_int_equal(prokio_udp_peer_addr(u, &peer), PROKIO_ENOTCONN);
    assert_int_equal(prokio_udp_connect(u, &a), 0); /* to itself */
    assert_int_equal(prokio_udp_peer_addr(u, &peer), 0);
    assert_int_equal(prokio_addr_port(&peer), prokio_addr_port(&a));
    prokio_addr_t un;
    assert_int_equal(prokio_addr_parse(&un, "@prokio-udp"), 0);
    assert_int_equal(prokio_udp_connect(u, &un), PROKIO_EINVAL);
    prokio_udp_t *u2;
    assert_int_equal(prokio_udp_bind(&u2, &un, 0), PROKIO_EINVAL);
    assert_int_equal(prokio_udp_bind(&u2, &a, 0), PROKIO_EADDRINUSE);
    assert_int_equal(prokio_udp_free(u), 0);
}
