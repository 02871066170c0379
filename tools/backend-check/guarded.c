/* Guarded memory: what the core gives a backend, plus a canary. */
#include "backend-check.h"

#include <stdlib.h>
#include <string.h>

#define CANARY_LEN  32
#define CANARY_BYTE 0xa5
#define POISON_BYTE 0xdb

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

void *guarded_alloc(size_t size)
{
    size_t body = round16(size ? size : 1);
    unsigned char *p = aligned_alloc(16, body + CANARY_LEN);
    if (!p)
        return NULL;
    memset(p, 0, size);
    memset(p + size, CANARY_BYTE, body + CANARY_LEN - size);
    return p;
}

bool guarded_intact(const void *mem, size_t size)
{
    const unsigned char *p = mem;
    size_t end = round16(size ? size : 1) + CANARY_LEN;
    for (size_t i = size; i < end; i++)
        if (p[i] != CANARY_BYTE)
            return false;
    return true;
}

/* Poison before freeing so that a backend still using the memory reads
 * garbage even without a memory checker. */
void guarded_free(void *mem, size_t size)
{
    memset(mem, POISON_BYTE, round16(size ? size : 1) + CANARY_LEN);
    free(mem);
}
