/* core/armed.h: what a task has armed.
 *
 * A leaf future that registers memory of the task's frame somewhere (a
 * timer in the worker's heap) links an `armed` node into its task. When the
 * task ends, completed or cancelled, the worker disarms every node before
 * the drop function runs, so a frame is never freed while the worker still
 * points into it, and the user never has to remember to cancel a timer.
 *
 * Doubly linked (pprev points at the link that points at the node), so a
 * node leaves in O(1): a task may have tens of thousands of sleeps armed at
 * once (a join-all with a deadline per item), and firing each must not
 * search the list. Thread: the task's worker only. */
#ifndef PROKIO_CORE_ARMED_H
#define PROKIO_CORE_ARMED_H

#include <stddef.h>

struct prokio__armed {
    struct prokio__armed *next;
    struct prokio__armed **pprev; /* NULL when not in a list */
    void (*disarm)(struct prokio__armed *self);
};

static inline void prokio__armed_push(struct prokio__armed **list, struct prokio__armed *node)
{
    node->next = *list;
    if (node->next)
        node->next->pprev = &node->next;
    node->pprev = list;
    *list = node;
}

/* Unlinks node from whatever list holds it; nothing when it is in none. */
static inline void prokio__armed_remove(struct prokio__armed *node)
{
    if (node->pprev == NULL)
        return;
    *node->pprev = node->next;
    if (node->next)
        node->next->pprev = node->pprev;
    node->next = NULL;
    node->pprev = NULL;
}

/* Disarms and unlinks everything (a disarm may unlink its node again). */
static inline void prokio__armed_disarm_all(struct prokio__armed **list)
{
    while (*list) {
        struct prokio__armed *node = *list;
        prokio__armed_remove(node);
        node->disarm(node);
    }
}

#endif
