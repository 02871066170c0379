/* tests/conformance/resolve.c: name resolution (prokio/resolve.h).
 *
 * Names that need no network: "localhost" (from /etc/hosts), numeric
 * addresses, and a name under .invalid (RFC 2606: never exists). An abort
 * while the lookup is queued is made certain by filling the one-thread
 * pool with a gated blocking job; an abort while it runs cannot be gated
 * (getaddrinfo has no hook), so it is repeated right after the start, and
 * the sanitizer runs check that nothing leaks whichever state it hit. */
#include "conformance.h"

#include <prokio/blocking.h>
#include <prokio/resolve.h>

#ifndef __EMSCRIPTEN__
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

struct resolver {
    prokio_resolve_t r;
    const char *host, *service;
    int family;
    unsigned flags;
    prokio_addr_list_t *list;
    int rc;
    int polls, pendings;
    atomic_int *waiting; /* set to 1 before the first PROKIO_PENDING */
    bool give_up;        /* end the task at the first PROKIO_PENDING */
    char msg[512];
    struct conf_timeout limit;
};

static int resolver_poll(void *frame, prokio_cx_t *cx)
{
    struct resolver *s = frame;
    s->polls++;
    int rc = prokio_resolve_poll(&s->list, &s->r, s->host, s->service, s->family, s->flags, cx);
    if (rc != PROKIO_PENDING) {
        s->rc = rc;
        if (rc < 0)
            snprintf(s->msg, sizeof s->msg, "%s", prokio_last_error());
        return 0;
    }
    if (s->give_up) {
        s->rc = PROKIO_PENDING; /* the runtime abandons the lookup */
        return 0;
    }
    if (s->list != NULL) {
        s->rc = PROKIO_EIO; /* *list_out must stay NULL while pending */
        return 0;
    }
    if (conf_timed_out(&s->limit, cx)) {
        prokio_resolve_cancel(&s->r);
        s->rc = PROKIO_ETIMEDOUT;
        return 0;
    }
    s->pendings++;
    if (s->waiting)
        atomic_store(s->waiting, 1);
    return PROKIO_PENDING;
}

/* For a detached resolver: an answer it got is freed with it. */
static void resolver_drop(void *frame)
{
    prokio_addr_list_free(((struct resolver *)frame)->list);
}

static struct resolver run_resolve(prokio_runtime_t *rt, unsigned worker, const char *host,
                                   const char *service, int family, unsigned flags)
{
    struct resolver s = {.host = host, .service = service, .family = family, .flags = flags};
    assert_int_equal(conf_run_on(rt, worker, resolver_poll, &s, sizeof s, NULL), 0);
    return s;
}

static int port_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static void print_addr(const char *what, const struct sockaddr *sa)
{
    char text[INET6_ADDRSTRLEN] = "?";
    inet_ntop(sa->sa_family,
              sa->sa_family == AF_INET
                  ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                  : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr,
              text, sizeof text);
    print_message("# %s: %s port %d\n", what, text, port_of(sa));
}
#endif

/* "localhost" on every worker: loopback addresses only, the port asked
 * for, each address once; the lookup went through the pool (the task
 * waited). AF_INET gives only IPv4 ones. */
void test_resolve_localhost(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        struct resolver s = run_resolve(rt, w, "localhost", "8080", AF_UNSPEC, 0);
        if (s.rc < 0)
            fail_msg("localhost: %s: %s", prokio_err_name(s.rc), s.msg);
        assert_true(s.rc >= 1);
        assert_int_equal((size_t)s.rc, prokio_addr_list_count(s.list));
        assert_true(s.pendings >= 1);
        for (size_t i = 0; i < prokio_addr_list_count(s.list); i++) {
            socklen_t len = 0;
            const struct sockaddr *sa = prokio_addr_list_get(s.list, i, &len);
            assert_non_null(sa);
            print_addr("localhost", sa);
            assert_true(is_loopback(sa));
            assert_int_equal(port_of(sa), 8080);
            assert_int_equal(len, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                           : sizeof(struct sockaddr_in6));
            for (size_t j = 0; j < i; j++) {
                socklen_t l2;
                const struct sockaddr *other = prokio_addr_list_get(s.list, j, &l2);
                assert_false(l2 == len && memcmp(other, sa, len) == 0);
            }
        }
        assert_null(prokio_addr_list_get(s.list, (size_t)s.rc, NULL));
        prokio_addr_list_free(s.list);
    }
    struct resolver s = run_resolve(rt, CONF_ANY, "localhost", "http", AF_INET, 0);
    if (s.rc < 0)
        fail_msg("localhost http: %s: %s", prokio_err_name(s.rc), s.msg);
    for (size_t i = 0; i < prokio_addr_list_count(s.list); i++) {
        const struct sockaddr *sa = prokio_addr_list_get(s.list, i, NULL);
        assert_int_equal(sa->sa_family, AF_INET);
        assert_int_equal(port_of(sa), 80); /* the service name, from /etc/services */
    }
    prokio_addr_list_free(s.list);
    test_runtime_free(rt);
