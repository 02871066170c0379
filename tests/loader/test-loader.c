/* tests/loader/test-loader.c: backend selection and loading, with the fake
 * backends of this directory. Every refusal must come with the exact code
 * and a message that names the file and the reason. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common.h"

#include <prokio/backend.h>
#include <prokio/backend_info.h>

#include "fake-host.h"

static char fakes[1024]; /* tests/loader/.libs */
static char reals[1024]; /* backends/.libs */
static char tmpdir[256];

static const char *fake(const char *variant)
{
    static char path[4][1200];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, sizeof path[0], "%s/prokio-fake-%s.so", fakes, variant);
    return p;
}

/* Creates a runtime asking for `backend`, expecting failure `code` and a
 * message containing each of the NULL-terminated needles. */
static void expect_refusal(const char *backend, int code, ...)
{
    prokio_runtime_t *rt = (prokio_runtime_t *)0x1;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.backend = backend;
    int rc = prokio_runtime_new(&rt, &o);
    assert_null(rt);
    const char *msg = prokio_last_error();
    print_message("# %s -> %s: %s\n", backend, prokio_err_name(rc), msg);
    assert_int_equal(rc, code);
    va_list ap;
    va_start(ap, code);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        if (strstr(msg, needle) == NULL)
            fail_msg("message lacks \"%s\": %s", needle, msg);
    va_end(ap);
}

static void test_unknown_name(void **state)
{
    (void)state;
    expect_refusal("nosuch", PROKIO_ENOENT, "unknown backend 'nosuch'", "prokio-nosuch.so",
                   "available:", NULL);
}

static void test_invalid_name(void **state)
{
    (void)state;
    expect_refusal("Uring!", PROKIO_EINVAL, "invalid backend name 'Uring!'", NULL);
}

static void test_missing_file(void **state)
{
    (void)state;
    expect_refusal("/nonexistent/prokio-x.so", PROKIO_ENOENT, "/nonexistent/prokio-x.so",
                   "does not exist", NULL);
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/prokio-text.so", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("this is not an ELF file\n", f);
    fclose(f);
    expect_refusal(path, PROKIO_EBACKEND, "cannot load backend", path, NULL);
    unlink(path);
}

static void test_no_entry_symbol(void **state)
{
    (void)state;
    expect_refusal(fake("noentry"), PROKIO_EBACKEND, fake("noentry"),
                   "does not export prokio_backend_entry", NULL);
}

static void test_major_mismatch(void **state)
{
    (void)state;
    expect_refusal(fake("major2"), PROKIO_EABI, fake("major2"), "ABI 2.0", "speaks 1.1",
                   "major versions must match", NULL);
}

static void test_newer_minor(void **state)
{
    (void)state;
    expect_refusal(fake("minor7"), PROKIO_EABI, fake("minor7"), "ABI 1.7",
                   "newer than the core's 1.1", NULL);
}

static void test_entry_refuses(void **state)
{
    (void)state;
    expect_refusal(fake("refuses"), PROKIO_EABI, fake("refuses"), "refused backend ABI 1.1", NULL);
}

static void test_broken_vtables(void **state)
{
    (void)state;
    expect_refusal(fake("small"), PROKIO_EBACKEND, "vtable->size is 16 bytes", NULL);
    expect_refusal(fake("nowait"), PROKIO_EBACKEND, "vtable->wait is NULL", NULL);
    expect_refusal(fake("badname"), PROKIO_EBACKEND, "name must be", NULL);
    /* The checker's limits are the loader's (prokio_backend_vtable_check). */
    expect_refusal(fake("zerosize"), PROKIO_EBACKEND, "vtable->loop_size is 0", NULL);
}

static void test_init_failure_explicit(void **state)
{
    (void)state;
    /* An explicit request never falls back. */
    expect_refusal(fake("initfail"), PROKIO_EPERM, "backend fake", fake("initfail"),
                   "failed to start", "EPERM", NULL);
}

/* Sends stderr to a file of tmpdir until stderr_end, which reads it back
 * into log (cap bytes) and restores stderr. */
static int stderr_begin(const char *name, char *path, size_t path_cap)
{
    snprintf(path, path_cap, "%s/%s", tmpdir, name);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 2);
    close(fd);
    return saved;
}

static void stderr_end(int saved, const char *path, char *log, size_t cap)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(log, 1, cap - 1, f) : 0;
    log[n] = '\0';
    if (f)
        fclose(f);
}

/* A task that never ends on its own (it keeps no waker). */
static int park_forever(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return PROKIO_PENDING;
}

