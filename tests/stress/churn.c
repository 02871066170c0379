/* tests/stress/churn.c: connection churn against a prokio echo server,
 * with the client in another process (tests/stress/churn-client, started
 * with fork and exec): 10,000 connections whose echo the client checks byte
 * for byte, and 2,000 that reset abruptly (before sending, in the middle
 * of their payload, while the server writes). A tenth of that under
 * sanitizers and valgrind (test_reduced()).
 *
 * The server: 2 workers, one listener each (SO_REUSEPORT), a task per
 * connection (read, write-all what was read, until the end or an error;
 * then close). Afterwards:
 *   - the client saw every echo right and no failure;
 *   - the server accepted every connection the client made, and each of
 *     them ended (its task's drop ran) exactly once;
 *   - the process's open descriptors (/proc/self/fd) are back at the
 *     count before the client ran, and, once the acceptors are stopped,
 *     at the count before the runtime existed;
 *   - prokio_runtime_stats_read says zero tasks, zero ENDING tasks, zero
 *     operations in flight and zero registered descriptors.
 * All under a watchdog; the client dies with the server (PDEATHSIG). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BUF_SIZE (16 * 1024)

static atomic_long accepted, ended, ended_clean, ended_error, live_conns, echoed_bytes;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The descriptors open in this process, the directory's own excluded. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* ------------------------------------------------------------ connection */

struct conn {
    int co, rc;
    prokio_stream_t *s;
    prokio_op_t op;
    size_t len, written;
    unsigned char *buf; /* freed by the drop: after every op's completion */
    bool clean;
};

static int conn_poll(void *frame, prokio_cx_t *cx)
{
    struct conn *c = frame;
    PROKIO_BEGIN(&c->co);
    if ((c->buf = malloc(BUF_SIZE)) == NULL) {
        c->co = 0;
        return PROKIO_ENOMEM;
    }
    for (;;) {
        PROKIO_AWAIT_INTO(&c->co, c->rc,
                          prokio_stream_read_poll(&c->op, c->s, c->buf, BUF_SIZE, cx));
        if (c->rc <= 0)
            break; /* 0: the end; < 0: reset */
        c->len = (size_t)c->rc;
        c->written = 0;
        PROKIO_AWAIT_INTO(
            &c->co, c->rc,
            prokio_stream_write_all_poll(&c->op, c->s, c->buf, c->len, &c->written, cx));
        atomic_fetch_add_explicit(&echoed_bytes, (long)c->written, memory_order_relaxed);
        if (c->rc < 0)
            break; /* reset while writing */
    }
    c->clean = c->rc == 0;
    PROKIO_AWAIT_INTO(&c->co, c->rc, prokio_stream_close_poll(&c->op, c->s, cx));
    c->s = NULL;
    PROKIO_END(&c->co, 0);
}

static void conn_drop(void *frame)
{
    struct conn *c = frame;
    prokio_stream_free(c->s);
    free(c->buf);
    atomic_fetch_add(c->clean ? &ended_clean : &ended_error, 1);
    atomic_fetch_sub(&live_conns, 1);
    atomic_fetch_add(&ended, 1);
}

/* -------------------------------------------------------------- acceptor */

struct acceptor {
    prokio_listener_t *l;
    prokio_op_t op;
    prokio_stream_t *s;
    int error; /* an accept that failed (the test expects none) */
};

static int acceptor_poll(void *frame, prokio_cx_t *cx)
{
    struct acceptor *a = frame;
    for (;;) {
        int rc = prokio_listener_accept_poll(&a->s, &a->op, a->l, NULL, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0) {
            a->error = rc;
            return rc;
        }
        struct conn c = {.s = a->s};
        a->s = NULL;
        atomic_fetch_add(&live_conns, 1);
        if (prokio_spawn_local(NULL, conn_poll, &c, sizeof c, conn_drop, cx) < 0) {
            atomic_fetch_sub(&live_conns, 1);
            prokio_stream_free(c.s);
            a->error = PROKIO_ENOMEM;
            return PROKIO_ENOMEM;
        }
        atomic_fetch_add(&accepted, 1);
    }
}

static void acceptor_drop(void *frame)
{
    struct acceptor *a = frame;
    prokio_stream_free(a->s);
    prokio_listener_free(a->l);
}

/* ---------------------------------------------------------------- client */

