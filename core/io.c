/* core/io.c: descriptor registrations (see io.h). */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "io.h"
#include "runtime.h"
#include "waker.h"
#include "worker.h"

#define BOTH (PROKIO_READABLE | PROKIO_WRITABLE)

static inline struct prokio_io *io_of(prokio_backend_watch_t *watch)
{
    return PROKIO_CONTAINER_OF((unsigned char *)watch, struct prokio_io, watch);
}

static inline prokio_backend_watch_t *watch_of(struct prokio_io *io)
{
    return (prokio_backend_watch_t *)io->watch;
}

static unsigned waiting(const struct prokio_io *io)
{
    return (io->reader ? PROKIO_READABLE : 0) | (io->writer ? PROKIO_WRITABLE : 0);
}

/* Tells the backend the interest this registration needs now. */
static int update_interest(struct prokio__worker *w, struct prokio_io *io, unsigned want)
{
    if (want == io->interest)
        return 0;
    int rc = w->vt->watch_update(w->loop, watch_of(io), want);
    if (rc < 0)
        return rc;
    io->interest = want;
    return 0;
}

static void wake_slot(uintptr_t *slot)
{
    uintptr_t waker = *slot;
    if (waker) {
        *slot = 0;
        prokio__waker_wake_by_ref(waker);
        prokio__waker_drop(waker);
    }
}

int prokio_io_new(prokio_cx_t *cx, int fd, prokio_io_t **out)
{
    *out = NULL;
    struct prokio__worker *w = cx->worker;
    if (fd < 0)
        return prokio__error(PROKIO_EBADF, "prokio_io_new: bad descriptor %d", fd);
    size_t size = (offsetof(struct prokio_io, watch) + w->vt->watch_size + 15) & ~(size_t)15;
    struct prokio_io *io = aligned_alloc(16, size);
    if (io == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_io_new: no memory");
    memset(io, 0, size);
    io->worker = w;
    io->rt = w->rt;
    io->fd = fd;
    int rc = w->vt->watch_init(w->loop, watch_of(io), fd);
    if (rc < 0) {
        free(io);
        return prokio__error(rc, "prokio_io_new: backend %s cannot watch descriptor %d: %s",
                             w->vt->name, fd, prokio_strerror(rc));
    }
    io->next = w->ios;
    if (w->ios)
        w->ios->prev = io;
    w->ios = io;
    w->io_count++;
    atomic_fetch_add_explicit(&w->rt->io_count, 1, memory_order_relaxed);
    *out = io;
    return 0;
}

static void keep_waker(uintptr_t *slot, uintptr_t waker)
{
    if (*slot == waker)
        return;
    if (*slot)
        prokio__waker_drop(*slot);
    *slot = prokio__waker_clone(waker);
}

int prokio_io_poll_ready(prokio_io_t *io, unsigned interest, prokio_cx_t *cx)
{
    if (interest == 0 || (interest & ~BOTH))
        return PROKIO_EINVAL;
    struct prokio__worker *w = io->worker;
    if (w == NULL)
        return PROKIO_ECANCELED; /* the runtime shut down */
    if (w != cx->worker)
        return PROKIO_EXDEV;
    unsigned r = io->ready & interest;
    if (r)
        return (int)r;
    uintptr_t me = (uintptr_t)cx->task;
    if (interest & PROKIO_READABLE)
        keep_waker(&io->reader, me);
    if (interest & PROKIO_WRITABLE)
        keep_waker(&io->writer, me);
    unsigned want = w->edge ? io->interest | interest : waiting(io);
    int rc = update_interest(w, io, want);
    return rc < 0 ? rc : PROKIO_PENDING;
}

void prokio_io_clear_ready(prokio_io_t *io, unsigned events)
{
    io->ready &= ~events;
}

int prokio_io_fd(const prokio_io_t *io)
{
    return io->fd;
}

void prokio__io_ready(struct prokio__worker *w, prokio_backend_watch_t *watch, unsigned events)
{
    struct prokio_io *io = io_of(watch);
    unsigned ev = events & BOTH;
    if (events & (PROKIO_BACKEND_ERROR | PROKIO_BACKEND_HANGUP))
        ev = BOTH; /* let the next system call say what happened */
    io->ready |= ev;
    if (ev & PROKIO_READABLE)
        wake_slot(&io->reader);
    if (ev & PROKIO_WRITABLE)
        wake_slot(&io->writer);
    /* Level-triggered reports would repeat while nobody reads. A failure
     * here leaves the old interest: at worst one more report. */
    if (!w->edge)
        (void)update_interest(w, io, waiting(io));
}

static void unlink_io(struct prokio__worker *w, struct prokio_io *io)
{
    if (io->prev)
        io->prev->next = io->next;
    else
        w->ios = io->next;
    if (io->next)
        io->next->prev = io->prev;
    io->prev = io->next = NULL;
    w->io_count--;
}

int prokio_io_free(prokio_io_t *io)
{
    struct prokio__worker *w = io->worker;
    if (w != NULL) {
        if (prokio__tls_worker != w)
            return prokio__error(PROKIO_EXDEV,
                                 "prokio_io_free: called off the worker that owns the descriptor");
        wake_slot(&io->reader);
        wake_slot(&io->writer);
        w->vt->watch_close(w->loop, watch_of(io));
        unlink_io(w, io);
    }
    atomic_fetch_sub_explicit(&io->rt->io_count, 1, memory_order_release);
    free(io);
    return 0;
}

void prokio__io_shutdown_worker(struct prokio__worker *w)
{
    while (w->ios) {
        struct prokio_io *io = w->ios;
        wake_slot(&io->reader);
        wake_slot(&io->writer);
        w->vt->watch_close(w->loop, watch_of(io));
        unlink_io(w, io);
        io->worker = NULL;
    }
}
