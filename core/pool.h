/* core/pool.h: the per-worker allocator of task memory.
 *
 * Why not malloc: a task is one allocation (header + frame) and a worker
 * makes and frees millions of them; a free list per size class, owned by
 * the worker, needs no atomics and never hands memory back to the kernel
 * between bursts (re-faulting a page costs 11-22 us on these machines).
 *
 * Objects live in 64 KiB chunks aligned to 64 KiB, so the chunk header,
 * and from it the owning worker, is found by masking an object's address:
 * a task needs no worker pointer of its own. Objects larger than the
 * biggest class get a chunk of their own ("large").
 *
 * Contract with the objects: word 0 of a live object is non-zero and is
 * set to zero by prokio__pool_free (tasks keep their state word there, whose
 * reference count is never zero while the task is alive); word 1 is used as
 * the free-list link. The shutdown scan relies on both. In sanitizer and
 * valgrind builds a free object is poisoned (poison.h), so a task used
 * after its last release is reported like any use after free.
 *
 * Threads: the owner (the worker's thread) allocates and frees without
 * locks. Other threads allocate under the pool's lock (a spawn from outside
 * holds it across its push, see worker.c) and free under it. The owner
 * hands surplus free objects back to the shared side so that memory spawned
 * from outside and freed by the owner is reused, not grown for ever. */
#ifndef PROKIO_CORE_POOL_H
#define PROKIO_CORE_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define PROKIO__CHUNK_SIZE   ((size_t)64 * 1024)
#define PROKIO__CHUNK_HEADER 64
#define PROKIO__POOL_CLASSES 32
#define PROKIO__POOL_MAX_OBJ 8192 /* biggest class; larger objects are "large" */
#define PROKIO__POOL_MIN_OBJ 16   /* two words: the live mark and the free link */
#define PROKIO__BATCH_CHUNKS 16

struct prokio__pool;

struct prokio__chunk {
    struct prokio__pool *pool;
    struct prokio__chunk *next, *prev; /* the pool's list of chunks */
    struct prokio__chunk *next_batch;  /* first chunk of a batch: the pool's batch list */
    uint32_t obj_size;                 /* bytes per object (large: the one object's size) */
    uint32_t used;                     /* bytes carved so far, after the header */
    uint8_t class_index;
    uint8_t large;
};

struct prokio__free_list {
    void *head;
    uint32_t len;
    struct prokio__chunk *carve; /* chunk being carved, or NULL */
};

struct prokio__pool {
    struct prokio__worker *worker;
    struct prokio__free_list local[PROKIO__POOL_CLASSES]; /* owner only */
    /* Bit c set: shared[c] may be non-empty (a hint read without the lock). */
    _Atomic uint32_t shared_hint;
    pthread_mutex_t lock; /* protects shared[], the chunk lists and the batch */
    struct prokio__free_list shared[PROKIO__POOL_CLASSES];
    struct prokio__chunk *chunks;
    /* Chunks come in batches of PROKIO__BATCH_CHUNKS (one allocation the
     * C library maps directly): 64 KiB-aligned chunks allocated one by one
     * would cost 12% more resident memory in alignment gaps. */
    struct prokio__chunk *batches;
    struct prokio__chunk *batch_next; /* next unused chunk of the current batch */
    unsigned batch_left;
    bool draining; /* prokio__pool_drain began: large chunks stay linked until fini */
};

int prokio__pool_init(struct prokio__pool *pool, struct prokio__worker *worker);

/* Frees every chunk, whatever is still in them. Thread: one thread, after
 * every user of the pool is gone. */
void prokio__pool_fini(struct prokio__pool *pool);

/* Allocates `size` bytes, 16-byte aligned, word 0 undefined.
 * local: Thread: the owner. remote: Thread: any other; the caller holds
 * pool->lock. Return NULL when out of memory. */
void *prokio__pool_alloc_local(struct prokio__pool *pool, size_t size);
void *prokio__pool_alloc_remote(struct prokio__pool *pool, size_t size);

/* Returns an object to its pool. Thread: any (locks when not the owner);
 * the caller must not hold the pool's lock. */
void prokio__pool_free(void *obj);

/* Calls visit(obj, arg) for every live object (word 0 non-zero), holding
 * the pool's lock: visit must not allocate or free in this pool. Returns the
 * number visited. Thread: the owner, or any once the owner has stopped. */
size_t prokio__pool_scan(struct prokio__pool *pool, void (*visit)(void *obj, void *arg), void *arg);

/* Visits every live object that select() picks, in a time linear in the
 * pool's size and without allocating: the lock is held while one chunk's
 * objects are chosen, and released while visit() runs, so visit may free
 * objects of this pool (a drop function releasing handles). The caller
 * guarantees that a chosen object stays allocated until it is visited
 * (only visit itself frees it). From then on, freed large objects keep
 * their chunks until prokio__pool_fini. Thread: the owner, or any once the
 * owner has stopped. */
void prokio__pool_drain(struct prokio__pool *pool, bool (*select)(void *obj),
                        void (*visit)(void *obj, void *arg), void *arg);

static inline struct prokio__chunk *prokio__chunk_of(const void *obj)
{
    return (struct prokio__chunk *)((uintptr_t)obj & ~(uintptr_t)(PROKIO__CHUNK_SIZE - 1));
}

static inline struct prokio__pool *prokio__pool_of(const void *obj)
{
    return prokio__chunk_of(obj)->pool;
}

#endif
