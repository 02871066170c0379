/* core/run_main.c: prokio_runtime_run_main, the entry point of a program
 * built both natively (block_on) and for WebAssembly, where main must
 * return to the JS event loop before any task can run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "internal.h"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#endif

/* The exit status of a root task's result (prokio/runtime.h). */
static int exit_status(int result)
{
    if (result >= 0 && result <= 255)
        return result;
    fprintf(stderr, "prokio: the main task ended with %s: %s\n", prokio_err_name(result),
            prokio_strerror(result));
    return 1;
}

/* Frees rt; a runtime still holding something (a JoinHandle, a channel end)
 * is the program's bug, said on stderr and reflected in the status. */
static int free_runtime(prokio_runtime_t *rt, int status)
{
    if (prokio_runtime_free(rt) < 0) {
        fprintf(stderr, "prokio_runtime_run_main: %s\n", prokio_last_error());
        return status ? status : 1;
    }
    return status;
}

#ifdef __EMSCRIPTEN__
/* The root task's frame: the program's poll and drop around its frame. */
struct root {
    prokio_poll_fn poll;
    prokio_drop_fn drop;
    prokio_runtime_t *rt;
    int done;
    _Alignas(16) unsigned char frame[];
};

struct root_end {
    prokio_runtime_t *rt;
    int status;
};

/* Under node: until the root task ends, the exit status is 1, and if
 * node's event loop runs dry first (the root task waits for something
 * nothing can bring any more: a deadlock), that is said on stderr. Node
 * would otherwise end such a program with status 0, as if it had
 * succeeded. A status set already (a test harness's) is kept; an exit()
 * of the program's own sets its status and says nothing. (Loose
 * comparisons: clang-format splits the strict ones of EM_JS bodies.) */
EM_JS(void, run_main_guard, (void), {
    if (typeof process != 'object' || typeof process.on != 'function')
        return;
    var ended = false;
    Module['prokioRunMainEnded'] = function()
    {
        ended = true;
    };
    if (!process.exitCode)
        process.exitCode = 1;
    var dry = process.exitCode;
    process.on(
        'exit', function() {
            if (!ended && process.exitCode == dry)
                process.stderr.write(
                    'prokio_runtime_run_main: the JS event loop ran dry before the ' +
                    'main task ended (nothing left could wake it); exit status ' + dry + '\n');
        });
});

EM_JS(void, run_main_ended, (void), {
    if (Module['prokioRunMainEnded'])
        Module['prokioRunMainEnded']();
});

static void finish(void *arg)
{
    struct root_end *end = arg;
    prokio_runtime_t *rt = end->rt;
    int status = end->status;
    free(end);
    status = free_runtime(rt, status);
    run_main_ended();
    exit(status);
}

/* Leaves drive (the runtime cannot be freed from inside its own worker)
 * and ends the program from a JS callback of its own. */
static void schedule_finish(prokio_runtime_t *rt, int result)
{
    struct root_end *end = malloc(sizeof *end);
    if (end == NULL) {
        fprintf(stderr, "prokio_runtime_run_main: no memory to end the program\n");
        exit(1);
    }
    end->rt = rt;
    end->status = exit_status(result);
    emscripten_async_call(finish, end, 0);
}

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc = r->poll(r->frame, cx);
    if (rc != PROKIO_PENDING && !r->done) {
        r->done = 1;
        schedule_finish(r->rt, rc);
    }
    return rc;
}

static void root_drop(void *frame)
{
    struct root *r = frame;
    if (r->drop)
        r->drop(r->frame);
    if (!r->done) { /* ended without finishing: aborted, or a shutdown */
        r->done = 1;
        schedule_finish(r->rt, PROKIO_ECANCELED);
    }
}
#endif

int prokio_runtime_run_main(prokio_runtime_t *rt, prokio_poll_fn poll, void *frame,
                            size_t frame_size, prokio_drop_fn drop)
{
    if (rt == NULL || poll == NULL) /* a mistake in the call: nothing taken */
        return prokio__error(PROKIO_EINVAL, "prokio_runtime_run_main: %s is NULL",
                             rt ? "poll" : "rt");
    if (prokio_runtime_current() != NULL) {
        prokio__error(PROKIO_EDEADLK,
                      "prokio_runtime_run_main: called from a worker thread; call it at the "
                      "end of main");
        return 1;
    }
#ifdef __EMSCRIPTEN__
    /* The size check first: sizeof *r + frame_size must not wrap. */
    struct root *r = frame_size <= SIZE_MAX / 2 ? calloc(1, sizeof *r + frame_size) : NULL;
    if (r == NULL) {
        prokio__error(PROKIO_ENOMEM, "prokio_runtime_run_main: no memory for the root frame");
        return free_runtime(rt, 1);
    }
    r->poll = poll;
    r->drop = drop;
    r->rt = rt;
    if (frame != NULL && frame_size != 0)
        memcpy(r->frame, frame, frame_size);
    int rc = prokio_spawn(NULL, rt, root_poll, r, sizeof *r + frame_size, root_drop);
    free(r);
    if (rc < 0)
        return free_runtime(rt, 1);
    run_main_guard();
    emscripten_exit_with_live_runtime();
#else
    int rc = prokio_runtime_block_on(rt, poll, frame, frame_size, drop);
    return free_runtime(rt, exit_status(rc));
#endif
}
