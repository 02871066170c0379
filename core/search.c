/* core/search.c: the backend search directories (search.h). */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <prokio/backend.h>

#include "error_internal.h"
#include "internal.h"
#include "log.h"
#include "platform.h"
#include "search.h"

#ifndef PROKIO_BUILTIN_BACKEND_DIR
#define PROKIO_BUILTIN_BACKEND_DIR "/usr/local/lib/prokio/backends"
#endif

/* The build tree this library was built in, and its backends (set by
 * core/Makefile.inc). Compared with where the running code lives; never
 * searched by an installed library. */
#ifndef PROKIO_BUILD_TREE
#define PROKIO_BUILD_TREE ""
#endif
#ifndef PROKIO_BUILD_TREE_BACKEND_DIR
#define PROKIO_BUILD_TREE_BACKEND_DIR ""
#endif

static bool in_build_tree(void)
{
    static const char tree[] = PROKIO_BUILD_TREE;
    char self[PATH_MAX];
    size_t n = sizeof tree - 1;
    if (n == 0 || !prokio__self_dir(self, sizeof self))
        return false;
    return strncmp(self, tree, n) == 0 && (self[n] == '\0' || self[n] == '/');
}

static bool uninstalled;
static pthread_once_t uninstalled_once = PTHREAD_ONCE_INIT;

static void find_out_if_uninstalled(void)
{
    uninstalled = in_build_tree();
}

static const char *builtin_dir(void)
{
    const char *dir = prokio__getenv("PROKIO_BACKEND_DIR");
    if (dir != NULL && *dir != '\0')
        return dir;
    pthread_once(&uninstalled_once, find_out_if_uninstalled);
    return uninstalled ? PROKIO_BUILD_TREE_BACKEND_DIR : PROKIO_BUILTIN_BACKEND_DIR;
}

size_t prokio_backend_dirs(char *buf, size_t cap)
{
    const char *extra = prokio__getenv("PROKIO_BACKEND_PATH");
    const char *dir = builtin_dir();
    int n;
    if (buf == NULL)
        cap = 0;
    if (extra && *extra)
        n = snprintf(buf, cap, "%s:%s", extra, dir);
    else
        n = snprintf(buf, cap, "%s", dir);
    return n < 0 ? 0 : (size_t)n;
}

bool prokio__search_each_dir(bool (*fn)(const char *dir, void *arg), void *arg, unsigned *skipped)
{
    /* Walked in place, not copied into a buffer: a path of any length keeps
     * every entry and the built-in directory. */
    const char *extra = prokio__getenv("PROKIO_BACKEND_PATH");
    char dir[PATH_MAX];
    for (const char *p = extra; p && *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= sizeof dir) {
            prokio__log(PROKIO_LOG_BACKEND,
                        "PROKIO_BACKEND_PATH: skipping an entry of %zu bytes (PATH_MAX is %zu)",
                        len, sizeof dir);
            if (skipped)
                ++*skipped;
        } else if (len > 0) {
            memcpy(dir, p, len);
            dir[len] = '\0';
            if (fn(dir, arg))
                return true;
        }
        p = end ? end + 1 : p + len;
    }
    return fn(builtin_dir(), arg);
}

/* ------------------------------------------------------------ files */

struct each_file {
    void (*fn)(const char *path, const char *name, void *arg);
    void *arg;
};

/* A directory entry named prokio-NAME.so with a valid NAME. */
static bool backend_file_name(const char *file, char name[PROKIO_BACKEND_NAME_MAX + 1])
{
    size_t len = strlen(file);
    if (len <= 10 || strncmp(file, "prokio-", 7) != 0 || strcmp(file + len - 3, ".so") != 0)
        return false;
    size_t nlen = len - 10;
    if (nlen > PROKIO_BACKEND_NAME_MAX)
        return false;
    memcpy(name, file + 7, nlen);
    name[nlen] = '\0';
    return prokio_backend_name_valid(name);
}

static bool scan_dir(const char *dir, void *arg)
{
    struct each_file *ef = arg;
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char name[PROKIO_BACKEND_NAME_MAX + 1], path[PATH_MAX];
        if (!backend_file_name(e->d_name, name))
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof path)
            continue;
        ef->fn(path, name, ef->arg);
    }
    closedir(d);
    return false;
}

void prokio__search_each_file(void (*fn)(const char *path, const char *name, void *arg), void *arg)
{
    struct each_file ef = {fn, arg};
    prokio__search_each_dir(scan_dir, &ef, NULL);
}

/* ------------------------------------------------------------- find */

struct find {
    const char *name;
    char *path;
};

/* The first prokio-NAME.so that exists, whatever it is: a FIFO or a
 * directory there shadows later directories, and the loader says what it
 * is (prokio__backend_load refuses anything but a regular file). */
static bool find_in_dir(const char *dir, void *arg)
{
    struct find *f = arg;
    struct stat st;
    int n = snprintf(f->path, PATH_MAX, "%s/prokio-%s.so", dir, f->name);
    return n >= 0 && n < PATH_MAX && stat(f->path, &st) == 0;
}

struct names {
    char buf[512];
    size_t len;
};

static void add_name(const char *path, const char *name, void *arg)
{
    (void)path;
    struct names *n = arg;
    /* Listed once, even when a later directory has it too. */
    for (const char *p = n->buf; (p = strstr(p, name)) != NULL; p++) {
        size_t len = strlen(name);
        if ((p == n->buf || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
            return;
    }
    int w = snprintf(n->buf + n->len, sizeof n->buf - n->len, "%s%s", n->len ? ", " : "", name);
    if (w > 0 && n->len + (size_t)w < sizeof n->buf)
        n->len += (size_t)w;
}

int prokio__search_find(const char *name, char *path)
{
    struct find f = {.name = name, .path = path};
    unsigned skipped = 0;
    if (prokio__search_each_dir(find_in_dir, &f, &skipped))
        return 0;
    struct names avail = {.len = 0};
    prokio__search_each_file(add_name, &avail);
    size_t need = prokio_backend_dirs(NULL, 0);
    char *dirs = malloc(need + 1);
    if (dirs)
        prokio_backend_dirs(dirs, need + 1);
    int rc = prokio__error(PROKIO_ENOENT,
                           "unknown backend '%s': no prokio-%s.so in %s%s (available: %s)", name,
                           name, dirs ? dirs : "the search directories",
                           skipped ? " (entries of PROKIO_BACKEND_PATH longer than PATH_MAX "
                                     "were skipped)"
                                   : "",
                           avail.len ? avail.buf : "none");
    free(dirs);
    return rc;
}
