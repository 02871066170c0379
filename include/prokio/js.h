/* prokio/js.h: JavaScript interop on WebAssembly: JS values as handles,
 * calling JS, awaiting a JS Promise from a task, a task as a JS Promise,
 * and C tasks that JS spawns and awaits. Part of prokio.h.
 *
 * No JS glue per call: C builds values (prokio_js_string, prokio_js_number),
 * looks up globals (prokio_js_global("JSON.stringify")), writes a function
 * once in C as JS source (prokio_js_function(&f, "(url) => fetch(url).then(r
 * => r.text())")), calls it (prokio_js_call) and awaits what it returns
 * (prokio_js_await_poll). Link with the JS side of the bridge,
 * --js-library <pkgdatadir>/prokio-js.js (PROKIO_WASM_LINK in this tree).
 *
 * Handles. A JS value stays in a JS-side table; C sees a prokio_js_t, a
 * small integer (0 is no handle). Each handle is owned by whoever received
 * it (an out-parameter, an init function's arguments) and is given up with
 * prokio_js_release; a released handle is refused afterwards (PROKIO_EINVAL
 * naming it), even when its table slot was reused (ids are 31 bits, so a
 * stale id can come back only after at least 127 * 4096 later releases).
 * Two handles may refer to the same JS value; each is released on its own.
 * At most 2^24 - 1 handles are live at once (and as many pending awaits and
 * task promises): past that, what would make one fails with PROKIO_ENOMEM.
 *
 * Errors. A JS exception (a throwing call, a failing conversion) and a
 * rejected Promise are PROKIO_EJS, with prokio_last_error() naming the
 * function and carrying the JS error's message, and with the thrown value or
 * the rejection's reason as a handle in the result out-parameter, so that C
 * can look at it (and must release it).
 *
 * Native targets. Every function exists (one program compiles for both
 * targets) and returns PROKIO_ENOTSUP, with a message saying that JS interop
 * needs the WebAssembly build, after the NULL checks of prokio.h rule 6;
 * prokio_js_release and the other void functions do nothing there.
 *
 * Thread: everything here runs on the JS thread, which on WebAssembly is the
 * runtime's one worker (inside a poll or a drop function) or main before the
 * runtime runs, or a JS callback: there is no other thread. */
#ifndef PROKIO_JS_H
#define PROKIO_JS_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A handle to a JS value; 0 is no handle. */
typedef uint32_t prokio_js_t;

/* ---------------------------------------------------------------- values */

/* A JS string from UTF-8 text (invalid sequences become U+FFFD).
 * Ownership: *out is the caller's. */
int prokio_js_string(prokio_js_t *out, const char *utf8);

/* A JS number. Ownership: *out is the caller's. */
int prokio_js_number(prokio_js_t *out, double value);

/* globalThis's value at a dotted path ("fetch", "JSON.stringify",
 * "process.versions.node"); PROKIO_ENOENT when a part of the path is
 * undefined or null. Ownership: *out is the caller's. */
int prokio_js_global(prokio_js_t *out, const char *path);

/* A function from JS source: `source` is a function expression, evaluated
 * once in the global scope with one more name in scope, `prokio` (see
 * "Module.prokio" below), e.g. "(a, b) => a + b" or "function (url) {
 * return fetch(url); }". Source that does not evaluate (a SyntaxError) is
 * PROKIO_EJS with the JS message and the error in *out; source that
 * evaluates to something other than a function is PROKIO_EINVAL.
 * Ownership: *out is the caller's. */
int prokio_js_function(prokio_js_t *out, const char *source);

/* Calls fn(...args) with `this` bound to self (0: undefined). args may be
 * NULL when nargs is 0. *result_out receives the returned value, or, when
 * fn throws (PROKIO_EJS), the thrown value, with its message in
 * prokio_last_error(). A call does not take the argument handles.
 * Ownership: *result_out is the caller's (0 on any other failure). */
int prokio_js_call(prokio_js_t *result_out, prokio_js_t fn, prokio_js_t self,
                   const prokio_js_t *args, size_t nargs);

