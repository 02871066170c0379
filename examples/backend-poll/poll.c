/* examples/backend-poll/poll.c: a Prokio backend on poll(2) (prokio-poll.so).
 *
 * An example third-party backend: it is built outside Prokio's build, against
 * an installed <prokio/backend.h> alone, by the Makefile next to it;
 * backends/README.md walks through building, installing and checking it.
 * It is also a complete backend, as small as one can be: poll(2) has no
 * state in the kernel, so the backend keeps the whole interest set itself.
 *
 * Each loop owns one pollfd array: slot 0 is an eventfd that wake() writes,
 * slot i + 1 belongs to the i-th open watch. Watches stay dense (closing one
 * moves the last into its slot), so wait() hands the array to ppoll as it
 * is, and a watch with no interest has fd -1, which poll skips. The arrays
 * grow only in watch_init: nothing is allocated on the wait or wake path.
 * poll is level-triggered, so the backend does not offer CAP_EDGE.
 *
 * Linux: eventfd, and ppoll for nanosecond timeouts (poll's are in
 * milliseconds). On another system a pipe and poll would do.
 */
#define _GNU_SOURCE /* ppoll, before any system header */
#include <prokio/backend.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S UINT64_C(1000000000)
/* Longer waits are cut into days: no kernel arithmetic ever sees a deadline
 * near overflow. */
#define MAX_TIMEOUT_NS (UINT64_C(86400) * NS_PER_S)
#define FIRST_CAPACITY 16

struct watch {
    size_t index; /* in loop->watches; its pollfd is loop->fds[index + 1] */
    int fd;
};

struct loop {
    prokio_backend_host_loop_t *host_loop;
    struct pollfd *fds;     /* cap + 1 entries: the wake eventfd, then the watches */
    struct watch **watches; /* cap entries, count in use */
    size_t count, cap;
    int wake_fd;
    atomic_int wake_pending; /* set by the wake() that writes wake_fd, cleared after reading */
};

/* Written once by the entry, before any loop exists; read-only afterwards. */
static const prokio_backend_host_t *host;

/* Replaces both arrays with ones of room for cap watches. */
static int resize(struct loop *l, size_t cap)
{
    struct pollfd *fds = host->alloc((cap + 1) * sizeof *fds);
    struct watch **watches = host->alloc(cap * sizeof *watches);
    if (!fds || !watches) {
        if (fds)
            host->free(fds);
        if (watches)
            host->free(watches);
        return PROKIO_ENOMEM;
    }
    if (l->fds) {
        memcpy(fds, l->fds, (l->count + 1) * sizeof *fds);
        memcpy(watches, l->watches, l->count * sizeof *watches);
        host->free(l->fds);
        host->free(l->watches);
    }
    l->fds = fds;
    l->watches = watches;
    l->cap = cap;
    return 0;
}

static int loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    struct loop *l = (struct loop *)loop;
    (void)config;
    (void)caps;
    l->host_loop = host_loop;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0)
        return -errno;
    int rc = resize(l, FIRST_CAPACITY);
    if (rc < 0) {
        close(l->wake_fd);
        return rc;
    }
    l->fds[0] = (struct pollfd){.fd = l->wake_fd, .events = POLLIN};
    return 0;
}

static void loop_fini(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    close(l->wake_fd);
    host->free(l->fds);
    host->free(l->watches);
}

static uint64_t now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static unsigned events_of(short revents)
{
    /* POLLNVAL (a descriptor closed under its watch) is an error too: the
     * core's next system call on it says which. */
    return (revents & POLLIN ? PROKIO_BACKEND_READABLE : 0) |
           (revents & POLLOUT ? PROKIO_BACKEND_WRITABLE : 0) |
           (revents & (POLLERR | POLLNVAL) ? PROKIO_BACKEND_ERROR : 0) |
           (revents & POLLHUP ? PROKIO_BACKEND_HANGUP : 0);
}

