/* tests/regress/rdhup-old-core.c: a backend that answers a core of ABI 1.0
 * reports only what ABI 1.0 defines.
 *
 * The bug: PROKIO_BACKEND_RDHUP is an ABI 1.1 report bit, "only from a
 * backend with CAP_RDHUP" (backend.h). The uring backend answers a 1.0 core
 * with its 1.0 vtable (caps EDGE alone), but its loops still asked the
 * kernel for POLLRDHUP and reported RDHUP with READABLE after the peer's
 * half-close: a 1.0 core got a bit its ABI does not have (a core or host
 * that checks the mask, as prokio-backend-check's does, sees a violation).
 * The loop must decide from the capabilities it was given (*caps holds the
 * vtable's on entry to loop_init).
 *
 * This program is the 1.0 core: it loads the backend named by
 * PROKIO_BACKEND (tests/run-backend.sh) with a 1.0 host table, watches one
 * end of a socketpair for READABLE, and has the peer write and shut down
 * its side. Per backend (tests/run/regress~rdhup-old-core.*.test). */
#include <dlfcn.h>
#include <limits.h>
#include <sys/socket.h>
#include <time.h>

#include <prokio/backend.h>

#include "common.h"

#define ABI_1_0 ((uint32_t)PROKIO_BACKEND_ABI_MAJOR << 16 | 0)
#define EVENTS_1_0                                                                                 \
    (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE | PROKIO_BACKEND_ERROR |                    \
     PROKIO_BACKEND_HANGUP)

static unsigned reported; /* every event mask watch_ready was given, or-ed */
static unsigned reports;

static void *host_alloc(size_t size)
{
    return calloc(1, size);
}

static void host_free(void *p)
{
    free(p);
}

static void host_log(int level, const char *fmt, ...)
{
    (void)level, (void)fmt;
}

static uint64_t host_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void host_watch_ready(prokio_backend_host_loop_t *host_loop, prokio_backend_watch_t *watch,
                             unsigned events)
{
    (void)host_loop, (void)watch;
    reported |= events;
    reports++;
}

static int host_drive(prokio_backend_host_loop_t *host_loop)
{
    (void)host_loop;
    return 0;
}

/* The backend's file: PROKIO_BACKEND is a path, or a name looked up in
 * PROKIO_BACKEND_PATH (make check sets both). */
static const char *backend_file(char *buf, size_t cap)
{
    const char *b = getenv("PROKIO_BACKEND");
    const char *dir = getenv("PROKIO_BACKEND_PATH");
    if (b == NULL)
        return NULL;
    if (strchr(b, '/'))
        return b;
    if (dir == NULL)
        return NULL;
    snprintf(buf, cap, "%s/prokio-%s.so", dir, b);
    return buf;
}

static void test_no_rdhup_for_a_1_0_core(void **state)
{
    (void)state;
    char path[PATH_MAX];
    const char *file = backend_file(path, sizeof path);
    if (file == NULL)
        fail_msg("PROKIO_BACKEND (and PROKIO_BACKEND_PATH) must name the backend to load");
    void *dl = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL)
        fail_msg("dlopen %s: %s", file, dlerror());
    prokio_backend_entry_fn entry;
    *(void **)&entry = dlsym(dl, PROKIO_BACKEND_ENTRY_SYMBOL);
    assert_non_null(entry);

    prokio_backend_host_t host = {
        .size = PROKIO_BACKEND_HOST_SIZE_1_0,
        .abi_version = ABI_1_0,
        .alloc = host_alloc,
        .free = host_free,
        .log = host_log,
        .monotonic_ns = host_now,
        .watch_ready = host_watch_ready,
        .drive = host_drive,
    };
    const prokio_backend_vtable_t *vt = NULL;
    assert_int_equal(entry(&host, ABI_1_0, &vt), 0);
    char why[256] = "";
    if (prokio_backend_vtable_check(vt, ABI_1_0, why, sizeof why) != 0)
        fail_msg("the vtable for a 1.0 core is refused: %s", why);

    void *loop = aligned_alloc(16, (vt->loop_size + 15) & ~(size_t)15);
    void *watch = aligned_alloc(16, (vt->watch_size + 15) & ~(size_t)15);
    assert_non_null(loop);
    assert_non_null(watch);
    memset(loop, 0, vt->loop_size);
    memset(watch, 0, vt->watch_size);
    prokio_backend_loop_config_t config = {.size = sizeof config, .worker_count = 1};
    uint64_t caps = vt->caps;
    int host_loop; /* any address: this host keeps no state per loop */
    assert_int_equal(vt->loop_init(loop, (prokio_backend_host_loop_t *)&host_loop, &config, &caps),
                     0);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(vt->watch_init(loop, watch, sv[0]), 0);
    assert_int_equal(vt->watch_update(loop, watch, PROKIO_BACKEND_READABLE), 0);
    assert_int_equal(write(sv[1], "abc", 3), 3);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);

    /* A few waits: the report of the bytes and the half-close, and any that
     * follow (a level-triggered loop repeats it). */
    uint64_t end = host_now() + 2000000000u * test_timeout_scale();
    for (int i = 0; i < 5 && host_now() < end; i++) {
        int rc = vt->wait(loop, vt->now_ns(loop) + 50000000u);
        assert_true(rc >= 0);
    }
    vt->watch_close(loop, watch);
    vt->loop_fini(loop);
    free(watch);
    free(loop);
    close(sv[0]);
    close(sv[1]);
    char name[PROKIO_BACKEND_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", vt->name);
    dlclose(dl); /* vt is gone with it */

    assert_true(reports > 0);
    if (reported & ~(unsigned)EVENTS_1_0)
        fail_msg("backend %s, answering a core of ABI 1.0 (caps %#llx), reported event bits "
                 "%#x that ABI 1.0 does not define (0x10 is RDHUP, ABI 1.1 with CAP_RDHUP)",
                 name, (unsigned long long)caps, reported & ~(unsigned)EVENTS_1_0);
}

int main(void)
{
    test_watchdog("rdhup-old-core", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_rdhup_for_a_1_0_core),
    };
    return cmocka_run_group_tests_name("a 1.0 core gets only 1.0 reports", tests, NULL, NULL);
}
