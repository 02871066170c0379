/* core/signal.c: signal listeners (prokio/signal.h).
 *
 * Signals belong to the process, not to a runtime or a worker, so this is
 * process-wide state under one mutex. The handler does only what is
 * async-signal-safe: it counts the delivery in an atomic counter per
 * signal number and writes a byte to a pipe. A thread of ours (the
 * "dispatcher", started with the first listener and joined when the last
 * one goes) blocks on the pipe's read end, and on each byte compares every
 * listener's last seen count with the signal's and wakes those behind.
 *
 * Why a thread, not a watch on the pipe in some worker: listeners may live
 * in several runtimes, or none may be running when the signal comes (the
 * count keeps it for the next receive either way); a thread blocked in
 * read() costs nothing while no signal comes, and its wakes are ordinary
 * cross-thread wakes. Tokio and libuv each run a self-pipe per runtime or
 * loop; one per process is enough here because the wake goes to a task,
 * wherever it lives.
 *
 * Counters, not flags: each listener keeps the count it saw last, so one
 * delivery is seen once by each listener, however many there are and
 * whenever they poll. The counters only grow (32 bits wrap after four
 * billion deliveries, and the difference is still right). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cx.h"
#include "error_internal.h"
#include "internal.h"
#include "waker.h"

#ifndef __EMSCRIPTEN__
#include <pthread.h>

/* Signal numbers are below NSIG (65 on Linux: real-time signals included). */
#define SIGNAL_MAX NSIG

struct prokio_signal {
    struct prokio_signal *next; /* in by_signal[signum], under lock */
    int signum;
    uint32_t seen;   /* deliveries[signum] at the last receive; under lock */
    uintptr_t waker; /* the receiving task's, or 0; under lock */
};

/* Written by the handler, which may run on any thread at any time. */
static _Atomic uint32_t deliveries[SIGNAL_MAX];

static struct {
    pthread_mutex_t lock;
    struct prokio_signal *by_signal[SIGNAL_MAX];
    struct sigaction previous[SIGNAL_MAX]; /* valid while by_signal[s] != NULL */
    int pipe_read, pipe_write;             /* -1 while no dispatcher runs */
    pthread_t dispatcher;
    unsigned listeners;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .pipe_read = -1, .pipe_write = -1};

/* The write end, read by the handler; -1 when there is no dispatcher (a
 * delivery is then only counted: no listener can be waiting). */
static _Atomic int handler_pipe = -1;

/* Handlers between their load of handler_pipe and the end of their write:
 * the write end is closed only once none is, or a late handler would write
 * its byte into whatever descriptor took the number next. */
static _Atomic unsigned handlers_in;

static void on_signal(int signum)
{
    int saved = errno;
    if (signum > 0 && signum < SIGNAL_MAX)
        atomic_fetch_add_explicit(&deliveries[signum], 1, memory_order_release);
    atomic_fetch_add_explicit(&handlers_in, 1, memory_order_seq_cst);
    int fd = atomic_load_explicit(&handler_pipe, memory_order_seq_cst);
    if (fd >= 0) {
        /* Full pipe (EAGAIN): bytes are already waiting, and the
         * dispatcher looks at every counter for each of them. */
        unsigned char b = 1;
        ssize_t n = write(fd, &b, 1);
        (void)n;
    }
    atomic_fetch_sub_explicit(&handlers_in, 1, memory_order_release);
    errno = saved;
}

/* Called after handler_pipe was set to -1: waits until no handler can
 * still be about to write to the old descriptor. Handlers are a few
 * instructions and never wait, so this spins. Thread: not a handler. */
static void handlers_drain(void)
{
    while (atomic_load_explicit(&handlers_in, memory_order_seq_cst) != 0)
        sched_yield();
}

/* Wakes every listener that is behind its signal's count. Thread: the
 * dispatcher, lock held. */
static void dispatch_locked(void)
{
    for (int s = 1; s < SIGNAL_MAX; s++) {
        if (g.by_signal[s] == NULL)
            continue;
        uint32_t now = atomic_load_explicit(&deliveries[s], memory_order_acquire);
        for (struct prokio_signal *l = g.by_signal[s]; l; l = l->next) {
            if (l->seen == now || l->waker == 0)
                continue;
            uintptr_t w = l->waker;
            l->waker = 0;
            prokio__waker_wake(w); /* consumes the clone; never runs a task here */
        }
    }
}

