/* tests/unit/test-error.c: the error table (prokio/error.h, core/error.c). */
#include <errno.h>
#include <pthread.h>

#include "common.h"

#include "error_internal.h"

static void test_codes_are_negative_errno(void **state)
{
    (void)state;
    assert_int_equal(PROKIO_ENOENT, -ENOENT);
    assert_int_equal(PROKIO_ECANCELED, -ECANCELED);
    assert_true(PROKIO_EABI < -4000);
    assert_int_not_equal(PROKIO_PENDING, PROKIO_EABI);
}

static void test_names_and_messages(void **state)
{
    (void)state;
    assert_string_equal(prokio_err_name(PROKIO_EPIPE), "EPIPE");
    assert_string_equal(prokio_err_name(PROKIO_EABI), "EABI");
    assert_string_equal(prokio_err_name(12345), "UNKNOWN");
    assert_string_equal(prokio_strerror(PROKIO_ENOBACKEND), "no usable backend");
    assert_string_equal(prokio_strerror(0), "unknown error");
    /* Every code of the table has a distinct name and a message. */
#define XX(name, value, msg)                                                                       \
    assert_string_equal(prokio_err_name(value), #name);                                            \
    assert_string_not_equal(prokio_strerror(value), "unknown error");
    PROKIO_ERRNO_MAP(XX)
#undef XX
}

static void *other_thread(void *arg)
{
    (void)arg;
    return (void *)prokio_last_error();
}

static void test_last_error_is_per_thread(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("needs a second thread (no -pthread)");
    assert_int_equal(prokio__error(PROKIO_EINVAL, "bad %s %d", "thing", 7), PROKIO_EINVAL);
    assert_string_equal(prokio_last_error(), "bad thing 7");
    pthread_t th;
    void *seen;
    pthread_create(&th, NULL, other_thread, NULL);
    pthread_join(th, &seen);
    assert_string_equal((const char *)seen, "");
}

int main(void)
{
    test_watchdog("test-error", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_are_negative_errno),
        cmocka_unit_test(test_names_and_messages),
        cmocka_unit_test(test_last_error_is_per_thread),
    };
    return cmocka_run_group_tests_name("errors", tests, NULL, NULL);
}
