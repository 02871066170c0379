/* core/once.c: OnceCell, as Tokio's (prokio/sync.h).
 *
 * state: EMPTY, INIT (one wait holds the right to initialise) or SET (the
 * value is there and never changes: read without the lock, acquire).
 * The holder of the right is a waiter GRANTED with n = RIGHT, armed in its
 * task, so a task that ends or a prokio_wait_cancel passes the right on
 * (to the head of the queue, granted RIGHT) or makes the cell EMPTY again.
 * prokio_once_set grants every queued wait with n = VALUE. */
#include <stdlib.h>
#include <string.h>

#include "coop.h"
#include "error_internal.h"
#include "sync.h"

enum { ONCE_EMPTY = 0, ONCE_INIT = 1, ONCE_SET = 2 };
enum { RIGHT = 1, VALUE = 2 };

struct prokio_once {
    struct prokio__shared sh;
    _Atomic int state;
    struct prokio__waitq q;
    prokio_value_drop_fn drop;
    size_t value_size;
    _Atomic size_t pending;
    _Alignas(max_align_t) unsigned char value[];
};

int prokio_once_new(prokio_once_t **out, size_t value_size, prokio_value_drop_fn drop,
                    unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_once_new: out is NULL");
    *out = NULL;
    if (value_size > SIZE_MAX / 2)
        return prokio__error(PROKIO_EINVAL, "prokio_once_new: value_size %zu is too large",
                             value_size);
    struct prokio_once *o = calloc(1, sizeof *o + value_size);
    if (o == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_once_new: no memory for %zu bytes",
                             sizeof *o + value_size);
    int rc = prokio__shared_init(&o->sh, flags, "prokio_once_new");
    if (rc < 0) {
        free(o);
        return rc;
    }
    o->drop = drop;
    o->value_size = value_size;
    *out = o;
    return 0;
}

int prokio_once_free(prokio_once_t *o)
{
    if (o == NULL)
        return 0;
    int rc = prokio__shared_check(&o->sh, "prokio_once_free");
    if (rc < 0)
        return rc;
    if (!prokio__pending_none(&o->sh, &o->pending))
        return prokio__error(PROKIO_EBUSY, "prokio_once_free: a caller still initialises the cell "
                                           "or waits on it (let it finish or cancel it first)");
    if (atomic_load_explicit(&o->state, memory_order_acquire) == ONCE_SET && o->drop)
        o->drop(o->value);
    prokio__shared_fini(&o->sh);
    free(o);
    return 0;
}

const void *prokio_once_get(const prokio_once_t *o)
{
    if (o == NULL || prokio__shared_check(&o->sh, "prokio_once_get") < 0)
        return NULL;
    struct prokio_once *m = (struct prokio_once *)o;
    return atomic_load_explicit(&m->state, memory_order_acquire) == ONCE_SET ? m->value : NULL;
}

static void cancel(struct prokio__armed *node)
{
    struct prokio__waiter *w = PROKIO_CONTAINER_OF(node, struct prokio__waiter, armed);
    struct prokio_once *o = w->obj;
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&o->sh);
    uint32_t st = atomic_load_explicit(&w->state, memory_order_relaxed);
    if (st == PROKIO__WAIT_QUEUED) {
        prokio__waiter_dequeue(&o->q, w);
    } else if (st == PROKIO__WAIT_GRANTED && w->n == RIGHT) {
        struct prokio__waiter *h = o->q.head;
        if (h) {
            h->n = RIGHT; /* the right passes on; the state stays INIT */
            prokio__waiter_grant(&o->q, h, &wl);
        } else {
            atomic_store_explicit(&o->state, ONCE_EMPTY, memory_order_relaxed);
        }
    }
    if (st != PROKIO__WAIT_IDLE)
        prokio__pending_add(&o->sh, &o->pending, (size_t)-1);
    prokio__waiter_idle(w);
    prokio__shared_unlock(&o->sh);
    prokio__wakelist_wake(&wl);
}

static int ready(struct prokio_once *o, const void **value_out)
{
    *value_out = o->value;
    return 0;
}

