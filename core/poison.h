/* core/poison.h: telling AddressSanitizer and valgrind about the pools.
 *
 * The pools (pool.h) reuse task memory without malloc, so neither tool
 * would see a task used after its last release: the memory is still
 * "allocated" as far as they know. In a build with ASan (found by the
 * compiler's own macro) or configured with --enable-valgrind, a freed object
 * is poisoned: every access to it is reported, until the pool hands it out
 * again. Everything here compiles to nothing in other builds.
 *
 * The pool itself must still read two words of a free object: word 0 (the
 * liveness scan: zero when free) and word 1 (the free-list link). It reads
 * and writes them through prokio__poison_peek and the link helpers, which
 * lift the poison for exactly that access. */
#ifndef PROKIO_CORE_POISON_H
#define PROKIO_CORE_POISON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define PROKIO__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROKIO__ASAN 1
#endif
#endif

#ifdef PROKIO__ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifdef PROKIO_VALGRIND
#include <valgrind/memcheck.h>
#endif

/* True in builds where freed pool objects are poisoned. */
#if defined(PROKIO__ASAN) || defined(PROKIO_VALGRIND)
#define PROKIO__POISONING 1
#else
#define PROKIO__POISONING 0
#endif

/* A pool (its address names it to valgrind) is created and destroyed. */
static inline void prokio__poison_pool_new(const void *pool)
{
#ifdef PROKIO_VALGRIND
    VALGRIND_CREATE_MEMPOOL(pool, 0, 0);
#endif
    (void)pool;
}

static inline void prokio__poison_pool_gone(const void *pool)
{
#ifdef PROKIO_VALGRIND
    VALGRIND_DESTROY_MEMPOOL(pool);
#endif
    (void)pool;
}

/* An object is handed out (its content undefined) or given back. */
static inline void prokio__poison_obj_alloc(const void *pool, void *obj, size_t size)
{
#ifdef PROKIO__ASAN
    ASAN_UNPOISON_MEMORY_REGION(obj, size);
#endif
#ifdef PROKIO_VALGRIND
    VALGRIND_MEMPOOL_ALLOC(pool, obj, size);
#endif
    (void)pool, (void)obj, (void)size;
}

static inline void prokio__poison_obj_free(const void *pool, void *obj, size_t size)
{
#ifdef PROKIO__ASAN
    ASAN_POISON_MEMORY_REGION(obj, size);
#endif
#ifdef PROKIO_VALGRIND
    VALGRIND_MEMPOOL_FREE(pool, obj);
#endif
    (void)pool, (void)obj, (void)size;
}

/* Lifts or restores the poison of one word of a free object, for the
 * pool's own access to it. */
static inline void prokio__poison_word_open(void *word)
{
#ifdef PROKIO__ASAN
    ASAN_UNPOISON_MEMORY_REGION(word, sizeof(uint64_t));
#endif
#ifdef PROKIO_VALGRIND
    VALGRIND_MAKE_MEM_DEFINED(word, sizeof(uint64_t));
#endif
    (void)word;
}

static inline void prokio__poison_word_close(void *word)
{
#ifdef PROKIO__ASAN
    ASAN_POISON_MEMORY_REGION(word, sizeof(uint64_t));
#endif
#ifdef PROKIO_VALGRIND
    VALGRIND_MAKE_MEM_NOACCESS(word, sizeof(uint64_t));
#endif
    (void)word;
}

/* True when the object's first word is poisoned, i.e. the object is free:
 * the liveness scan then treats it as free without reading it. */
static inline int prokio__poison_obj_is_free(const void *obj)
{
#ifdef PROKIO__ASAN
    if (__asan_address_is_poisoned(obj))
        return 1;
#endif
#ifdef PROKIO_VALGRIND
    uint64_t vbits;
    /* 3: part of the range is not addressable (valgrind's GET_VBITS). */
    if (VALGRIND_GET_VBITS(obj, &vbits, sizeof vbits) == 3)
        return 1;
#endif
    (void)obj;
    return 0;
}

#endif
