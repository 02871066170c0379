/* core/fd.c: registered descriptors (see fd.h). */
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "error_internal.h"
#include "fd.h"
#include "runtime.h"
#include "waker.h"
#include "worker.h"

#define BOTH (PROKIO_READABLE | PROKIO_WRITABLE)

static inline struct prokio_fd *fd_of(prokio_backend_watch_t *watch)
{
    return PROKIO_CONTAINER_OF((unsigned char *)watch, struct prokio_fd, watch);
}

static inline prokio_backend_watch_t *watch_of(struct prokio_fd *fd)
{
    return (prokio_backend_watch_t *)fd->watch;
}

static unsigned waiting(const struct prokio_fd *fd)
{
    return (fd->reader ? PROKIO_READABLE : 0) | (fd->writer ? PROKIO_WRITABLE : 0);
}

/* Tells the backend the interest this registration needs now. */
static int update_interest(struct prokio__worker *w, struct prokio_fd *fd, unsigned want)
{
    if (want == fd->interest)
        return 0;
    int rc = w->vt->watch_update(w->loop, watch_of(fd), want);
    if (rc < 0)
        return rc;
    fd->interest = want;
    return 0;
}

static void wake_slot(uintptr_t *slot)
{
    uintptr_t waker = *slot;
    if (waker) {
        *slot = 0;
        prokio__waker_wake(waker);
    }
}

static void keep_waker(uintptr_t *slot, uintptr_t waker)
{
    if (*slot == waker)
        return;
    if (*slot)
        prokio__waker_release(*slot);
    *slot = prokio__waker_clone(waker);
}

