/* core/js.c: prokio/js.h on WebAssembly, the C side of the JS bridge. The
 * JS side is core/prokio-js.js (linked with --js-library): the handle
 * table, the table of pending awaits, the deferreds of task promises and
 * the exports, each entry named by a slot number plus a generation, so a
 * stale number is refused instead of reaching someone else's entry.
 *
 * Calls into JS return 0 or a negative code and leave their message in the
 * JS side, fetched here (js_failed) under the public function's name.
 * Calls from JS into C are the prokio_js__* functions marked
 * EMSCRIPTEN_KEEPALIVE; JS enters them through callUserCallback when it
 * does so from a callback of its own (a settlement), so that an exit() in
 * C ends the program as emscripten expects.
 *
 * Awaits: a pending await is a node in its task's armed list; the JS entry
 * holds the await's address. The runtime disarms the node when the task
 * ends, which drops the JS entry (and its keepalive) before the frame goes,
 * so a late settlement finds no entry and never touches C memory.
 *
 * Task promises: a hook (waker.h, tag 2) in the task's JoinHandle slot;
 * the task's end wakes it on the worker, which settles the JS deferred.
 *
 * Thread: the JS thread only (the one worker, or outside the runtime). */
#ifdef __EMSCRIPTEN__
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <emscripten.h>

#include "error_internal.h"
#include "runtime.h"
#include "task.h"
#include "waker.h"
#include "worker.h"

/* ------------------------------------------------------ the JS side's API */

extern int prokio_js__string(prokio_js_t *out, const char *utf8);
extern int prokio_js__number(prokio_js_t *out, double value);
extern int prokio_js__global(prokio_js_t *out, const char *path);
extern int prokio_js__function(prokio_js_t *out, const char *source);
extern int prokio_js__call(prokio_js_t *out, prokio_js_t fn, prokio_js_t self,
                           const prokio_js_t *args, size_t nargs);
extern int prokio_js__get(prokio_js_t *out, prokio_js_t obj, const char *key);
extern int prokio_js__to_string(prokio_js_t h, char *buf, size_t size, size_t *len_out);
extern int prokio_js__to_number(prokio_js_t h, double *out);
extern int prokio_js__typeof(prokio_js_t h);
extern void prokio_js__release(prokio_js_t h);
extern int prokio_js__live(void);
extern int prokio_js__waker(prokio_js_t *out, void *waker);
extern int prokio_js__await_start(void *aw, prokio_js_t promise);
extern int prokio_js__await_take(int id, prokio_js_t *out);
extern void prokio_js__await_drop(int id);
extern int prokio_js__deferred(prokio_js_t *out, void *tp);
extern void prokio_js__deferred_settle(int id, int result, unsigned flags, const char *why);
extern void *prokio_js__export_set(const char *name, void *ex);
extern void prokio_js__spawn_args(prokio_js_t *args);
extern void prokio_js__message(char *buf, size_t size);

/* The JS side's message for its failure rc, under the public name `who`. */
static int js_failed(int rc, const char *who)
{
    char msg[1024];
    prokio_js__message(msg, sizeof msg);
    return prokio__error(rc, "%s: %s", who, msg);
}

static int null_arg(const char *who, const char *arg)
{
    return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who, arg);
}

/* For JS: the message of the last failure, to put in a rejection. */
EMSCRIPTEN_KEEPALIVE const char *prokio_js__last_error(void);
const char *prokio_js__last_error(void)
{
    return prokio_last_error();
}

/* ----------------------------------------------------------------- values */

int prokio_js_string(prokio_js_t *out, const char *utf8)
{
    if (out == NULL || utf8 == NULL)
        return null_arg("prokio_js_string", out ? "utf8" : "out");
    *out = 0;
    int rc = prokio_js__string(out, utf8);
    return rc < 0 ? js_failed(rc, "prokio_js_string") : 0;
}

