/* The host table: the core's side of the ABI, played by the checker, which
 * flags every call the contract does not allow. */
#include "backend-check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Thread_local int tl_hot;
atomic_long g_allocs_live;
atomic_uint g_logs;

static void *host_alloc(size_t size)
{
    if (tl_hot != HOT_NONE)
        violation("host->alloc(%zu) called inside %s()", size,
                  tl_hot == HOT_WAIT ? "wait" : "wake");
    void *p = calloc(1, size ? size : 1);
    if (p)
        atomic_fetch_add(&g_allocs_live, 1);
    return p;
}

static void host_free(void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_sub(&g_allocs_live, 1);
    free(ptr);
}

__attribute__((format(printf, 2, 3))) static void host_log(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&g_logs, 1);
    /* As the core does: debug messages only with PROKIO_DEBUG=backend. */
    const char *debug = getenv("PROKIO_DEBUG");
    if (level >= PROKIO_BACKEND_LOG_DEBUG && !(debug && strstr(debug, "backend")))
        return;
    fprintf(stderr, "# backend log (%s): %s\n",
            level == PROKIO_BACKEND_LOG_ERROR  ? "error"
            : level == PROKIO_BACKEND_LOG_WARN ? "warn"
                                               : "debug",
            buf);
}

static uint64_t host_monotonic_ns(void)
{
    return mono_ns();
}
_Atomic(struct lp *) g_live[MAX_LOOPS];

static bool lp_is_live(struct lp *L)
{
    for (int i = 0; i < MAX_LOOPS; i++)
        if (L && atomic_load_explicit(&g_live[i], memory_order_relaxed) == L)
            return true;
    return false;
}

static struct tw *lp_find(struct lp *L, const void *watch_mem)
{
    for (size_t i = 0; i < L->nwatches; i++)
        if (L->watches[i]->mem == watch_mem)
            return L->watches[i];
    return NULL;
}
static void host_watch_ready(prokio_backend_host_loop_t *host_loop, prokio_backend_watch_t *watch,
                             unsigned events)
{
    struct lp *L = (struct lp *)host_loop;
    char b[64];
    if (!lp_is_live(L)) {
        violation("watch_ready(host_loop %p) does not name a live loop", (void *)host_loop);
        return;
    }
    if (!pthread_equal(pthread_self(), L->thread)) {
        violation("watch_ready called from a thread other than the loop thread");
        return;
    }
    L->reports++;
    if (!atomic_load_explicit(&L->in_wait, memory_order_relaxed))
        violation("watch_ready(%s) called outside wait()", ev_str(events, b));
    if (events == 0 || (events & ~ALL_EVENTS))
        violation("watch_ready with event mask %#x", events);
    if ((events & PROKIO_BACKEND_RDHUP) && !(L->caps & PROKIO_BACKEND_CAP_RDHUP))
        violation("watch_ready(%s): RDHUP from a loop without CAP_RDHUP", ev_str(events, b));
    if ((events & PROKIO_BACKEND_RDHUP) && !(events & PROKIO_BACKEND_READABLE))
        violation("watch_ready(%s): RDHUP comes with READABLE", ev_str(events, b));
    struct tw *w = lp_find(L, watch);
    if (!w) {
        violation("watch_ready(%s) for a watch that is closed or not of this loop (%p)",
                  ev_str(events, b), (void *)watch);
        return;
    }
    if (w->interest == 0)
        violation("watch_ready(%s) for a watch whose interest is 0 (fd %d)", ev_str(events, b),
                  w->fd);
    if (events & (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE) & ~w->interest)
        L->out_of_interest++;
    w->got |= events;
    w->nreports++;
    if (L->wake_in_ready)
        lp_wake(L);
}

static int host_drive(prokio_backend_host_loop_t *host_loop)
{
    (void)host_loop;
    if (g_vt && !(g_vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST))
        violation("host->drive called by a backend without CAP_NONBLOCKING_HOST");
    return PROKIO_ENOTSUP;
}

prokio_backend_host_t g_host = {
    .size = sizeof(prokio_backend_host_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
    .alloc = host_alloc,
    .free = host_free,
    .log = host_log,
    .monotonic_ns = host_monotonic_ns,
    .watch_ready = host_watch_ready,
    .drive = host_drive,
    .op_complete = host_op_complete_check,
};