int prokio_fd_new(prokio_fd_t **out, int fileno, prokio_cx_t *cx)
{
    if (out)
        *out = NULL;
    if (out == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_fd_new: %s is NULL", out ? "cx" : "out");
    struct prokio__worker *w = cx->worker;
    if (fileno < 0)
        return prokio__error(PROKIO_EBADF, "prokio_fd_new: bad descriptor %d", fileno);
    size_t size = (offsetof(struct prokio_fd, watch) + w->vt->watch_size + 15) & ~(size_t)15;
    struct prokio_fd *fd = aligned_alloc(16, size);
    if (fd == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_fd_new: no memory");
    memset(fd, 0, size);
    fd->worker = w;
    fd->rt = w->rt;
    fd->fileno = fileno;
    fd->magic = PROKIO__FD_MAGIC;
    int rc = w->vt->watch_init(w->loop, watch_of(fd), fileno);
    if (rc < 0) {
        free(fd);
        if (rc == PROKIO_EPERM)
            return prokio__error(rc,
                                 "prokio_fd_new: backend %s cannot watch descriptor %d: a "
                                 "regular file or directory is always ready (read it directly, "
                                 "or on the blocking pool)",
                                 w->vt->name, fileno);
        if (rc == PROKIO_ENOTSUP)
            return prokio__error(rc,
                                 "prokio_fd_new: backend %s watches no descriptors (a host such "
                                 "as WebAssembly's has no readiness to wait for); do the I/O "
                                 "through the host (a JS Promise on wasm)",
                                 w->vt->name);
        return prokio__error(rc, "prokio_fd_new: backend %s cannot watch descriptor %d: %s",
                             w->vt->name, fileno, prokio_strerror(rc));
    }
    fd->next = w->fds;
    if (w->fds)
        w->fds->prev = fd;
    w->fds = fd;
    w->fd_count++;
    atomic_fetch_add_explicit(&w->rt->fd_count, 1, memory_order_relaxed);
    *out = fd;
    return 0;
}

int prokio_fd_ready_poll(prokio_fd_t *fd, unsigned interest, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(fd == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_fd_ready_poll: %s is NULL", fd ? "cx" : "fd");
    PROKIO__ASSERT(fd->magic == PROKIO__FD_MAGIC, "prokio_fd_ready_poll on a freed fd %p",
                   (void *)fd);
    if (interest == 0 || (interest & ~BOTH))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_fd_ready_poll: interest %#x: give PROKIO_READABLE, "
                             "PROKIO_WRITABLE or both",
                             interest);
    struct prokio__worker *w = fd->worker;
    if (w == NULL)
        return prokio__error(PROKIO_ECANCELED,
                             "prokio_fd_ready_poll: the runtime of descriptor %d shut down",
                             fd->fileno);
    if (w != cx->worker)
        return prokio__error(PROKIO_EXDEV,
                             "prokio_fd_ready_poll: descriptor %d is registered with worker %u, "
                             "and this task runs on worker %u",
                             fd->fileno, w->index, cx->worker->index);
    return prokio__fd_await(fd, interest, prokio__cx_waker(cx));
}

int prokio__fd_await(struct prokio_fd *fd, unsigned interest, uintptr_t waker)
{
    struct prokio__worker *w = fd->worker;
    unsigned r = fd->ready & interest;
    if (r)
        return (int)r;
    if (interest & PROKIO_READABLE)
        keep_waker(&fd->reader, waker);
    if (interest & PROKIO_WRITABLE)
        keep_waker(&fd->writer, waker);
    unsigned want = w->edge ? fd->interest | interest : waiting(fd);
    int rc = update_interest(w, fd, want);
    if (rc < 0)
        return prokio__error(rc, "prokio_fd_ready_poll: backend %s: watching descriptor %d: %s",
                             w->vt->name, fd->fileno, prokio_strerror(rc));
    return PROKIO_PENDING;
}

void prokio_fd_clear_ready(prokio_fd_t *fd, unsigned events)
{
    if (fd)
        fd->ready &= ~events;
}

int prokio_fd_fileno(const prokio_fd_t *fd)
{
    if (fd == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_fd_fileno: fd is NULL");
    return fd->fileno;
}

void prokio__fd_ready(struct prokio__worker *w, prokio_backend_watch_t *watch, unsigned events)
{
    struct prokio_fd *fd = fd_of(watch);
    unsigned ev = events & BOTH;
    if (events & (PROKIO_BACKEND_ERROR | PROKIO_BACKEND_HANGUP))
        ev = BOTH; /* let the next system call say what happened */
    if (events & (PROKIO_BACKEND_ERROR | PROKIO_BACKEND_HANGUP | PROKIO_BACKEND_RDHUP)) {
        ev |= PROKIO_READABLE;
        fd->read_closed = true;
    }
    fd->ready |= ev;
    if (ev & PROKIO_READABLE)
        wake_slot(&fd->reader);
    if (ev & PROKIO_WRITABLE)
        wake_slot(&fd->writer);
    /* Level-triggered reports would repeat while nobody reads: narrow the
     * interest, once the backend's dispatch is over. */
    if (!w->edge && !fd->to_narrow && fd->interest != waiting(fd)) {
        fd->to_narrow = true;
        fd->next_to_narrow = w->fds_to_narrow;
        w->fds_to_narrow = fd;
    }
}

void prokio__fd_narrow_interest(struct prokio__worker *w)
{
    struct prokio_fd *fd = w->fds_to_narrow;
    w->fds_to_narrow = NULL;
    while (fd) {
        struct prokio_fd *next = fd->next_to_narrow;
        fd->to_narrow = false;
        fd->next_to_narrow = NULL;
        /* A failure leaves the old interest: at worst one more report. */
        (void)update_interest(w, fd, waiting(fd));
        fd = next;
    }
}

static void forget_to_narrow(struct prokio__worker *w, struct prokio_fd *fd)
{
    if (!fd->to_narrow)
        return;
    for (struct prokio_fd **p = &w->fds_to_narrow; *p; p = &(*p)->next_to_narrow) {
        if (*p == fd) {
            *p = fd->next_to_narrow;
            break;
        }
    }
    fd->to_narrow = false;
}

static void unlink_fd(struct prokio__worker *w, struct prokio_fd *fd)
{
    forget_to_narrow(w, fd);
    if (fd->prev)
        fd->prev->next = fd->next;
    else
        w->fds = fd->next;
    if (fd->next)
        fd->next->prev = fd->prev;
    fd->prev = fd->next = NULL;
    w->fd_count--;
}

int prokio_fd_free(prokio_fd_t *fd)
{
    if (fd == NULL)
        return 0;
    PROKIO__ASSERT(fd->magic == PROKIO__FD_MAGIC, "prokio_fd_free: fd %p freed twice", (void *)fd);
    struct prokio__worker *w = fd->worker;
    if (w != NULL) {
        if (prokio__tls_worker != w)
            return prokio__error(PROKIO_EXDEV,
                                 "prokio_fd_free: descriptor %d belongs to worker %u; free it "
                                 "there (or after prokio_runtime_shutdown)",
                                 fd->fileno, w->index);
        wake_slot(&fd->reader);
        wake_slot(&fd->writer);
        w->vt->watch_close(w->loop, watch_of(fd));
        unlink_fd(w, fd);
    }
    fd->magic = 0;
    atomic_fetch_sub_explicit(&fd->rt->fd_count, 1, memory_order_release);
    free(fd);
    return 0;
}

void prokio__fd_shutdown_worker(struct prokio__worker *w)
{
    while (w->fds) {
        struct prokio_fd *fd = w->fds;
        wake_slot(&fd->reader);
        wake_slot(&fd->writer);
        w->vt->watch_close(w->loop, watch_of(fd));
        unlink_fd(w, fd);
        fd->worker = NULL;
    }
}