int prokio_js_number(prokio_js_t *out, double value)
{
    if (out == NULL)
        return null_arg("prokio_js_number", "out");
    *out = 0;
    int rc = prokio_js__number(out, value);
    return rc < 0 ? js_failed(rc, "prokio_js_number") : 0;
}

int prokio_js_global(prokio_js_t *out, const char *path)
{
    if (out == NULL || path == NULL)
        return null_arg("prokio_js_global", out ? "path" : "out");
    *out = 0;
    int rc = prokio_js__global(out, path);
    return rc < 0 ? js_failed(rc, "prokio_js_global") : 0;
}

int prokio_js_function(prokio_js_t *out, const char *source)
{
    if (out == NULL || source == NULL)
        return null_arg("prokio_js_function", out ? "source" : "out");
    *out = 0;
    int rc = prokio_js__function(out, source);
    return rc < 0 ? js_failed(rc, "prokio_js_function") : 0;
}

int prokio_js_call(prokio_js_t *result_out, prokio_js_t fn, prokio_js_t self,
                   const prokio_js_t *args, size_t nargs)
{
    if (result_out == NULL)
        return null_arg("prokio_js_call", "result_out");
    *result_out = 0;
    if (args == NULL && nargs != 0)
        return null_arg("prokio_js_call", "args");
    int rc = prokio_js__call(result_out, fn, self, args, nargs);
    return rc < 0 ? js_failed(rc, "prokio_js_call") : 0;
}

int prokio_js_get(prokio_js_t *out, prokio_js_t obj, const char *key)
{
    if (out == NULL || key == NULL)
        return null_arg("prokio_js_get", out ? "key" : "out");
    *out = 0;
    int rc = prokio_js__get(out, obj, key);
    return rc < 0 ? js_failed(rc, "prokio_js_get") : 0;
}

int prokio_js_to_string(prokio_js_t h, char *buf, size_t size, size_t *len_out)
{
    if (buf == NULL && size != 0)
        return null_arg("prokio_js_to_string", "buf");
    size_t len = 0;
    int rc = prokio_js__to_string(h, buf, size, &len);
    if (len_out)
        *len_out = len;
    if (rc == PROKIO_ERANGE)
        return prokio__error(rc,
                             "prokio_js_to_string: the string takes %zu bytes and a NUL, and buf "
                             "holds %zu: it was cut; call again with a buffer of %zu bytes",
                             len, size, len + 1);
    return rc < 0 ? js_failed(rc, "prokio_js_to_string") : 0;
}

int prokio_js_to_number(prokio_js_t h, double *out)
{
    if (out == NULL)
        return null_arg("prokio_js_to_number", "out");
    int rc = prokio_js__to_number(h, out);
    return rc < 0 ? js_failed(rc, "prokio_js_to_number") : 0;
}

int prokio_js_typeof(prokio_js_t h)
{
    int rc = prokio_js__typeof(h);
    return rc < 0 ? js_failed(rc, "prokio_js_typeof") : rc;
}

void prokio_js_release(prokio_js_t h)
{
    if (h != 0)
        prokio_js__release(h);
}

int prokio_js_handles_live(void)
{
    return prokio_js__live();
}

/* ----------------------------------------------------------------- wakers */

EMSCRIPTEN_KEEPALIVE void prokio_js__waker_wake(prokio_waker_t *w);
void prokio_js__waker_wake(prokio_waker_t *w)
{
    prokio_waker_wake_by_ref(w);
}

EMSCRIPTEN_KEEPALIVE void prokio_js__waker_release(prokio_waker_t *w);
void prokio_js__waker_release(prokio_waker_t *w)
{
    prokio_waker_release(w);
}

int prokio_js_waker(prokio_js_t *out, prokio_waker_t *waker)
{
    if (out == NULL || waker == NULL)
        return null_arg("prokio_js_waker", out ? "waker" : "out");
    *out = 0;
    prokio_waker_t *clone = prokio_waker_clone(waker);
    int rc = prokio_js__waker(out, clone);
    if (rc < 0) {
        prokio_waker_release(clone);
        return js_failed(rc, "prokio_js_waker");
    }
    return 0;
}

