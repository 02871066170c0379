/* tests/regress/wasm-js-export-unexport.c (WebAssembly only, built by
 * tests/wasm/Makefile.inc): an init function of prokio_js_export that
 * unexports (or re-exports) its own name, as a one-shot export does, freed
 * the export in the middle of its spawn: core/js.c then read the task's
 * poll, drop, flags and runtime from freed memory (here: from a block
 * malloc hands straight back and the init fills with 0xa5, so the task's
 * poll was a wild function pointer and the program trapped). Fixed in
 * core/js.c (a spawn holds a reference on its export).
 * Output: TAP with a plan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <prokio.h>

static void *scribble; /* the block malloc gives back after the unexport */

struct once {
    prokio_js_t arg;
};

static int once_init(void *frame, const prokio_js_t *args, size_t nargs)
{
    struct once *o = frame;
    o->arg = nargs ? args[0] : 0;
    for (size_t i = 1; i < nargs; i++)
        prokio_js_release(args[i]);
    prokio_js_unexport("once");
    /* The size class of core/js.c's struct js_export with this name:
     * malloc reuses the chunk just freed. */
    scribble = malloc(32);
    if (scribble)
        memset(scribble, 0xa5, 32);
    return 0;
}

static int once_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    double x = 0;
    struct once *o = frame;
    if (prokio_js_to_number(o->arg, &x) < 0)
        return PROKIO_EINVAL;
    return (int)x + 1;
}

static void once_drop(void *frame)
{
    prokio_js_release(((struct once *)frame)->arg);
}

struct root {
    int co;
    prokio_js_t p, r;
    prokio_js_await_t aw;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc;
    PROKIO_BEGIN(&r->co);
    printf("1..2\n");
    fflush(stdout);
    rc = prokio_js_export(prokio_cx_runtime(cx), "once", once_poll, sizeof(struct once), once_drop,
                          once_init, 0);
    {
        prokio_js_t f = 0;
        if (rc == 0)
            rc = prokio_js_function(&f, "() => prokio.spawn('once', 41).then(v => [v, "
                                        "prokio.spawn('once', 1).then(() => 'again', "
                                        "e => 'unexported')]).then(a => Promise.all(a))"
                                        ".then(a => a.join(' '))");
        if (rc == 0)
            rc = prokio_js_call(&r->p, f, 0, NULL, 0);
        prokio_js_release(f);
    }
    if (rc < 0) {
        printf("Bail out! %s\n", prokio_last_error());
        return 1;
    }
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    {
        char buf[64] = "";
        prokio_js_to_string(r->r, buf, sizeof buf, NULL);
        prokio_js_release(r->r);
        printf("%s 1 - an init that unexports its own name: the spawn completes (%s)\n",
               rc == 0 && strcmp(buf, "42 unexported") == 0 ? "ok" : "not ok",
               rc == 0 ? buf : prokio_last_error());
    }
    free(scribble);
    printf("%s 2 - no handle left (%d)\n", prokio_js_handles_live() == 0 ? "ok" : "not ok",
           prokio_js_handles_live());
    PROKIO_END(&r->co, 0);
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        printf("Bail out! prokio_runtime_new: %s\n", prokio_last_error());
        return 1;
    }
    return prokio_runtime_run_main(rt, root_poll, NULL, sizeof(struct root), NULL);
}
