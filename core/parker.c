/* core/parker.c: see parker.h. */
#include <stdlib.h>

#include "internal.h"
#include "parker.h"
#include "platform.h"

static pthread_key_t thread_parker_key;
static pthread_once_t thread_parker_once = PTHREAD_ONCE_INIT;
static int thread_parker_key_rc;
static __thread struct prokio__parker *thread_parker;

/* Test hook (tests/regress/block-on-enomem.c): the next this-many parker
 * allocations fail as if out of memory. Tests link the core statically and
 * set it; it is not exported. */
_Atomic unsigned prokio__parker_fail_allocs;

static void thread_exit(void *p)
{
    prokio__parker_unref(p);
}

static void make_key(void)
{
    thread_parker_key_rc = pthread_key_create(&thread_parker_key, thread_exit);
}

static struct prokio__parker *parker_new(void)
{
    unsigned fail = atomic_load_explicit(&prokio__parker_fail_allocs, memory_order_relaxed);
    while (fail &&
           !atomic_compare_exchange_weak_explicit(&prokio__parker_fail_allocs, &fail, fail - 1,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
    if (fail)
        return NULL;
    struct prokio__parker *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    atomic_init(&p->refs, 1);
    if (pthread_mutex_init(&p->lock, NULL) != 0)
        goto fail;
    if (pthread_cond_init(&p->cond, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        goto fail;
    }
    return p;
fail:
    free(p);
    return NULL;
}

struct prokio__parker *prokio__parker_current(void)
{
    if (PROKIO_LIKELY(thread_parker != NULL))
        return thread_parker;
    pthread_once(&thread_parker_once, make_key);
    if (thread_parker_key_rc != 0)
        return NULL;
    struct prokio__parker *p = parker_new();
    if (p == NULL)
        return NULL;
    /* The key's destructor gives the thread's reference up at its exit. */
    if (pthread_setspecific(thread_parker_key, p) != 0) {
        prokio__parker_unref(p);
        return NULL;
    }
    thread_parker = p;
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
#ifdef __EMSCRIPTEN__
    /* One thread: whoever unparks runs from the JS event loop, which only
     * turns while this one yields to it (callers checked
     * prokio__host_can_block). */
    while (!p->notified)
        prokio__host_block_once();
    p->notified = 0;
    return;
#endif
    pthread_mutex_lock(&p->lock);
    while (!p->notified)
        pthread_cond_wait(&p->cond, &p->lock);
    p->notified = 0;
    pthread_mutex_unlock(&p->lock);
}
