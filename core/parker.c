/* core/parker.c */
#include <stdlib.h>

#include "parker.h"

struct prokio__parker *prokio__parker_new(void)
{
    struct prokio__parker *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    atomic_init(&p->refs, 1);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    return p;
}

void prokio__parker_ref(struct prokio__parker *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void prokio__parker_unref(struct prokio__parker *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void prokio__parker_unpark(struct prokio__parker *p)
{
    pthread_mutex_lock(&p->lock);
    p->notified = 1;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void prokio__parker_park(struct prokio__parker *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->notified)
        pthread_cond_wait(&p->cond, &p->lock);
    p->notified = 0;
    pthread_mutex_unlock(&p->lock);
}
