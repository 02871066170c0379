/* core/log.c: PROKIO_DEBUG. The environment is read once, with
 * prokio__getenv (secure_getenv) so that a set-user-ID program ignores it. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "platform.h"

static pthread_once_t parse_once = PTHREAD_ONCE_INIT;
static unsigned enabled_areas;

static void parse_debug_env(void)
{
    const char *env = prokio__getenv("PROKIO_DEBUG");
    if (env == NULL)
        return;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", env);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "backend") == 0)
            enabled_areas |= PROKIO_LOG_BACKEND;
        else if (strcmp(tok, "net") == 0)
            enabled_areas |= PROKIO_LOG_NET;
        else if (strcmp(tok, "all") == 0 || strcmp(tok, "1") == 0)
            enabled_areas = ~0u;
    }
}

bool prokio__log_enabled(unsigned area)
{
    pthread_once(&parse_once, parse_debug_env);
    return (enabled_areas & area) != 0;
}

void prokio__logv(unsigned area, const char *prefix, const char *fmt, va_list ap)
{
    if (!prokio__log_enabled(area))
        return;
    /* One fprintf per line so that lines from several threads do not mix. */
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "prokio[%s]: %s%s\n",
            area == PROKIO_LOG_BACKEND ? "backend"
            : area == PROKIO_LOG_NET   ? "net"
                                       : "debug",
            prefix, line);
}

void prokio__log(unsigned area, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prokio__logv(area, "", fmt, ap);
    va_end(ap);
}
