/* tests/backend-check/test-backend.c: a small epoll backend that keeps the
 * contract of prokio/backend.h, and variants of it that each break one rule,
 * to test prokio-backend-check itself. One shared object per variant (see
 * Makefile.inc); verdicts.sh runs the checker on each.
 *
 *   (no macro)                 level-triggered: must pass
 *   TEST_EDGE                  edge-triggered (EPOLLET), CAP_EDGE: must pass
 *   BROKEN_LOST_WAKE           clears the wake flag before it reads the eventfd
 *   BROKEN_LEVEL_CLAIMS_EDGE   claims CAP_EDGE, watches level-triggered
 *   BROKEN_ACCEPTS_FILES       takes what epoll refuses and reports it ready
 *                              on every wait
 *   BROKEN_LOOP_SIZE_0         vtable->loop_size is 0
 *   BROKEN_LONG_NAME           a name of 33 characters, one over the limit
 *   TEST_RDHUP                 edge, EPOLLRDHUP, CAP_RDHUP (ABI 1.1): must pass
 *   BROKEN_RDHUP_UNASKED       claims CAP_RDHUP without asking for EPOLLRDHUP
 *   BROKEN_RDHUP_ERR_AS_READ   CAP_RDHUP, but EPOLLERR reported as READABLE |
 *                              WRITABLE without RDHUP (libevent's mapping)
 *
 * The correct variants are there so that a checker failing everything would
 * fail this test too. */
#include <prokio/backend.h>

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined TEST_EDGE
#define NAME "bc-edge"
#elif defined BROKEN_LOST_WAKE
#define NAME "bc-lostwake"
#elif defined BROKEN_LEVEL_CLAIMS_EDGE
#define NAME "bc-fakeedge"
#elif defined BROKEN_ACCEPTS_FILES
#define NAME "bc-files"
#elif defined BROKEN_LOOP_SIZE_0
#define NAME "bc-loopsize0"
#elif defined TEST_RDHUP
#define NAME "bc-rdhup"
#elif defined BROKEN_RDHUP_UNASKED
#define NAME "bc-fakerdhup"
#elif defined BROKEN_RDHUP_ERR_AS_READ
#define NAME "bc-rdhupreset"
#elif defined BROKEN_LONG_NAME
#define NAME "bc-longname-abcdefghijklmnopqrstu" /* 33 characters */
#else
#define NAME "bc-level"
#endif

#if defined TEST_RDHUP || defined BROKEN_RDHUP_UNASKED || defined BROKEN_RDHUP_ERR_AS_READ
#define CAPS    (PROKIO_BACKEND_CAP_EDGE | PROKIO_BACKEND_CAP_RDHUP)
#define ABI_1_1 1
#elif defined TEST_EDGE || defined BROKEN_LEVEL_CLAIMS_EDGE
#define CAPS PROKIO_BACKEND_CAP_EDGE
#else
#define CAPS 0
#endif

#if defined TEST_EDGE || defined TEST_RDHUP || defined BROKEN_RDHUP_UNASKED ||                     \
    defined BROKEN_RDHUP_ERR_AS_READ
#define EPOLL_MODE EPOLLET
#else
#define EPOLL_MODE 0
#endif

#if defined TEST_RDHUP || defined BROKEN_RDHUP_ERR_AS_READ
#define RDHUP_ASKED EPOLLRDHUP
#else
#define RDHUP_ASKED 0u
#endif

#define NS_PER_MS UINT64_C(1000000)

struct watch;

struct loop {
    prokio_backend_host_loop_t *host_loop;
    int epfd;
    int efd; /* wake(): level-triggered in epoll, with data.ptr NULL */
    atomic_int wake_pending;
#ifdef BROKEN_ACCEPTS_FILES
    struct watch *files; /* watches epoll refused */
#endif
};

struct watch {
    struct loop *loop;
    int fd;
    unsigned interest;
    bool added;
#ifdef BROKEN_ACCEPTS_FILES
    bool file;
    struct watch *next_file;
#endif
};

static const prokio_backend_host_t *host;

static int loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    struct loop *l = (struct loop *)loop;
    (void)config, (void)caps;
    l->host_loop = host_loop;
    if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return -errno;
    if ((l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        int rc = -errno;
        close(l->epfd);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev) < 0) {
        int rc = -errno;
        close(l->efd);
        close(l->epfd);
        return rc;
    }
    return 0;
}

static void loop_fini(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    close(l->efd);
    close(l->epfd);
}

static uint64_t now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static void consume_wake(struct loop *l)
{
    uint64_t count;
#ifdef BROKEN_LOST_WAKE
    /* The bug under test. A wake() between these two lines finds the flag
     * clear and writes; the read swallows that write while the flag stays
     * set, and every later wake() skips its write: lost for good. */
    atomic_store(&l->wake_pending, 0);
    while (read(l->efd, &count, sizeof count) < 0 && errno == EINTR) {
    }
#else
    /* Read, then clear: a wake() in between finds the flag set and writes
     * nothing, which is right, since this wait returns anyway. */
    while (read(l->efd, &count, sizeof count) < 0 && errno == EINTR) {
    }
    atomic_store(&l->wake_pending, 0);
#endif
}