/* The client program next to this one. */
static void client_path(char *out, size_t size)
{
    const char *top = getenv("top_builddir");
    if (top) {
        snprintf(out, size, "%s/tests/stress/churn-client", top);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(n > 0);
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(out, size, "%s/churn-client", self);
}

/* Runs the client to its end; its one line of output goes to `line`.
 * Returns its exit status. */
static int run_client(int port, long connections, long resets, unsigned long seed, char *line,
                      size_t size)
{
    char path[PATH_MAX + 64], a_port[16], a_conn[24], a_reset[24], a_seed[24];
    client_path(path, sizeof path);
    snprintf(a_port, sizeof a_port, "%d", port);
    snprintf(a_conn, sizeof a_conn, "%ld", connections);
    snprintf(a_reset, sizeof a_reset, "%ld", resets);
    snprintf(a_seed, sizeof a_seed, "%lu", seed);
    char *argv[] = {path, a_port, a_conn, a_reset, a_seed, NULL};
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    /* (Not posix_spawn: the tests' include path has core/spawn.h first.)
     * Between fork and exec, only async-signal-safe calls: the workers'
     * threads do not exist in the child. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (dup2(p[1], 1) < 0)
            _exit(126);
        execv(path, argv);
        _exit(127);
    }
    close(p[1]);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(p[0], line + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == size - 1)
            break;
    }
    line[got] = '\0';
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ------------------------------------------------------------------ test */

static void test_churn(void **state)
{
    (void)state;
    bool reduced = test_reduced();
    long connections = reduced ? 1000 : 10000, resets = reduced ? 200 : 2000;
    if (reduced)
        print_message("# reduced run (sanitizers or valgrind): %ld connections and %ld resets, "
                      "a tenth of the full counts\n",
                      connections, resets);
    /* A new seed each run (which connections reset, where, the payloads);
     * PROKIO_CHURN_SEED replays one. */
    const char *fixed = getenv("PROKIO_CHURN_SEED");
    unsigned long seed = fixed ? strtoul(fixed, NULL, 10) : (unsigned long)time(NULL);
    print_message("# seed %lu (PROKIO_CHURN_SEED=%lu replays it)\n", seed, seed);

    int fds_before_runtime = open_fds();
    assert_true(fds_before_runtime > 0);
    prokio_runtime_t *rt = test_runtime(2);

    /* One listener per worker on the same port (the kernel picks it). */
    prokio_addr_t addr;
    assert_int_equal(prokio_addr_parse(&addr, "127.0.0.1:0"), 0);
    prokio_task_t *acceptors[2];
    for (unsigned w = 0; w < 2; w++) {
        struct acceptor a = {0};
        assert_int_equal(prokio_listener_new(&a.l, &addr, 1024, PROKIO_NET_REUSEPORT), 0);
        if (w == 0)
            assert_int_equal(prokio_listener_local_addr(a.l, &addr), 0);
        assert_int_equal(
            prokio_spawn_on(&acceptors[w], rt, w, acceptor_poll, &a, sizeof a, acceptor_drop), 0);
    }
    int port = prokio_addr_port(&addr);
    int fds_baseline = open_fds();

    uint64_t t0 = mono_ns();
    char line[256];
    int status = run_client(port, connections, resets, seed, line, sizeof line);
    double client_s = (double)(mono_ns() - t0) / 1e9;
    print_message("# client: %s", line);
    print_message("# client exit status %d after %.2f s\n", status, client_s);
    long made = -1, reset_made = -1, verified = -1, failures = -1;
    assert_int_equal(sscanf(line, "connections=%ld resets=%ld verified_bytes=%ld failures=%ld",
                            &made, &reset_made, &verified, &failures),
                     4);
    assert_int_equal(failures, 0);
    assert_int_equal(status, 0);
    assert_int_equal(made, connections + resets);
    assert_int_equal(reset_made, resets);

    /* Every connection the client made reaches the server (a reset one
     * too: the kernel queues it for accept all the same) and ends there.
     * Bounded: the counts must get there, not merely move. */
    uint64_t deadline = mono_ns() + PROKIO_SEC(20) * test_timeout_scale();
    while ((atomic_load(&accepted) < made || atomic_load(&ended) < made) && mono_ns() < deadline) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    print_message("# server: accepted %ld, ended %ld (%ld at the end of the stream, %ld by an "
                  "error), %ld bytes echoed\n",
                  atomic_load(&accepted), atomic_load(&ended), atomic_load(&ended_clean),
                  atomic_load(&ended_error), atomic_load(&echoed_bytes));
    assert_int_equal(atomic_load(&accepted), made);
    assert_int_equal(atomic_load(&ended), made);
    assert_int_equal(atomic_load(&live_conns), 0);
    /* Every verified echo ended cleanly at the server; resets may end
     * either way (a reset that came after the server read the end). */
    assert_true(atomic_load(&ended_clean) >= connections);
    assert_true(atomic_load(&echoed_bytes) >= verified);

    /* Nothing but the two acceptors is left: their tasks and their
     * accepts (native, or waiting for readiness), no descriptor. */
    prokio_runtime_stats_t st = PROKIO_RUNTIME_STATS_INIT;
    assert_int_equal(prokio_runtime_stats_read(rt, &st), 0);
    assert_int_equal(st.tasks, 2);
    assert_int_equal(st.tasks_ending, 0);
    assert_int_equal(st.ops_native + st.ops_waiting + st.ops_pool, 2);
    assert_int_equal(open_fds(), fds_baseline);

    /* Stopping the acceptors ends the last operations. */
    for (unsigned w = 0; w < 2; w++) {
        prokio_task_abort(acceptors[w]);
        assert_int_equal(prokio_task_blocking_join(acceptors[w]), PROKIO_ECANCELED);
        struct acceptor *a = prokio_task_frame(acceptors[w]);
        assert_int_equal(a->error, 0);
        prokio_task_release(acceptors[w]);
    }
    assert_int_equal(prokio_runtime_stats_read(rt, &st), 0);
    print_message("# stats: tasks %llu, ending %llu, ops native %llu waiting %llu pool %llu, "
                  "fds %llu\n",
                  (unsigned long long)st.tasks, (unsigned long long)st.tasks_ending,
                  (unsigned long long)st.ops_native, (unsigned long long)st.ops_waiting,
                  (unsigned long long)st.ops_pool, (unsigned long long)st.fds);
    assert_int_equal(st.tasks, 0);
    assert_int_equal(st.tasks_ending, 0);
    assert_int_equal(st.ops_native + st.ops_waiting + st.ops_pool, 0);
    assert_int_equal(st.fds, 0);
    test_runtime_free(rt);
    assert_int_equal(open_fds(), fds_before_runtime);
    print_message("# %.2f s for %ld connections\n", (double)(mono_ns() - t0) / 1e9, made);
}

int main(void)
{
    test_watchdog("churn", 60);
    /* A write to a reset peer must fail with EPIPE, never kill the
     * process: the runtime's sends use MSG_NOSIGNAL, and SIGPIPE is left
     * at its default here on purpose. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_churn),
    };
    return cmocka_run_group_tests_name("churn", tests, NULL, NULL);
}
