/* core/probe.c: what prokio/backend_info.h offers: every backend found,
 * whether it starts here, and which one a runtime runs on. */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "internal.h"
#include "loader.h"
#include "search.h"

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
    void *loop = aligned_alloc(16, size);
    if (loop == NULL)
        return prokio__error(PROKIO_ENOMEM, "probing %s: no memory", b->vt->name);
    memset(loop, 0, size);
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
    r.status = prokio__backend_load(path, name, &b);
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
    if (report == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_backend_probe_all: report is NULL");
    struct probe_all pa = {report, arg, 0};
    prokio__search_each_file(probe_one, &pa);
    return pa.count;
}
