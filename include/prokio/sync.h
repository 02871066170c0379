/* prokio/sync.h: synchronisation between tasks, workers and threads:
 * Semaphore, Mutex, RwLock, Notify, Barrier, OnceCell, as Tokio's. Part of
 * prokio.h.
 *
 * Every waiting operation takes a prokio_wait_t (prokio/future.h): embed
 * it in your frame, poll with it until the result, and it is idle again.
 * Waiters are served first come, first served (FIFO) by every primitive
 * here, as Tokio's are. Every object is created with flags 0 (usable from
 * any worker, and from plain threads through the _blocking_ calls) or
 * PROKIO_LOCAL (one worker, no atomic read-modify-write of the object's
 * state on the fast path; PROKIO_EXDEV from any other thread).
 *
 * Cancel-safety in one line: a cancelled wait (prokio_wait_cancel, or its
 * task ending) takes nothing and loses nothing; what had already been
 * handed to it (a lock, permits, a notify_one, the right to initialise a
 * OnceCell) goes to the next waiter. Each function says what that means. */
#ifndef PROKIO_SYNC_H
#define PROKIO_SYNC_H

#include <prokio/future.h>
#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ semaphore */

/* Permits counted up to PROKIO_SEMAPHORE_MAX_PERMITS; waiters that ask for
 * n permits are served strictly in order: a waiter at the head that needs
 * more than are available collects them as they are released, and the
 * waiters behind it wait (no small request overtakes a large one). */
typedef struct prokio_semaphore prokio_semaphore_t;

#define PROKIO_SEMAPHORE_MAX_PERMITS (SIZE_MAX >> 3)

/* Creates a semaphore with `permits` permits (at most
 * PROKIO_SEMAPHORE_MAX_PERMITS). flags: 0 or PROKIO_LOCAL.
 * Ownership: *out is the caller's, freed with prokio_semaphore_free.
 * Thread: any (a worker thread for PROKIO_LOCAL). */
int prokio_semaphore_new(prokio_semaphore_t **out, size_t permits, unsigned flags);

/* Frees the semaphore. PROKIO_EBUSY (nothing done) while a wait is queued
 * on it or granted and not yet polled. Permits held need not be returned.
 * Thread: any that may use it. */
int prokio_semaphore_free(prokio_semaphore_t *s);

/* Awaits n permits (more than PROKIO_SEMAPHORE_MAX_PERMITS is
 * PROKIO_EINVAL). PROKIO_PENDING; then 0: the n permits are the
 * caller's, to give back with prokio_semaphore_release; or PROKIO_ECLOSED
 * once the semaphore is closed (nothing taken). n = 0 completes at once.
 * The wait is idle again after the result.
 * Cancel-safety: a cancelled wait loses its place in the queue and takes
 * nothing; the permits collected for it while at the head, or granted to
 * it and not yet seen by a poll, are released to the next waiters.
 * Thread: worker thread (the owning worker for PROKIO_LOCAL); a pending
 * wait is polled on its task's worker. */
int prokio_semaphore_acquire_poll(prokio_wait_t *wait, prokio_semaphore_t *s, uint32_t n,
                                  prokio_cx_t *cx);

/* Takes n permits now, if available and nobody waits before the caller:
 * 0, PROKIO_EAGAIN (nothing taken), or PROKIO_ECLOSED. Thread: any. */
int prokio_semaphore_try_acquire(prokio_semaphore_t *s, uint32_t n);

/* Blocks the calling thread until n permits are the caller's: 0, or
 * PROKIO_ECLOSED. Thread: not a worker thread (PROKIO_EDEADLK there). */
int prokio_semaphore_blocking_acquire(prokio_semaphore_t *s, uint32_t n);

/* Adds n permits (Tokio's add_permits; also how acquired permits are given
 * back), served to the waiters first, in order. Saturates at
 * PROKIO_SEMAPHORE_MAX_PERMITS. Works after close (the count stays
 * accurate, acquiring still fails). Thread: any. */