/* The dispatcher: a byte 1 is a delivery, a byte 0 (or the write end
 * closing) is the request to stop. Every signal is blocked on it, so the
 * handler runs on the program's threads and never interrupts a wake. */
static void *dispatcher_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    for (;;) {
        unsigned char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        bool stop = n <= 0;
        for (ssize_t i = 0; i < n; i++)
            stop |= buf[i] == 0;
        pthread_mutex_lock(&g.lock);
        dispatch_locked();
        pthread_mutex_unlock(&g.lock);
        if (stop)
            return NULL;
    }
}

/* Starts the dispatcher and its pipe. Thread: any, lock held. */
static int dispatcher_start(void)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return prokio__error(-errno, "prokio_signal_new: cannot create the signal pipe: %s",
                             strerror(errno));
    /* The handler must never block; the dispatcher may. */
    if (fcntl(p[1], F_SETFL, O_NONBLOCK) < 0) {
        int e = errno;
        close(p[0]), close(p[1]);
        return prokio__error(-e, "prokio_signal_new: cannot make the signal pipe non-blocking: %s",
                             strerror(e));
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&g.dispatcher, NULL, dispatcher_main, (void *)(intptr_t)p[0]);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(p[0]), close(p[1]);
        return prokio__error(-rc, "prokio_signal_new: cannot start the signal thread: %s",
                             strerror(rc));
    }
    g.pipe_read = p[0];
    g.pipe_write = p[1];
    atomic_store_explicit(&handler_pipe, p[1], memory_order_release);
    return 0;
}

/* Stops the dispatcher. Thread: any but the dispatcher, lock NOT held (it
 * takes the lock to finish its last round). */
static void dispatcher_stop(pthread_t thread, int pipe_read, int pipe_write)
{
    handlers_drain(); /* handler_pipe is -1 already: nobody writes after this */
    unsigned char stop = 0;
    ssize_t n;
    do
        n = write(pipe_write, &stop, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) /* full: closing the write end ends its reads just as well */
        close(pipe_write), pipe_write = -1;
    pthread_join(thread, NULL);
    if (pipe_write >= 0)
        close(pipe_write);
    close(pipe_read);
}

static bool catchable(int signum)
{
    switch (signum) {
    case SIGKILL:
    case SIGSTOP:
    case SIGSEGV:
    case SIGBUS:
    case SIGFPE:
    case SIGILL:
        return false;
    default:
        return true;
    }
}

int prokio_signal_new(prokio_signal_t **out, int signum, unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_signal_new: out is NULL");
    *out = NULL;
    if (signum <= 0 || signum >= SIGNAL_MAX)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_signal_new: %d is not a signal number (1 to %d)", signum,
                             SIGNAL_MAX - 1);
    if (!catchable(signum))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_signal_new: signal %d (%s) cannot be awaited: SIGKILL and "
                             "SIGSTOP cannot be caught, and SIGSEGV, SIGBUS, SIGFPE and SIGILL "
                             "are faults of the thread that raised them",
                             signum, strsignal(signum));
    if (flags != 0)
        return prokio__error(PROKIO_EINVAL, "prokio_signal_new: flags must be 0 (got %#x)", flags);
    struct prokio_signal *l = malloc(sizeof *l);
    if (l == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_signal_new: out of memory");
    l->signum = signum;
    l->waker = 0;

    pthread_mutex_lock(&g.lock);
    int rc = 0;
    if (g.listeners == 0 && (rc = dispatcher_start()) < 0)
        goto fail;
    if (g.by_signal[signum] == NULL) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        if (sigaction(signum, &sa, &g.previous[signum]) < 0) {
            rc = prokio__error(-errno, "prokio_signal_new: cannot handle signal %d (%s): %s",
                               signum, strsignal(signum), strerror(errno));
            if (g.listeners == 0)
                goto fail_stop;
            goto fail;
        }
    }
    /* Seen: whatever was delivered before now is not this listener's. */
    l->seen = atomic_load_explicit(&deliveries[signum], memory_order_acquire);
    l->next = g.by_signal[signum];
    g.by_signal[signum] = l;
    g.listeners++;
    pthread_mutex_unlock(&g.lock);
    *out = l;
    return 0;

