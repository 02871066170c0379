/* tests/regress/file-readiness.c: the uring backend spun on a regular file.
 *
 * The uring backend accepted a regular file (or a directory) for readiness.
 * Such a file has no poll method, so the kernel completes an io_uring poll on
 * it at once, without IORING_CQE_F_MORE even when it was multishot, and the
 * backend re-armed it at every flush: the worker ran at 100% CPU for as long
 * as the registration existed. epoll refuses these files with EPERM, and
 * backend.h asks every backend to answer PROKIO_EPERM for "a descriptor the
 * mechanism cannot watch", as the event and uv backends did.
 *
 * What epoll refuses is exactly the files whose driver has no poll method,
 * which is not a file type: regular files, directories, block devices and
 * /dev/null are refused, while some regular files of /proc (mounts) and
 * character devices such as terminals can be watched. So the test registers
 * each from a task, as an application would, and waits for readability on
 * what was accepted: the refused ones must get PROKIO_EPERM on every
 * backend, /proc/self/mounts must be accepted, the worker must stay idle
 * while the task sleeps, and nothing may be printed (libevent prints the
 * epoll_ctl failures it meets).
 *
 * Runs once per backend (tests/run/regress~file-readiness.BACKEND.test). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "common.h"

#define NAP_MS 300

struct probe {
    const char *what;
    int fd;
    int expect; /* 0, or the code prokio_fd_new must return */
    int rc;
    prokio_fd_t *io;
};

struct frame {
    int co;
    int n;
    struct probe p[6];
    prokio_sleep_t nap;
    uint64_t cpu_ns, wall_ns;
};

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int register_and_nap(void *frame, prokio_cx_t *cx)
{
    struct frame *f = frame;
    PROKIO_BEGIN(&f->co);
    for (int i = 0; i < f->n; i++) {
        struct probe *p = &f->p[i];
        p->rc = prokio_fd_new(&p->io, p->fd, cx);
        /* A reader waits for readability: this is what arms the backend. */
        if (p->rc == 0)
            (void)prokio_fd_ready_poll(p->io, PROKIO_READABLE, cx);
    }
    /* The whole process is this worker and a main thread blocked in
     * prokio_runtime_block_on: its CPU time over the nap is the worker's. */
    f->cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    f->wall_ns = clock_ns(CLOCK_MONOTONIC);
    prokio_sleep_init(&f->nap, PROKIO_MS(NAP_MS));
    PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->nap, cx));
    f->cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - f->cpu_ns;
    f->wall_ns = clock_ns(CLOCK_MONOTONIC) - f->wall_ns;
    for (int i = 0; i < f->n; i++)
        if (f->p[i].io)
            prokio_fd_free(f->p[i].io);
    PROKIO_END(&f->co, 0);
}

static void add(struct frame *f, const char *what, int fd, int expect)
{
    if (fd < 0) {
        printf("# %s: cannot open it here, not tried\n", what);
        return;
    }
    f->p[f->n++] = (struct probe){.what = what, .fd = fd, .expect = expect};
}

/* The first block device of /dev that opens, or -1. */
static int open_block_device(char *name, size_t cap)
{
    DIR *d = opendir("/dev");
    struct dirent *e;
    int fd = -1;
    while (d && fd < 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(name, cap, "/dev/%s", e->d_name);
        if (stat(name, &st) == 0 && S_ISBLK(st.st_mode))
            fd = open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    }
    if (d)
        closedir(d);
    return fd;
}

static void test_files(void **state)
{
    (void)state;
    struct frame f = {0};
    char tmp[] = "/tmp/prokio-file-readiness-XXXXXX";
    int file = mkstemp(tmp);
    assert_true(file >= 0);
    unlink(tmp);
    char blk[300];
    add(&f, "a regular file", file, PROKIO_EPERM);
    add(&f, "a directory", open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC), PROKIO_EPERM);
    add(&f, "/dev/null", open("/dev/null", O_RDONLY | O_NONBLOCK | O_CLOEXEC), PROKIO_EPERM);
    int fd = open_block_device(blk, sizeof blk);
    add(&f, fd >= 0 ? blk : "a block device", fd, PROKIO_EPERM);
    add(&f, "/proc/self/mounts (it has a poll method)",
        open("/proc/self/mounts", O_RDONLY | O_NONBLOCK | O_CLOEXEC), 0);

    /* Whatever the backend or its library writes on stderr lands here. */
    char log_path[] = "/tmp/prokio-file-readiness-log-XXXXXX";
    int log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    unlink(log_path);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0 && dup2(log_fd, 2) == 2);

    prokio_runtime_t *rt = test_runtime(1);
    int rc = prokio_runtime_block_on(rt, register_and_nap, &f, sizeof f, NULL);
    test_runtime_free(rt);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char printed[2048];
    ssize_t n = pread(log_fd, printed, sizeof printed - 1, 0);
    printed[n > 0 ? n : 0] = '\0';
    close(log_fd);

    assert_int_equal(rc, 0);
    bool wrong = false;
    for (int i = 0; i < f.n; i++) {
        struct probe *p = &f.p[i];
        printf("# %s: %s\n", p->what, p->rc == 0 ? "accepted" : prokio_err_name(p->rc));
        wrong |= p->rc != p->expect;
        close(p->fd);
    }
    printf("# %llu ms of CPU in %llu ms of waiting\n", (unsigned long long)f.cpu_ns / 1000000,
           (unsigned long long)f.wall_ns / 1000000);
    if (wrong)
        fail_msg("a descriptor was not answered as epoll answers it (see above)");
    if (f.cpu_ns > f.wall_ns / 4)
        fail_msg("the worker was busy while its only task slept: something spins");
    if (printed[0] != '\0')
        fail_msg("something printed on its own: %s", printed);
}

int main(void)
{
    test_watchdog("file-readiness", 60);
    unsetenv("PROKIO_DEBUG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests_name("readiness of files that cannot be polled", tests, NULL,
                                       NULL);
}
