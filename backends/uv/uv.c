/* backends/uv/uv.c: the libuv backend (prokio-uv.so), for libuv >= 1.30.
 *
 * One uv_loop_t per loop, in the core's loop memory, with a uv_async_t for
 * wake() (thread-safe and coalescing by libuv's own promise) and a uv_timer_t
 * for deadlines. Watches are uv_poll_t handles, which are level-triggered:
 * this backend does not offer CAP_EDGE.
 *
 * uv_close() needs a handle's memory until its close callback runs, on a
 * later turn of the loop, but the core may free watch memory as soon as
 * watch_close returns: so each uv_poll_t lives in a block from host->alloc,
 * freed by the close callback (in a later wait, or at the latest in
 * loop_fini).
 */
#include <prokio/backend.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <uv.h>

#define NS_PER_MS UINT64_C(1000000)
/* Longer waits are cut into days: no library or kernel arithmetic ever sees
 * a deadline near overflow. */
#define MAX_TIMEOUT_MS (UINT64_C(86400) * 1000)

/* The descriptors uv_loop_init opens on Linux, counted from libuv 1.44's
 * source and seen with strace: its epoll instance; then, the first time in
 * a process (per load of libuv), the global signal-lock pipe, whose failure
 * libuv answers with abort(); then the loop's signal pipe and the eventfd of
 * its async handles. */
#define UV_LOOP_FDS   4
#define UV_GLOBAL_FDS 2

struct loop {
    uv_loop_t uv;
    uv_async_t async;
    uv_timer_t timer;
    prokio_backend_host_loop_t *host_loop;
    bool woken;  /* during wait: the async handle ran */
    int reports; /* during wait: host->watch_ready calls */
};

/* Outlives its watch until the close callback. */
struct poll {
    uv_poll_t handle;
    struct loop *loop;
    prokio_backend_watch_t *watch; /* NULL once the watch is closed */
    int events;                    /* UV_READABLE | UV_WRITABLE last started */
};

struct watch {
    struct poll *poll;
};

/* Written once by the entry, before any loop exists; read-only afterwards. */
static const prokio_backend_host_t *host;
static char version[64];

/* The one translation of libuv's codes to PROKIO_E*. On Unix libuv's codes
 * are negated errno values, as PROKIO_E* are; the few that are not (UV_EOF,
 * UV_EAI_*, UV_UNKNOWN, from -3000 down) become PROKIO_EIO. */
static int prokio_error(int uv_err)
{
    return uv_err > -3000 ? uv_err : PROKIO_EIO;
}

static void on_async(uv_async_t *async)
{
    ((struct loop *)async->data)->woken = true;
}

static void on_timer(uv_timer_t *timer)
{
    /* Its only job is to end uv_run(UV_RUN_ONCE). */
    (void)timer;
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct poll *p = handle->data;
    unsigned ready = 0;
    if (!p->watch)
        return;
    if (status < 0) {
        /* libuv has stopped the handle (POLLERR); the core's next system
         * call on the descriptor says what went wrong. */
        p->events = 0;
        ready = PROKIO_BACKEND_ERROR;
    } else {
        ready = (events & UV_READABLE ? PROKIO_BACKEND_READABLE : 0) |
                (events & UV_WRITABLE ? PROKIO_BACKEND_WRITABLE : 0);
    }
    if (!ready)
        return;
    p->loop->reports++;
    host->watch_ready(p->loop->host_loop, p->watch, ready);
}

static void on_poll_closed(uv_handle_t *handle)
{
    host->free(handle->data);
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, handle->type == UV_POLL ? on_poll_closed : NULL);
}

/* 0 if n descriptors can be opened now, else why not. It opens them
 * (eventfds, so that the system-wide file table is counted too) and closes
 * them again, which leaves the lowest free numbers free for whoever opens
 * next. */
static int descriptors_free(int n)
{
    int fds[UV_LOOP_FDS + UV_GLOBAL_FDS], i, rc = 0;
    for (i = 0; i < n && i < (int)(sizeof fds / sizeof *fds); i++) {
        if ((fds[i] = eventfd(0, EFD_CLOEXEC)) < 0) {
            rc = -errno;
            break;
        }
    }
    while (i-- > 0)
        close(fds[i]);
    return rc;
}

/* Serialises the check and uv_loop_init of concurrent loop_inits, so that
 * two loops never count the same free descriptors. */
static pthread_mutex_t uv_init_lock = PTHREAD_MUTEX_INITIALIZER;
/* Under uv_init_lock: a loop of this load of the backend started, so
 * libuv's global pipe exists. (Loaded again, the backend comes with libuv
 * loaded again, whose pipe is made again; an application's own use of
 * libuv only makes this count two descriptors too many, once.) */
static bool uv_global_made;

/* uv_loop_init, short of descriptors, aborts when the global pipe cannot be
 * made, and when a step after the epoll instance fails it closes everything
 * but that instance (Linux's uv__platform_loop_delete closes only inotify's
 * descriptor). So the descriptors it needs are checked right before.
 * Another thread may still take them in between (the application's, or one
 * starting a loop of another backend): the epoll instance is then closed
 * here, but a failure of the global pipe in that window still aborts; only
 * libuv could close that window. */
static int uv_loop_init_or_nothing(uv_loop_t *uv)
{
    pthread_mutex_lock(&uv_init_lock);
    int rc = descriptors_free(UV_LOOP_FDS + (uv_global_made ? 0 : UV_GLOBAL_FDS));
    if (rc == 0) {
        rc = prokio_error(uv_loop_init(uv));
        if (rc == 0)
            uv_global_made = true;
        else if (uv_backend_fd(uv) > 0)
            /* -1 when the epoll instance was not made, and 0 from
             * uv_loop_init's memset when it failed even before: 0 is never
             * closed here, whoever holds it. */
            close(uv_backend_fd(uv));
    }
    pthread_mutex_unlock(&uv_init_lock);
    return rc;
}