static void test_wait_fails_for_good(void **state)
{
    (void)state;
    char so[1300], log_path[512], log[4096];
    snprintf(so, sizeof so, "%s/../waitfails/.libs/prokio-waitfails.so", fakes);
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1; /* a second failing worker would print after stderr is restored */
    o.backend = so;
    assert_int_equal(prokio_runtime_new(&rt, &o), 0);

    /* The failure is printed whatever PROKIO_DEBUG says. */
    int saved = stderr_begin("waitfails.txt", log_path, sizeof log_path);
    prokio_task_t *h = NULL;
    int spawned = prokio_spawn_on(&h, rt, 0, park_forever, NULL, 0, NULL);
    /* The worker gives up after its retries (about a quarter of a second)
     * and ends its tasks with the backend's code: the join returns. */
    int result = spawned == 0 ? prokio_task_blocking_join(h) : spawned;
    int again = prokio_spawn_on(NULL, rt, 0, park_forever, NULL, 0, NULL);
    char again_msg[512];
    snprintf(again_msg, sizeof again_msg, "%s", prokio_last_error());
    stderr_end(saved, log_path, log, sizeof log);
    print_message("# stderr: %s# spawn afterwards: %s: %s\n", log, prokio_err_name(again),
                  again_msg);
    assert_int_equal(spawned, 0);
    assert_int_equal(result, PROKIO_EIO);
    assert_non_null(strstr(log, "worker 0"));
    assert_non_null(strstr(log, "the worker has stopped"));
    assert_int_equal(again, PROKIO_EIO);
    assert_non_null(strstr(again_msg, "stopped for good"));
    prokio_task_release(h);
    test_runtime_free(rt);
}

static void test_env_and_options(void **state)
{
    (void)state;
    /* PROKIO_BACKEND is used when the options name none... */
    setenv("PROKIO_BACKEND", fake("noentry"), 1);
    expect_refusal(NULL, PROKIO_EBACKEND, fake("noentry"), NULL);
    /* ...and the options win over it. */
    expect_refusal(fake("major2"), PROKIO_EABI, fake("major2"), NULL);
    unsetenv("PROKIO_BACKEND");
}

static bool has_real_backend(void)
{
    const char *names[] = {"event", "uv", NULL};
    for (int i = 0; names[i]; i++) {
        char p[1200];
        struct stat st;
        snprintf(p, sizeof p, "%s/prokio-%s.so", reals, names[i]);
        if (stat(p, &st) == 0)
            return true;
    }
    return false;
}

/* Automatic selection falls back when io_uring (here a fake named
 * prokio-uring.so that fails like a refusing kernel) does not start, and
 * PROKIO_DEBUG=backend says why. */
static void test_auto_fallback(void **state)
{
    (void)state;
    char link_path[512], path[2600];
    snprintf(link_path, sizeof link_path, "%s/prokio-uring.so", tmpdir);
    unlink(link_path);
    /* A backend that calls itself uring and fails to start as a kernel that
     * refuses io_uring makes it fail. */
    char impostor[1300];
    snprintf(impostor, sizeof impostor, "%s/../impostor/.libs/prokio-uring.so", fakes);
    assert_int_equal(symlink(impostor, link_path), 0);
    snprintf(path, sizeof path, "%s:%s", tmpdir, reals);
    setenv("PROKIO_BACKEND_PATH", path, 1);
    unsetenv("PROKIO_BACKEND");

    char log_path[512], log[8192];
    int saved = stderr_begin("stderr.txt", log_path, sizeof log_path);
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    int rc = prokio_runtime_new(&rt, &o);
    stderr_end(saved, log_path, log, sizeof log);
    print_message("# PROKIO_DEBUG=backend said:\n# %s\n", log);
    if (strstr(log, "skipping uring") == NULL || strstr(log, "EPERM") == NULL)
        fail_msg("debug output does not say why uring was skipped: %s", log);
    if (has_real_backend()) {
        assert_int_equal(rc, 0);
        assert_string_not_equal(prokio_runtime_backend_name(rt), "uring");
        test_runtime_free(rt);
    } else {
        assert_int_equal(rc, PROKIO_ENOBACKEND);
        assert_non_null(strstr(prokio_last_error(), "uring"));
    }
    unlink(link_path);
    setenv("PROKIO_BACKEND_PATH", reals, 1);
}

struct probe_seen {
    int count, loadable, refused;
};

static void on_report(const prokio_backend_report_t *r, void *arg)
{
    struct probe_seen *s = arg;
    s->count++;
    print_message("# %s %s status=%d %s\n", r->name, r->path, r->status, r->error ? r->error : "");
    assert_non_null(r->name);
    assert_non_null(r->path);
    if (r->status == 0) {
        s->loadable++;
        assert_int_equal(r->abi_version, PROKIO_BACKEND_ABI_VERSION);
    } else {
        s->refused++;
        assert_non_null(r->error);
        assert_non_null(strstr(r->error, r->path));
    }
}

