/* tests/loader/fake-host.c: a backend for a host that cannot block
 * (CAP_NONBLOCKING_HOST), the shape the browser backend will have, with the
 * host's event loop played by fakehost_run(). It exercises the inverted
 * control flow of prokio/backend.h: wake asks for a drive "in a microtask",
 * arm(0) for one "in a macrotask", arm(deadline) for a timer, and readiness
 * is reported from the host's own callbacks.
 *
 * A test fake: it keeps the one loop in a global, so one runtime at a time. */
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <prokio/backend.h>

#include "fake-host.h"

struct fh_watch {
    struct fh_watch *next, *prev;
    int fd;
    unsigned events;
};

struct fh_loop {
    prokio_backend_host_loop_t *host_loop;
    int wake_fd;           /* wakes from other threads interrupt poll() */
    _Atomic int microtask; /* a drive was asked for by wake() */
    uint64_t deadline;     /* the last arm() */
    struct fh_watch *watches;
};

static const prokio_backend_host_t *host;
static struct fh_loop *current;
static struct fakehost_stats *stats_now; /* of the fakehost_run in progress */
static bool dispatching;                 /* inside host->watch_ready */

/* A call into the backend from inside host->watch_ready, which backend.h
 * promises the core never makes (a backend holding its own lock there
 * would deadlock). */
static void note_reentry(void)
{
    if (dispatching && stats_now)
        stats_now->reentries++;
}

static int fh_loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                        const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    (void)config, (void)caps;
    struct fh_loop *l = (struct fh_loop *)loop;
    l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->wake_fd < 0)
        return PROKIO_EMFILE;
    l->host_loop = host_loop;
    l->deadline = PROKIO_BACKEND_DEADLINE_NEVER;
    current = l;
    return 0;
}

static void fh_loop_fini(prokio_backend_loop_t *loop)
{
    struct fh_loop *l = (struct fh_loop *)loop;
    close(l->wake_fd);
    if (current == l)
        current = NULL;
}

static uint64_t fh_now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static void fh_wake(prokio_backend_loop_t *loop)
{
    struct fh_loop *l = (struct fh_loop *)loop;
    note_reentry();
    if (!atomic_exchange(&l->microtask, 1)) {
        uint64_t one = 1;
        (void)!write(l->wake_fd, &one, sizeof one);
    }
}

static int fh_arm(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    ((struct fh_loop *)loop)->deadline = deadline_ns;
    return 0;
}

static int fh_watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    struct fh_loop *l = (struct fh_loop *)loop;
    struct fh_watch *w = (struct fh_watch *)watch;
    w->fd = fd;
    w->next = l->watches;
    if (l->watches)
        l->watches->prev = w;
    l->watches = w;
    return 0;
}

static int fh_watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch,
                           unsigned events)
{
    (void)loop;
    note_reentry();
    if (events == 0 && stats_now)
        stats_now->narrowed++;
    ((struct fh_watch *)watch)->events = events;
    return 0;
}

static void fh_watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct fh_loop *l = (struct fh_loop *)loop;
    struct fh_watch *w = (struct fh_watch *)watch;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
}

static const prokio_backend_vtable_t fh_vtable = {
    .size = sizeof(prokio_backend_vtable_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
    .name = "fake-host",
    .version = "1.0 (test fake of a host that cannot block)",
    .caps = PROKIO_BACKEND_CAP_NONBLOCKING_HOST,
    .loop_size = sizeof(struct fh_loop),
    .watch_size = sizeof(struct fh_watch),
    .loop_init = fh_loop_init,
    .loop_fini = fh_loop_fini,
    .now_ns = fh_now_ns,
    .wake = fh_wake,
    .arm = fh_arm,
    .watch_init = fh_watch_init,
    .watch_update = fh_watch_update,
    .watch_close = fh_watch_close,
};

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(fakehost)(const prokio_backend_host_t *h,
                                                         uint32_t core_abi,
                                                         const prokio_backend_vtable_t **vtable)
{
    int rc = prokio_backend_check_core(h, core_abi, "fake-host");
    if (rc < 0)
        return rc;
    host = h;
    *vtable = &fh_vtable;
    return 0;
}

/* The host's event loop: what node or the browser would do between JS
 * callbacks. Exported for the test. */
PROKIO_BACKEND_EXPORT int fakehost_run(int (*done)(void *), void *arg,
                                       struct fakehost_stats *stats);

static int run(struct fh_loop *l, int (*done)(void *), void *arg, struct fakehost_stats *stats);

int fakehost_run(int (*done)(void *), void *arg, struct fakehost_stats *stats)
{
    struct fh_loop *l = current;
    if (l == NULL)
        return PROKIO_EINVAL;
    stats_now = stats;
    int rc = run(l, done, arg, stats);
    stats_now = NULL;
    return rc;
}

static int run(struct fh_loop *l, int (*done)(void *), void *arg, struct fakehost_stats *stats)
{
    while (!done(arg)) {
        if (atomic_exchange(&l->microtask, 0)) {
            stats->microtasks++;
            if (host->drive(l->host_loop) < 0)
                return PROKIO_ESHUTDOWN;
            continue;
        }
        if (l->deadline == 0) {
            /* A macrotask: the host's own events (poll below, without
             * blocking) get their turn before the next drive. */
            stats->macrotasks++;
        }
        struct pollfd pfd[64];
        struct fh_watch *ws[64];
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
        for (struct fh_watch *w = l->watches; w && n < 64; w = w->next) {
            if (!w->events)
                continue;
            ws[n] = w;
            pfd[n++] = (struct pollfd){
                .fd = w->fd,
                .events = (short)(((w->events & PROKIO_BACKEND_READABLE) ? POLLIN : 0) |
                                  ((w->events & PROKIO_BACKEND_WRITABLE) ? POLLOUT : 0)),
            };
        }
        int timeout_ms = 50; /* re-check done() now and then */
        uint64_t now = host->monotonic_ns();
        if (l->deadline == 0)
            timeout_ms = 0;
        else if (l->deadline != PROKIO_BACKEND_DEADLINE_NEVER)
            timeout_ms = l->deadline <= now ? 0 : (int)((l->deadline - now + 999999) / 1000000);
        if (timeout_ms > 50)
            timeout_ms = 50;
        if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
            continue;
        if (pfd[0].revents) {
            uint64_t v;
            (void)!read(l->wake_fd, &v, sizeof v);
        }
        bool any = false;
        for (int i = 1; i < n; i++) {
            if (!pfd[i].revents)
                continue;
            unsigned ev = ((pfd[i].revents & POLLIN) ? PROKIO_BACKEND_READABLE : 0) |
                          ((pfd[i].revents & POLLOUT) ? PROKIO_BACKEND_WRITABLE : 0) |
                          ((pfd[i].revents & (POLLERR | POLLNVAL)) ? PROKIO_BACKEND_ERROR : 0) |
                          ((pfd[i].revents & POLLHUP) ? PROKIO_BACKEND_HANGUP : 0);
            dispatching = true;
            host->watch_ready(l->host_loop, (prokio_backend_watch_t *)ws[i], ev);
            dispatching = false;
            any = true;
        }
        now = host->monotonic_ns();
        bool timer =
            l->deadline != PROKIO_BACKEND_DEADLINE_NEVER && l->deadline != 0 && now >= l->deadline;
        if (timer)
            stats->timers++;
        if (any || timer || l->deadline == 0) {
            if (host->drive(l->host_loop) < 0)
                return PROKIO_ESHUTDOWN;
        }
    }
    return 0;
}