void prokio_semaphore_release(prokio_semaphore_t *s, size_t n);

/* Closes: every queued wait completes with PROKIO_ECLOSED (the permits it
 * collected go back to the count), and every later acquire fails with it.
 * Thread: any. */
void prokio_semaphore_close(prokio_semaphore_t *s);
bool prokio_semaphore_is_closed(const prokio_semaphore_t *s);

/* Permits available now (0 while anybody waits). Thread: any. */
size_t prokio_semaphore_available(const prokio_semaphore_t *s);

/* ----------------------------------------------------------------- mutex */

/* A lock that may be held across awaits, by a task or a thread (Tokio's
 * Mutex: a semaphore of one permit, so waiters are served FIFO). It
 * protects no memory of its own: the caller's data goes with it. */
typedef struct prokio_mutex prokio_mutex_t;

/* Creates an unlocked mutex. flags: 0 or PROKIO_LOCAL.
 * Ownership: *out is the caller's, freed with prokio_mutex_free.
 * Thread: any (a worker thread for PROKIO_LOCAL). */
int prokio_mutex_new(prokio_mutex_t **out, unsigned flags);

/* Frees it. PROKIO_EBUSY (nothing done) while it is locked or waited on.
 * Thread: any that may use it. */
int prokio_mutex_free(prokio_mutex_t *m);

/* Awaits the lock: PROKIO_PENDING, then 0 with the lock held by the
 * caller until prokio_mutex_unlock (by any thread: the lock is not tied to
 * a task). The wait is idle again after the result.
 * Cancel-safety: a cancelled wait loses its place and nothing else; a lock
 * granted to it and not yet seen by a poll is passed to the next waiter
 * (or unlocked). Thread: worker thread (the owning worker for
 * PROKIO_LOCAL). */
int prokio_mutex_lock_poll(prokio_wait_t *wait, prokio_mutex_t *m, prokio_cx_t *cx);

/* Locks now if free and nobody waits: 0, or PROKIO_EAGAIN. Thread: any. */
int prokio_mutex_try_lock(prokio_mutex_t *m);

/* Blocks the calling thread until it holds the lock: 0.
 * Thread: not a worker thread (PROKIO_EDEADLK there). */
int prokio_mutex_blocking_lock(prokio_mutex_t *m);

/* Unlocks: the next waiter, if any, holds the lock. Unlocking a mutex that
 * is not locked does nothing. Thread: any. */
void prokio_mutex_unlock(prokio_mutex_t *m);

/* ---------------------------------------------------------------- rwlock */

/* Many readers or one writer (Tokio's RwLock: a semaphore of
 * PROKIO_RWLOCK_MAX_READS permits; a reader takes one, a writer all of
 * them). Fair: a writer queued behind readers blocks the readers that come
 * after it, so a stream of readers never starves a writer. */
typedef struct prokio_rwlock prokio_rwlock_t;

#define PROKIO_RWLOCK_MAX_READS (UINT32_MAX >> 3)

/* Creates an unlocked rwlock. flags: 0 or PROKIO_LOCAL.
 * Ownership: *out is the caller's, freed with prokio_rwlock_free.
 * Thread: any (a worker thread for PROKIO_LOCAL). */
int prokio_rwlock_new(prokio_rwlock_t **out, unsigned flags);

/* Frees it. PROKIO_EBUSY while it is held or waited on.
 * Thread: any that may use it. */
int prokio_rwlock_free(prokio_rwlock_t *l);

/* Awaits shared (read) access: PROKIO_PENDING, then 0; end it with
 * prokio_rwlock_read_unlock. Past PROKIO_RWLOCK_MAX_READS readers at
 * once, a reader waits for one to leave.
 * Cancel-safety: as prokio_mutex_lock_poll (a read access granted and not
 * seen is released). Thread: worker thread (the owning worker for
 * PROKIO_LOCAL). */
