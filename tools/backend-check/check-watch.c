/* Checks: the life of watches: closing, reusing descriptors, descriptors
 * that cannot be watched, many watches at once. */
#include "backend-check.h"

#include <stdlib.h>
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
    char path[] = "/tmp/prokio-backend-check-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        struct tw w;
        int rc = tw_init(&L, &w, fd);
        if (rc == 0) {
            rc = tw_update(&w, PROKIO_BACKEND_READABLE);
            if (rc == 0)
                lp_wait(&L, 0);
            tw_close(&w);
        }
        diag("regular file: %s %d (%s)", rc == 0 ? "accepted," : "refused with", rc, err_name(rc));
        close(fd);
    }
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
