/* Checks: the life of watches: closing, reusing descriptors, descriptors
 * that cannot be watched, many watches at once. */
#include "backend-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void check_close_then_reuse(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    char b[64];
    int sv[2], old0;
    struct tw w, never, off;
    if (!make_pair(sv))
        goto out;
    old0 = sv[0];
    if (tw_init(&L, &w, sv[0]) != 0 || tw_update(&w, PROKIO_BACKEND_READABLE) != 0) {
        fail("could not set up a watch");
        goto out;
    }
    put(sv[1], "pending");
    /* A duplicate keeps the open file alive after close(fd), as a forked
     * child or a dup() elsewhere in the program would: a backend that did not
     * really stop watching would go on reporting it. */
    int dupfd = dup(sv[0]);
    tw_close(&w);
    close_fd(&sv[0]);
    unsigned rep = quiet(&L, 20);
    put(sv[1], "more");
    rep += quiet(&L, 20);
    EXPECT(rep == 0, "watch_close then close(fd) with data pending: %u reports followed", rep);
    close_fd(&dupfd);
    close_fd(&sv[1]);

    /* The same descriptor number again, with a new watch at a new address:
     * stale state of the old one must not show through. */
    if (!make_pair(sv))
        goto out;
    if (sv[0] != old0 && sv[1] != old0)
        diag("note: the descriptor number was not reused (%d, then %d/%d)", old0, sv[0], sv[1]);
    if (sv[1] == old0) {
        int t = sv[0];
        sv[0] = sv[1];
        sv[1] = t;
    }
    if (tw_init(&L, &w, sv[0]) != 0 || tw_update(&w, PROKIO_BACKEND_READABLE) != 0) {
        fail("could not set up a watch on the reused descriptor");
        goto out;
    }
    rep = quiet(&L, 20);
    EXPECT(rep == 0, "reused descriptor, nothing to read: expected no report, got %s",
           ev_str(w.got, b));
    put(sv[1], "new");
    EXPECT(wait_for(&w, PROKIO_BACKEND_READABLE, 2000),
           "reused descriptor: READABLE not reported within 2 s");
    tw_close(&w);

    /* Closing watches that never had interest, or have none now. */
    if (tw_init(&L, &never, sv[0]) == 0)
        tw_close(&never);
    else
        fail("a second watch_init on a descriptor after watch_close failed");
    if (tw_init(&L, &off, sv[0]) == 0) {
        tw_update(&off, PROKIO_BACKEND_READABLE);
        tw_update(&off, 0);
        tw_close(&off);
    }
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    rep = quiet(&L, 20);
    EXPECT(rep == 0, "after closing every watch: %u reports", rep);
out:
    lp_close(&L);
}

#define PENDING_N 64

void check_close_pending(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    static int sv[PENDING_N][2];
    static struct tw w[PENDING_N];
    int n = 0;
    for (; n < PENDING_N; n++) {
        if (!make_pair(sv[n]))
            break;
        if (tw_init(&L, &w[n], sv[n][0]) != 0 ||
            tw_update(&w[n], PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE) != 0) {
            fail("could not set up watch %d", n);
            close_fd(&sv[n][0]);
            close_fd(&sv[n][1]);
            break;
        }
        put(sv[n][1], "p");
    }
    /* One wait(0) may deliver some of the events; then close every watch,
     * delivered or not, and its descriptors, and wait again. */
    lp_wait(&L, 0);
    unsigned delivered = 0;
    for (int i = 0; i < n; i++) {
        delivered += w[i].nreports > 0;
        tw_close(&w[i]);
        close_fd(&sv[i][0]);
        close_fd(&sv[i][1]);
    }
    diag("%u of %d ready watches reported by one wait(0) before all were closed", delivered, n);
    unsigned rep = quiet(&L, 20);
    rep += quiet(&L, 20);
    EXPECT(rep == 0, "closed watches with undelivered events: %u reports followed", rep);
    lp_close(&L);
}

void check_bad_descriptors(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    int sv[2];
    if (make_pair(sv)) {
        int fd = sv[0];
        close_fd(&sv[0]);
        close_fd(&sv[1]);
        struct tw w;
        int rc = tw_init(&L, &w, fd);
        if (rc < 0) {
            diag("watch_init(closed fd) = %d (%s)", rc, err_name(rc));
        } else {
            rc = tw_update(&w, PROKIO_BACKEND_READABLE);
            if (rc < 0)
                diag("watch_update(closed fd) = %d (%s)", rc, err_name(rc));
            else
                EXPECT(wait_for(&w, PROKIO_BACKEND_ERROR | PROKIO_BACKEND_HANGUP, 200),
                       "a closed descriptor was accepted by watch_init and watch_update and "
                       "never reported as ERROR");
            tw_close(&w);
        }
    }
    lp_close(&L);
}

