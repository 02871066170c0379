/* backends/event/event.c: the libevent 2.1 backend (prokio-event.so).
 *
 * One event_base per loop, level-triggered watches (see loop_init for why
 * not EV_ET), and a private eventfd for wake(): libevent's
 * own cross-thread machinery (evthread locking, event_active from another
 * thread) would put a lock on every event operation of every loop, and the
 * core already guarantees that only wake() crosses threads. An epoll
 * instance of the loop's own answers watch_init (see there).
 *
 * Memory: the event_base is libevent's (allocated at loop_init, freed at
 * loop_fini); everything else lives in the memory the core gives us, with the
 * size of struct event read at run time (event_get_struct_event_size()), so a
 * libevent of another build never overflows it.
 */
#include <prokio/backend.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>

#define NS_PER_US UINT64_C(1000)
#define NS_PER_S  UINT64_C(1000000000)
/* Longer waits are cut into days: no library or kernel arithmetic ever sees
 * a deadline near overflow. */
#define MAX_TIMEOUT_NS (UINT64_C(86400) * NS_PER_S)

/* The descriptors event_base_new_with_config opens, counted from libevent
 * 2.1's epoll backend with EVENT_BASE_FLAG_PRECISE_TIMER: epoll_create1, the
 * timerfd of PRECISE_TIMER, and the pipe2 pair of evsig_init_, in that order.
 * libevent answers a failure of the last with exit(1). */
#define LIBEVENT_BASE_FDS 4

struct loop {
    struct event_base *base;
    prokio_backend_host_loop_t *host_loop;
    int wake_fd;
    int probe_fd;            /* an epoll instance of our own, for watch_init */
    atomic_int wake_pending; /* set by the wake() that writes wake_fd, cleared after reading */
    bool woken;              /* during wait: wake_fd was read */
    int reports;             /* during wait: host->watch_ready calls */
    /* followed by the wake event and the timer event, event_stride bytes each */
};

struct watch {
    struct loop *loop;
    int fd;
    bool added;
    /* followed by the watch's struct event */
};

/* Written once by the entry, before any loop exists; read-only afterwards. */
static const prokio_backend_host_t *host;
static size_t event_stride;
static char version[64];

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static struct event *loop_event(struct loop *l, int index)
{
    return (struct event *)((char *)l + round16(sizeof *l) + (size_t)index * event_stride);
}

static struct event *watch_event(struct watch *w)
{
    return (struct event *)((char *)w + round16(sizeof *w));
}

enum { WAKE_EVENT, TIMER_EVENT };

/* The one translation of failures to PROKIO_E* codes. libevent reports them
 * as -1 or NULL and leaves the system call's errno, when there was one. */
