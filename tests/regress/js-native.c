/* tests/regress/js-native.c: prokio/js.h on a native target. One program
 * must compile for both targets and branch at run time, so every function
 * of the JS bridge exists natively and answers PROKIO_ENOTSUP, with a
 * message that names the function and says that JS interop needs the
 * WebAssembly build; out-parameters are cleared, the void functions do
 * nothing. Runs once, on the automatic backend. */
#include "common.h"

static void expect_enotsup(int rc, const char *fn)
{
    const char *msg = prokio_last_error();
    if (rc != PROKIO_ENOTSUP)
        fail_msg("%s returned %d (%s), not PROKIO_ENOTSUP", fn, rc, prokio_err_name(rc));
    if (strstr(msg, fn) == NULL || strstr(msg, "WebAssembly") == NULL)
        fail_msg("%s: the message \"%s\" does not name it and the WebAssembly build", fn, msg);
}

static int zero_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return 0;
}

/* What the calls that need a task answered (checked off the worker: cmocka
 * must not fail inside a poll). */
struct in_task {
    int await_rc, waker_rc, promise_rc, export_rc;
    prokio_js_t await_h, waker_h, promise_h;
    char await_msg[512];
};

static int in_task_poll(void *frame, prokio_cx_t *cx)
{
    struct in_task *t = frame;
    prokio_js_await_t aw = {0};
    t->await_h = t->waker_h = t->promise_h = 7;
    t->await_rc = prokio_js_await_poll(&t->await_h, &aw, 1, cx);
    snprintf(t->await_msg, sizeof t->await_msg, "%s", prokio_last_error());
    t->waker_rc = prokio_js_waker(&t->waker_h, prokio_cx_waker(cx));
    prokio_task_t *child;
    if (prokio_spawn_local(&child, zero_poll, NULL, 0, NULL, cx) < 0)
        return 1;
    t->promise_rc = prokio_js_promise_of_task(&t->promise_h, child, 0);
    prokio_task_release(child); /* on failure the JoinHandle stays ours */
    t->export_rc = prokio_js_export(prokio_cx_runtime(cx), "name", zero_poll, 0, NULL, NULL, 0);
    prokio_js_await_cancel(&aw);
    return 0;
}

static void test_everything_is_enotsup(void **state)
{
    (void)state;
    prokio_js_t h = 7, args[1] = {1};
    double d = 0;
    char buf[16] = "x";
    size_t len = 9;
    expect_enotsup(prokio_js_string(&h, "s"), "prokio_js_string");
    assert_int_equal(h, 0);
    h = 7;
    expect_enotsup(prokio_js_number(&h, 1.5), "prokio_js_number");
    assert_int_equal(h, 0);
    h = 7;
    expect_enotsup(prokio_js_global(&h, "fetch"), "prokio_js_global");
    assert_int_equal(h, 0);
    h = 7;
    expect_enotsup(prokio_js_function(&h, "() => 1"), "prokio_js_function");
    assert_int_equal(h, 0);
    h = 7;
    expect_enotsup(prokio_js_call(&h, 1, 0, args, 1), "prokio_js_call");
    assert_int_equal(h, 0);
    h = 7;
    expect_enotsup(prokio_js_get(&h, 1, "k"), "prokio_js_get");
    assert_int_equal(h, 0);
    expect_enotsup(prokio_js_to_string(1, buf, sizeof buf, &len), "prokio_js_to_string");
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    expect_enotsup(prokio_js_to_number(1, &d), "prokio_js_to_number");
    expect_enotsup(prokio_js_typeof(1), "prokio_js_typeof");
    expect_enotsup(prokio_js_handles_live(), "prokio_js_handles_live");
    prokio_js_release(1);
    prokio_js_unexport("name");

    prokio_runtime_t *rt = test_runtime(1);
    struct in_task t = {0};
    assert_int_equal(prokio_runtime_block_on(rt, in_task_poll, &t, sizeof t, NULL), 0);
    test_runtime_free(rt);
    assert_int_equal(t.await_rc, PROKIO_ENOTSUP);
    assert_non_null(strstr(t.await_msg, "prokio_js_await_poll"));
    assert_non_null(strstr(t.await_msg, "WebAssembly"));
    assert_int_equal(t.waker_rc, PROKIO_ENOTSUP);
    assert_int_equal(t.promise_rc, PROKIO_ENOTSUP);
    assert_int_equal(t.export_rc, PROKIO_ENOTSUP);
    assert_int_equal(t.await_h, 0);
    assert_int_equal(t.waker_h, 0);
    assert_int_equal(t.promise_h, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_everything_is_enotsup),
    };
    return cmocka_run_group_tests_name("the JS bridge natively", tests, NULL, NULL);
}
