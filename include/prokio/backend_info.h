/* prokio/backend_info.h: which backends this installation has, whether they
 * start on this machine, and which one a runtime runs on. For tools and
 * diagnostics (prokio-info); applications rarely need it, so prokio.h does
 * not include it. The capability bits are those of prokio/backend.h. */
#ifndef PROKIO_BACKEND_INFO_H
#define PROKIO_BACKEND_INFO_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the loader knows about one backend. Versioned by size like the
 * runtime options: set `size` before passing one in.
 * Lifetime: the strings are valid during the callback
 * (prokio_backend_probe_all) or as long as the runtime
 * (prokio_runtime_backend_report). */
typedef struct prokio_backend_report {
    size_t size;
    const char *name;     /* "uring" */
    const char *path;     /* the shared object */
    const char *version;  /* the backend's own version string */
    unsigned abi_version; /* (major << 16 | minor) the backend implements */
    uint64_t caps;        /* PROKIO_BACKEND_CAP_* of prokio/backend.h */
    int status;           /* 0: starts on this machine; < 0: why not */
    const char *error;    /* with status < 0: the loader's message */
} prokio_backend_report_t;

typedef void (*prokio_backend_report_fn)(const prokio_backend_report_t *report, void *arg);

/* Finds every backend in the search directories (PROKIO_BACKEND_PATH, then
 * the built-in directory), loads it, starts a loop of it on the calling
 * thread and reports the outcome, one call per file, in search order.
 * Returns the number of backends found, or PROKIO_EINVAL for a NULL report.
 * Thread: not a worker thread. */
int prokio_backend_probe_all(prokio_backend_report_fn report, void *arg);

/* Writes the search directories, separated by ':', into buf (cap bytes,
 * NUL-terminated, truncated if needed; buf may be NULL when cap is 0) and
 * returns the length needed, without the NUL. Thread: any. */
size_t prokio_backend_dirs(char *buf, size_t cap);

/* Fills *report for the backend the runtime runs on (status 0). Set
 * report->size first. Thread: any. */
void prokio_runtime_backend_report(const prokio_runtime_t *rt, prokio_backend_report_t *report);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_BACKEND_INFO_H */