/* ----------------------------------------------------------------- awaits */

struct await_impl {
    struct prokio__armed armed; /* in task's list while id != 0 */
    struct prokio_task *task;   /* the task woken at the settlement */
    int id;                     /* the JS entry; 0: idle */
};

_Static_assert(sizeof(struct await_impl) <= PROKIO_JS_AWAIT_SIZE, "PROKIO_JS_AWAIT_SIZE too small");
_Static_assert(_Alignof(struct await_impl) <= _Alignof(prokio_js_await_t),
               "prokio_js_await_t alignment");

static inline struct await_impl *await_of(prokio_js_await_t *aw)
{
    return (struct await_impl *)aw->u.opaque;
}

/* Drops the JS entry (a late settlement is ignored there) and leaves the
 * await idle. The node is out of the list already. */
static void await_disarm(struct prokio__armed *node)
{
    struct await_impl *a = PROKIO_CONTAINER_OF(node, struct await_impl, armed);
    prokio_js__await_drop(a->id);
    a->id = 0;
    a->task = NULL;
}

/* From JS, at the settlement of a live entry: the await is armed, so its
 * task is alive. */
EMSCRIPTEN_KEEPALIVE void prokio_js__await_wake(struct await_impl *a);
void prokio_js__await_wake(struct await_impl *a)
{
    if (a->id != 0 && a->task != NULL)
        prokio__task_wake_by_ref(a->task);
}

int prokio_js_await_poll(prokio_js_t *result_out, prokio_js_await_t *aw, prokio_js_t promise,
                         prokio_cx_t *cx)
{
    if (result_out == NULL || aw == NULL || cx == NULL)
        return null_arg("prokio_js_await_poll", !result_out ? "result_out" : !aw ? "aw" : "cx");
    *result_out = 0;
    struct await_impl *a = await_of(aw);
    if (a->id == 0) {
        int id = prokio_js__await_start(a, promise);
        if (id < 0)
            return js_failed(id, "prokio_js_await_poll");
        a->id = id;
        a->task = cx->task;
        a->armed.disarm = await_disarm;
        prokio__armed_push(&cx->task->armed, &a->armed);
        return PROKIO_PENDING;
    }
    if (a->task != cx->task) {
        /* Handed to another task (a sub-future moved): follow it, so that
         * its end disarms us and its waker is the one woken. */
        prokio__armed_remove(&a->armed);
        a->task = cx->task;
        prokio__armed_push(&cx->task->armed, &a->armed);
    }
    int rc = prokio_js__await_take(a->id, result_out);
    if (rc == 0)
        return PROKIO_PENDING;
    prokio__armed_remove(&a->armed);
    a->id = 0;
    a->task = NULL;
    if (rc == 1)
        return 0;
    if (rc == 2)
        return js_failed(PROKIO_EJS, "prokio_js_await_poll");
    return js_failed(rc, "prokio_js_await_poll");
}

void prokio_js_await_cancel(prokio_js_await_t *aw)
{
    if (aw == NULL)
        return;
    struct await_impl *a = await_of(aw);
    if (a->id == 0)
        return;
    prokio__armed_remove(&a->armed);
    await_disarm(&a->armed);
}

/* ---------------------------------------------------------- task promises */

struct task_promise {
    struct prokio__hook hook;
    prokio_task_t *task; /* the JoinHandle, until settled */
    int id;              /* the JS deferred */
    unsigned flags;
    bool settled;
};

/* Settles the deferred from the task's result and releases the handle.
 * Runs once, from the hook's wake (the task's end) or from
 * prokio_js_promise_of_task when the task had already ended. */
