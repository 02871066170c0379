/* tests/regress/wasm-js-hostile.c (WebAssembly only, built by
 * tests/wasm/Makefile.inc): the JS bridge (prokio/js.h, core/prokio-js.js)
 * given hostile values. Each case was a bug:
 *  - invalid UTF-8 from C (a cut multibyte character, a stray 0xff):
 *    emscripten's decoder of strings under 17 bytes does not validate, so
 *    it made garbage characters instead of U+FFFD and read the bytes after
 *    the terminating NUL into the string;
 *  - a JS string with a lone surrogate came out as invalid UTF-8 (CESU);
 *  - user JS throwing where the bridge did not expect it (a rejection
 *    reason or a thrown object whose `message` getter throws, a promise
 *    whose `constructor` getter throws) escaped through C to emscripten's
 *    callUserCallback, which ended the program with status 1; the last one
 *    also left an await entry and a keepalive behind;
 *  - a promise whose own `then` calls its callbacks twice popped the
 *    await's keepalive twice, so emscripten exited the program early;
 *  - handle ids: one slot made and released 127 times in a row gave back
 *    the id of a handle released before, which was then "live" again
 *    (the generation has 7 bits and the last freed slot was reused
 *    first);
 *  - past 2^24 - 1 live handles the slot index ran into the generation's
 *    bits: new handles aliased old ones.
 * Fixed in core/prokio-js.js. Run by prokio_runtime_run_main; output:
 * TAP with a plan, so a program that ends early fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <prokio.h>

#define NTESTS 9

static int failures, test_no;

static void report(int ok, const char *what, const char *detail)
{
    ++test_no;
    failures += !ok;
    printf("%s %d - %s%s%s\n", ok ? "ok" : "not ok", test_no, what, detail && *detail ? ": " : "",
           detail ? detail : "");
    fflush(stdout);
}

/* source() called, its result as a handle (0 on failure, said). */
static prokio_js_t eval(const char *source)
{
    prokio_js_t f = 0, r = 0;
    if (prokio_js_function(&f, source) < 0 || prokio_js_call(&r, f, 0, NULL, 0) < 0) {
        printf("# %s: %s\n", source, prokio_last_error());
        prokio_js_release(r);
        r = 0;
    }
    prokio_js_release(f);
    return r;
}

/* The UTF-8 of h as a C string of hex bytes, and its length. */
static void hex_of(prokio_js_t h, char *out, size_t size, size_t *len)
{
    char buf[64];
    *len = 0;
    out[0] = '\0';
    if (prokio_js_to_string(h, buf, sizeof buf, len) < 0) {
        snprintf(out, size, "(%s)", prokio_last_error());
        return;
    }
    for (size_t i = 0; i < *len && 3 * i + 3 < size; i++)
        snprintf(out + 3 * i, size - 3 * i, "%02x ", (unsigned char)buf[i]);
}

static void t_utf8(void)
{
    /* A cut 4-byte sequence right before the NUL, with bytes after it. */
    static const char cut[] = "x\xf0\0ZZZ";
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"a\xff", "61 ef bf bd "},
        {cut, "78 ef bf bd "},
        {"\xc3", "ef bf bd "},
        {"h\xc3\xa9", "68 c3 a9 "},
    };
    char got[128], d[512] = "";
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        prokio_js_t h = 0;
        size_t len;
        if (prokio_js_string(&h, cases[i].in) < 0) {
            ok = 0;
            continue;
        }
        hex_of(h, got, sizeof got, &len);
        prokio_js_release(h);
        if (strcmp(got, cases[i].want) != 0) {
            ok = 0;
            snprintf(d + strlen(d), sizeof d - strlen(d), "[case %zu: %s, want %s] ", i, got,
                     cases[i].want);
        }
    }
    report(ok, "invalid UTF-8 from C becomes U+FFFD, nothing past the NUL is read", d);
}

static void t_surrogate(void)
{
    char got[128];
    size_t len;
    prokio_js_t h = eval("() => 'a\\uD800b'");
    hex_of(h, got, sizeof got, &len);
    prokio_js_release(h);
    report(strcmp(got, "61 ef bf bd 62 ") == 0 && len == 5,
           "a lone surrogate comes out as U+FFFD (valid UTF-8)", got);
}

static void t_thrown_getter(void)
{
    prokio_js_t f = 0, r = 0;
    int rc = prokio_js_function(&f, "() => { throw { get message() { throw new Error('getter'); "
                                    "} }; }");
    if (rc == 0)
        rc = prokio_js_call(&r, f, 0, NULL, 0);
    int ok = rc == PROKIO_EJS && prokio_js_typeof(r) == PROKIO_JS_OBJECT;
    report(ok, "a thrown object whose message getter throws is PROKIO_EJS", prokio_last_error());
    prokio_js_release(r);
    prokio_js_release(f);
}