static int loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    struct loop *l = (struct loop *)loop;
    (void)config;
    (void)caps;
    l->host_loop = host_loop;
    int rc = uv_loop_init_or_nothing(&l->uv);
    if (rc < 0)
        return rc;
    /* The async handle stays active and referenced for the loop's life, which
     * also keeps uv_run(UV_RUN_ONCE) from returning at once for want of
     * handles. */
    rc = uv_async_init(&l->uv, &l->async, on_async);
    if (rc < 0) {
        uv_loop_close(&l->uv);
        return prokio_error(rc);
    }
    l->async.data = l;
    uv_timer_init(&l->uv, &l->timer);
    return 0;
}

static void loop_fini(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    /* Closing every handle and running the loop until their close callbacks
     * ran frees the polls of watches closed since the last wait as well. */
    uv_walk(&l->uv, close_any, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&l->uv);
    if (rc != 0)
        host->log(PROKIO_BACKEND_LOG_ERROR, "uv_loop_close: %s (a handle leaked)", uv_strerror(rc));
}

static uint64_t now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static int loop_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    struct loop *l = (struct loop *)loop;
    l->reports = 0;
    l->woken = false;
    for (;;) {
        uint64_t now = host->monotonic_ns();
        if (deadline_ns <= now) {
            uv_run(&l->uv, UV_RUN_NOWAIT);
            return l->reports;
        }
        bool timed = deadline_ns != PROKIO_BACKEND_DEADLINE_NEVER;
        if (timed) {
            /* libuv counts whole milliseconds from a loop time truncated to
             * the millisecond, so a timer can fire up to 1 ms before a
             * nanosecond deadline. Rounded up, and no more: a wake before
             * the deadline goes round this loop once more for what is left
             * (rounded up again, so never a busy wait). Adding a
             * millisecond instead made every sleep up to 2 ms late: a
             * p99 lateness worse than Tokio's, whose wheel ticks in
             * milliseconds too. */
            uint64_t timeout_ms = (deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS;
            if (timeout_ms > MAX_TIMEOUT_MS)
                timeout_ms = MAX_TIMEOUT_MS;
            uv_update_time(&l->uv);
            /* Repeating, because uv_run runs expired timers before it
             * computes its poll timeout: a one-shot timer that expired
             * while this thread was descheduled (between here and uv_run)
             * would fire and leave epoll_wait with no timeout at all, and
             * the worker asleep for good. Found under valgrind, whose
             * scheduling makes that gap long. Repeating, it re-arms for a
             * millisecond and bounds the poll; it is stopped below. */
            uv_timer_start(&l->timer, on_timer, timeout_ms, 1);
        }
        /* Blocks unless a close callback is pending; libuv retries EINTR. */
        uv_run(&l->uv, UV_RUN_ONCE);
        if (timed)
            uv_timer_stop(&l->timer);
        if (l->reports > 0 || l->woken)
            return l->reports;
        if (timed && host->monotonic_ns() >= deadline_ns)
            return 0;
    }
}

static void loop_wake(prokio_backend_loop_t *loop)
{
    uv_async_send(&((struct loop *)loop)->async);
}

static int watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    struct loop *l = (struct loop *)loop;
    struct watch *w = (struct watch *)watch;
    struct poll *p = host->alloc(sizeof *p);
    if (!p)
        return PROKIO_ENOMEM;
    /* uv_poll_init refuses files (EPERM) and a descriptor this loop already
     * watches (EEXIST), and makes the descriptor non-blocking. */
    int rc = uv_poll_init(&l->uv, &p->handle, fd);
    if (rc < 0) {
        host->free(p);
        return prokio_error(rc);
    }
    p->handle.data = p;
    p->loop = l;
    p->watch = watch;
    w->poll = p;
    return 0;
}

static int watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, unsigned events)
{
    struct poll *p = ((struct watch *)watch)->poll;
    int uv_events = (events & PROKIO_BACKEND_READABLE ? UV_READABLE : 0) |
                    (events & PROKIO_BACKEND_WRITABLE ? UV_WRITABLE : 0);
    (void)loop;
    /* uv_poll_start costs an epoll_ctl now and another at the next poll; a
     * level-triggered poll that runs with this interest already reports
     * whatever is ready, as the contract asks. */
    if (uv_events == p->events)
        return 0;
    int rc = uv_events ? uv_poll_start(&p->handle, uv_events, on_poll) : uv_poll_stop(&p->handle);
    if (rc < 0)
        return prokio_error(rc);
    p->events = uv_events;
    return 0;
}

static void watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct poll *p = ((struct watch *)watch)->poll;
    (void)loop;
    p->watch = NULL;
    uv_close((uv_handle_t *)&p->handle, on_poll_closed);
}

static prokio_backend_vtable_t vtable = {
    /* ABI 1.0: readiness only (no native operations: the core emulates
     * them), so that cores of every 1.x load it. */
    .size = PROKIO_BACKEND_VTABLE_SIZE_1_0,
    .abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0,
    .name = "uv",
    .version = version,
    .caps = 0,
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

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(uv)(const prokio_backend_host_t *h,
                                                   uint32_t core_abi,
                                                   const prokio_backend_vtable_t **out)
{
    int rc = prokio_backend_check_core(h, core_abi, "uv");
    if (rc < 0)
        return rc;
    host = h;
    snprintf(version, sizeof version, "1.0 (libuv %s)", uv_version_string());
    *out = &vtable;
    return 0;
}
