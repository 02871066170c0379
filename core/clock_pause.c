/* core/clock_pause.c: the paused clock for tests (Tokio's time::pause,
 * advance and auto-advance), and the offset that keeps the clock going
 * forward after a resume.
 *
 * The clock a task sees (prokio__worker_now_ns) is the backend's until the
 * first pause; from then on `shifted` is 1 for good and every read takes
 * prokio__clock_now_slow: `virt` while paused, backend time + `offset`
 * while running. pause sets virt to the current virtual time; resume sets
 * offset so that the running clock continues from virt. Writers (pause,
 * resume, advance, auto-advance) serialise on c->lock and only ever move
 * virt forward. Real backends' now_ns is the host's monotonic clock, which
 * is what a plain thread reads here to pause and resume (now_ns itself is
 * for the loop thread only); a simulation backend has its own virtual time
 * and need not be paused.
 *
 * Never backwards. A worker reading the clock while another thread pauses
 * or resumes may compute its time from a real clock read a moment before or
 * after the writer's; the difference is the duration of a clock read, but
 * it could go backwards by that much, so each worker keeps the last time it
 * returned (clock_floor) and never returns less. Deadlines are computed
 * and fired on the same worker, so a timer never fires early; an absolute
 * deadline taken from another worker's clock during that instant can be off
 * by the same sub-microsecond amount.
 *
 * Park and pause. A worker parks by setting parked = 1 (seq_cst) and then
 * reading `shifted` and `paused`; pause writes them (seq_cst) and then
 * notifies every worker, which reads parked. Dekker: either the worker sees
 * the pause and parks without a deadline, or the pause sees it parked and
 * wakes it, and it parks again, this time paused. A worker parked with a
 * real deadline while the clock is paused would otherwise sleep for real.
 * resume and advance notify every worker the same way.
 *
 * Auto-advance. A worker that parks while paused publishes the deadline of
 * its earliest timer (idle_deadline) and then idle = 1, and, under c->lock,
 * looks at every worker: when all are idle, still parked (a worker woken by
 * a notify has parked = 0 again) and have nothing in their remote queue, no
 * task can run until a timer fires, so virt jumps to the earliest
 * published deadline and the workers whose timer is then due are notified
 * (the caller itself just does not block). Two workers going idle at once
 * both scan under the lock; since idle is written seq_cst before the scan,
 * the later scan sees both; it finds the jumped-to deadline equal to virt
 * and does not jump again, because a woken worker's published deadline
 * stays until it parks again. advance racing an auto-advance: both run
 * under the lock and both only move virt forward; a timer is fired only
 * once virt >= its deadline, so never early.
 *
 * What auto-advance cannot see. A plain thread about to wake a task (a
 * send from a test's main thread) or I/O arriving while every worker is
 * parked: the jump may happen before that wake is noticed. That is the
 * nature of a paused clock (Tokio has the same for I/O): tests that use one
 * drive their tasks from tasks, or keep a worker busy.
 *
 * The non-blocking host (prokio__worker_drive). Such a runtime has one
 * worker, which never parks: when drive ends with no task ready and nothing
 * pushed, the worker is idle, so drive jumps virt to its next deadline
 * itself and asks the host to drive again at once (deadline 0); otherwise
 * it arms no deadline while paused, and an advance or resume wakes it
 * through vt->wake like any notify. */
#include "error_internal.h"
#include "runtime.h"
#include "worker.h"

int prokio__clock_init(struct prokio__clock *c)
{
    atomic_init(&c->shifted, 0);
    atomic_init(&c->paused, 0);
    atomic_init(&c->virt, 0);
    atomic_init(&c->offset, 0);
    return -pthread_mutex_init(&c->lock, NULL);
}

void prokio__clock_fini(struct prokio__clock *c)
{
    pthread_mutex_destroy(&c->lock);
}