/* obj[key], e.g. a response's "status". PROKIO_EJS (the thrown value in
 * *out) when a getter throws or obj is undefined or null.
 * Ownership: *out is the caller's. */
int prokio_js_get(prokio_js_t *out, prokio_js_t obj, const char *key);

/* String(value) as UTF-8 into buf, NUL-terminated. *len_out (optional,
 * NULL) receives the full length in bytes, without the NUL (a string that
 * holds U+0000 has NUL bytes inside: use the length; a lone surrogate
 * becomes U+FFFD, so the bytes are always valid UTF-8). When it does
 * not fit, buf holds as many whole characters as fit and PROKIO_ERANGE is
 * returned (allocate *len_out + 1 and call again). buf may be NULL when
 * size is 0: only the length is asked for, and 0 returned. */
int prokio_js_to_string(prokio_js_t h, char *buf, size_t size, size_t *len_out);

/* Number(value) into *out (NaN for what JS cannot convert; PROKIO_EJS for
 * what throws, as a Symbol). */
int prokio_js_to_number(prokio_js_t h, double *out);

/* What typeof says, with null apart: one of the values below, or a negative
 * error code (PROKIO_EINVAL for a handle that is not live). */
enum prokio_js_type {
    PROKIO_JS_UNDEFINED = 0,
    PROKIO_JS_NULL = 1,
    PROKIO_JS_BOOLEAN = 2,
    PROKIO_JS_NUMBER = 3,
    PROKIO_JS_BIGINT = 4,
    PROKIO_JS_STRING = 5,
    PROKIO_JS_SYMBOL = 6,
    PROKIO_JS_OBJECT = 7,
    PROKIO_JS_FUNCTION = 8,
};
int prokio_js_typeof(prokio_js_t h);

/* Gives the handle up (the JS value is collected when nothing else holds
 * it). Nothing for 0, for a handle already released, or natively. */
void prokio_js_release(prokio_js_t h);

/* How many handles are live (made and not released): for leak checks in
 * tests. */
int prokio_js_handles_live(void);

/* A JS function that wakes `waker` (prokio_waker_wake_by_ref) each time JS
 * calls it, e.g. as a setTimeout or an event listener's callback, until
 * the handle *out is released: from then on calling it does nothing.
 * Ownership: *out is the caller's; the function holds a clone of the waker
 * until *out is released (a task's waker keeps its task's memory, so a
 * runtime cannot be freed while such a handle is live: release it in the
 * task's drop at the latest). */
int prokio_js_waker(prokio_js_t *out, prokio_waker_t *waker);

/* ------------------------------------------------- awaiting a JS Promise */

/* The leaf future that awaits a Promise (or any thenable, or a plain value,
 * which is ready at the next microtask), embedded in your frame.
 * Zero-filled memory is an idle await. */
#define PROKIO_JS_AWAIT_SIZE 48
typedef struct prokio_js_await {
    union {
        unsigned char opaque[PROKIO_JS_AWAIT_SIZE];
        uint64_t align; /* the alignment of the runtime's struct; never read */
    } u;
} prokio_js_await_t;

/* Awaits `promise` as JS's `await` does. The first poll of an idle await
 * starts awaiting the value the handle refers to (the await holds the JS
 * value itself, so the caller may release `promise` right after that poll;
 * later polls ignore it) and returns PROKIO_PENDING; the task is woken when
 * the promise settles. Then it returns:
 *   0            fulfilled: *result_out is the value's handle;
 *   PROKIO_EJS   rejected: *result_out is the reason's handle, and
 *                prokio_last_error() says "prokio_js_await_poll: the
 *                promise was rejected: <reason.message, or String(reason)>".
 * After a result the await is idle again, as a prokio_wait_t is (future.h):
 * a poll with it starts a new await (the same promise settles the same way
 * again), so a loop reuses one await. *result_out is 0 while pending and
 * on every other failure (PROKIO_EINVAL for a handle that is not live).
 * Ownership: *result_out is the caller's.
 * Cancel-safety: an await owns only its place in the JS-side table and the
 * emscripten keepalive that keeps the program running while the promise is
 * pending. When its task ends (returns, is aborted or the runtime shuts
 * down) or prokio_js_await_cancel is called, both go: the program may end
 * while the promise is still pending, and a settlement that comes later is
 * dropped in JS without touching C memory and without making a handle
 * (nothing leaks). A value that had settled but was not yet polled is
 * dropped the same way: a promise cannot be un-settled, so nothing is
 * passed on; await it again for its value.
 * Thread: the worker of cx (the JS thread). */
