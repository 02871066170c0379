/* tests/regress/long-backend-path.c: long backend search paths and backend
 * paths are not cut short.
 *
 * The loader copied PROKIO_BACKEND_PATH and the built-in directory into a
 * 4 KiB buffer and split that: a longer path was truncated, so the
 * directories at its end, the built-in one included, were never searched
 * and the backend was "not found". And a backend path longer than PATH_MAX
 * (100 KB) was reported as "does not exist", when the truth is
 * ENAMETOOLONG.
 *
 * make check sets PROKIO_BACKEND_DIR to the build tree's backends, the
 * built-in directory for these tests. Here PROKIO_BACKEND_PATH holds over
 * 8 KiB of directories that have no backend (one entry longer than
 * PATH_MAX among them) and nothing after them: the backend must still be
 * found in the built-in directory, and prokio_backend_dirs must report the
 * full length. A PROKIO_BACKEND of 100 KB must fail with
 * PROKIO_ENAMETOOLONG and say so. Runs once, on the automatic backend:
 * the search is the core's. */
#include <limits.h>

#include <prokio/backend_info.h>

#include "common.h"

enum { ENTRIES = 400, HUGE_PATH = 100 * 1000 };

static char *long_search_path(void)
{
    /* ENTRIES directories that do not exist, then one entry longer than
     * PATH_MAX, then a few more. */
    size_t cap = ENTRIES * 40 + PATH_MAX + 64;
    char *p = malloc(cap);
    assert_non_null(p);
    size_t len = 0;
    for (int i = 0; i < ENTRIES; i++) {
        len += (size_t)snprintf(p + len, cap - len, "%s/nonexistent/prokio-regress-%04d",
                                i ? ":" : "", i);
        if (i == ENTRIES / 2) {
            p[len++] = ':';
            p[len++] = '/';
            memset(p + len, 'x', PATH_MAX + 10);
            len += PATH_MAX + 10;
            p[len] = '\0';
        }
    }
    assert_true(len > 8 * 1024 + PATH_MAX);
    return p;
}

static void test_long_search_path_keeps_builtin_dir(void **state)
{
    (void)state;
    const char *builtin = getenv("PROKIO_BACKEND_DIR");
    if (builtin == NULL || *builtin == '\0')
        fail_msg("PROKIO_BACKEND_DIR is not set: run through make check");
    char *path = long_search_path();
    assert_int_equal(setenv("PROKIO_BACKEND_PATH", path, 1), 0);
    unsetenv("PROKIO_BACKEND");

    /* Every byte is reported, and written when there is room. */
    size_t want = strlen(path) + 1 + strlen(builtin);
    assert_int_equal(prokio_backend_dirs(NULL, 0), want);
    char *dirs = malloc(want + 1);
    assert_non_null(dirs);
    memset(dirs, '#', want + 1);
    assert_int_equal(prokio_backend_dirs(dirs, want + 1), want);
    assert_int_equal(dirs[want], '\0');
    assert_int_equal(strncmp(dirs, path, strlen(path)), 0);
    assert_string_equal(dirs + strlen(path) + 1, builtin);
    free(dirs);

    /* Automatic selection finds a backend in the built-in directory. */
    prokio_runtime_t *rt = NULL;
    int rc = prokio_runtime_new(&rt, NULL);
    if (rc < 0)
        fail_msg("automatic selection after %zu bytes of PROKIO_BACKEND_PATH: %s: %.300s",
                 strlen(path), prokio_err_name(rc), prokio_last_error());
    prokio_backend_report_t r = {.size = sizeof r};
    prokio_runtime_backend_report(rt, &r);
    printf("# found %s at %s\n", r.name, r.path);
    assert_int_equal(strncmp(r.path, builtin, strlen(builtin)), 0);
    char name[32];
    snprintf(name, sizeof name, "%s", r.name);
    test_runtime_free(rt);

    /* So does a request by name. */
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.backend = name;
    rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail_msg("backend %s after %zu bytes of PROKIO_BACKEND_PATH: %s: %.300s", name,
                 strlen(path), prokio_err_name(rc), prokio_last_error());
    test_runtime_free(rt);

    unsetenv("PROKIO_BACKEND_PATH");
    free(path);
}

static void test_huge_backend_path_is_too_long(void **state)
{
    (void)state;
    char *path = malloc(HUGE_PATH + 1);
    assert_non_null(path);
    for (size_t i = 0; i < HUGE_PATH; i += 2)
        memcpy(path + i, "/a", 2);
    path[HUGE_PATH] = '\0';

    /* Named by the environment, and by the options. */
    assert_int_equal(setenv("PROKIO_BACKEND", path, 1), 0);
    for (int by_option = 0; by_option < 2; by_option++) {
        prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
        o.backend = by_option ? path : NULL;
        prokio_runtime_t *rt = (prokio_runtime_t *)&rt;
        int rc = prokio_runtime_new(&rt, &o);
        const char *msg = prokio_last_error();
        printf("# %s: %.200s\n", prokio_err_name(rc), msg);
        assert_int_equal(rc, PROKIO_ENAMETOOLONG);
        assert_null(rt);
        assert_null(strstr(msg, "does not exist"));
        assert_true(strstr(msg, "too long") || strstr(msg, "longer than"));
        /* The message is a message, not the path. */
        assert_true(strlen(msg) < 1024);
    }
    unsetenv("PROKIO_BACKEND");
    free(path);
}

int main(void)
{
    test_watchdog("long-backend-path", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_search_path_keeps_builtin_dir),
        cmocka_unit_test(test_huge_backend_path_is_too_long),
    };
    return cmocka_run_group_tests_name("long backend paths", tests, NULL, NULL);
}
