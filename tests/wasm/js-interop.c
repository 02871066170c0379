/* tests/wasm/js-interop.c: the JS bridge (prokio/js.h) under node, run by
 * prokio_runtime_run_main: one root task runs the tests in turn and prints
 * TAP. Each test ends with the count of live handles back where it began.
 * What needs the runtime gone (settlements after shutdown) or the program
 * to end by itself (no keepalive leaked) is in js-shutdown.c and
 * js-keepalive.c. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <prokio.h>

#define NTESTS 14

static int failures;
static int test_no;

static void report(int ok, const char *what, const char *detail)
{
    ++test_no;
    if (!ok)
        failures++;
    printf("%s %d - %s%s%s\n", ok ? "ok" : "not ok", test_no, what, detail && *detail ? ": " : "",
           detail ? detail : "");
    fflush(stdout);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A function from source; 0 (and a failure) when it does not compile. */
static prokio_js_t fn(const char *src)
{
    prokio_js_t f = 0;
    if (prokio_js_function(&f, src) < 0)
        printf("# prokio_js_function(%s): %s\n", src, prokio_last_error());
    return f;
}

/* f(args...) as a handle, 0 when it failed; handles given are kept. */
static prokio_js_t call(prokio_js_t f, const prokio_js_t *args, size_t n)
{
    prokio_js_t r = 0;
    if (prokio_js_call(&r, f, 0, args, n) < 0) {
        printf("# prokio_js_call: %s\n", prokio_last_error());
        prokio_js_release(r);
        return 0;
    }
    return r;
}

/* The string of h, released. */
static const char *str_of(prokio_js_t h, char *buf, size_t size)
{
    if (prokio_js_to_string(h, buf, size, NULL) < 0)
        snprintf(buf, size, "(to_string failed: %s)", prokio_last_error());
    prokio_js_release(h);
    return buf;
}

/* ------------------------------------------------------------ children */

static int return_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    return *(int *)frame;
}

static int forever_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return PROKIO_PENDING; /* nothing wakes it: only an abort ends it */
}

/* Awaits a promise that never settles (given in the frame). */
struct never {
    prokio_js_t promise;
    prokio_js_await_t aw;
};

static int never_poll(void *frame, prokio_cx_t *cx)
{
    struct never *n = frame;
    prokio_js_t r;
    int rc = prokio_js_await_poll(&r, &n->aw, n->promise, cx);
    if (rc != PROKIO_PENDING)
        prokio_js_release(r);
    return rc;
}

static void never_drop(void *frame)
{
    prokio_js_release(((struct never *)frame)->promise);
}

/* Returns a handle of a string as its result (PROKIO_JS_RESULT_HANDLE). */
static int handle_result_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    prokio_js_t h;
    if (prokio_js_string(&h, "from C") < 0)
        return PROKIO_EIO;
    return (int)h;
}

/* Exported to JS as "add": adds its two arguments after a sleep. */
struct add {
    int co;
    prokio_js_t a, b;
    prokio_sleep_t nap;
};

static int add_init(void *frame, const prokio_js_t *args, size_t nargs)
{
    struct add *f = frame;
    if (nargs != 2) {
        for (size_t i = 0; i < nargs; i++)
            prokio_js_release(args[i]);
        printf("# add_init: %zu arguments\n", nargs);
        return PROKIO_EINVAL;
    }
    f->a = args[0];
    f->b = args[1];
    return 0;
}

static int add_poll(void *frame, prokio_cx_t *cx)
{
    struct add *f = frame;
    double a, b;
    PROKIO_BEGIN(&f->co);
    prokio_sleep_init(&f->nap, PROKIO_MS(2));
    PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->nap, cx));
    if (prokio_js_to_number(f->a, &a) < 0 || prokio_js_to_number(f->b, &b) < 0)
        return PROKIO_EINVAL;
    PROKIO_END(&f->co, (int)(a + b));
}

static void add_drop(void *frame)
{
    struct add *f = frame;
    prokio_js_release(f->a);
    prokio_js_release(f->b);
}

/* ---------------------------------------------------------------- root */

struct root {
    int co;
    int base;         /* live handles when the test began */
    prokio_js_t p, r; /* the promise awaited, its result */
    prokio_js_t f, w; /* a function, a waker function */
    prokio_js_await_t aw;
    prokio_task_t *child;
    prokio_sleep_t nap;
    uint64_t t0;
    int rc, woken;
    char buf[256];
};

