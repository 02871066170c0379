/* core/timer.c: the 4-ary heap behind a worker's timers (see timer.h). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "task.h"
#include "timer.h"
#include "worker.h"

/* Layout: v = mem + 3 slots, with mem 64-byte aligned, so the children of
 * node i (4i+1 .. 4i+4) sit at mem + 4(i+1): one cache line. */
#define PAD 3

static inline bool before(const struct prokio__timer_slot *a, const struct prokio__timer_slot *b)
{
    return a->deadline_ns < b->deadline_ns ||
           (a->deadline_ns == b->deadline_ns && a->t->seq < b->t->seq);
}

static inline void place(struct prokio__timer_heap *h, uint32_t i, struct prokio__timer_slot s)
{
    h->v[i] = s;
    s.t->index = i;
}

static void sift_up(struct prokio__timer_heap *h, uint32_t i, struct prokio__timer_slot s)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 4;
        if (!before(&s, &h->v[parent]))
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, s);
}

static void sift_down(struct prokio__timer_heap *h, uint32_t i, struct prokio__timer_slot s)
{
    for (;;) {
        uint32_t first = 4 * i + 1;
        if (first >= h->len)
            break;
        uint32_t end = first + 4 < h->len ? first + 4 : h->len, best = first;
        for (uint32_t c = first + 1; c < end; c++)
            if (before(&h->v[c], &h->v[best]))
                best = c;
        if (!before(&h->v[best], &s))
            break;
        place(h, i, h->v[best]);
        i = best;
    }
    place(h, i, s);
}

void prokio__timer_heap_fini(struct prokio__timer_heap *h)
{
    free(h->mem);
    h->mem = NULL;
    h->v = NULL;
    h->len = h->cap = 0;
}

static int grow(struct prokio__timer_heap *h)
{
    uint32_t cap = h->cap ? h->cap * 2 : 64;
    if (cap <= h->cap || (size_t)cap + PAD > SIZE_MAX / sizeof(struct prokio__timer_slot))
        return PROKIO_ENOMEM;
    size_t bytes = ((size_t)cap + PAD) * sizeof(struct prokio__timer_slot);
    void *mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (mem == NULL)
        return PROKIO_ENOMEM;
    struct prokio__timer_slot *v = (struct prokio__timer_slot *)mem + PAD;
    if (h->len)
        memcpy(v, h->v, (size_t)h->len * sizeof *v);
    free(h->mem);
    h->mem = mem;
    h->v = v;
    h->cap = cap;
    return 0;
}

int prokio__timer_insert(struct prokio__timer_heap *h, struct prokio__timer *t)
{
    if (h->len == h->cap) {
        int rc = grow(h);
        if (rc < 0)
            return rc;
    }
    t->seq = h->next_seq++;
    t->fired = 0;
    struct prokio__timer_slot s = {t->deadline_ns, t};
    sift_up(h, h->len++, s);
    return 0;
}

void prokio__timer_remove(struct prokio__timer_heap *h, struct prokio__timer *t)
{
    uint32_t i = t->index;
    if (i == PROKIO__TIMER_IDLE)
        return;
    t->index = PROKIO__TIMER_IDLE;
    struct prokio__timer_slot last = h->v[--h->len];
    if (last.t == t)
        return;
    /* The last entry takes the hole and moves whichever way it must. */
    if (i > 0 && before(&last, &h->v[(i - 1) / 4]))
        sift_up(h, i, last);
    else
        sift_down(h, i, last);
}

struct prokio__timer *prokio__timer_pop_due(struct prokio__timer_heap *h, uint64_t now_ns)
{
    if (h->len == 0 || h->v[0].deadline_ns > now_ns)
        return NULL;
    struct prokio__timer *t = h->v[0].t;
    prokio__timer_remove(h, t);
    return t;
}

static void disarm_node(struct prokio__armed *node)
{
    struct prokio__timer *t = PROKIO_CONTAINER_OF(node, struct prokio__timer, armed);
    prokio__timer_remove(&prokio__task_worker(t->task)->timers, t);
}

int prokio__timer_arm(struct prokio__worker *w, struct prokio__timer *t, struct prokio_task *task,
                      uint64_t deadline_ns)
{
    t->deadline_ns = deadline_ns;
    t->task = task;
    int rc = prokio__timer_insert(&w->timers, t);
    if (rc < 0)
        return rc;
    t->armed.disarm = disarm_node;
    prokio__armed_push(&task->armed, &t->armed);
    return 0;
}

void prokio__timer_disarm(struct prokio__worker *w, struct prokio__timer *t)
{
    if (t->index == PROKIO__TIMER_IDLE)
        return;
    prokio__timer_remove(&w->timers, t);
    prokio__armed_remove(&t->armed);
}

void prokio__timer_fire_due(struct prokio__worker *w, uint64_t now_ns)
{
    struct prokio__timer *t;
    while ((t = prokio__timer_pop_due(&w->timers, now_ns)) != NULL) {
        t->fired = 1;
        prokio__armed_remove(&t->armed);
        prokio__task_wake_by_ref(t->task);
    }
}
