/* core/loader.c: backend search, dlopen and version negotiation.
 *
 * Every failure names what was asked for, the file, and why, because the
 * person reading the message is deciding what to install or rebuild. */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error_internal.h"
#include "internal.h"
#include "loader.h"
#include "log.h"

#ifndef PROKIO_BUILTIN_BACKEND_DIR
#define PROKIO_BUILTIN_BACKEND_DIR "/usr/local/lib/prokio/backends"
#endif

/* io_uring first where the kernel allows it: its native operations are
 * where it wins; then libevent's epoll (edge-triggered), then libuv. */
const char *const prokio__backend_auto_order[] = {"uring", "event", "uv", NULL};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prokio__backend *registry;

/* ------------------------------------------------------------ search path */

size_t prokio_backend_dirs(char *buf, size_t cap)
{
    const char *extra = secure_getenv("PROKIO_BACKEND_PATH");
    const char *dir = secure_getenv("PROKIO_BACKEND_DIR");
    if (dir == NULL || *dir == '\0')
        dir = PROKIO_BUILTIN_BACKEND_DIR;
    int n;
    if (extra && *extra)
        n = snprintf(buf, cap, "%s:%s", extra, dir);
    else
        n = snprintf(buf, cap, "%s", dir);
    return n < 0 ? 0 : (size_t)n;
}

/* Calls fn(dir, arg) for each search directory until it returns true. */
static bool for_each_dir(bool (*fn)(const char *dir, void *arg), void *arg)
{
    char dirs[4096];
    prokio_backend_dirs(dirs, sizeof dirs);
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if (fn(d, arg))
            return true;
    return false;
}

struct find {
    const char *name;
    char path[PATH_MAX];
};

static bool find_in_dir(const char *dir, void *arg)
{
    struct find *f = arg;
    struct stat st;
    snprintf(f->path, sizeof f->path, "%s/prokio-%s.so", dir, f->name);
    return stat(f->path, &st) == 0;
}

/* Backend files of a directory: names of the form prokio-NAME.so. */
typedef void (*file_fn)(const char *path, const char *name, void *arg);

struct scan {
    file_fn fn;
    void *arg;
};

static bool scan_dir(const char *dir, void *arg)
{
    struct scan *sc = arg;
    DIR *d = opendir(dir);
    if (d == NULL)
        return false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 10 || strncmp(e->d_name, "prokio-", 7) != 0 ||
            strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        char name[64], path[PATH_MAX];
        size_t nlen = len - 10;
        if (nlen >= sizeof name)
            continue;
        memcpy(name, e->d_name + 7, nlen);
        name[nlen] = '\0';
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        sc->fn(path, name, sc->arg);
    }
    closedir(d);
    return false;
}

struct names {
    char buf[512];
    size_t len;
};

static void add_name(const char *path, const char *name, void *arg)
{
    (void)path;
    struct names *n = arg;
    char needle[80];
    snprintf(needle, sizeof needle, " %s,", name);
    char padded[sizeof n->buf + 2];
    snprintf(padded, sizeof padded, " %s,", n->buf);
    if (strstr(padded, needle))
        return; /* shadowed by an earlier directory */
    int w = snprintf(n->buf + n->len, sizeof n->buf - n->len, "%s%s", n->len ? ", " : "", name);
    if (w > 0 && n->len + (size_t)w < sizeof n->buf)
        n->len += (size_t)w;
}

/* ------------------------------------------------------------- loading */

/* The rules of prokio/backend.h, shared with prokio-backend-check, so that
 * the loader refuses exactly what the checker refuses. */
static int check_vtable(const char *path, const prokio_backend_vtable_t *vt)
{
    char why[512];
    int rc = prokio_backend_vtable_check(vt, PROKIO_BACKEND_ABI_VERSION, why, sizeof why);
    if (rc < 0)
        return prokio__error(rc, "backend %s: %s", path, why);
    return 0;
}

static int load_path(const char *path, struct prokio__backend **out)
{
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        return prokio__error(PROKIO_EBACKEND, "cannot load backend %s: %s", path,
                             why ? why : "unknown dlopen error");
    }
    pthread_mutex_lock(&registry_lock);
    for (struct prokio__backend *b = registry; b; b = b->next) {
        if (b->dl == dl) {
            b->refs++;
            pthread_mutex_unlock(&registry_lock);
            dlclose(dl); /* keep one dlopen reference per registry entry */
            *out = b;
            return 0;
        }
    }
    int rc;
    prokio_backend_entry_fn entry;
    *(void **)&entry = dlsym(dl, PROKIO_BACKEND_ENTRY_SYMBOL);
    const prokio_backend_vtable_t *vt = NULL;
    if (entry == NULL) {
        rc = prokio__error(PROKIO_EBACKEND, "%s is not a prokio backend: it does not export %s",
                           path, PROKIO_BACKEND_ENTRY_SYMBOL);
        goto fail;
    }
    rc = entry(&prokio__host, PROKIO_BACKEND_ABI_VERSION, &vt);
    if (rc < 0) {
        rc = prokio__error(rc, "backend %s refused backend ABI %u.%u: %s (%s)", path,
                           PROKIO_BACKEND_ABI_MAJOR, PROKIO_BACKEND_ABI_MINOR, prokio_strerror(rc),
                           prokio_err_name(rc));
        goto fail;
    }
    if ((rc = check_vtable(path, vt)) < 0)
        goto fail;
    struct prokio__backend *b = calloc(1, sizeof *b);
    char *copy = strdup(path);
    if (b == NULL || copy == NULL) {
        free(b);
        free(copy);
        rc = prokio__error(PROKIO_ENOMEM, "loading backend %s: no memory", path);
        goto fail;
    }
    b->refs = 1;
    b->path = copy;
    b->dl = dl;
    b->vt = vt;
    b->next = registry;
    registry = b;
    pthread_mutex_unlock(&registry_lock);
    prokio__log(PROKIO_LOG_BACKEND, "loaded %s %s (ABI %u.%u) from %s", vt->name, vt->version,
                PROKIO_BACKEND_ABI_MAJOR_OF(vt->abi_version),
                PROKIO_BACKEND_ABI_MINOR_OF(vt->abi_version), path);
    *out = b;
    return 0;