static void settle(struct task_promise *tp)
{
    if (tp->settled)
        return;
    tp->settled = true;
    struct prokio_task *t = tp->task;
    int result = prokio_task_result(t); /* COMPLETE was published before the wake */
    char why[300];
    if (result >= 0) {
        prokio_js__deferred_settle(tp->id, result, tp->flags, NULL);
    } else {
        struct prokio__worker *w = prokio__task_worker(t);
        if (result == PROKIO_ECANCELED &&
            atomic_load_explicit(&w->rt->closing, memory_order_acquire))
            snprintf(why, sizeof why, "the runtime shut down before the task ended (ECANCELED)");
        else if (result == PROKIO_ECANCELED)
            snprintf(why, sizeof why, "the task was aborted (ECANCELED)");
        else
            snprintf(why, sizeof why, "the task failed with %s: %s", prokio_err_name(result),
                     prokio_strerror(result));
        prokio_js__deferred_settle(tp->id, result, tp->flags, why);
    }
    tp->task = NULL;
    prokio_task_release(t);
}

static void task_promise_wake(struct prokio__hook *h)
{
    settle(PROKIO_CONTAINER_OF(h, struct task_promise, hook));
}

static void task_promise_free(struct prokio__hook *h)
{
    free(PROKIO_CONTAINER_OF(h, struct task_promise, hook));
}

static const struct prokio__hook_ops task_promise_ops = {task_promise_wake, task_promise_free};

/* From JS: the promise's abort(), while it is not settled (JS forgets the
 * deferred when it settles, so tp is alive here). */
EMSCRIPTEN_KEEPALIVE void prokio_js__task_abort(struct task_promise *tp);
void prokio_js__task_abort(struct task_promise *tp)
{
    if (!tp->settled)
        prokio_task_abort(tp->task);
}

int prokio_js_promise_of_task(prokio_js_t *out, prokio_task_t *task, unsigned flags)
{
    if (out == NULL || task == NULL)
        return null_arg("prokio_js_promise_of_task", out ? "task" : "out");
    *out = 0;
    if (flags & ~PROKIO_JS_RESULT_HANDLE)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_js_promise_of_task: unknown flags %#x (only "
                             "PROKIO_JS_RESULT_HANDLE)",
                             flags);
    struct task_promise *tp = malloc(sizeof *tp);
    if (tp == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_js_promise_of_task: no memory");
    tp->hook.ops = &task_promise_ops;
    atomic_init(&tp->hook.refs, 1); /* ours, until the end of this call */
    tp->task = task;
    tp->flags = flags;
    tp->settled = false;
    int id = prokio_js__deferred(out, tp);
    if (id < 0) {
        free(tp);
        return js_failed(id, "prokio_js_promise_of_task");
    }
    tp->id = id;
    uintptr_t w = prokio__hook_waker(&tp->hook);
    if (prokio__waker_slot_register(&task->join, w) < 0) {
        /* A thread is blocked joining it: not possible on the JS thread. */
        prokio_js__deferred_settle(id, PROKIO_EBUSY, 0, "the task is joined elsewhere");
        prokio_js_release(*out);
        *out = 0;
        free(tp);
        return prokio__error(PROKIO_EBUSY,
                             "prokio_js_promise_of_task: a thread is blocked joining this task");
    }
    /* The waiter's half of the slot handshake (waker_slot.h). */
    if (atomic_load_explicit(&task->state, memory_order_seq_cst) & TASK_COMPLETE) {
        prokio__waker_slot_unregister(&task->join, w);
        settle(tp);
    }
    prokio__waker_release(w); /* ours; the slot's goes with its wake */
    return 0;
}

/* ---------------------------------------------------------------- exports */

struct js_export {
    unsigned refs;        /* the JS table's, and one per spawn in progress */
    prokio_runtime_t *rt; /* a clone */
    prokio_poll_fn poll;
    size_t frame_size;
    prokio_drop_fn drop;
    prokio_js_init_fn init;
    unsigned flags;
    char name[];
};

/* Drops a reference: the table's when the name is replaced or removed,
 * which an init function may do in the middle of its own spawn. */