int prokio_rwlock_read_poll(prokio_wait_t *wait, prokio_rwlock_t *l, prokio_cx_t *cx);

/* Awaits exclusive (write) access: PROKIO_PENDING, then 0; end it with
 * prokio_rwlock_write_unlock.
 * Cancel-safety: a cancelled wait loses its place; the read permits it
 * collected while at the head, or the write access granted and not seen,
 * are released to the next waiters. Thread: as prokio_rwlock_read_poll. */
int prokio_rwlock_write_poll(prokio_wait_t *wait, prokio_rwlock_t *l, prokio_cx_t *cx);

/* Now or PROKIO_EAGAIN. Thread: any. */
int prokio_rwlock_try_read(prokio_rwlock_t *l);
int prokio_rwlock_try_write(prokio_rwlock_t *l);

/* Block the calling thread until access is granted: 0.
 * Thread: not a worker thread (PROKIO_EDEADLK there). */
int prokio_rwlock_blocking_read(prokio_rwlock_t *l);
int prokio_rwlock_blocking_write(prokio_rwlock_t *l);

/* End one read access, or the write access. Thread: any. */
void prokio_rwlock_read_unlock(prokio_rwlock_t *l);
void prokio_rwlock_write_unlock(prokio_rwlock_t *l);

/* ---------------------------------------------------------------- notify */

/* Tokio's Notify. notify_one wakes the longest-waiting wait or, when none
 * waits, stores one permit (never more) that the next notified_poll (or
 * prokio_notify_enable) consumes at once. notify_waiters wakes every wait
 * registered before the call (polled, or enabled) and stores nothing. */
typedef struct prokio_notify prokio_notify_t;

/* Creates one. flags: 0 or PROKIO_LOCAL. Ownership: *out is the caller's,
 * freed with prokio_notify_free. Thread: any (a worker for PROKIO_LOCAL). */
int prokio_notify_new(prokio_notify_t **out, unsigned flags);

/* Frees it. PROKIO_EBUSY while a wait is registered or notified and not
 * yet polled. Thread: any that may use it. */
int prokio_notify_free(prokio_notify_t *n);

/* Registers the wait now, without waiting yet (Tokio's Notified::enable):
 * a notify_waiters or notify_one from here on counts for it, so a task can
 * enable, check its condition, and then await with notified_poll without
 * missing a notification sent in between. Consumes a stored permit if
 * there is one (the next notified_poll then returns 0). 0, or an error;
 * a wait already pending is left as it is.
 * Cancel-safety: as prokio_notify_notified_poll. Thread: worker thread. */
int prokio_notify_enable(prokio_wait_t *wait, prokio_notify_t *n, prokio_cx_t *cx);

/* Awaits a notification: 0 at once when a permit is stored (consuming it),
 * else PROKIO_PENDING until notified. The wait is idle again after 0.
 * Cancel-safety: a cancelled wait leaves the queue; if it had been chosen
 * by notify_one (or had consumed the stored permit) and was not polled
 * since, the notification is passed on as a new notify_one (to the next
 * waiter, or stored), so none is lost. A notify_waiters it missed is not
 * passed on (it was for everyone waiting then). Thread: worker thread. */
int prokio_notify_notified_poll(prokio_wait_t *wait, prokio_notify_t *n, prokio_cx_t *cx);

/* Wakes one waiter (FIFO), or stores the one permit. Thread: any. */
void prokio_notify_notify_one(prokio_notify_t *n);

/* Wakes every waiter registered before the call. Thread: any. */
void prokio_notify_notify_waiters(prokio_notify_t *n);

/* --------------------------------------------------------------- barrier */

/* Tokio's Barrier: parties tasks meet; the one that arrives last is the
 * leader of that generation, and the barrier is ready for the next
 * generation at once (reusable). */
typedef struct prokio_barrier prokio_barrier_t;