static void leak_check(struct root *r, const char *test)
{
    int live = prokio_js_handles_live();
    if (live != r->base) {
        char d[128];
        snprintf(d, sizeof d, "%d handles live after it, %d before", live, r->base);
        report(0, test, d);
        r->base = live;
    }
}

/* Calls source() and keeps the promise it returns in r->p. */
static void make_promise(struct root *r, const char *source)
{
    prokio_js_t f = fn(source);
    r->p = f ? call(f, NULL, 0) : 0;
    prokio_js_release(f);
}

static void t_values(void)
{
    char buf[64], d[256] = "";
    int ok = 1;
    prokio_js_t s, n, g, f, res = 0, thrown = 0;
    double x = 0;
    size_t len = 0;
    ok &= prokio_js_string(&s, "h\xc3\xa9llo") == 0 && prokio_js_typeof(s) == PROKIO_JS_STRING;
    ok &= prokio_js_number(&n, 2.5) == 0 && prokio_js_typeof(n) == PROKIO_JS_NUMBER;
    ok &= prokio_js_to_number(n, &x) == 0 && x == 2.5;
    ok &= prokio_js_to_string(s, buf, sizeof buf, &len) == 0 && strcmp(buf, "h\xc3\xa9llo") == 0 &&
          len == 6;
    /* Truncation is reported with the full length. */
    ok &= prokio_js_to_string(s, buf, 3, &len) == PROKIO_ERANGE && len == 6 && strlen(buf) <= 2;
    ok &= prokio_js_to_string(s, NULL, 0, &len) == 0 && len == 6;
    ok &= prokio_js_global(&g, "JSON.stringify") == 0 && prokio_js_typeof(g) == PROKIO_JS_FUNCTION;
    ok &= prokio_js_call(&res, g, 0, (prokio_js_t[]){s}, 1) == 0;
    ok &= strcmp(str_of(res, buf, sizeof buf), "\"h\xc3\xa9llo\"") == 0;
    ok &= prokio_js_global(&res, "no.such.thing") == PROKIO_ENOENT && res == 0;
    f = fn("(a, b) => a * b");
    ok &= f && prokio_js_call(&res, f, 0, (prokio_js_t[]){n, n}, 2) == 0;
    ok &= prokio_js_to_number(res, &x) == 0 && x == 6.25;
    prokio_js_release(res);
    prokio_js_release(f);
    /* An exception: PROKIO_EJS, its message, the thrown value as a handle. */
    f = fn("() => { throw new TypeError('nope ' + 42); }");
    int rc = prokio_js_call(&thrown, f, 0, NULL, 0);
    ok &= rc == PROKIO_EJS && strstr(prokio_last_error(), "nope 42") != NULL &&
          prokio_js_typeof(thrown) == PROKIO_JS_OBJECT;
    snprintf(d, sizeof d, "%s", prokio_last_error());
    prokio_js_t name = 0;
    ok &= prokio_js_get(&name, thrown, "name") == 0 &&
          strcmp(str_of(name, buf, sizeof buf), "TypeError") == 0;
    prokio_js_release(thrown);
    prokio_js_release(f);
    /* A released handle is refused, even once its slot is reused. */
    prokio_js_release(n);
    prokio_js_t again;
    ok &= prokio_js_number(&again, 1) == 0 && again != n;
    ok &= prokio_js_to_number(n, &x) == PROKIO_EINVAL && prokio_js_typeof(n) == PROKIO_EINVAL;
    ok &= prokio_js_function(&f, "42") == PROKIO_EINVAL && f == 0;
    ok &= prokio_js_function(&f, "(") == PROKIO_EJS;
    prokio_js_release(f); /* the SyntaxError */
    prokio_js_release(again);
    prokio_js_release(s);
    prokio_js_release(g);
    report(ok, "values, calls, conversions and a thrown exception", d);
}

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc;
    PROKIO_BEGIN(&r->co);
    printf("1..%d\n", NTESTS);
    r->base = prokio_js_handles_live();

    t_values();
    leak_check(r, "values: handle leak");

    /* A promise resolved later by a JS timer. */
    make_promise(r, "() => new Promise(res => setTimeout(() => res('resolved!'), 5))");
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    report(rc == 0 && strcmp(str_of(r->r, r->buf, sizeof r->buf), "resolved!") == 0,
           "a task awaits a JS Promise resolved by a timer", r->buf);
    leak_check(r, "resolved: handle leak");

    /* A rejection: PROKIO_EJS, the reason's message, the reason's handle. */
    make_promise(r, "() => Promise.reject(new RangeError('boom'))");
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    {
        int ok = rc == PROKIO_EJS && strstr(prokio_last_error(), "rejected: boom") != NULL;
        snprintf(r->buf, sizeof r->buf, "%s", prokio_last_error());
        prokio_js_t name = 0;
        char b2[64];
        ok &= prokio_js_get(&name, r->r, "name") == 0 &&
              strcmp(str_of(name, b2, sizeof b2), "RangeError") == 0;
        prokio_js_release(r->r);
        report(ok, "a rejected Promise is PROKIO_EJS with its message and reason", r->buf);
    }
    /* A rejection with a reason that is not an Error: String(reason). */
    make_promise(r, "() => Promise.reject(7)");
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    report(rc == PROKIO_EJS && strstr(prokio_last_error(), "rejected: 7") != NULL &&
               prokio_js_typeof(r->r) == PROKIO_JS_NUMBER,
           "a rejection with a number", prokio_last_error());
    prokio_js_release(r->r);
    leak_check(r, "rejected: handle leak");

    /* Never settled, the awaiting task aborted: it ends, nothing leaks. */
    {
        struct never n = {0};
        make_promise(r, "() => new Promise(() => {})");
        n.promise = r->p;
        r->p = 0;
        rc = prokio_spawn_local(&r->child, never_poll, &n, sizeof n, never_drop, cx);
        if (rc < 0)
            report(0, "spawn", prokio_last_error());
    }
    prokio_sleep_init(&r->nap, PROKIO_MS(5));
    PROKIO_AWAIT(&r->co, prokio_sleep_poll(&r->nap, cx));
    prokio_task_abort(r->child);
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_task_join_poll(r->child, cx));
    prokio_task_release(r->child);
    report(rc == PROKIO_ECANCELED && prokio_js_handles_live() == r->base,
           "a task aborted while awaiting a Promise that never settles", "");
    leak_check(r, "never settled: handle leak");

    /* prokio_js_await_cancel, then the settlement comes: ignored. */
    make_promise(r, "() => new Promise(res => setTimeout(() => res({big: 'value'}), 5))");
    r->rc = prokio_js_await_poll(&r->r, &r->aw, r->p, cx);
    prokio_js_await_cancel(&r->aw);
    prokio_js_release(r->p);
    prokio_sleep_init(&r->nap, PROKIO_MS(15));
    PROKIO_AWAIT(&r->co, prokio_sleep_poll(&r->nap, cx));
    report(r->rc == PROKIO_PENDING && r->r == 0 && prokio_js_handles_live() == r->base,
           "a cancelled await ignores the late settlement", "");
    /* The same await, idle again, awaits a plain value. */
    prokio_js_number(&r->p, 99);
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    {
        double x = 0;
        report(rc == 0 && prokio_js_to_number(r->r, &x) == 0 && x == 99,
               "an await reused for a plain value", "");
        prokio_js_release(r->r);
    }
    leak_check(r, "cancel: handle leak");

    /* A C task as a Promise, awaited by JS (which doubles the result). */
    rc = prokio_spawn_local(&r->child, return_poll, &(int){21}, sizeof(int), NULL, cx);
    if (rc == 0)
        rc = prokio_js_promise_of_task(&r->p, r->child, 0);
    r->f = fn("(p) => p.then(v => v * 2)");
    r->r = call(r->f, &r->p, 1);
    prokio_js_release(r->f);
    prokio_js_release(r->p);
    r->p = r->r;
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    {
        double x = 0;
        report(rc == 0 && prokio_js_to_number(r->r, &x) == 0 && x == 42,
               "a C task as a Promise resolves with its result", "");
        prokio_js_release(r->r);
    }
    leak_check(r, "task promise: handle leak");

    /* Aborted through the promise's abort(): it rejects and says why. */
    rc = prokio_spawn_local(&r->child, forever_poll, NULL, 0, NULL, cx);
    if (rc == 0)
        rc = prokio_js_promise_of_task(&r->p, r->child, 0);
    r->f = fn("(p) => { p.abort(); return p.then(v => 'resolved ' + v, "
              "e => 'rejected ' + e.code + ': ' + e.message); }");
    r->r = call(r->f, &r->p, 1);
    prokio_js_release(r->f);
    prokio_js_release(r->p);
    r->p = r->r;
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    snprintf(r->buf, sizeof r->buf, "rejected %d: the task was aborted (ECANCELED)",
             PROKIO_ECANCELED);
    {
        char got[256];
        str_of(r->r, got, sizeof got);
        report(rc == 0 && strcmp(got, r->buf) == 0, "an aborted C task's Promise rejects", got);
    }
    /* A task that fails: the rejection names the code. */
    rc = prokio_spawn_local(&r->child, return_poll, &(int){PROKIO_EIO}, sizeof(int), NULL, cx);
    if (rc == 0)
        rc = prokio_js_promise_of_task(&r->p, r->child, 0);
    r->f = fn("(p) => p.then(v => 'resolved ' + v, e => 'rejected: ' + e.message)");
    r->r = call(r->f, &r->p, 1);
    prokio_js_release(r->f);
    prokio_js_release(r->p);
    r->p = r->r;
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    str_of(r->r, r->buf, sizeof r->buf);
    report(rc == 0 && strstr(r->buf, "rejected: the task failed with EIO") != NULL,
           "a failing C task's Promise rejects with the code's name", r->buf);
    /* PROKIO_JS_RESULT_HANDLE: the promise resolves with the handle's value. */
    rc = prokio_spawn_local(&r->child, handle_result_poll, NULL, 0, NULL, cx);
    if (rc == 0)
        rc = prokio_js_promise_of_task(&r->p, r->child, PROKIO_JS_RESULT_HANDLE);
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    report(rc == 0 && strcmp(str_of(r->r, r->buf, sizeof r->buf), "from C") == 0,
           "a task's result handle resolves its Promise (PROKIO_JS_RESULT_HANDLE)", r->buf);
    leak_check(r, "task promises: handle leak");

    /* JS spawns an exported C task with arguments and awaits it; an
     * unknown name and a refused init reject. */
    rc = prokio_js_export(prokio_cx_runtime(cx), "add", add_poll, sizeof(struct add), add_drop,
                          add_init, 0);
    r->f = fn("() => Promise.all([prokio.spawn('add', 2, 40), "
              "prokio.spawn('nope').catch(e => e.message), "
              "prokio.spawn('add', 1).catch(e => e.message)]).then(a => a.join(' | '))");
    r->p = call(r->f, NULL, 0);
    prokio_js_release(r->f);
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    prokio_js_unexport("add");
    str_of(r->r, r->buf, sizeof r->buf);
    report(rc == 0 && strncmp(r->buf, "42 | ", 5) == 0 &&
               strstr(r->buf, "no C task is exported as 'nope'") != NULL &&
               strstr(r->buf, "the init function refused") != NULL,
           "JS spawns an exported C task with arguments and awaits it", r->buf);
    leak_check(r, "spawn from JS: handle leak");

    /* A JS callback (setTimeout) wakes the task through its waker. */
    r->rc = prokio_js_waker(&r->w, prokio_cx_waker(cx));
    r->f = fn("(w) => { setTimeout(w, 10); }");
    prokio_js_release(call(r->f, &r->w, 1));
    prokio_js_release(r->f);
    r->t0 = now_ns();
    r->woken = 0;
    PROKIO_AWAIT(&r->co, r->woken++ ? 0 : PROKIO_PENDING);
    prokio_js_release(r->w);
    {
        char d[64];
        uint64_t took = now_ns() - r->t0;
        snprintf(d, sizeof d, "woken after %.1f ms", took / 1e6);
        /* Two polls: the first, and the one the JS timer's wake caused. */
        report(r->rc == 0 && r->woken == 2 && took >= PROKIO_MS(9),
               "a JS setTimeout callback wakes a C waker", d);
    }
    leak_check(r, "waker: handle leak");

    /* node's fetch of a data: URL (no network), through the bridge. */
    if (prokio_js_global(&r->f, "fetch") < 0) {
        ++test_no;
        printf("ok %d # SKIP no global fetch in this JS engine\n", test_no);
    } else {
        prokio_js_release(r->f);
        r->f = fn("(u) => fetch(u).then(res => res.text())");
        prokio_js_string(&r->w, "data:text/plain,hello%20from%20fetch");
        r->p = call(r->f, &r->w, 1);
        prokio_js_release(r->f);
        prokio_js_release(r->w);
        PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
        prokio_js_release(r->p);
        str_of(r->r, r->buf, sizeof r->buf);
        report(rc == 0 && strcmp(r->buf, "hello from fetch") == 0,
               "a task awaits fetch() of a data: URL", r->buf);
    }
    leak_check(r, "fetch: handle leak");

    if (test_no != NTESTS) {
        printf("# ran %d tests, planned %d\n", test_no, NTESTS);
        failures++;
    }
    PROKIO_END(&r->co, failures ? 1 : 0);
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
