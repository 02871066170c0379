/* core/version.c */
#include <prokio/version.h>

const char *prokio_version_string(void)
{
    return PROKIO_VERSION_STRING;
}

unsigned prokio_version(void)
{
    return PROKIO_VERSION_HEX;
}