static void test_probe_all(void **state)
{
    (void)state;
    setenv("PROKIO_BACKEND_PATH", fakes, 1);
    setenv("PROKIO_BACKEND_DIR", tmpdir, 1); /* nothing there */
    char dirs[4096];
    prokio_backend_dirs(dirs, sizeof dirs);
    assert_non_null(strstr(dirs, fakes));
    struct probe_seen s = {0};
    int n = prokio_backend_probe_all(on_report, &s);
    assert_int_equal(n, s.count);
    /* fakehost starts; the nine others are refused at load or at start. */
    assert_int_equal(s.count, 10);
    assert_int_equal(s.loadable, 1);
    assert_int_equal(s.refused, 9);
    setenv("PROKIO_BACKEND_PATH", reals, 1);
    setenv("PROKIO_BACKEND_DIR", reals, 1);
}

/* ------------------------------------------------ a host that cannot block */

static fakehost_run_fn fakehost_run;
static _Atomic int drops;

struct nap {
    int co;
    int order_slot;
    uint64_t ms, start, end;
    prokio_sleep_t sleep;
};

static _Atomic int finished_order[8], finished;

static int nap_poll(void *frame, prokio_cx_t *cx)
{
    struct nap *n = frame;
    PROKIO_BEGIN(&n->co);
    n->start = prokio_cx_now_ns(cx);
    prokio_sleep_init(&n->sleep, PROKIO_MS(n->ms));
    PROKIO_AWAIT(&n->co, prokio_sleep_poll(&n->sleep, cx));
    n->end = prokio_cx_now_ns(cx);
    finished_order[atomic_fetch_add(&finished, 1)] = n->order_slot;
    PROKIO_END(&n->co, 0);
}

struct yielder {
    int co, i;
};

static _Atomic int yielders_done;
enum { YIELDERS = 5000 };

static int yielder_poll(void *frame, prokio_cx_t *cx)
{
    struct yielder *y = frame;
    PROKIO_BEGIN(&y->co);
    for (y->i = 0; y->i < 3; y->i++)
        PROKIO_YIELD(&y->co, cx);
    atomic_fetch_add(&yielders_done, 1);
    PROKIO_END(&y->co, 0);
}

struct reader {
    int co, fd;
    prokio_fd_t *io;
    char got;
};

static int reader_poll(void *frame, prokio_cx_t *cx)
{
    struct reader *r = frame;
    PROKIO_BEGIN(&r->co);
    if (prokio_fd_new(&r->io, r->fd, cx) < 0)
        return PROKIO_EIO;
    for (;;) {
        PROKIO_AWAIT(&r->co, prokio_fd_ready_poll(r->io, PROKIO_READABLE, cx));
        if (read(r->fd, &r->got, 1) == 1)
            break;
        prokio_fd_clear_ready(r->io, PROKIO_READABLE);
    }
    prokio_fd_free(r->io);
    r->io = NULL;
    PROKIO_END(&r->co, 0);
}

struct forever {
    prokio_waker_t *waker;
};

static int forever_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return PROKIO_PENDING; /* until aborted or shut down */
}

static void count_drop(void *frame)
{
    (void)frame;
    atomic_fetch_add(&drops, 1);
}

static int yielders_all_done(void *arg)
{
    (void)arg;
    return atomic_load(&yielders_done) == YIELDERS;
}

static int all_done(void *arg)
{
    prokio_task_t **h = arg;
    for (; *h; h++)
        if (prokio_task_result(*h) == PROKIO_PENDING)
            return 0;
    return 1;
}

static void *write_later(void *arg)
{
    int fd = *(int *)arg;
    (void)!write(fd, "x", 1);
    return NULL;
}

