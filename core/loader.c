/* core/loader.c: loading a backend: dlopen, version negotiation, the
 * vtable's checks, and the registry that loads each file once per process.
 * Where backends are looked for is search.c; introspection is probe.c.
 *
 * Every failure names what was asked for, the file, and why, because the
 * person reading the message is deciding what to install or rebuild. */
#include <dlfcn.h>
#include <errno.h>
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
#include "search.h"

#ifdef __EMSCRIPTEN__
/* WebAssembly has no dlopen: the wasm backend (backends/wasm) is linked into
 * libprokio.a under its static entry name, and it is the only one. */
int prokio_backend_entry_wasm(const prokio_backend_host_t *host, uint32_t core_abi,
                              const prokio_backend_vtable_t **vtable);
static const struct builtin {
    const char *name;
    prokio_backend_entry_fn entry;
} builtins[] = {{"wasm", prokio_backend_entry_wasm}};
const char *const prokio__backend_auto_order[] = {"wasm", NULL};
#else
/* io_uring first where the kernel allows it: its native operations are
 * where it wins; then libevent's epoll (edge-triggered), then libuv. */
const char *const prokio__backend_auto_order[] = {"uring", "event", "uv", NULL};
#endif

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct prokio__backend *registry;

/* The rules of prokio/backend.h, shared with prokio-backend-check, so that
 * the loader refuses exactly what the checker refuses. A file found by name
 * must also carry that name: prokio-info lists backends by vtable->name,
 * and PROKIO_BACKEND=NAME must find what it lists. */
static int check_vtable(const char *path, const char *file_name, const prokio_backend_vtable_t *vt)
{
    char why[512];
    int rc = prokio_backend_vtable_check(vt, PROKIO_BACKEND_ABI_VERSION, why, sizeof why);
    if (rc < 0)
        return prokio__error(rc, "backend %s: %s", path, why);
    if (file_name && strcmp(file_name, vt->name) != 0)
        return prokio__error(PROKIO_EBACKEND,
                             "backend %s calls itself '%s' (vtable->name): name the file "
                             "prokio-%s.so, or the backend '%s'",
                             path, vt->name, vt->name, file_name);
    return 0;
}

static const char *file_kind(mode_t mode)
{
    return S_ISFIFO(mode)   ? "FIFO"
           : S_ISDIR(mode)  ? "directory"
           : S_ISCHR(mode)  ? "character device"
           : S_ISBLK(mode)  ? "block device"
           : S_ISSOCK(mode) ? "socket"
                            : "special file";
}

/* Only a regular file goes to dlopen, whatever route led to it (a path, a
 * name found in the search directories, prokio_backend_probe_all): on a
 * FIFO dlopen blocks for ever in open(), waiting for a writer, and on a
 * directory or a device it fails without saying why. */
static int check_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int err = -errno;
        if (err == PROKIO_ENOENT)
            return prokio__error(err, "backend file %s does not exist", path);
        return prokio__error(err, "backend file %s: %s (%s)", path, prokio_strerror(err),
                             prokio_err_name(err));
    }
    if (!S_ISREG(st.st_mode))
        return prokio__error(PROKIO_EBACKEND,
                             "backend file %s is not a regular file (a %s): a backend is a "
                             "shared object",
                             path, file_kind(st.st_mode));
    return 0;
}

int prokio__backend_load(const char *path, const char *file_name, struct prokio__backend **out)
{
    *out = NULL;
    int checked = check_file(path);
    if (checked < 0)
        return checked;
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
            int rc = check_vtable(path, file_name, b->vt);
            if (rc == 0)
                b->refs++;
            pthread_mutex_unlock(&registry_lock);
            dlclose(dl); /* keep one dlopen reference per registry entry */
            if (rc == 0)
                *out = b;
            return rc;
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
    if ((rc = check_vtable(path, file_name, vt)) < 0)
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

/* A backend named by path. */
static int open_path(const char *path, struct prokio__backend **out)
{
    size_t len = strlen(path);
    if (len >= PATH_MAX)
        return prokio__error(PROKIO_ENAMETOOLONG,
                             "backend path of %zu bytes is longer than PATH_MAX (%d): %.64s...",
                             len, PATH_MAX, path);
    return prokio__backend_load(path, NULL, out);
}

#ifdef __EMSCRIPTEN__
/* A backend linked in: registered like a loaded one, without a handle, and
 * never unloaded (prokio__backend_close keeps the entry for reuse). */
static int open_builtin(const struct builtin *bi, struct prokio__backend **out)
{
    pthread_mutex_lock(&registry_lock);
    for (struct prokio__backend *b = registry; b; b = b->next) {
        if (b->dl == NULL && strcmp(b->vt->name, bi->name) == 0) {
            b->refs++;
            pthread_mutex_unlock(&registry_lock);
            *out = b;
            return 0;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    const prokio_backend_vtable_t *vt = NULL;
    int rc = bi->entry(&prokio__host, PROKIO_BACKEND_ABI_VERSION, &vt);
    if (rc < 0)
        return prokio__error(rc, "built-in backend %s refused backend ABI %u.%u: %s (%s)", bi->name,
                             PROKIO_BACKEND_ABI_MAJOR, PROKIO_BACKEND_ABI_MINOR,
                             prokio_strerror(rc), prokio_err_name(rc));
    if ((rc = check_vtable("(built in)", bi->name, vt)) < 0)
        return rc;
    struct prokio__backend *b = calloc(1, sizeof *b);
    char *copy = strdup("(built in)");
    if (b == NULL || copy == NULL) {
        free(b);
        free(copy);
        return prokio__error(PROKIO_ENOMEM, "loading built-in backend %s: no memory", bi->name);
    }
    b->refs = 1;
    b->path = copy;
    b->vt = vt;
    pthread_mutex_lock(&registry_lock);
    b->next = registry;
    registry = b;
    pthread_mutex_unlock(&registry_lock);
    *out = b;
    return 0;
}
#endif

int prokio__backend_open(const char *request, struct prokio__backend **out)
{
    *out = NULL;
#ifdef __EMSCRIPTEN__
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(request, builtins[i].name) == 0)
            return open_builtin(&builtins[i], out);
    return prokio__error(PROKIO_ENOTSUP,
                         "backend '%.64s': WebAssembly builds have no dlopen; the only backend "
                         "is the built-in 'wasm' (leave PROKIO_BACKEND unset or set it to wasm)",
                         request);
#endif
    if (strchr(request, '/'))
        return open_path(request, out);
    if (!prokio_backend_name_valid(request))
        return prokio__error(PROKIO_EINVAL,
                             "invalid backend name '%.64s%s': give a name such as uring, event "
                             "or uv (1 to %d characters of [a-z0-9_-]), or a path containing "
                             "'/'",
                             request, strlen(request) > 64 ? "..." : "", PROKIO_BACKEND_NAME_MAX);
    char path[PATH_MAX];
    int rc = prokio__search_find(request, path);
    if (rc < 0)
        return rc;
    return prokio__backend_load(path, request, out);
}

void prokio__backend_close(struct prokio__backend *b)
{
    pthread_mutex_lock(&registry_lock);
    if (--b->refs > 0 || b->dl == NULL) { /* a built-in one stays registered */
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