/* epoll counts whole milliseconds: round up, so as never to be early. */
static int timeout_ms(uint64_t now, uint64_t deadline_ns)
{
    if (deadline_ns <= now)
        return 0;
    if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER)
        return -1;
    uint64_t ms = (deadline_ns - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static unsigned events_of(uint32_t e, unsigned interest)
{
#ifdef BROKEN_RDHUP_ERR_AS_READ
    /* libevent's epoll: an error is readable and writable, nothing more. */
    if (e & EPOLLERR)
        return (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE) & interest;
#endif
    unsigned ev = (e & (EPOLLIN | EPOLLRDHUP) ? PROKIO_BACKEND_READABLE : 0u) |
                  (e & EPOLLOUT ? PROKIO_BACKEND_WRITABLE : 0u);
    ev &= interest;
    if ((e & EPOLLRDHUP) && (ev & PROKIO_BACKEND_READABLE))
        ev |= PROKIO_BACKEND_RDHUP;
    if (e & EPOLLERR)
        ev |= PROKIO_BACKEND_ERROR;
    if (e & EPOLLHUP)
        ev |= PROKIO_BACKEND_HANGUP;
    return ev;
}

static int loop_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    struct loop *l = (struct loop *)loop;
    struct epoll_event evs[64];
    int reports = 0;
    for (;;) {
        int timeout = timeout_ms(host->monotonic_ns(), deadline_ns);
#ifdef BROKEN_ACCEPTS_FILES
        for (struct watch *w = l->files; w; w = w->next_file) {
            if (w->interest) {
                host->watch_ready(l->host_loop, (prokio_backend_watch_t *)w, w->interest);
                reports++;
            }
        }
        if (reports)
            timeout = 0;
#endif
        int n = epoll_wait(l->epfd, evs, sizeof evs / sizeof evs[0], timeout);
        if (n < 0 && errno != EINTR)
            return -errno;
        bool woken = false;
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            if (!w) {
                consume_wake(l);
                woken = true;
                continue;
            }
            unsigned ev = events_of(evs[i].events, w->interest);
            if (ev) {
                host->watch_ready(l->host_loop, (prokio_backend_watch_t *)w, ev);
                reports++;
            }
        }
        if (reports || woken || timeout == 0)
            return reports;
    }
}

static void loop_wake(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    int saved = errno;
    if (!atomic_exchange(&l->wake_pending, 1)) {
        uint64_t one = 1;
        while (write(l->efd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
    errno = saved;
}

/* Files and directories are left to epoll, which refuses them at the first
 * watch_update: the other place the contract allows for PROKIO_EPERM. */
static int watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    struct watch *w = (struct watch *)watch;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    w->loop = (struct loop *)loop;
    w->fd = fd;
    return 0;
}

static int watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, unsigned events)
{
    struct watch *w = (struct watch *)watch;
    struct loop *l = (struct loop *)loop;
    w->interest = events & (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE);
#ifdef BROKEN_ACCEPTS_FILES
    if (w->file)
        return 0;
#endif
    if (!w->interest) {
        if (w->added && epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
            return -errno;
        w->added = false;
        return 0;
    }
    /* EPOLL_CTL_MOD polls the descriptor again, so a direction ready now is
     * reported after every update, in edge mode too. */
    struct epoll_event ev = {
        .events = (w->interest & PROKIO_BACKEND_READABLE ? EPOLLIN | RDHUP_ASKED : 0u) |
                  (w->interest & PROKIO_BACKEND_WRITABLE ? EPOLLOUT : 0u) | EPOLL_MODE,
        .data.ptr = w,
    };
    if (epoll_ctl(l->epfd, w->added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) < 0) {
#ifdef BROKEN_ACCEPTS_FILES
        if (errno == EPERM) {
            w->file = true;
            w->next_file = l->files;
            l->files = w;
            return 0;
        }
#endif
        return -errno;
    }
    w->added = true;
    return 0;
}

static void watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct watch *w = (struct watch *)watch;
    struct loop *l = (struct loop *)loop;
#ifdef BROKEN_ACCEPTS_FILES
    for (struct watch **p = &l->files; *p; p = &(*p)->next_file) {
        if (*p == w) {
            *p = w->next_file;
            break;
        }
    }
#endif
    if (w->added)
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->added = false;
}

/* ABI 1.0: readiness only, so that cores of every 1.x accept it; 1.1 for
 * CAP_RDHUP. */
static const prokio_backend_vtable_t vtable = {
#ifdef ABI_1_1
    .size = sizeof(prokio_backend_vtable_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
#else
    .size = PROKIO_BACKEND_VTABLE_SIZE_1_0,
    .abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0,
#endif
    .name = NAME,
    .version = "0 (prokio-backend-check's test backend)",
    .caps = CAPS,
#ifdef BROKEN_LOOP_SIZE_0
    .loop_size = 0,
#else
    .loop_size = sizeof(struct loop),
#endif
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

/* backend.h declares no prototype of the entry: one here keeps the backend
 * clean under -Wmissing-prototypes. */
PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(bc)(const prokio_backend_host_t *h,
                                                   uint32_t core_abi,
                                                   const prokio_backend_vtable_t **out);

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(bc)(const prokio_backend_host_t *h,
                                                   uint32_t core_abi,
                                                   const prokio_backend_vtable_t **out)
{
    int rc = prokio_backend_check_core(h, core_abi, NAME);
    if (rc < 0)
        return rc;
    host = h;
    *out = &vtable;
#ifdef ABI_1_1
    /* A 1.0 core gets the 1.0 part, without the 1.1 capability. */
    static prokio_backend_vtable_t v1_0;
    if (PROKIO_BACKEND_ABI_MINOR_OF(core_abi) == 0) {
        v1_0 = vtable;
        v1_0.size = PROKIO_BACKEND_VTABLE_SIZE_1_0;
        v1_0.abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0;
        v1_0.caps &= ~PROKIO_BACKEND_CAP_RDHUP;
        *out = &v1_0;
    }
#endif
    return 0;
}
