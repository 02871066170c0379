/* core/js_native.c: prokio/js.h on native targets, where there is no
 * JavaScript: every function checks its arguments as everywhere (prokio.h
 * rule 6) and answers PROKIO_ENOTSUP, so that one program compiles for both
 * targets and can branch at run time. The WebAssembly build has core/js.c
 * instead. */
#ifndef __EMSCRIPTEN__
#include <prokio.h>

#include "error_internal.h"

static int unsupported(const char *who)
{
    return prokio__error(PROKIO_ENOTSUP,
                         "%s: JS interop needs the WebAssembly build (emscripten); this is a "
                         "native build: test for PROKIO_ENOTSUP and take another path here",
                         who);
}

static int null_arg(const char *who, const char *arg)
{
    return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who, arg);
}

int prokio_js_string(prokio_js_t *out, const char *utf8)
{
    if (out == NULL || utf8 == NULL)
        return null_arg("prokio_js_string", out ? "utf8" : "out");
    *out = 0;
    return unsupported("prokio_js_string");
}

int prokio_js_number(prokio_js_t *out, double value)
{
    (void)value;
    if (out == NULL)
        return null_arg("prokio_js_number", "out");
    *out = 0;
    return unsupported("prokio_js_number");
}

int prokio_js_global(prokio_js_t *out, const char *path)
{
    if (out == NULL || path == NULL)
        return null_arg("prokio_js_global", out ? "path" : "out");
    *out = 0;
    return unsupported("prokio_js_global");
}

int prokio_js_function(prokio_js_t *out, const char *source)
{
    if (out == NULL || source == NULL)
        return null_arg("prokio_js_function", out ? "source" : "out");
    *out = 0;
    return unsupported("prokio_js_function");
}

int prokio_js_call(prokio_js_t *result_out, prokio_js_t fn, prokio_js_t self,
                   const prokio_js_t *args, size_t nargs)
{
    (void)fn, (void)self;
    if (result_out == NULL)
        return null_arg("prokio_js_call", "result_out");
    *result_out = 0;
    if (args == NULL && nargs != 0)
        return null_arg("prokio_js_call", "args");
    return unsupported("prokio_js_call");
}

int prokio_js_get(prokio_js_t *out, prokio_js_t obj, const char *key)
{
    (void)obj;
    if (out == NULL || key == NULL)
        return null_arg("prokio_js_get", out ? "key" : "out");
    *out = 0;
    return unsupported("prokio_js_get");
}

int prokio_js_to_string(prokio_js_t h, char *buf, size_t size, size_t *len_out)
{
    (void)h;
    if (buf == NULL && size != 0)
        return null_arg("prokio_js_to_string", "buf");
    if (len_out)
        *len_out = 0;
    if (buf)
        buf[0] = '\0';
    return unsupported("prokio_js_to_string");
}

int prokio_js_to_number(prokio_js_t h, double *out)
{
    (void)h;
    if (out == NULL)
        return null_arg("prokio_js_to_number", "out");
    return unsupported("prokio_js_to_number");
}

int prokio_js_typeof(prokio_js_t h)
{
    (void)h;
    return unsupported("prokio_js_typeof");
}

void prokio_js_release(prokio_js_t h)
{
    (void)h;
}

int prokio_js_handles_live(void)
{
    return unsupported("prokio_js_handles_live");
}

int prokio_js_waker(prokio_js_t *out, prokio_waker_t *waker)
{
    if (out == NULL || waker == NULL)
        return null_arg("prokio_js_waker", out ? "waker" : "out");
    *out = 0;
    return unsupported("prokio_js_waker");
}

int prokio_js_await_poll(prokio_js_t *result_out, prokio_js_await_t *aw, prokio_js_t promise,
                         prokio_cx_t *cx)
{
    (void)promise;
    if (result_out == NULL || aw == NULL || cx == NULL)
        return null_arg("prokio_js_await_poll", !result_out ? "result_out" : !aw ? "aw" : "cx");
    *result_out = 0;
    return unsupported("prokio_js_await_poll");
}

void prokio_js_await_cancel(prokio_js_await_t *aw)
{
    (void)aw;
}

int prokio_js_promise_of_task(prokio_js_t *out, prokio_task_t *task, unsigned flags)
{
    (void)flags;
    if (out == NULL || task == NULL)
        return null_arg("prokio_js_promise_of_task", out ? "task" : "out");
    *out = 0;
    return unsupported("prokio_js_promise_of_task");
}

int prokio_js_export(prokio_runtime_t *rt, const char *name, prokio_poll_fn poll, size_t frame_size,
                     prokio_drop_fn drop, prokio_js_init_fn init, unsigned flags)
{
    (void)frame_size, (void)drop, (void)init, (void)flags;
    if (rt == NULL || name == NULL || poll == NULL)
        return null_arg("prokio_js_export", !rt ? "rt" : !name ? "name" : "poll");
    return unsupported("prokio_js_export");
}

void prokio_js_unexport(const char *name)
{
    (void)name;
}
#endif