static void test_nonblocking_host(void **state)
{
    (void)state;
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 4; /* a host that cannot block has exactly one worker */
    o.backend = fake("host");
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail_msg("%s: %s", prokio_err_name(rc), prokio_last_error());
    assert_string_equal(prokio_runtime_backend_name(rt), "fake-host");
    assert_int_equal(prokio_runtime_workers(rt), 1);
    void *dl = dlopen(fake("host"), RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    *(void **)&fakehost_run = dlsym(dl, "fakehost_run");
    assert_non_null(fakehost_run);

    /* This thread is the worker now: blocking calls are refused. */
    struct yielder y0 = {0};
    assert_int_equal(prokio_runtime_block_on(rt, yielder_poll, &y0, sizeof y0, NULL),
                     PROKIO_EDEADLK);

    /* Timers, in order and never early, driven by arm(deadline). */
    prokio_task_t *h[16] = {0};
    uint64_t ms[3] = {30, 10, 20};
    for (int i = 0; i < 3; i++) {
        struct nap n = {.ms = ms[i], .order_slot = i};
        assert_int_equal(prokio_spawn(&h[i], rt, nap_poll, &n, sizeof n, NULL), 0);
    }
    struct fakehost_stats st = {0};
    assert_int_equal(fakehost_run(all_done, h, &st), 0);
    assert_int_equal(finished_order[0], 1);
    assert_int_equal(finished_order[1], 2);
    assert_int_equal(finished_order[2], 0);
    for (int i = 0; i < 3; i++) {
        struct nap *n = prokio_task_frame(h[i]);
        assert_true(n->end >= n->start + PROKIO_MS(n->ms));
        prokio_task_release(h[i]);
        h[i] = NULL;
    }
    assert_true(st.timers >= 1);
    assert_true(st.microtasks >= 1);

    /* More work than one drive's budget: the core yields to the host with
     * arm(0) (a macrotask) instead of starving it. */
    for (int i = 0; i < YIELDERS; i++) {
        struct yielder y = {0};
        assert_int_equal(prokio_spawn(NULL, rt, yielder_poll, &y, sizeof y, NULL), 0);
    }
    memset(&st, 0, sizeof st);
    assert_int_equal(fakehost_run(yielders_all_done, NULL, &st), 0);
    print_message("# budget run: %lu microtasks, %lu macrotasks, %lu timers\n", st.microtasks,
                  st.macrotasks, st.timers);
    assert_true(st.macrotasks >= 1);

    /* Readiness reported from the host's own callbacks, with the data
     * written by another thread (a wake that crosses threads). */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct reader r = {.fd = sv[0]};
    assert_int_equal(prokio_spawn(&h[0], rt, reader_poll, &r, sizeof r, NULL), 0);
    pthread_t th;
    pthread_create(&th, NULL, write_later, &sv[1]);
    assert_int_equal(fakehost_run(all_done, h, &st), 0);
    pthread_join(th, NULL);
    assert_int_equal(prokio_task_result(h[0]), 0);
    assert_int_equal(((struct reader *)prokio_task_frame(h[0]))->got, 'x');
    /* The report led the core, which keeps the interest of this level-
     * triggered host narrow, to drop it; it did so after watch_ready had
     * returned, never from inside. */
    print_message("# readiness run: %lu narrowed, %lu calls from inside watch_ready\n", st.narrowed,
                  st.reentries);
    assert_true(st.narrowed >= 1);
    assert_int_equal(st.reentries, 0);
    prokio_task_release(h[0]);
    h[0] = NULL;
    close(sv[0]);
    close(sv[1]);

    /* Shutdown from the host's thread cancels what is left. */
    struct forever fv = {0};
    assert_int_equal(prokio_spawn(&h[0], rt, forever_poll, &fv, sizeof fv, count_drop), 0);
    assert_int_equal(fakehost_run(all_done, (prokio_task_t *[]){NULL}, &st), 0);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_int_equal(prokio_task_result(h[0]), PROKIO_ECANCELED);
    assert_int_equal(atomic_load(&drops), 1);
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY); /* h[0] still held */
    prokio_task_release(h[0]);
    test_runtime_free(rt);
    dlclose(dl);
}

int main(void)
{
    test_watchdog("test-loader", 60);
    /* Read once per process, so set before the first runtime. */
    setenv("PROKIO_DEBUG", "backend", 1);
    const char *top = getenv("top_builddir");
    if (top == NULL)
        top = ".";
    snprintf(fakes, sizeof fakes, "%s/tests/loader/.libs", top);
    snprintf(reals, sizeof reals, "%s/backends/.libs", top);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/prokio-test-loader-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    setenv("PROKIO_BACKEND_PATH", reals, 1);
    setenv("PROKIO_BACKEND_DIR", reals, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_name),        cmocka_unit_test(test_invalid_name),
        cmocka_unit_test(test_missing_file),        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_no_entry_symbol),     cmocka_unit_test(test_major_mismatch),
        cmocka_unit_test(test_newer_minor),         cmocka_unit_test(test_entry_refuses),
        cmocka_unit_test(test_broken_vtables),      cmocka_unit_test(test_init_failure_explicit),
        cmocka_unit_test(test_wait_fails_for_good), cmocka_unit_test(test_env_and_options),
        cmocka_unit_test(test_auto_fallback),       cmocka_unit_test(test_probe_all),
        cmocka_unit_test(test_nonblocking_host),
    };
    int rc = cmocka_run_group_tests_name("backend loader", tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    (void)!system(cmd);
    return rc;
}