fail_stop : {
    pthread_t th = g.dispatcher;
    int r = g.pipe_read, w = g.pipe_write;
    g.pipe_read = g.pipe_write = -1;
    atomic_store_explicit(&handler_pipe, -1, memory_order_seq_cst);
    pthread_mutex_unlock(&g.lock);
    dispatcher_stop(th, r, w);
    free(l);
    return rc;
}
fail:
    pthread_mutex_unlock(&g.lock);
    free(l);
    return rc;
}

/* Takes the deliveries the listener has not seen: their number, or 0.
 * Thread: any, lock held. */
static int take_locked(struct prokio_signal *l)
{
    uint32_t now = atomic_load_explicit(&deliveries[l->signum], memory_order_acquire);
    uint32_t n = now - l->seen;
    l->seen = now;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int prokio_signal_recv_poll(prokio_signal_t *l, prokio_cx_t *cx)
{
    if (l == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_signal_recv_poll: s is NULL");
    if (cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_signal_recv_poll: cx is NULL");
    uintptr_t mine = prokio__cx_waker(cx), old = 0;
    pthread_mutex_lock(&g.lock);
    int n = take_locked(l);
    if (n == 0) {
        /* Registered under the lock the dispatcher wakes under: a delivery
         * after the take above finds the waker. */
        if (l->waker != mine) {
            old = l->waker;
            l->waker = prokio__waker_clone(mine);
        }
    } else {
        old = l->waker;
        l->waker = 0;
    }
    pthread_mutex_unlock(&g.lock);
    if (old)
        prokio__waker_release(old);
    return n > 0 ? n : PROKIO_PENDING;
}

int prokio_signal_try_recv(prokio_signal_t *l)
{
    if (l == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_signal_try_recv: s is NULL");
    pthread_mutex_lock(&g.lock);
    int n = take_locked(l);
    pthread_mutex_unlock(&g.lock);
    return n > 0 ? n : PROKIO_EAGAIN;
}

void prokio_signal_free(prokio_signal_t *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&g.lock);
    struct prokio_signal **p = &g.by_signal[l->signum];
    while (*p != l)
        p = &(*p)->next;
    *p = l->next;
    if (g.by_signal[l->signum] == NULL) /* the last one: the old disposition again */
        sigaction(l->signum, &g.previous[l->signum], NULL);
    bool last = --g.listeners == 0;
    pthread_t th = g.dispatcher;
    int r = g.pipe_read, w = g.pipe_write;
    if (last) {
        g.pipe_read = g.pipe_write = -1;
        atomic_store_explicit(&handler_pipe, -1, memory_order_seq_cst);
    }
    uintptr_t waker = l->waker;
    pthread_mutex_unlock(&g.lock);
    if (waker)
        prokio__waker_release(waker);
    free(l);
    if (last)
        dispatcher_stop(th, r, w);
}

int prokio_signal_number(const prokio_signal_t *l)
{
    return l ? l->signum : 0;
}

#else /* __EMSCRIPTEN__: no signals on WebAssembly */

int prokio_signal_new(prokio_signal_t **out, int signum, unsigned flags)
{
    (void)signum, (void)flags;
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_signal_new: out is NULL");
    *out = NULL;
    return prokio__error(PROKIO_ENOTSUP,
                         "prokio_signal_new: there are no signals on WebAssembly; listen to the "
                         "host's events through JS instead");
}

int prokio_signal_recv_poll(prokio_signal_t *s, prokio_cx_t *cx)
{
    (void)s, (void)cx;
    return prokio__error(PROKIO_EINVAL, "prokio_signal_recv_poll: no listener exists on "
                                        "WebAssembly (prokio_signal_new fails there)");
}

int prokio_signal_try_recv(prokio_signal_t *s)
{
    (void)s;
    return prokio__error(PROKIO_EINVAL, "prokio_signal_try_recv: no listener exists on "
                                        "WebAssembly (prokio_signal_new fails there)");
}

void prokio_signal_free(prokio_signal_t *s)
{
    (void)s;
}

int prokio_signal_number(const prokio_signal_t *s)
{
    (void)s;
    return 0;
}
#endif
