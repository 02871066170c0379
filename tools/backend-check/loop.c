/* Loops and watches as the core drives them. */
#include "backend-check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lp_open(struct lp *L, uint32_t worker_index, uint32_t worker_count)
{
    memset(L, 0, sizeof *L);
    L->magic = LP_MAGIC;
    L->thread = pthread_self();
    L->tid = my_tid();
    L->mem = guarded_alloc(g_vt->loop_size);
    if (!L->mem) {
        fail("out of memory for %zu bytes of loop memory", g_vt->loop_size);
        return PROKIO_ENOMEM;
    }
    int slot = -1;
    for (int i = 0; i < MAX_LOOPS && slot < 0; i++) {
        struct lp *expected = NULL;
        if (atomic_compare_exchange_strong(&g_live[i], &expected, L))
            slot = i;
    }
    if (slot < 0) {
        fail("checker: more than %d loops at once", MAX_LOOPS);
        guarded_free(L->mem, g_vt->loop_size);
        return PROKIO_ENOMEM;
    }
    prokio_backend_loop_config_t cfg = {
        .size = sizeof cfg, .worker_index = worker_index, .worker_count = worker_count};
    uint64_t caps = g_vt->caps;
    int rc = g_vt->loop_init(L->mem, (prokio_backend_host_loop_t *)L, &cfg, &caps);
    if (rc != 0) {
        fail("loop_init: expected 0, got %d (%s)", rc, err_name(rc));
        EXPECT(rc < 0, "loop_init returned a positive value");
        EXPECT(guarded_intact(L->mem, g_vt->loop_size),
               "loop_init wrote past loop_size (%zu bytes)", g_vt->loop_size);
        atomic_store(&g_live[slot], NULL);
        guarded_free(L->mem, g_vt->loop_size);
        L->mem = NULL;
        return rc < 0 ? rc : PROKIO_EINVAL;
    }
    EXPECT((caps & ~g_vt->caps) == 0,
           "loop_init caps: expected a subset of vtable->caps %#llx, got %#llx",
           (unsigned long long)g_vt->caps, (unsigned long long)caps);
    L->caps = caps;
    return 0;
}

void lp_close(struct lp *L)
{
    if (!L->mem)
        return;
    if (L->nwatches)
        fail("checker bug: %zu watches still open at loop_fini", L->nwatches);
    g_vt->loop_fini(L->mem);
    EXPECT(guarded_intact(L->mem, g_vt->loop_size), "the backend wrote past loop_size (%zu bytes)",
           g_vt->loop_size);
    guarded_free(L->mem, g_vt->loop_size);
    L->mem = NULL;
    for (int i = 0; i < MAX_LOOPS; i++) {
        struct lp *expected = L;
        atomic_compare_exchange_strong(&g_live[i], &expected, NULL);
    }
    if (L->out_of_interest)
        diag("note: %u reports named a direction outside the interest (allowed as extra "
             "reports, but they cost the core a system call each)",
             L->out_of_interest);
    free(L->watches);
    L->magic = 0;
}

uint64_t lp_now(struct lp *L)
{
    return g_vt->now_ns(L->mem);
}

void lp_wake(struct lp *L)
{
    int saved = tl_hot;
    atomic_fetch_add(&L->wakes, 1);
    tl_hot = HOT_WAKE;
    g_vt->wake(L->mem);
    tl_hot = saved;
    atomic_fetch_add(&L->wakes_done, 1);
}

/* Every wait goes through here. An early return is excused when a wake call
 * overlapped the time since the previous wait started (it returned since then,
 * or it is still running): that wake may legitimately still be pending. This
 * keeps the rule free of false alarms and still catches wakes that stay
 * pending for more than one wait. */