static void t_aba(void)
{
    prokio_js_t first = 0, h = 0;
    char d[128] = "";
    prokio_js_number(&first, 1);
    prokio_js_release(first);
    for (int i = 0; i < 126; i++) {
        prokio_js_number(&h, 2);
        prokio_js_release(h);
    }
    prokio_js_number(&h, 3);
    int type = prokio_js_typeof(first);
    snprintf(d, sizeof d, "released %#x, new %#x, typeof the released one %d", first, h, type);
    report(h != first && type == PROKIO_EINVAL,
           "a released handle stays refused after its slot was made and released 127 times", d);
    prokio_js_release(h);
}

/* 2^24 handles and more: the table refuses (PROKIO_ENOMEM) once full, and
 * every handle made keeps its own value. */
static void t_full(void)
{
    const uint32_t most = (1u << 24) + 16;
    prokio_js_t *hs = malloc(most * sizeof *hs);
    uint32_t n = 0;
    int rc = 0;
    char d[256] = "";
    if (hs == NULL) {
        report(0, "the handle table when full", "no memory for the test");
        return;
    }
    while (n < most && (rc = prokio_js_number(&hs[n], (double)n)) == 0)
        n++;
    if (rc < 0)
        snprintf(d, sizeof d, "%u made, then %s: %s", n, prokio_err_name(rc), prokio_last_error());
    else
        snprintf(d, sizeof d, "%u made, none refused", n);
    int ok = rc == PROKIO_ENOMEM && n < (1u << 24);
    /* Every handle still has its own value: check the ends and a sample. */
    for (uint32_t i = 0; i < n; i += (i < 64 || n - i < 64) ? 1 : 4099) {
        double x = -1;
        if (prokio_js_to_number(hs[i], &x) < 0 || x != (double)i) {
            ok = 0;
            snprintf(d + strlen(d), sizeof d - strlen(d), " [handle %u (%#x) reads %g]", i, hs[i],
                     x);
            break;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        prokio_js_release(hs[i]);
    free(hs);
    /* And it works again. */
    prokio_js_t h = 0;
    ok &= prokio_js_number(&h, 5) == 0;
    prokio_js_release(h);
    report(ok, "a full handle table refuses with PROKIO_ENOMEM; no handle aliases another", d);
}

struct root {
    int co;
    int base;
    prokio_js_t p, r;
    prokio_js_await_t aw;
    prokio_sleep_t nap;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    int rc;
    PROKIO_BEGIN(&r->co);
    printf("1..%d\n", NTESTS);
    r->base = prokio_js_handles_live();
    t_utf8();
    t_surrogate();
    t_thrown_getter();

    /* A rejection whose reason's message getter throws. */
    r->p = eval("() => Promise.reject({ get message() { throw new Error('getter'); } })");
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    report(rc == PROKIO_EJS && prokio_js_typeof(r->r) == PROKIO_JS_OBJECT,
           "a rejection whose reason's message getter throws is PROKIO_EJS", prokio_last_error());
    prokio_js_release(r->r);

    /* A promise whose constructor getter throws (Promise.resolve reads it). */
    r->p = eval("() => { const p = Promise.resolve(1); Object.defineProperty(p, 'constructor', "
                "{ get() { throw new Error('no constructor'); } }); return p; }");
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    report(rc == PROKIO_EJS && strstr(prokio_last_error(), "no constructor") != NULL,
           "a promise whose constructor getter throws rejects the await", prokio_last_error());
    prokio_js_release(r->r);

    /* A promise whose own then() calls both callbacks, twice. */
    r->p = eval("() => { const p = new Promise(() => {}); p.then = (ok, bad) => { ok(1); ok(2); "
                "bad(3); }; return p; }");
    PROKIO_AWAIT_INTO(&r->co, rc, prokio_js_await_poll(&r->r, &r->aw, r->p, cx));
    prokio_js_release(r->p);
    {
        double x = 0;
        report(rc == 0 && prokio_js_to_number(r->r, &x) == 0 && x == 1,
               "a then() that calls back three times settles the await once", "");
        prokio_js_release(r->r);
    }
    /* The program must still be alive and its timers working. */
    prokio_sleep_init(&r->nap, PROKIO_MS(20));
    PROKIO_AWAIT(&r->co, prokio_sleep_poll(&r->nap, cx));
    report(1, "the program goes on after those settlements", "");

    t_aba();
    t_full();
    {
        char d[64];
        snprintf(d, sizeof d, "%d live, %d before", prokio_js_handles_live(), r->base);
        if (prokio_js_handles_live() != r->base)
            failures++;
        printf("# handles: %s\n", d);
    }
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