int prokio_js_await_poll(prokio_js_t *result_out, prokio_js_await_t *aw, prokio_js_t promise,
                         prokio_cx_t *cx);

/* Abandons the await (see Cancel-safety above); it is idle afterwards.
 * Nothing for NULL or an idle await. Thread: the JS thread. */
void prokio_js_await_cancel(prokio_js_await_t *aw);

/* ----------------------------------------------- C tasks as JS Promises */

/* Flag of prokio_js_promise_of_task and prokio_js_export: the task's
 * result, when >= 0, is a handle (yours, given up to the promise) whose
 * value the promise resolves with, instead of the number. */
#define PROKIO_JS_RESULT_HANDLE 0x1u

/* A Promise that settles when `task` ends: resolved with its result (a
 * number, or with PROKIO_JS_RESULT_HANDLE the value of the handle it
 * returned) when it is >= 0; rejected with an Error when it is negative,
 * whose message names the cause ("the task was aborted", "the runtime
 * shut down", or the error code's name and text) and whose `code` is the
 * result. The promise has an abort() method that aborts the task (the
 * promise then rejects), and does nothing once it settled.
 * No polling task: a hook sits in the task's JoinHandle and settles the
 * promise from the task's end, on the JS thread.
 * Ownership: takes the JoinHandle `task` on success (do not use it again:
 * it is released when the promise settles); on failure it stays yours.
 * *out is the caller's. Thread: the JS thread. */
int prokio_js_promise_of_task(prokio_js_t *out, prokio_task_t *task, unsigned flags);

/* ------------------------------------------------- JS spawning C tasks */

/* Prepares a task's frame from the arguments JS passed: frame is
 * zero-filled, args are handles of the JS arguments, in order.
 * Ownership: each args[i] is the init function's (keep it in the frame and
 * release it in the drop function, or release it now). A negative return
 * refuses the spawn: the promise rejects with prokio_last_error(), and drop
 * (when not NULL) is still called on the frame, so that what init stored
 * there is released in one place. */
typedef int (*prokio_js_init_fn)(void *frame, const prokio_js_t *args, size_t nargs);

/* Lets JS spawn C tasks by name:
 *     const p = Module.prokio.spawn('name', arg1, arg2);   // a Promise
 *     const r = await p;                                   // or p.abort()
 * Each spawn makes a task on rt with a zero-filled frame of frame_size
 * bytes, runs init (optional, NULL: the arguments are released) on it, and
 * returns prokio_js_promise_of_task of the task (flags as there). A spawn
 * that fails (unknown name, a runtime shut down, init refusing) returns a
 * rejected Promise whose message says why. Exporting a name again replaces
 * it. Ownership: the export keeps a clone of rt until it is replaced or
 * prokio_js_unexport'ed. Thread: the JS thread. */
int prokio_js_export(prokio_runtime_t *rt, const char *name, prokio_poll_fn poll, size_t frame_size,
                     prokio_drop_fn drop, prokio_js_init_fn init, unsigned flags);

/* Removes an export and releases its clone of the runtime. Nothing for
 * NULL, a name not exported, or natively. Thread: the JS thread. */
void prokio_js_unexport(const char *name);

/* Module.prokio, and `prokio` in prokio_js_function's source, is the JS
 * side's API: spawn(name, ...args) above; handlesLive(), the count of
 * prokio_js_handles_live. */

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_JS_H */