/* Creates a barrier for `parties` tasks (0 acts as 1, as in Tokio).
 * flags: 0 or PROKIO_LOCAL. Ownership: *out is the caller's, freed with
 * prokio_barrier_free. Thread: any (a worker thread for PROKIO_LOCAL). */
int prokio_barrier_new(prokio_barrier_t **out, size_t parties, unsigned flags);

/* Frees it. PROKIO_EBUSY while a wait is queued on it.
 * Thread: any that may use it. */
int prokio_barrier_free(prokio_barrier_t *b);

/* Arrives and awaits the others: PROKIO_PENDING, then 1 for exactly one
 * task per generation (the leader: the last to arrive) and 0 for the
 * others. The wait is idle again after the result.
 * Cancel-safety: arrival is counted at the first poll and is not taken
 * back (as in Tokio, where dropping a Barrier::wait future leaves its
 * arrival counted): a cancelled wait still counts towards its generation,
 * which completes when the others arrive; it is then simply not woken.
 * Thread: worker thread. */
int prokio_barrier_wait_poll(prokio_wait_t *wait, prokio_barrier_t *b, prokio_cx_t *cx);

/* ------------------------------------------------------------------ once */

/* Tokio's OnceCell: a value of value_size bytes set once, after an async
 * initialisation that exactly one caller runs at a time. */
typedef struct prokio_once prokio_once_t;

/* Returned by prokio_once_init_poll to the caller that must initialise. */
#define PROKIO_ONCE_INIT 1

/* Creates an empty cell. drop (optional) is called once on the value when
 * the cell is freed. flags: 0 or PROKIO_LOCAL.
 * Ownership: *out is the caller's, freed with prokio_once_free.
 * Thread: any (a worker thread for PROKIO_LOCAL). */
int prokio_once_new(prokio_once_t **out, size_t value_size, prokio_value_drop_fn drop,
                    unsigned flags);

/* Frees it, dropping the value if it was set. PROKIO_EBUSY while someone
 * initialises it or waits on it. Thread: any that may use it. */
int prokio_once_free(prokio_once_t *o);

/* The value, or NULL until it is set.
 * Lifetime: valid until prokio_once_free; never changes once set.
 * Thread: any. */
const void *prokio_once_get(const prokio_once_t *o);

/* Awaits the value or the right to set it:
 *   0                 the value is set; *value_out points at it (as
 *                     prokio_once_get); the wait is idle again.
 *   PROKIO_ONCE_INIT  this caller must initialise: compute the value
 *                     (awaiting anything) and call prokio_once_set with the
 *                     same wait. Polled again meanwhile, it says the same.
 *   PROKIO_PENDING    another caller initialises.
 * Cancel-safety: a cancelled queued wait just leaves the queue. A wait
 * that holds the right to initialise (PROKIO_ONCE_INIT returned, or
 * granted and not yet polled) and is cancelled, or whose task ends,
 * passes the right to the next waiter (which gets PROKIO_ONCE_INIT), or
 * leaves the cell empty for the next caller: exactly one initialiser
 * completes. Thread: worker thread. */
int prokio_once_init_poll(const void **value_out, prokio_wait_t *wait, prokio_once_t *o,
                          prokio_cx_t *cx);

/* Sets the value (value_size bytes copied; NULL for size 0) as the holder
 * of the right to initialise (wait got PROKIO_ONCE_INIT): every waiter
 * completes with it, and the wait is idle. PROKIO_EINVAL if the wait does
 * not hold that right. Ownership: the cell owns its copy (dropped with the
 * cell). Thread: the thread polling the wait. */
int prokio_once_set(prokio_wait_t *wait, prokio_once_t *o, const void *value);

/* Sets the value now, without the right: 0, PROKIO_EEXIST when set
 * already, PROKIO_EBUSY while a caller initialises it (nothing copied;
 * the value is still the caller's). Thread: any. */
int prokio_once_set_now(prokio_once_t *o, const void *value);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_SYNC_H */
