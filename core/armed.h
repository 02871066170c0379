/* core/armed.h: what a task has armed.
 *
 * A leaf future that registers memory of the task's frame somewhere (a
 * timer in the worker's heap) links an `armed` node into its task. When the
 * task ends, completed or cancelled, the worker disarms every node before
 * the drop function runs, so a frame is never freed while the worker still
 * points into it, and the user never has to remember to cancel a timer.
 * The list is short (one or two nodes) and singly linked. Thread: the
 * task's worker only. */
#ifndef PROKIO_ARMED_H
#define PROKIO_ARMED_H

#include <stddef.h>

struct prokio__armed {
    struct prokio__armed *next;
    void (*disarm)(struct prokio__armed *self);
};

static inline void prokio__armed_push(struct prokio__armed **list, struct prokio__armed *node)
{
    node->next = *list;
    *list = node;
}

/* Unlinks node if present. */
static inline void prokio__armed_remove(struct prokio__armed **list, struct prokio__armed *node)
{
    for (struct prokio__armed **p = list; *p; p = &(*p)->next) {
        if (*p == node) {
            *p = node->next;
            node->next = NULL;
            return;
        }
    }
}

/* Disarms and unlinks everything (each disarm may unlink itself first). */
static inline void prokio__armed_disarm_all(struct prokio__armed **list)
{
    while (*list) {
        struct prokio__armed *node = *list;
        *list = node->next;
        node->next = NULL;
        node->disarm(node);
    }
}

#endif