static int prokio_error(int err)
{
    return err > 0 ? -err : PROKIO_EIO;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct loop *l = arg;
    uint64_t count;
    (void)what;
    /* Read, then clear the flag. A wake() in between finds the flag still set
     * and writes nothing, which is right: this wait is returning anyway. The
     * other order could swallow that wake()'s write while its flag stays set,
     * and every later wake() would skip its write: a wakeup lost for good. */
    while (read(fd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    atomic_store(&l->wake_pending, 0);
    l->woken = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    /* Its only job is to end event_base_loop(EVLOOP_ONCE). */
    (void)fd;
    (void)what;
    (void)arg;
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
    unsigned events = (what & EV_READ ? PROKIO_BACKEND_READABLE : 0) |
                      (what & EV_WRITE ? PROKIO_BACKEND_WRITABLE : 0);
    (void)fd;
    if (!events)
        return;
    w->loop->reports++;
    host->watch_ready(w->loop->host_loop, (prokio_backend_watch_t *)w, events);
}

/* 0 if libevent's descriptors can be opened now, else why not. It opens as
 * many (eventfds, so that the system-wide file table is counted too) and
 * closes them again, which leaves the lowest free numbers free for whoever
 * opens next. */
static int base_descriptors_free(void)
{
    int fds[LIBEVENT_BASE_FDS], i, rc = 0;
    for (i = 0; i < LIBEVENT_BASE_FDS; i++) {
        if ((fds[i] = eventfd(0, EFD_CLOEXEC)) < 0) {
            rc = prokio_error(errno);
            break;
        }
    }
    while (i-- > 0)
        close(fds[i]);
    return rc;
}

/* Serialises the check and the base creation of concurrent loop_inits, so
 * that two loops never count the same free descriptors. */
static pthread_mutex_t new_base_lock = PTHREAD_MUTEX_INITIALIZER;

/* libevent ends the process when a new base cannot have its signal pipe, and
 * its fatal callback, which could prevent that, is process-wide and must not
 * return: not for a library to set. So the descriptors it needs are checked
 * right before. Another thread may still take them in between (the
 * application's, or one starting a loop of another backend); then libevent
 * prints and exits as before: the check narrows that window to a few system
 * calls, and only libevent could close it. */
static int new_base(struct event_base **out)
{
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return PROKIO_ENOMEM;
    /* NOLOCK: one thread uses the base. IGNORE_ENV: the core chooses, and
     * EVENT_NOEPOLL would quietly swap epoll for poll. PRECISE_TIMER:
     * CLOCK_MONOTONIC and a timerfd rather than the coarse clock and
     * millisecond epoll timeouts, so deadlines are met within microseconds.
     * No EV_FEATURE_ET requirement: the first method libevent tries where
     * this backend builds is epoll, which has it, so requiring it only
     * turned a failed epoll_create into a printed "no event mechanism
     * available" and a second base. loop_init reads what the base offers. */
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_IGNORE_ENV |
                                   EVENT_BASE_FLAG_PRECISE_TIMER);
    pthread_mutex_lock(&new_base_lock);
    int rc = base_descriptors_free();
    if (rc == 0) {
        errno = 0;
        if (!(*out = event_base_new_with_config(cfg)))
            rc = prokio_error(errno);
    }
    pthread_mutex_unlock(&new_base_lock);
    event_config_free(cfg);
    return rc;
}

static int loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    struct loop *l = (struct loop *)loop;
    int rc;
    (void)config;
    (void)caps; /* nothing to refine: level-triggered, readiness only */
    l->host_loop = host_loop;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0)
        return prokio_error(errno);
    if ((l->probe_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        rc = prokio_error(errno);
        goto fail_fd;
    }
    if ((rc = new_base(&l->base)) < 0)
        goto fail_probe;
    /* Level-triggered, although epoll could do EV_ET: libevent's epoll
     * dispatch turns EPOLLERR into EV_READ | EV_WRITE and drops EV_CLOSED,
     * so an edge-triggered watch cannot say that a reset came with the bytes
     * a read took (backend.h, CAP_RDHUP), and the core would have to read
     * until EAGAIN after every short read: a system call per message. A
     * level-triggered report of an unread end of stream or error comes
     * again at the next wait, so the core can skip that read (Tokio's
     * rule), as it does on libuv; and a server task that reads, writes and
     * waits again never changes its interest, so level costs no epoll_ctl
     * (core/fd.c narrows the interest only before a wait). The vtable
     * says so (caps 0). */
    errno = 0;
    if (event_assign(loop_event(l, WAKE_EVENT), l->base, l->wake_fd, EV_READ | EV_PERSIST, on_wake,
                     l) < 0 ||
        event_add(loop_event(l, WAKE_EVENT), NULL) < 0) {
        rc = prokio_error(errno);
        goto fail_base;
    }
    evtimer_assign(loop_event(l, TIMER_EVENT), l->base, on_timer, l);
    return 0;

fail_base:
    event_base_free(l->base);
fail_probe:
    close(l->probe_fd);
fail_fd:
    close(l->wake_fd);
    return rc;
}

static void loop_fini(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    event_del(loop_event(l, WAKE_EVENT));
    event_base_free(l->base);
    close(l->probe_fd);
    close(l->wake_fd);
}

