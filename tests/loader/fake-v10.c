/* tests/loader/fake-v10.c: a working backend as a third party wrote it for
 * backend ABI 1.0, before native operations existed: epoll, level-triggered,
 * an eventfd for wakes. Its vtable is exactly the 1.0 size (copied into a
 * buffer of that size, so a core that read a 1.1 member from it would read
 * past the object, which ASan reports) and claims ABI 1.0. The ops suite
 * (tests/ops/ops) runs on it through tests/run/ops~ops.fake10.test: a 1.0
 * backend keeps loading and every I/O operation works, emulated. */
#include <prokio/backend.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct loop {
    prokio_backend_host_loop_t *host_loop;
    int ep, efd;
};

struct watch {
    int fd;
};

static const prokio_backend_host_t *host;

static int loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    struct loop *l = (struct loop *)loop;
    (void)config, (void)caps;
    l->host_loop = host_loop;
    if ((l->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return -errno;
    if ((l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        int rc = -errno;
        close(l->ep);
        return rc;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->efd, &ev) < 0) {
        int rc = -errno;
        close(l->efd);
        close(l->ep);
        return rc;
    }
    return 0;
}

static void loop_fini(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    close(l->efd);
    close(l->ep);
}

static uint64_t now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return host->monotonic_ns();
}

static int loop_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    struct loop *l = (struct loop *)loop;
    struct epoll_event evs[64];
    int reports = 0;
    for (;;) {
        uint64_t now = host->monotonic_ns();
        int ms = 0;
        if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER)
            ms = -1;
        else if (deadline_ns > now)
            ms = (int)((deadline_ns - now + 999999) / 1000000 > 60000
                           ? 60000
                           : (deadline_ns - now + 999999) / 1000000);
        int n = epoll_wait(l->ep, evs, 64, ms);
        if (n < 0 && errno != EINTR)
            return -errno;
        bool woken = false;
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                uint64_t v;
                (void)!read(l->efd, &v, sizeof v);
                woken = true;
                continue;
            }
            unsigned e = (evs[i].events & EPOLLIN ? PROKIO_BACKEND_READABLE : 0) |
                         (evs[i].events & EPOLLOUT ? PROKIO_BACKEND_WRITABLE : 0) |
                         (evs[i].events & EPOLLERR ? PROKIO_BACKEND_ERROR : 0) |
                         (evs[i].events & EPOLLHUP ? PROKIO_BACKEND_HANGUP : 0);
            host->watch_ready(l->host_loop, evs[i].data.ptr, e);
            reports++;
        }
        if (reports || woken || host->monotonic_ns() >= deadline_ns)
            return reports;
    }
}

static void loop_wake(prokio_backend_loop_t *loop)
{
    struct loop *l = (struct loop *)loop;
    uint64_t one = 1;
    int saved = errno;
    (void)!write(l->efd, &one, sizeof one);
    errno = saved;
}

static int watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    struct loop *l = (struct loop *)loop;
    struct epoll_event ev = {.events = 0, .data.ptr = watch};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    ((struct watch *)watch)->fd = fd;
    return 0;
}

static int watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, unsigned events)
{
    struct loop *l = (struct loop *)loop;
    struct epoll_event ev = {.events = (events & PROKIO_BACKEND_READABLE ? EPOLLIN : 0) |
                                       (events & PROKIO_BACKEND_WRITABLE ? EPOLLOUT : 0),
                             .data.ptr = watch};
    return epoll_ctl(l->ep, EPOLL_CTL_MOD, ((struct watch *)watch)->fd, &ev) < 0 ? -errno : 0;
}

static void watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    struct loop *l = (struct loop *)loop;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, ((struct watch *)watch)->fd, NULL);
}

/* The 1.0 vtable, exactly as long as ABI 1.0 defines it. */
static union {
    unsigned char bytes[PROKIO_BACKEND_VTABLE_SIZE_1_0];
    void *align;
} vt10;

PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(fake10)(const prokio_backend_host_t *h,
                                                       uint32_t core_abi,
                                                       const prokio_backend_vtable_t **out)
{
    int rc = prokio_backend_check_core(h, core_abi, "fake10");
    if (rc < 0)
        return rc;
    host = h;
    const prokio_backend_vtable_t full = {
        .size = PROKIO_BACKEND_VTABLE_SIZE_1_0,
        .abi_version = PROKIO_BACKEND_ABI_MAJOR << 16 | 0,
        .name = "fake10",
        .version = "1.0 (test: a backend written for ABI 1.0)",
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
    memcpy(vt10.bytes, &full, sizeof vt10.bytes);
    *out = (const prokio_backend_vtable_t *)vt10.bytes;
    return 0;
}