int lp_wait(struct lp *L, uint64_t deadline_ns)
{
    uint64_t excuse = L->done_at_prev_start;
    L->done_at_prev_start = atomic_load(&L->wakes_done);
    L->reports = 0;
    L->completions = 0;
    atomic_store_explicit(&L->in_wait, 1, memory_order_relaxed);
    tl_hot = HOT_WAIT;
    int rc = g_vt->wait(L->mem, deadline_ns);
    tl_hot = HOT_NONE;
    atomic_store_explicit(&L->in_wait, 0, memory_order_relaxed);
    uint64_t now = lp_now(L);
    if (rc < 0)
        violation("wait returned %d (%s)", rc, err_name(rc));
    else if ((unsigned)rc != L->reports)
        violation("wait returned %d but made %u watch_ready calls", rc, L->reports);
    uint64_t done = atomic_load(&L->wakes_done);
    /* A native op's completion (ABI 1.1) is an event too. */
    if (rc >= 0 && L->reports == 0 && L->completions == 0 && deadline_ns != 0 &&
        now < deadline_ns && done == excuse && atomic_load(&L->wakes) == done) {
        if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER)
            violation("wait(NEVER) returned without an event or a wake");
        else
            violation("wait returned %.3f ms before its deadline without an event or a wake",
                      ns_to_ms((int64_t)(deadline_ns - now)));
    }
    return rc;
}

uint64_t deadline_in(struct lp *L, uint64_t ms)
{
    return lp_now(L) + ms * NS_PER_MS;
}

int tw_init(struct lp *L, struct tw *w, int fd)
{
    memset(w, 0, sizeof *w);
    w->lp = L;
    w->fd = fd;
    w->mem = guarded_alloc(g_vt->watch_size);
    if (!w->mem)
        return PROKIO_ENOMEM;
    int rc = g_vt->watch_init(L->mem, w->mem, fd);
    if (rc != 0) {
        EXPECT(rc < 0, "watch_init returned a positive value %d", rc);
        EXPECT(guarded_intact(w->mem, g_vt->watch_size), "watch_init wrote past watch_size");
        guarded_free(w->mem, g_vt->watch_size);
        w->mem = NULL;
        return rc < 0 ? rc : PROKIO_EINVAL;
    }
    if (L->nwatches == L->capwatches) {
        L->capwatches = L->capwatches ? 2 * L->capwatches : 16;
        L->watches = realloc(L->watches, L->capwatches * sizeof *L->watches);
        if (!L->watches) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    L->watches[L->nwatches++] = w;
    w->open = true;
    return 0;
}

int tw_update(struct tw *w, unsigned events)
{
    w->interest = events;
    int rc = g_vt->watch_update(w->lp->mem, w->mem, events);
    EXPECT(rc <= 0, "watch_update returned a positive value %d", rc);
    return rc;
}

void tw_close(struct tw *w)
{
    if (!w->open)
        return;
    struct lp *L = w->lp;
    for (size_t i = 0; i < L->nwatches; i++) {
        if (L->watches[i] == w) {
            L->watches[i] = L->watches[--L->nwatches];
            break;
        }
    }
    w->open = false;
    g_vt->watch_close(L->mem, w->mem);
    EXPECT(guarded_intact(w->mem, g_vt->watch_size),
           "the backend wrote past watch_size (%zu bytes)", g_vt->watch_size);
    /* The core may free watch memory as soon as watch_close returns. */
    guarded_free(w->mem, g_vt->watch_size);
    w->mem = NULL;
}

void tw_reset(struct tw *w)
{
    w->got = 0;
    w->nreports = 0;
}

/* Waits until w reported one of `mask` or `limit_ms` passed. */
bool wait_for(struct tw *w, unsigned mask, uint64_t limit_ms)
{
    struct lp *L = w->lp;
    uint64_t deadline = deadline_in(L, limit_ms * g_scale);
    while (!(w->got & mask) && lp_now(L) < deadline)
        lp_wait(L, deadline);
    return (w->got & mask) != 0;
}

/* Waits for `ms` in full (the deadline is reached); returns the reports made
 * meanwhile, for every watch. */
unsigned quiet(struct lp *L, uint64_t ms)
{
    uint64_t deadline = deadline_in(L, ms);
    unsigned total = 0;
    while (lp_now(L) < deadline) {
        lp_wait(L, deadline);
        total += L->reports;
    }
    return total;
}
