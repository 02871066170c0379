/* core/timer.h: a worker's timers, a 4-ary min-heap of intrusive entries.
 *
 * Timers live in task frames (prokio_sleep_t), so arming one allocates
 * nothing but a slot in the heap's array, which grows by doubling and is
 * kept. Order is (deadline, sequence): equal deadlines fire in the order
 * they were armed, which keeps runs reproducible. Insert and remove are
 * O(log n); a 4-ary heap keeps the tree shallow (10 levels for a million
 * timers).
 *
 * Each slot holds the deadline next to the timer's pointer, and the array
 * is laid out so that the four children of a node share one 64-byte cache
 * line: sifting compares without touching the timers (with a million
 * pending, each timer is a cache miss away in some task's frame; comparing
 * through the pointers made a fire cost four misses per level). Only equal
 * deadlines look at the timers' sequence numbers. Thread: the owning worker
 * only. */
#ifndef PROKIO_CORE_TIMER_H
#define PROKIO_CORE_TIMER_H

#include <stdbool.h>
#include <stdbool.h>
#include <stdint.h>

#include "armed.h"

#define PROKIO__TIMER_IDLE UINT32_MAX

struct prokio_task;
struct prokio__worker;

struct prokio__timer {
    uint64_t deadline_ns;
    uint64_t seq;
    struct prokio_task *task;   /* woken when the timer fires */
    uint32_t index;             /* position in the heap, or PROKIO__TIMER_IDLE */
    uint32_t fired;             /* set when it fired, cleared when armed */
    struct prokio__armed armed; /* in task->armed while in the heap */
};

struct prokio__timer_slot {
    uint64_t deadline_ns;
    struct prokio__timer *t;
};

struct prokio__timer_heap {
    struct prokio__timer_slot *v; /* v[0] is the root; see timer.c for the layout */
    void *mem;                    /* the allocation v points into */
    uint32_t len, cap;
    uint64_t next_seq;
};

/* True when t is the timer at index i of the heap: how a leaf future tells
 * an armed timer of its own from memory that only looks like one. */
static inline bool prokio__timer_heap_holds(const struct prokio__timer_heap *h, uint32_t i,
                                            const struct prokio__timer *t)
{
    return i < h->len && h->v[i].t == t;
}

void prokio__timer_heap_fini(struct prokio__timer_heap *h);

/* Adds an idle timer. Returns 0 or PROKIO_ENOMEM. */
int prokio__timer_insert(struct prokio__timer_heap *h, struct prokio__timer *t);

/* Removes an armed timer (no-op when idle). */
void prokio__timer_remove(struct prokio__timer_heap *h, struct prokio__timer *t);

/* The earliest deadline, or UINT64_MAX when empty. */
static inline uint64_t prokio__timer_next_deadline(const struct prokio__timer_heap *h)
{
    return h->len ? h->v[0].deadline_ns : UINT64_MAX;
}

/* Removes and returns the earliest timer if its deadline is <= now_ns,
 * else NULL. */
struct prokio__timer *prokio__timer_pop_due(struct prokio__timer_heap *h, uint64_t now_ns);

/* Arms t (idle) to wake `task` at deadline_ns: into the worker's heap and
 * the task's armed list, so that the task's end disarms it. Returns 0 or
 * PROKIO_ENOMEM. Thread: the worker's. */
int prokio__timer_arm(struct prokio__worker *w, struct prokio__timer *t, struct prokio_task *task,
                      uint64_t deadline_ns);

/* Disarms t if armed. Thread: the worker's. */
void prokio__timer_disarm(struct prokio__worker *w, struct prokio__timer *t);

/* Fires every timer due at now_ns, in deadline order: marks it fired, takes
 * it off its task's armed list and wakes the task. Thread: the worker's. */
void prokio__timer_fire_due(struct prokio__worker *w, uint64_t now_ns);

/* False for a sleep whose memory was never initialised (sleep.c). */
struct prokio_sleep;
bool prokio__sleep_is_initialised(const struct prokio_sleep *sleep);

#endif