#endif
}

/* Numeric addresses are answered at the first poll, without the pool;
 * NULL host is the loopback, or the wildcard with PROKIO_RESOLVE_PASSIVE;
 * PROKIO_RESOLVE_NUMERIC refuses a name. */
void test_resolve_numeric(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    struct resolver s = run_resolve(rt, 0, "192.0.2.7", "443", AF_UNSPEC, 0);
    assert_int_equal(s.rc, 1);
    assert_int_equal(s.polls, 1);
    const struct sockaddr_in *v4 = (const void *)prokio_addr_list_get(s.list, 0, NULL);
    assert_int_equal(v4->sin_family, AF_INET);
    assert_int_equal(ntohl(v4->sin_addr.s_addr), 0xc0000207u);
    assert_int_equal(ntohs(v4->sin_port), 443);
    prokio_addr_list_free(s.list);

    s = run_resolve(rt, 0, "::1", NULL, AF_INET6, 0);
    assert_int_equal(s.rc, 1);
    assert_int_equal(s.polls, 1);
    const struct sockaddr *sa = prokio_addr_list_get(s.list, 0, NULL);
    assert_int_equal(sa->sa_family, AF_INET6);
    assert_true(is_loopback(sa));
    assert_int_equal(port_of(sa), 0);
    prokio_addr_list_free(s.list);

    s = run_resolve(rt, 0, NULL, "9000", AF_INET, PROKIO_RESOLVE_PASSIVE);
    assert_int_equal(s.rc, 1);
    v4 = (const void *)prokio_addr_list_get(s.list, 0, NULL);
    assert_int_equal(ntohl(v4->sin_addr.s_addr), INADDR_ANY);
    assert_int_equal(ntohs(v4->sin_port), 9000);
    prokio_addr_list_free(s.list);

    s = run_resolve(rt, 0, NULL, "9000", AF_UNSPEC, 0);
    assert_int_equal(s.rc, 2); /* ::1 and 127.0.0.1 */
    for (size_t i = 0; i < 2; i++)
        assert_true(is_loopback(prokio_addr_list_get(s.list, i, NULL)));
    prokio_addr_list_free(s.list);

    s = run_resolve(rt, 0, "localhost", "80", AF_UNSPEC, PROKIO_RESOLVE_NUMERIC);
    assert_int_equal(s.rc, PROKIO_ENOTFOUND);
    assert_null(s.list);
    assert_non_null(strstr(s.msg, "\"localhost\""));
    assert_non_null(strstr(s.msg, "PROKIO_RESOLVE_NUMERIC"));
    test_runtime_free(rt);
#endif
}

/* A name that cannot exist: PROKIO_ENOTFOUND, the message names the
 * function and the host. (PROKIO_EAGAIN is what a machine without a
 * reachable name server answers; it is accepted, with a note.) */
void test_resolve_not_found(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    struct resolver s = run_resolve(rt, 0, "no-such-host.prokio.invalid", "80", AF_UNSPEC, 0);
    print_message("# %s\n", s.msg);
    if (s.rc == PROKIO_EAGAIN)
        print_message("# no name server answered: EAGAIN instead of ENOTFOUND\n");
    else
        assert_int_equal(s.rc, PROKIO_ENOTFOUND);
    assert_null(s.list);
    assert_non_null(strstr(s.msg, "prokio_resolve_poll"));
    assert_non_null(strstr(s.msg, "no-such-host.prokio.invalid"));

    /* An unknown service on a name that exists is not found either. */
    s = run_resolve(rt, 0, "localhost", "no-such-service-prokio", AF_UNSPEC, 0);
    assert_int_equal(s.rc, PROKIO_ENOTFOUND);
    assert_non_null(strstr(s.msg, "no-such-service-prokio"));
    test_runtime_free(rt);
#endif
}

/* Invalid arguments fail at the first poll, naming what was wrong, and
 * leave the resolve idle. */
void test_resolve_invalid(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    struct resolver s = run_resolve(rt, 0, "localhost", "80", AF_UNIX, 0);
    assert_int_equal(s.rc, PROKIO_EINVAL);
    assert_non_null(strstr(s.msg, "family"));
    s = run_resolve(rt, 0, "localhost", "80", AF_UNSPEC, 0x80);
    assert_int_equal(s.rc, PROKIO_EINVAL);
    assert_non_null(strstr(s.msg, "flags"));
    s = run_resolve(rt, 0, NULL, NULL, AF_UNSPEC, 0);
    assert_int_equal(s.rc, PROKIO_EINVAL);
    assert_int_equal(s.polls, 1);
    test_runtime_free(rt);
#endif
}

#ifndef __EMSCRIPTEN__
struct gate_job {
    atomic_int *gate, *started;
};

static int gate_fn(void *frame)
{
    struct gate_job *g = frame;
    atomic_store(g->started, 1);
    return conf_wait_flag(g->gate, 1) ? 0 : PROKIO_ETIMEDOUT;
}

