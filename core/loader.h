/* core/loader.h: finding, loading and checking backends.
 *
 * A backend is loaded once per process however many runtimes use it (a
 * registry keyed by the dlopen handle, reference counted) and unloaded
 * when the last runtime using it is freed. */
#ifndef PROKIO_CORE_LOADER_H
#define PROKIO_CORE_LOADER_H

#include <prokio/backend.h>

struct prokio__backend {
    struct prokio__backend *next; /* the registry */
    unsigned refs;
    char *path;
    void *dl;
    const prokio_backend_vtable_t *vt;
};

/* The host table every backend gets (host.c). */
extern const prokio_backend_host_t prokio__host;

/* Loads the backend named by `request`: a name ("uring": prokio-uring.so in
 * the search directories) or a path (contains '/'). On failure, returns a
 * negative code with prokio_last_error() naming the backend, the file and
 * why. Thread: any. */
int prokio__backend_open(const char *request, struct prokio__backend **out);

/* The names tried, in order, when nothing asks for a backend. */
extern const char *const prokio__backend_auto_order[];

/* Loads the shared object at `path`, refusing anything that is not a
 * regular file (dlopen of a FIFO would block for ever). file_name, when not
 * NULL, is the NAME the file was found by (prokio-NAME.so): the backend
 * must call itself so. Thread: any. */
int prokio__backend_load(const char *path, const char *file_name, struct prokio__backend **out);

void prokio__backend_close(struct prokio__backend *b);

const char *prokio__backend_path(const struct prokio__backend *b);

#endif