static int loop_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    struct loop *l = (struct loop *)loop;
    for (;;) {
        uint64_t now = host->monotonic_ns();
        bool due = deadline_ns <= now; /* poll once without blocking */
        struct timespec ts = {0, 0}, *timeout = &ts;
        if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER) {
            timeout = NULL;
        } else if (!due) {
            uint64_t ns = deadline_ns - now;
            if (ns > MAX_TIMEOUT_NS)
                ns = MAX_TIMEOUT_NS;
            ts.tv_sec = (time_t)(ns / NS_PER_S);
            ts.tv_nsec = (long)(ns % NS_PER_S);
        }
        int ready = ppoll(l->fds, (nfds_t)l->count + 1, timeout, NULL);
        if (ready < 0) {
            if (errno == EINTR)
                continue; /* a signal: wait again, for what is left */
            return -errno;
        }
        bool woken = false;
        int reports = 0;
        if (l->fds[0].revents) {
            uint64_t count;
            /* Read, then clear the flag. A wake() in between finds the flag
             * still set and writes nothing, which is right: this wait is
             * returning anyway. The other order could swallow that wake()'s
             * write while its flag stays set, and every later wake() would
             * skip its write: a wakeup lost for good. */
            while (read(l->wake_fd, &count, sizeof count) < 0 && errno == EINTR) {
            }
            atomic_store(&l->wake_pending, 0);
            woken = true;
            ready--;
        }
        /* host->watch_ready never calls back into the backend, so the
         * arrays cannot change under this loop. */
        for (size_t i = 0; ready > 0 && i < l->count; i++) {
            short revents = l->fds[i + 1].revents;
            if (!revents)
                continue;
            ready--;
            reports++;
            host->watch_ready(l->host_loop, (prokio_backend_watch_t *)l->watches[i],
                              events_of(revents));
        }
        if (reports > 0 || woken || due)
            return reports;
        /* Timed out: done unless the deadline is still ahead (it is not
         * supposed to be, but never return before it). */
        if (deadline_ns != PROKIO_BACKEND_DEADLINE_NEVER && host->monotonic_ns() >= deadline_ns)
            return 0;
    }
}

static void loop_wake(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    /* One write per batch of wakes: the loop clears the flag when it reads. */
    if (atomic_exchange(&l->wake_pending, 1) == 0) {
        uint64_t one = 1;
        while (write(l->wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

static int watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    struct loop *l = (struct loop *)loop;
    struct watch *w = (struct watch *)watch;
    /* poll would take a closed descriptor and report POLLNVAL for ever, and
     * report a regular file, a directory or a block device ready on every
     * wait, which would spin the worker: refuse them here, as epoll does
     * (backend.h, watch_init). */
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))
        return PROKIO_EPERM;
    if (l->count == l->cap) {
        int rc = resize(l, 2 * l->cap);
        if (rc < 0)
            return rc;
    }
    w->fd = fd;
    w->index = l->count;
    l->watches[w->index] = w;
    l->fds[w->index + 1] = (struct pollfd){.fd = -1};
    l->count++;
    return 0;
}

static int watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, unsigned events)
{
    struct loop *l = (struct loop *)loop;
    struct watch *w = (struct watch *)watch;
    struct pollfd *p = &l->fds[w->index + 1];
    p->events = (short)((events & PROKIO_BACKEND_READABLE ? POLLIN : 0) |
                        (events & PROKIO_BACKEND_WRITABLE ? POLLOUT : 0));
    /* With no interest, fd -1: poll would still report POLLHUP and POLLERR
     * for the real descriptor, and the contract says report nothing. */
    p->fd = p->events ? w->fd : -1;
    return 0;
}

static void watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct loop *l = (struct loop *)loop;
    struct watch *w = (struct watch *)watch;
    /* The last watch moves into the hole; from now on nothing points to w,
     * whose memory the core may free at once. */
    size_t last = --l->count;
    if (w->index != last) {
        struct watch *moved = l->watches[last];
        moved->index = w->index;
        l->watches[w->index] = moved;
        l->fds[w->index + 1] = l->fds[last + 1];
    }
}

/* Readiness only, nothing of ABI 1.1 (native operations): declared as ABI
 * 1.0, so that every 1.x core loads it and emulates the I/O operations. */
static const prokio_backend_vtable_t vtable = {
    .size = PROKIO_BACKEND_VTABLE_SIZE_1_0,
    .abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0,
    .name = "poll", /* so the file is prokio-poll.so */
    .version = "1.0 (poll(2), example)",
    .caps = 0, /* level-triggered */
    .loop_size = sizeof(struct loop),
    .watch_size = sizeof(struct watch),
    .loop_init = loop_init,
    .loop_fini = loop_fini,
    .now_ns = now_ns,
    .wait = loop_wait,
    .wake = loop_wake,
    .watch_init = watch_init,
    .watch_update = watch_update,
    .watch_close = watch_close,
};

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(poll)(const prokio_backend_host_t *h,
                                                     uint32_t core_abi,
                                                     const prokio_backend_vtable_t **out)
{
    int rc = prokio_backend_check_core(h, core_abi, "poll");
    if (rc < 0)
        return rc;
    host = h;
    *out = &vtable;
    return 0;
}