/* A resolve that is cancelled, then polled again: a new lookup. */
struct reuser {
    int phase;
    prokio_resolve_t r;
    prokio_addr_list_t *list;
    int first, rc;
    struct conf_timeout limit;
};

static int reuser_poll(void *frame, prokio_cx_t *cx)
{
    struct reuser *u = frame;
    if (u->phase == 0) {
        u->phase = 1;
        u->first = prokio_resolve_poll(&u->list, &u->r, "localhost", "1", AF_INET, 0, cx);
        if (u->first != PROKIO_PENDING)
            return 0;
        prokio_resolve_cancel(&u->r);
        prokio_resolve_cancel(&u->r); /* idle now: nothing */
    }
    u->rc = prokio_resolve_poll(&u->list, &u->r, "localhost", "2", AF_INET, 0, cx);
    if (u->rc != PROKIO_PENDING)
        return 0;
    if (conf_timed_out(&u->limit, cx)) {
        prokio_resolve_cancel(&u->r);
        u->rc = PROKIO_ETIMEDOUT;
        return 0;
    }
    return PROKIO_PENDING;
}
#endif

/* Abort while the lookup waits in the pool's queue (the only pool thread
 * is held by a gated job): the task ends at once, ECANCELED; the lookup
 * never runs. Then prokio_resolve_cancel and a new lookup with the same
 * resolve. */
void test_resolve_abort_queued(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.max_blocking_threads = 1;
    prokio_runtime_t *rt = NULL;
    assert_int_equal(prokio_runtime_new(&rt, &o), 0);
    atomic_int gate = 0, started = 0, waiting = 0;
    struct gate_job g = {&gate, &started};
    prokio_task_t *blocker, *h;
    assert_int_equal(prokio_spawn_blocking(&blocker, rt, gate_fn, &g, sizeof g, NULL), 0);
    CONF_WAIT_FLAG(&started, 1);

    struct resolver s = {.host = "localhost", .service = "80", .waiting = &waiting};
    assert_int_equal(prokio_spawn(&h, rt, resolver_poll, &s, sizeof s, NULL), 0);
    CONF_WAIT_FLAG(&waiting, 1);
    prokio_task_abort(h);
    assert_int_equal(prokio_task_blocking_join(h), PROKIO_ECANCELED);
    prokio_task_release(h);

    atomic_store(&gate, 1);
    assert_int_equal(prokio_task_blocking_join(blocker), 0);
    prokio_task_release(blocker);

    struct reuser u = {0};
    assert_int_equal(conf_run_on(rt, 0, reuser_poll, &u, sizeof u, NULL), 0);
    assert_int_equal(u.first, PROKIO_PENDING);
    assert_true(u.rc >= 1);
    assert_int_equal(port_of(prokio_addr_list_get(u.list, 0, NULL)), 2);
    prokio_addr_list_free(u.list);
    test_runtime_free(rt);
#endif
}

/* Abort right after the lookup started, many times: whether it was still
 * queued or already running on a pool thread, the task ends at once and
 * the answer is freed (the sanitizer runs check there is no leak). And a
 * task that returns right after starting one: the runtime abandons it. */
void test_resolve_abort_running(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    int cancelled = 0;
    for (int i = 0; i < 50; i++) {
        atomic_int waiting = 0;
        struct resolver s = {.host = "localhost", .service = "80", .waiting = &waiting};
        prokio_task_t *h;
        assert_int_equal(
            prokio_spawn_on(&h, rt, (unsigned)i % 2, resolver_poll, &s, sizeof s, NULL), 0);
        CONF_WAIT_FLAG(&waiting, 1);
        prokio_task_abort(h);
        int rc = prokio_task_blocking_join(h);
        struct resolver *done = prokio_task_frame(h);
        if (rc == 0) {
            /* The answer came before the abort did: the task ended with it. */
            assert_true(done->rc >= 1);
            prokio_addr_list_free(done->list);
        } else {
            assert_int_equal(rc, PROKIO_ECANCELED);
            assert_null(done->list);
            cancelled++;
        }
        prokio_task_release(h);
    }
    print_message("# %d of 50 aborted before the answer came\n", cancelled);
    for (int i = 0; i < 50; i++) {
        struct resolver s = {.host = "localhost", .service = "80", .give_up = true};
        assert_int_equal(conf_run_on(rt, (unsigned)i % 2, resolver_poll, &s, sizeof s, NULL), 0);
        assert_int_equal(s.rc, PROKIO_PENDING);
        assert_null(s.list);
    }
    /* Shutting down with a lookup in flight: cancelled with the task. */
    atomic_int waiting = 0;
    struct resolver s = {.host = "localhost", .service = "80", .waiting = &waiting};
    assert_int_equal(prokio_spawn(NULL, rt, resolver_poll, &s, sizeof s, resolver_drop), 0);
    CONF_WAIT_FLAG(&waiting, 1);
    test_runtime_free(rt);
#endif
}