static void export_free(struct js_export *ex)
{
    if (ex == NULL || --ex->refs != 0)
        return;
    prokio_runtime_release(ex->rt);
    free(ex);
}

int prokio_js_export(prokio_runtime_t *rt, const char *name, prokio_poll_fn poll, size_t frame_size,
                     prokio_drop_fn drop, prokio_js_init_fn init, unsigned flags)
{
    if (rt == NULL || name == NULL || poll == NULL)
        return null_arg("prokio_js_export", !rt ? "rt" : !name ? "name" : "poll");
    if (flags & ~PROKIO_JS_RESULT_HANDLE)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_js_export: unknown flags %#x (only PROKIO_JS_RESULT_HANDLE)",
                             flags);
    size_t len = strlen(name);
    struct js_export *ex = malloc(sizeof *ex + len + 1);
    if (ex == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_js_export: no memory for '%s'", name);
    ex->refs = 1;
    ex->rt = prokio_runtime_clone(rt);
    ex->poll = poll;
    ex->frame_size = frame_size;
    ex->drop = drop;
    ex->init = init;
    ex->flags = flags;
    memcpy(ex->name, name, len + 1);
    export_free(prokio_js__export_set(name, ex));
    return 0;
}

void prokio_js_unexport(const char *name)
{
    if (name != NULL)
        export_free(prokio_js__export_set(name, NULL));
}

/* The frame of a spawn that did not happen: what init stored goes. */
static int spawn_refused(struct js_export *ex, void *frame, int rc)
{
    if (ex->drop)
        ex->drop(frame);
    free(frame);
    export_free(ex);
    return rc;
}

static int spawn_started(struct js_export *ex, int rc)
{
    export_free(ex);
    return rc;
}

/* From JS (Module.prokio.spawn), which staged nargs argument handles:
 * returns the handle of the task's promise, or a negative code with
 * prokio_last_error() set (JS makes the rejection from it). */
EMSCRIPTEN_KEEPALIVE int prokio_js__spawn(struct js_export *ex, int nargs);
int prokio_js__spawn(struct js_export *ex, int nargs)
{
    ex->refs++; /* init may unexport or replace the name: ex stays ours */
    prokio_js_t *args = calloc((size_t)nargs + 1, sizeof *args);
    /* Aligned as the task's own frame will be. */
    size_t size = (ex->frame_size + 15) & ~(size_t)15;
    void *frame = aligned_alloc(16, size ? size : 16);
    if (frame != NULL)
        memset(frame, 0, size);
    if (args == NULL || frame == NULL) {
        free(args), free(frame);
        return spawn_started(ex, prokio__error(PROKIO_ENOMEM,
                                               "Module.prokio.spawn('%s'): no memory for the frame",
                                               ex->name));
    }
    prokio_js__spawn_args(args); /* the handles are ours from here */
    int rc = 0;
    /* So that a refusal without a message of its own does not carry an
     * older, unrelated one. */
    prokio__error(0, "the init function set no message");
    if (ex->init) {
        rc = ex->init(frame, args, (size_t)nargs);
    } else {
        for (int i = 0; i < nargs; i++)
            prokio_js_release(args[i]);
    }
    free(args);
    if (rc < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", prokio_last_error());
        prokio__error(rc, "Module.prokio.spawn('%s'): the init function refused (%s): %s", ex->name,
                      prokio_err_name(rc), why);
        return spawn_refused(ex, frame, rc);
    }
    prokio_task_t *task;
    rc = prokio_spawn(&task, ex->rt, ex->poll, frame, ex->frame_size, ex->drop);
    if (rc < 0) /* the frame was not taken: its handles are still ours */
        return spawn_refused(ex, frame, rc);
    free(frame);
    prokio_js_t h;
    rc = prokio_js_promise_of_task(&h, task, ex->flags);
    if (rc < 0) {
        prokio_task_abort(task);
        prokio_task_release(task);
        return spawn_started(ex, rc);
    }
    return spawn_started(ex, (int)h);
}
#endif
