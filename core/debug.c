/* core/debug.c: reporting a broken invariant (debug.h). Built in every
 * configuration so that the library's symbols do not depend on it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "debug.h"

void prokio__assert_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One write, so that lines from several threads do not mix. */
    fprintf(stderr, "prokio: invariant broken at %s:%d: %s: %s\n", file, line, cond, msg);
    abort();
}