static uint64_t add_offset(uint64_t t, int64_t off)
{
    if (off >= 0)
        return prokio__add_sat(t, (uint64_t)off);
    uint64_t d = (uint64_t)0 - (uint64_t)off;
    return t > d ? t - d : 0;
}

uint64_t prokio__clock_now_slow(struct prokio__worker *w, uint64_t real)
{
    struct prokio__clock *c = w->clock;
    uint64_t now;
    if (atomic_load_explicit(&c->paused, memory_order_acquire))
        now = atomic_load_explicit(&c->virt, memory_order_acquire);
    else
        now = add_offset(real, atomic_load_explicit(&c->offset, memory_order_acquire));
    if (now < w->clock_floor)
        return w->clock_floor;
    w->clock_floor = now;
    return now;
}

/* Is every worker idle? Then jump to the earliest deadline and wake whoever
 * it makes due. Returns true when `self`'s timer is due. Caller holds
 * c->lock, and the clock is paused. */
static bool auto_advance(struct prokio_runtime *rt, struct prokio__worker *self)
{
    struct prokio__clock *c = &rt->clock;
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct prokio__worker *w = rt->workers[i];
        if (!atomic_load_explicit(&w->idle, memory_order_seq_cst) ||
            !atomic_load_explicit(&w->parked, memory_order_seq_cst) ||
            atomic_load_explicit(&w->remote, memory_order_seq_cst) != NULL)
            return false;
        uint64_t d = atomic_load_explicit(&w->idle_deadline, memory_order_relaxed);
        if (d < min)
            min = d;
    }
    if (min == UINT64_MAX)
        return false; /* nothing will ever fire: a test that waits for ever */
    uint64_t virt = atomic_load_explicit(&c->virt, memory_order_relaxed);
    if (min > virt)
        atomic_store_explicit(&c->virt, min, memory_order_release);
    bool mine = false;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct prokio__worker *w = rt->workers[i];
        if (atomic_load_explicit(&w->idle_deadline, memory_order_relaxed) > min)
            continue;
        if (w == self)
            mine = true;
        else
            prokio__worker_notify(w);
    }
    return mine;
}

uint64_t prokio__clock_park_deadline(struct prokio__worker *w, uint64_t deadline)
{
    struct prokio__clock *c = w->clock;
    if (!atomic_load_explicit(&c->paused, memory_order_seq_cst)) {
        if (deadline == UINT64_MAX)
            return PROKIO_BACKEND_DEADLINE_NEVER;
        /* Virtual deadline to backend time: the inverse of the offset. */
        int64_t off = atomic_load_explicit(&c->offset, memory_order_acquire);
        return add_offset(deadline, off == INT64_MIN ? INT64_MAX : -off);
    }
    atomic_store_explicit(&w->idle_deadline, deadline, memory_order_relaxed);
    atomic_store_explicit(&w->idle, 1, memory_order_seq_cst);
    /* An advance that came after the last fire_timers: it either stored
     * virt before this load, or it found parked = 1 and wakes this wait. */
    if (deadline <= atomic_load_explicit(&c->virt, memory_order_seq_cst))
        return 0;
    pthread_mutex_lock(&c->lock);
    bool due = atomic_load_explicit(&c->paused, memory_order_relaxed) && auto_advance(w->rt, w);
    pthread_mutex_unlock(&c->lock);
    return due ? 0 : PROKIO_BACKEND_DEADLINE_NEVER;
}

void prokio__clock_unpark(struct prokio__worker *w)
{
    atomic_store_explicit(&w->idle, 0, memory_order_seq_cst);
}

