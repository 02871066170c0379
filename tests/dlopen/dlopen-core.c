/* tests/dlopen/dlopen-core.c: libprokio loaded with dlopen, as a language
 * binding (Python's ctypes, a JVM, a plugin host) loads it, runs tasks.
 *
 * Why a test: the core keeps two hot per-thread pointers in initial-exec
 * TLS (core/platform.h), which a library loaded after program start can
 * only have from the C library's static TLS surplus. If that ever stopped
 * fitting, or a new variable of the wrong model were added, dlopen would
 * fail with "cannot allocate memory in static TLS block". This program does
 * not link libprokio: it opens the build's shared library, finds the
 * functions with dlsym, and runs tasks on two workers, from the loading
 * thread and from threads created afterwards. Output is TAP. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <prokio.h>

static int (*p_runtime_new)(prokio_runtime_t **, const prokio_runtime_options_t *);
static int (*p_runtime_free)(prokio_runtime_t *);
static int (*p_block_on)(prokio_runtime_t *, prokio_poll_fn, void *, size_t, prokio_drop_fn);
static prokio_runtime_t *(*p_current)(void);
static const char *(*p_last_error)(void);
static int (*p_yield)(prokio_cx_t *);

struct frame {
    int polls;
    prokio_runtime_t *seen; /* prokio_runtime_current() inside the task */
};

/* Yields once, then ends with 42: a task that needs the scheduler. */
static int task_poll(void *frame, prokio_cx_t *cx)
{
    struct frame *f = frame;
    f->seen = p_current();
    if (f->polls++ == 0)
        return p_yield(cx);
    return 42;
}

static int run_one(prokio_runtime_t *rt)
{
    struct frame f = {0};
    int rc = p_block_on(rt, task_poll, &f, sizeof f, NULL);
    return rc == 42 && f.polls == 2 && f.seen == rt;
}

static void *thread_main(void *rt)
{
    return (void *)(intptr_t)run_one(rt);
}

int main(void)
{
    alarm(60);
    const char *top = getenv("top_builddir");
    char path[4096];
    snprintf(path, sizeof path, "%s/.libs/libprokio.so", top ? top : ".");
    printf("1..4\n");
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    printf("%sok 1 - dlopen %s\n", lib ? "" : "not ", path);
    if (!lib) {
        printf("# %s\n", dlerror());
        return 1;
    }
    *(void **)&p_runtime_new = dlsym(lib, "prokio_runtime_new");
    *(void **)&p_runtime_free = dlsym(lib, "prokio_runtime_free");
    *(void **)&p_block_on = dlsym(lib, "prokio_runtime_block_on");
    *(void **)&p_current = dlsym(lib, "prokio_runtime_current");
    *(void **)&p_last_error = dlsym(lib, "prokio_last_error");
    *(void **)&p_yield = dlsym(lib, "prokio_cx_yield");
    if (!p_runtime_new || !p_runtime_free || !p_block_on || !p_current || !p_last_error ||
        !p_yield) {
        printf("not ok 2 - the API's symbols\n");
        return 1;
    }
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    prokio_runtime_t *rt = NULL;
    int rc = p_runtime_new(&rt, &o);
    printf("%sok 2 - a runtime with two workers\n", rc == 0 ? "" : "not ");
    if (rc != 0) {
        printf("# %s\n", p_last_error());
        return 1;
    }
    printf("%sok 3 - a task runs from the loading thread\n", run_one(rt) ? "" : "not ");
    pthread_t th;
    void *ok = NULL;
    pthread_create(&th, NULL, thread_main, rt);
    pthread_join(th, &ok);
    printf("%sok 4 - and from a thread started after dlopen\n", ok ? "" : "not ");
    if (p_runtime_free(rt) != 0)
        printf("# free: %s\n", p_last_error());
    dlclose(lib);
    return 0;
}