fail:
    pthread_mutex_unlock(&registry_lock);
    dlclose(dl);
    return rc;
}

int prokio__backend_open(const char *request, struct prokio__backend **out)
{
    *out = NULL;
    if (strchr(request, '/')) {
        struct stat st;
        if (stat(request, &st) != 0)
            return prokio__error(PROKIO_ENOENT, "backend file %s does not exist", request);
        return load_path(request, out);
    }
    if (!prokio_backend_name_valid(request))
        return prokio__error(PROKIO_EINVAL,
                             "invalid backend name '%s': give a name such as uring, event or uv, "
                             "or a path containing '/'",
                             request);
    struct find f = {.name = request};
    if (!for_each_dir(find_in_dir, &f)) {
        char dirs[1024];
        struct names avail = {.len = 0};
        struct scan sc = {add_name, &avail};
        prokio_backend_dirs(dirs, sizeof dirs);
        for_each_dir(scan_dir, &sc);
        return prokio__error(PROKIO_ENOENT,
                             "unknown backend '%s': no prokio-%s.so in %s (available: %s)", request,
                             request, dirs, avail.len ? avail.buf : "none");
    }
    return load_path(f.path, out);
}

void prokio__backend_close(struct prokio__backend *b)
{
    pthread_mutex_lock(&registry_lock);
    if (--b->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (struct prokio__backend **p = &registry; *p; p = &(*p)->next) {
        if (*p == b) {
            *p = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    dlclose(b->dl);
    free(b->path);
    free(b);
}

const char *prokio__backend_path(const struct prokio__backend *b)
{
    return b->path;
}

/* --------------------------------------------------------- introspection */

static void fill_report(prokio_backend_report_t *r, const struct prokio__backend *b)
{
    size_t size = r->size;
    prokio_backend_report_t full = {
        .size = size,
        .name = b->vt->name,
        .path = b->path,
        .version = b->vt->version ? b->vt->version : "",
        .abi_version = b->vt->abi_version,
        .caps = b->vt->caps,
    };
    memcpy(r, &full, size < sizeof full ? size : sizeof full);
}

/* Starts and finishes one loop of b on the calling thread. */
static int probe_start(const struct prokio__backend *b, uint64_t *caps)
{
    static unsigned char no_host_loop; /* callbacks are never made here */
    size_t size = (b->vt->loop_size + 15) & ~(size_t)15;
    void *loop = aligned_alloc(16, size ? size : 16);
    if (loop == NULL)
        return prokio__error(PROKIO_ENOMEM, "probing %s: no memory", b->vt->name);
    memset(loop, 0, size ? size : 16);
    prokio_backend_loop_config_t config = {.size = sizeof config, .worker_count = 1};
    *caps = b->vt->caps;
    int rc = b->vt->loop_init(loop, (prokio_backend_host_loop_t *)&no_host_loop, &config, caps);
    if (rc < 0)
        prokio__error(rc, "backend %s (%s) failed to start: %s (%s)", b->vt->name, b->path,
                      prokio_strerror(rc), prokio_err_name(rc));
    else
        b->vt->loop_fini(loop);
    free(loop);
    return rc;
}

struct probe_all {
    prokio_backend_report_fn fn;
    void *arg;
    int count;
};

static void probe_one(const char *path, const char *name, void *arg)
{
    struct probe_all *pa = arg;
    prokio_backend_report_t r = {.size = sizeof r, .name = name, .path = path, .version = ""};
    struct prokio__backend *b = NULL;
    pa->count++;
    r.status = load_path(path, &b);
    if (r.status == 0) {
        uint64_t caps;
        fill_report(&r, b);
        r.status = probe_start(b, &caps);
        if (r.status == 0)
            r.caps = caps & b->vt->caps;
    }
    r.error = r.status < 0 ? prokio_last_error() : NULL;
    pa->fn(&r, pa->arg);
    if (b)
        prokio__backend_close(b);
}

int prokio_backend_probe_all(prokio_backend_report_fn report, void *arg)
{
    struct probe_all pa = {report, arg, 0};
    struct scan sc = {probe_one, &pa};
    for_each_dir(scan_dir, &sc);
    return pa.count;
}