uint64_t prokio__clock_drive_deadline(struct prokio__worker *w, uint64_t deadline)
{
    struct prokio__clock *c = w->clock;
    if (deadline == 0 || deadline == UINT64_MAX)
        return deadline;
    if (!atomic_load_explicit(&c->paused, memory_order_seq_cst))
        return prokio__clock_park_deadline(w, deadline); /* the offset only */
    if (atomic_load_explicit(&w->remote, memory_order_seq_cst) != NULL)
        return 0; /* pushed meanwhile: not idle, drive again */
    pthread_mutex_lock(&c->lock);
    if (atomic_load_explicit(&c->paused, memory_order_relaxed) &&
        atomic_load_explicit(&c->virt, memory_order_relaxed) < deadline)
        atomic_store_explicit(&c->virt, deadline, memory_order_release);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

/* ------------------------------------------------------------ public API */

static void notify_all(struct prokio_runtime *rt)
{
    for (unsigned i = 0; i < rt->nworkers; i++)
        prokio__worker_notify(rt->workers[i]);
}

static int check_rt(const struct prokio_runtime *rt, const char *who)
{
    if (rt == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: rt is NULL", who);
    if (atomic_load_explicit(&rt->closing, memory_order_acquire))
        return prokio__error(PROKIO_ESHUTDOWN,
                             "%s: the runtime is shut down; its clock no longer matters", who);
    return 0;
}

int prokio_runtime_time_pause(prokio_runtime_t *rt)
{
    int rc = check_rt(rt, "prokio_runtime_time_pause");
    if (rc < 0)
        return rc;
    struct prokio__clock *c = &rt->clock;
    pthread_mutex_lock(&c->lock);
    if (!atomic_load_explicit(&c->paused, memory_order_relaxed)) {
        int64_t off = atomic_load_explicit(&c->offset, memory_order_relaxed);
        uint64_t now = add_offset(prokio__monotonic_ns(), off);
        uint64_t virt = atomic_load_explicit(&c->virt, memory_order_relaxed);
        /* Never behind where an earlier pause left it. */
        atomic_store_explicit(&c->virt, now > virt ? now : virt, memory_order_seq_cst);
        atomic_store_explicit(&c->shifted, 1, memory_order_seq_cst);
        atomic_store_explicit(&c->paused, 1, memory_order_seq_cst);
        notify_all(rt);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int prokio_runtime_time_resume(prokio_runtime_t *rt)
{
    int rc = check_rt(rt, "prokio_runtime_time_resume");
    if (rc < 0)
        return rc;
    struct prokio__clock *c = &rt->clock;
    pthread_mutex_lock(&c->lock);
    if (atomic_load_explicit(&c->paused, memory_order_relaxed)) {
        uint64_t virt = atomic_load_explicit(&c->virt, memory_order_relaxed);
        uint64_t real = prokio__monotonic_ns();
        /* Both below 2^63 in practice (ns since boot plus what tests
         * advance); a clock advanced past that saturates the offset. */
        int64_t off = virt >= real
                          ? (virt - real > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(virt - real))
                          : -(int64_t)(real - virt);
        atomic_store_explicit(&c->offset, off, memory_order_seq_cst);
        atomic_store_explicit(&c->paused, 0, memory_order_seq_cst);
        notify_all(rt);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int prokio_runtime_time_advance(prokio_runtime_t *rt, uint64_t ns)
{
    int rc = check_rt(rt, "prokio_runtime_time_advance");
    if (rc < 0)
        return rc;
    struct prokio__clock *c = &rt->clock;
    pthread_mutex_lock(&c->lock);
    if (!atomic_load_explicit(&c->paused, memory_order_relaxed)) {
        pthread_mutex_unlock(&c->lock);
        return prokio__error(PROKIO_EINVAL,
                             "prokio_runtime_time_advance: the clock is not paused (call "
                             "prokio_runtime_time_pause first)");
    }
    uint64_t virt = atomic_load_explicit(&c->virt, memory_order_relaxed);
    atomic_store_explicit(&c->virt, prokio__add_sat(virt, ns), memory_order_seq_cst);
    notify_all(rt);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

bool prokio_runtime_time_is_paused(const prokio_runtime_t *rt)
{
    return rt != NULL && atomic_load_explicit(&rt->clock.paused, memory_order_acquire);
}
