/* core/queue.h: the two run queues of a worker, both intrusive through
 * task->next, so scheduling never allocates.
 *
 * A task is in at most one queue at a time: only the caller that set its
 * NOTIFIED bit (or the spawner) may push it. */
#ifndef PROKIO_CORE_QUEUE_H
#define PROKIO_CORE_QUEUE_H

#include "task.h"

/* The ready queue: FIFO, owner thread only. */
struct prokio__ready_queue {
    struct prokio_task *head, *tail;
};

static inline void prokio__ready_push(struct prokio__ready_queue *q, struct prokio_task *t)
{
    t->next = NULL;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

static inline struct prokio_task *prokio__ready_pop(struct prokio__ready_queue *q)
{
    struct prokio_task *t = q->head;
    if (t) {
        q->head = t->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    return t;
}

/* Appends a chain already linked through ->next, ending at last. */
static inline void prokio__ready_append(struct prokio__ready_queue *q, struct prokio_task *first,
                                        struct prokio_task *last)
{
    last->next = NULL;
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
}

/* The remote queue: a lock-free stack that any thread pushes on and the
 * owner empties in one exchange, then reverses to restore FIFO order.
 * Closing it at shutdown makes later pushes fail. */
#define PROKIO__REMOTE_CLOSED ((struct prokio_task *)(uintptr_t)1)

/* Returns false when the queue is closed (the task was not pushed). The
 * sequentially consistent exchange orders the push before the caller's
 * read of the worker's parked flag (see worker.c). */
static inline bool prokio__remote_push(_Atomic(struct prokio_task *) *head, struct prokio_task *t)
{
    struct prokio_task *old = atomic_load_explicit(head, memory_order_relaxed);
    do {
        if (old == PROKIO__REMOTE_CLOSED)
            return false;
        t->next = old;
    } while (!atomic_compare_exchange_weak_explicit(head, &old, t, memory_order_seq_cst,
                                                    memory_order_relaxed));
    return true;
}

/* Takes everything pushed so far, oldest first; *last receives the newest.
 * Returns NULL when empty. Thread: the owner. */
static inline struct prokio_task *prokio__remote_take_all(_Atomic(struct prokio_task *) *head,
                                                          struct prokio_task **last)
{
    struct prokio_task *t = atomic_exchange_explicit(head, NULL, memory_order_acquire);
    if (t == NULL || t == PROKIO__REMOTE_CLOSED) {
        if (t == PROKIO__REMOTE_CLOSED)
            atomic_store_explicit(head, PROKIO__REMOTE_CLOSED, memory_order_relaxed);
        return NULL;
    }
    struct prokio_task *reversed = NULL;
    *last = t;
    while (t) {
        struct prokio_task *next = t->next;
        t->next = reversed;
        reversed = t;
        t = next;
    }
    return reversed;
}

#endif