/* The loop thread's CPU time: how a wait that spins inside the backend,
 * never returning, shows. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A regular file or a directory is always "ready": epoll refuses to watch
 * one (EPERM), and a mechanism that polls it anyway reports it on every
 * wait, and the loop never sleeps again. The contract has the backend
 * refuse it with PROKIO_EPERM, at watch_init or at the first watch_update.
 * Whatever it answers, the waits that follow must sleep to their deadline
 * without reporting it. */
static void unwatchable(struct lp *L, const char *what, int fd)
{
    struct tw w;
    const char *where = "watch_init";
    int rc = tw_init(L, &w, fd);
    if (rc == 0) {
        where = "the first watch_update(READABLE | WRITABLE)";
        rc = tw_update(&w, PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE);
    }
    if (rc == PROKIO_EPERM)
        diag("%s: refused by %s with PROKIO_EPERM", what, where);
    else if (rc < 0)
        fail("%s: %s returned %d (%s): expected PROKIO_EPERM", what, where, rc, err_name(rc));
    else
        fail("%s: accepted by watch_init and watch_update(READABLE | WRITABLE): expected "
             "PROKIO_EPERM from one of them, as epoll refuses it",
             what);
    uint64_t cpu = thread_cpu_ns(), t0 = mono_ns();
    unsigned rep = quiet(L, 50);
    cpu = thread_cpu_ns() - cpu;
    uint64_t wall = mono_ns() - t0;
    char b[64];
    EXPECT(rep == 0, "%s: %u reports (%s) during 50 ms of waits", what, rep, ev_str(w.got, b));
    EXPECT(cpu < wall / 4,
           "%s: the loop thread was busy %.1f ms of the %.1f ms it waited: wait() does not "
           "sleep",
           what, ns_to_ms((int64_t)cpu), ns_to_ms((int64_t)wall));
    tw_close(&w);
}

void check_unwatchable(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    char dir[] = "/tmp/prokio-backend-check-XXXXXX", file[64];
    if (!mkdtemp(dir)) {
        fail("mkdtemp: %s", strerror(errno));
        goto out;
    }
    snprintf(file, sizeof file, "%s/file", dir);
    int ffd = open(file, O_RDWR | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC);
    if (ffd < 0 || dfd < 0) {
        fail("open %s: %s", ffd < 0 ? file : dir, strerror(errno));
    } else {
        put(ffd, "data to read");
        unwatchable(&L, "a regular file", ffd);
        unwatchable(&L, "a directory", dfd);
    }
    close_fd(&ffd);
    close_fd(&dfd);
    unlink(file);
    rmdir(dir);
out:
    lp_close(&L);
}

#define MANY_N 200

void check_many_watches(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    static int sv[MANY_N][2];
    static struct tw w[MANY_N];
    int n = 0;
    for (; n < MANY_N; n++) {
        if (!make_pair(sv[n]))
            break;
        if (tw_init(&L, &w[n], sv[n][0]) != 0) {
            fail("watch_init failed for watch %d", n);
            close_fd(&sv[n][0]);
            close_fd(&sv[n][1]);
            break;
        }
        /* Half get interest before their data arrives, half after. */
        int rc = n % 2 == 0 ? tw_update(&w[n], PROKIO_BACKEND_READABLE) : 0;
        put(sv[n][1], "m");
        if (n % 2 == 1)
            rc = tw_update(&w[n], PROKIO_BACKEND_READABLE);
        EXPECT(rc == 0, "watch_update(READABLE) of watch %d: expected 0, got %d (%s)", n, rc,
               err_name(rc));
    }
    uint64_t deadline = deadline_in(&L, 5000 * g_scale);
    unsigned waits = 0;
    int seen = 0;
    while (lp_now(&L) < deadline) {
        lp_wait(&L, deadline);
        waits++;
        seen = 0;
        for (int i = 0; i < n; i++)
            seen += (w[i].got & PROKIO_BACKEND_READABLE) != 0;
        if (seen == n)
            break;
    }
    EXPECT(n == MANY_N, "could only set up %d of %d watches", n, MANY_N);
    EXPECT(seen == n, "%d of %d readable watches reported within 5 s", seen, n);
    diag("%d readable watches reported in %u waits", seen, waits);
    for (int i = 0; i < n; i++) {
        tw_close(&w[i]);
        close_fd(&sv[i][0]);
        close_fd(&sv[i][1]);
    }
    lp_close(&L);
}