static uint64_t now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static int loop_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    struct loop *l = (struct loop *)loop;
    struct event *timer = loop_event(l, TIMER_EVENT);
    l->reports = 0;
    l->woken = false;
    for (;;) {
        uint64_t now = host->monotonic_ns();
        int flags = EVLOOP_ONCE;
        bool timed = false;
        if (deadline_ns <= now) {
            flags |= EVLOOP_NONBLOCK;
        } else if (deadline_ns != PROKIO_BACKEND_DEADLINE_NEVER) {
            uint64_t timeout_ns = deadline_ns - now;
            if (timeout_ns > MAX_TIMEOUT_NS)
                timeout_ns = MAX_TIMEOUT_NS;
            /* Rounded up to whole microseconds: never a timer before the deadline. */
            timeout_ns = (timeout_ns + NS_PER_US - 1) / NS_PER_US * NS_PER_US;
            struct timeval tv = {.tv_sec = (time_t)(timeout_ns / NS_PER_S),
                                 .tv_usec = (suseconds_t)(timeout_ns % NS_PER_S / NS_PER_US)};
            errno = 0;
            if (event_add(timer, &tv) < 0)
                return prokio_error(errno);
            timed = true;
        }
        /* EVLOOP_ONCE returns after running at least one callback: an I/O
         * event, the wake, or the timer. epoll_wait's EINTR never gets out. */
        errno = 0;
        int rc = event_base_loop(l->base, flags);
        int err = errno;
        if (timed)
            event_del(timer);
        if (rc != 0)
            return rc < 0 ? prokio_error(err) : PROKIO_EIO;
        if (l->reports > 0 || l->woken || (flags & EVLOOP_NONBLOCK))
            return l->reports;
        /* Only the timer ran. libevent's clock is ours, but its cached time
         * may lag: trust ours, and go round again if the deadline is ahead. */
        if (timed && host->monotonic_ns() >= deadline_ns)
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
    struct epoll_event ev = {0};
    /* libevent touches the kernel only at event_add, and prints epoll's
     * refusals with its logger: ask epoll here instead, where the contract
     * expects the answer. It refuses (EPERM) exactly the files without a poll
     * method, which no file type tells: regular files, directories, block
     * devices and /dev/null are among them, some files of /proc are not.
     * Two system calls per watch, as libuv's uv_poll_init does. */
    if (epoll_ctl(l->probe_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return prokio_error(errno);
    epoll_ctl(l->probe_fd, EPOLL_CTL_DEL, fd, &ev);
    w->loop = l;
    w->fd = fd;
    return 0;
}

static int watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, unsigned events)
{
    struct watch *w = (struct watch *)watch;
    struct event *ev = watch_event(w);
    (void)loop;
    /* Removing and adding again (libevent's changelist makes it one
     * epoll_ctl) reports a direction that is ready now, as the contract asks
     * after every update. The core changes the interest only before a wait,
     * and a server task that waits again for what it waited for never does. */
    if (w->added) {
        event_del(ev);
        w->added = false;
    }
    if (!(events & (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE)))
        return 0;
    short what = EV_PERSIST | (events & PROKIO_BACKEND_READABLE ? EV_READ : 0) |
                 (events & PROKIO_BACKEND_WRITABLE ? EV_WRITE : 0);
    errno = 0;
    if (event_assign(ev, w->loop->base, w->fd, what, on_io, w) < 0 || event_add(ev, NULL) < 0)
        return prokio_error(errno);
    w->added = true;
    return 0;
}

static void watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct watch *w = (struct watch *)watch;
    (void)loop;
    /* event_del also takes the event off libevent's active queue: after this
     * libevent holds no pointer into the watch memory. */
    if (w->added)
        event_del(watch_event(w));
    w->added = false;
}

static prokio_backend_vtable_t vtable = {
    /* ABI 1.0: readiness only (no native operations: the core emulates
     * them), so that cores of every 1.x load it. Not CAP_RDHUP, although
     * EV_CLOSED asks epoll for EPOLLRDHUP: libevent's epoll dispatch turns
     * EPOLLERR into EV_READ | EV_WRITE and drops EV_CLOSED, so bytes that
     * came with a reset would be reported as READABLE alone, and a core
     * that waited for the next report after a short read would never see
     * the reset (tests/regress/short-read-then-reset.c). */
    .size = PROKIO_BACKEND_VTABLE_SIZE_1_0,
    .abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0,
    .name = "event",
    .version = version,
    .caps = 0, /* level-triggered: see loop_init */
    /* loop_size and watch_size depend on libevent's struct event: set by the entry */
    .loop_init = loop_init,
    .loop_fini = loop_fini,
    .now_ns = now_ns,
    .wait = loop_wait,
    .wake = loop_wake,
    .watch_init = watch_init,
    .watch_update = watch_update,
    .watch_close = watch_close,
};

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(event)(const prokio_backend_host_t *h,
                                                      uint32_t core_abi,
                                                      const prokio_backend_vtable_t **out)
{
    int rc = prokio_backend_check_core(h, core_abi, "event");
    if (rc < 0)
        return rc;
    host = h;
    event_stride = round16(event_get_struct_event_size());
    vtable.loop_size = round16(sizeof(struct loop)) + 2 * event_stride;
    vtable.watch_size = round16(sizeof(struct watch)) + event_stride;
    snprintf(version, sizeof version, "1.0 (libevent %s)", event_get_version());
    *out = &vtable;
    return 0;
}
