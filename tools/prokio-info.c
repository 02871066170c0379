/* tools/prokio-info.c: what this Prokio installation has and can do.
 *
 *   prokio-info                      every backend found, and the one a program
 *                                    would get (PROKIO_BACKEND, else automatic)
 *   prokio-info --backend NAME|PATH  start a runtime on exactly that backend
 *
 * Exits 0 when the runtime asked for starts, 1 with the loader's message
 * when it does not, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <prokio.h>
#include <prokio/backend_info.h>
#include <prokio/backend.h>

static void print_caps(uint64_t caps)
{
    char buf[256];
    printf("%s", prokio_backend_caps_format(caps, buf, sizeof buf));
}

static void print_report(const prokio_backend_report_t *r, void *arg)
{
    (void)arg;
    printf("  %s\n", r->name);
    printf("    file:        %s\n", r->path);
    if (r->abi_version) {
        printf("    version:     %s\n", r->version);
        printf("    ABI:         %u.%u\n", r->abi_version >> 16, r->abi_version & 0xffff);
        printf("    caps:        ");
        print_caps(r->caps);
        printf("\n");
    }
    if (r->status == 0)
        printf("    starts here: yes\n");
    else
        printf("    starts here: no: %s (%s)\n", r->error, prokio_err_name(r->status));
}

/* Starts a runtime the way an application would and says what it got. */
static int start(const char *backend)
{
    prokio_runtime_t *rt;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.backend = backend;
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0) {
        fprintf(stderr, "prokio-info: %s\n", prokio_last_error());
        return 1;
    }
    prokio_backend_report_t r = {.size = sizeof r};
    prokio_runtime_backend_report(rt, &r);
    printf("runtime backend: %s\n", r.name);
    printf("  file:    %s\n", r.path);
    printf("  version: %s\n", r.version);
    printf("  ABI:     %u.%u\n", r.abi_version >> 16, r.abi_version & 0xffff);
    printf("  caps:    ");
    print_caps(r.caps);
    printf("\n");
    rc = prokio_runtime_free(rt);
    if (rc < 0) {
        fprintf(stderr, "prokio-info: %s\n", prokio_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *backend = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            backend = argv[++i];
        } else if (strncmp(argv[i], "--backend=", 10) == 0) {
            backend = argv[i] + 10;
        } else {
            fprintf(stderr, "usage: prokio-info [--backend NAME|PATH]\n");
            return 2;
        }
    }
    printf("prokio %s\n", prokio_version_string());
    printf("backend ABI: %u.%u\n", PROKIO_BACKEND_ABI_MAJOR, PROKIO_BACKEND_ABI_MINOR);
    char dirs[4096];
    prokio_backend_dirs(dirs, sizeof dirs);
    printf("backend directories: %s\n", dirs);
    if (backend != NULL)
        return start(backend);

    printf("backends found:\n");
    if (prokio_backend_probe_all(print_report, NULL) == 0)
        printf("  none\n");
    const char *env = getenv("PROKIO_BACKEND");
    printf("selection: %s\n", env && *env ? "PROKIO_BACKEND" : "automatic");
    return start(NULL);
}