int prokio_once_init_poll(const void **value_out, prokio_wait_t *wait, prokio_once_t *o,
                          prokio_cx_t *cx)
{
    static const char what[] = "prokio_once_init_poll";
    if (PROKIO_UNLIKELY(wait == NULL || o == NULL || value_out == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL        ? "wait"
                             : o == NULL         ? "o"
                             : value_out == NULL ? "value_out"
                                                 : "cx");
    int rc = prokio__shared_check(&o->sh, what);
    if (rc < 0)
        return rc;
    struct prokio__waiter *w = prokio__waiter_of(wait);
    uint32_t st = prokio__waiter_state(w);
    if (st == PROKIO__WAIT_IDLE) {
        if (!prokio__coop_proceed(cx))
            return PROKIO_PENDING;
        if (atomic_load_explicit(&o->state, memory_order_acquire) == ONCE_SET)
            return ready(o, value_out);
        prokio__shared_lock(&o->sh);
        int s = atomic_load_explicit(&o->state, memory_order_relaxed);
        if (s == ONCE_SET) {
            prokio__shared_unlock(&o->sh);
            return ready(o, value_out);
        }
        prokio__pending_add(&o->sh, &o->pending, 1);
        if (s == ONCE_EMPTY) {
            atomic_store_explicit(&o->state, ONCE_INIT, memory_order_relaxed);
            prokio__waiter_hold(w, o, cancel, RIGHT, cx);
            prokio__shared_unlock(&o->sh);
            return PROKIO_ONCE_INIT;
        }
        prokio__waiter_enqueue(&o->q, w, o, cancel, cx);
        prokio__shared_unlock(&o->sh);
        prokio__coop_restore(cx);
        return PROKIO_PENDING;
    }
    if (w->obj != o)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the wait is pending on another object; finish it or "
                             "prokio_wait_cancel it first",
                             what);
    if (st == PROKIO__WAIT_QUEUED) {
        if (!prokio__waiter_repoll(&o->sh, w, cx, what))
            return PROKIO_EXDEV;
        if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED)
            return PROKIO_PENDING;
    }
    if (w->n == RIGHT)
        return PROKIO_ONCE_INIT; /* still (or now) this caller's to set */
    prokio__waiter_finish(w);
    prokio__pending_add(&o->sh, &o->pending, (size_t)-1);
    return ready(o, value_out);
}

/* Under the lock: publishes the value and wakes every waiter with it. */
static void publish_locked(struct prokio_once *o, const void *value, struct prokio__wakelist *wl)
{
    if (o->value_size)
        memcpy(o->value, value, o->value_size);
    atomic_store_explicit(&o->state, ONCE_SET, memory_order_release);
    struct prokio__waiter *h;
    while ((h = o->q.head) != NULL) {
        h->n = VALUE;
        prokio__grant_flush(&o->sh, &o->q, h, wl);
    }
}

int prokio_once_set(prokio_wait_t *wait, prokio_once_t *o, const void *value)
{
    static const char what[] = "prokio_once_set";
    if (wait == NULL || o == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what, wait == NULL ? "wait" : "o");
    int rc = prokio__shared_check(&o->sh, what);
    if (rc < 0)
        return rc;
    if (value == NULL && o->value_size != 0)
        return prokio__error(PROKIO_EINVAL,
                             "%s: value is NULL for a %zu-byte value (NULL is for a zero-sized "
                             "one); the cell is not set and the right to set it is kept",
                             what, o->value_size);
    struct prokio__waiter *w = prokio__waiter_of(wait);
    if (prokio__waiter_state(w) != PROKIO__WAIT_GRANTED || w->obj != o || w->n != RIGHT)
        return prokio__error(PROKIO_EINVAL,
                             "%s: the wait does not hold the right to initialise this cell "
                             "(prokio_once_init_poll returns PROKIO_ONCE_INIT to the one that "
                             "does; use prokio_once_set_now otherwise)",
                             what);
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&o->sh);
    publish_locked(o, value, &wl);
    prokio__waiter_finish(w);
    prokio__pending_add(&o->sh, &o->pending, (size_t)-1);
    prokio__shared_unlock(&o->sh);
    prokio__wakelist_wake(&wl);
    return 0;
}

int prokio_once_set_now(prokio_once_t *o, const void *value)
{
    static const char what[] = "prokio_once_set_now";
    if (o == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: o is NULL", what);
    int rc = prokio__shared_check(&o->sh, what);
    if (rc < 0)
        return rc;
    if (value == NULL && o->value_size != 0)
        return prokio__error(
            PROKIO_EINVAL, "%s: value is NULL for a %zu-byte value (NULL is for a zero-sized one)",
            what, o->value_size);
    struct prokio__wakelist wl = {0};
    prokio__shared_lock(&o->sh);
    int s = atomic_load_explicit(&o->state, memory_order_relaxed);
    if (s == ONCE_EMPTY)
        publish_locked(o, value, &wl);
    prokio__shared_unlock(&o->sh);
    prokio__wakelist_wake(&wl);
    if (s == ONCE_SET)
        return prokio__error(PROKIO_EEXIST, "%s: the cell is set already; the value is still yours",
                             what);
    if (s == ONCE_INIT)
        return prokio__error(
            PROKIO_EBUSY, "%s: a caller is initialising the cell; the value is still yours", what);
    return 0;
}
