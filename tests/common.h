/* tests/common.h: what every test program includes.
 *
 * Output is TAP (CMOCKA_MESSAGE_OUTPUT=TAP, set by `make check`). Do not
 * use cmocka's skip() directly: Debian's cmocka 1.1.5 prints "not ok #
 * SKIP", which automake's TAP driver counts as a failure. A test that
 * cannot run on this machine says so in the runner (tests/run-backend.sh),
 * as "1..0 # SKIP why". On WebAssembly, where cmocka is built by
 * tests/wasm/get-cmocka.sh with that line corrected, TEST_SKIP_ON_WASM
 * skips one test and says why. */
#ifndef PROKIO_TESTS_COMMON_H
#define PROKIO_TESTS_COMMON_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <prokio.h>

static const char *test_watchdog_what = "test";

static void test_watchdog_fire(int sig)
{
    (void)sig;
    static const char head[] = "Bail out! watchdog: ";
    static const char tail[] = " took too long\n";
    (void)!write(1, head, sizeof head - 1);
    (void)!write(1, test_watchdog_what, strlen(test_watchdog_what));
    (void)!write(1, tail, sizeof tail - 1);
    _exit(1);
}

/* PROKIO_TEST_TIMEOUT_SCALE (default 1): what every time limit of the tests
 * is multiplied by, for slow runs (valgrind). */
static inline unsigned test_timeout_scale(void)
{
    const char *scale = getenv("PROKIO_TEST_TIMEOUT_SCALE");
    unsigned k = scale ? (unsigned)atoi(scale) : 1;
    return k ? k : 1;
}

/* True in builds with AddressSanitizer or ThreadSanitizer. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif

/* True when the program runs under valgrind, which preloads its
 * vgpreload_*.so into the program. */
static inline bool test_under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre != NULL && strstr(pre, "vgpreload") != NULL;
}

/* Stress tests run a tenth of their counts when this says true: under the
 * sanitizers, or under valgrind (which CI runs with a timeout scale > 1),
 * and say so in their output. */
static inline bool test_reduced(void)
{
    return TEST_SANITIZED || test_timeout_scale() > 1;
}

/* Ends the process with "Bail out!" if it runs longer than `seconds`
 * (times test_timeout_scale()). Every test program arms one: a hung test
 * must fail, not hang CI. Workers block signals, so SIGALRM reaches the
 * main thread. */
static inline void test_watchdog(const char *what, unsigned seconds)
{
    test_watchdog_what = what;
    signal(SIGALRM, test_watchdog_fire);
    alarm(seconds * test_timeout_scale());
}

/* On WebAssembly (one worker on the JS thread, no second thread, no file
 * descriptors) a test that needs one of those calls this first: it prints
 * the reason as a TAP comment and ends the test as "ok N # SKIP name".
 * Elsewhere it does nothing. Only before the test made anything: skip()
 * leaves the test at once. */
#ifdef __EMSCRIPTEN__
#define TEST_SKIP_ON_WASM(...)                                                                     \
    do {                                                                                           \
        print_message("# SKIP on wasm: " __VA_ARGS__);                                             \
        print_message("\n");                                                                       \
        skip();                                                                                    \
    } while (0)
#else
#define TEST_SKIP_ON_WASM(...) ((void)0)
#endif

/* A runtime on the backend the runner chose (PROKIO_BACKEND), or fail.
 * On wasm, where a runtime has one worker, a test that asks for more is
 * skipped (every test creates its runtime first). */
static inline prokio_runtime_t *test_runtime(unsigned workers)
{
    if (workers > 1)
        TEST_SKIP_ON_WASM("needs %u workers; a wasm runtime has one, the JS thread", workers);
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = workers;
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail_msg("prokio_runtime_new: %s: %s", prokio_err_name(rc), prokio_last_error());
    return rt;
}

/* Frees a runtime and checks that nothing it owned was left behind. */
static inline void test_runtime_free(prokio_runtime_t *rt)
{
    int rc = prokio_runtime_free(rt);
    if (rc < 0)
        fail_msg("prokio_runtime_free: %s: %s", prokio_err_name(rc), prokio_last_error());
}

#endif
