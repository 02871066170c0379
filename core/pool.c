/* core/pool.c: see pool.h for the design. */
#include <stdlib.h>
#include <string.h>

#include "poison.h"
#include "pool.h"

/* The owner keeps at most this many bytes per class on its own free list
 * before handing half to the shared side. */
#define LOCAL_KEEP_BYTES ((size_t)512 * 1024)

_Static_assert(PROKIO__CHUNK_HEADER >= sizeof(struct prokio__chunk), "chunk header too small");

/* Classes: 16..128 by 16 (the small channel objects of a worker's object
 * pool start at 16 bytes, tasks at 48), then four per power of two up to
 * 8192. */
static unsigned class_of_size(size_t size)
{
    if (size <= 128)
        return (unsigned)((size + 15) / 16) - 1;
    unsigned k = 63 - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    unsigned sub = (unsigned)((size - 1 - ((size_t)1 << k)) >> (k - 2));
    return 8 + (k - 7) * 4 + sub;
}

static size_t class_size(unsigned c)
{
    if (c < 8)
        return 16 + 16 * (size_t)c;
    unsigned k = 7 + (c - 8) / 4, sub = (c - 8) % 4;
    return ((size_t)1 << k) + (size_t)(sub + 1) * ((size_t)1 << (k - 2));
}

/* The pointer after the 64-bit live mark links the free list: at byte 8,
 * not at ((void **)obj)[1], which on 32-bit targets (wasm32) is the upper
 * half of the mark and made every free object look live to the scans. The
 * object is poisoned in sanitizer builds (poison.h): the pool opens just
 * that word to use it. */
static inline void **link_slot(void *obj)
{
    return (void **)((char *)obj + sizeof(uint64_t));
}

static inline void *link_of(void *obj)
{
    void **link = link_slot(obj);
    prokio__poison_word_open(link);
    void *next = *link;
    prokio__poison_word_close(link);
    return next;
}

static inline void set_link(void *obj, void *next)
{
    void **link = link_slot(obj);
    prokio__poison_word_open(link);
    *link = next;
    prokio__poison_word_close(link);
}

/* True when obj is in use. A free object has word 0 zero, and in sanitizer
 * builds is poisoned, so it is recognised without being read. */
static inline bool is_live(void *obj)
{
    if (PROKIO__POISONING && prokio__poison_obj_is_free(obj))
        return false;
    return atomic_load_explicit((_Atomic uint64_t *)obj, memory_order_acquire) != 0;
}

int prokio__pool_init(struct prokio__pool *pool, struct prokio__worker *worker)
{
    memset(pool, 0, sizeof *pool);
    pool->worker = worker;
    int rc = pthread_mutex_init(&pool->lock, NULL);
    if (rc != 0)
        return -rc;
    prokio__poison_pool_new(pool);
    return 0;
}

void prokio__pool_fini(struct prokio__pool *pool)
{
    for (struct prokio__chunk *c = pool->chunks, *next; c; c = next) {
        next = c->next;
        if (c->large)
            free(c);
    }
    for (struct prokio__chunk *b = pool->batches, *next; b; b = next) {
        next = b->next_batch;
        free(b);
    }
    pool->chunks = pool->batches = NULL;
    prokio__poison_pool_gone(pool);
    pthread_mutex_destroy(&pool->lock);
}

/* Links a new chunk into the pool's list. Caller holds the lock. */
static void link_chunk(struct prokio__pool *pool, struct prokio__chunk *c)
{
    c->prev = NULL;
    c->next = pool->chunks;
    if (pool->chunks)
        pool->chunks->prev = c;
    pool->chunks = c;
}

/* A chunk for class c, linked into the pool. Caller holds the lock. */
static struct prokio__chunk *new_chunk(struct prokio__pool *pool, unsigned c)
{
    if (pool->batch_left == 0) {
        struct prokio__chunk *b =
            aligned_alloc(PROKIO__CHUNK_SIZE, PROKIO__CHUNK_SIZE * PROKIO__BATCH_CHUNKS);
        if (b == NULL)
            return NULL;
        b->next_batch = pool->batches;
        pool->batches = b;
        pool->batch_next = b;
        pool->batch_left = PROKIO__BATCH_CHUNKS;
    }
    struct prokio__chunk *chunk = pool->batch_next;
    bool first = pool->batch_left == PROKIO__BATCH_CHUNKS;
    struct prokio__chunk *next_batch = first ? chunk->next_batch : NULL;
    pool->batch_next = (struct prokio__chunk *)((char *)chunk + PROKIO__CHUNK_SIZE);
    pool->batch_left--;
    memset(chunk, 0, sizeof *chunk);
    chunk->next_batch = next_batch;
    chunk->pool = pool;
    chunk->obj_size = (uint32_t)class_size(c);
    chunk->class_index = (uint8_t)c;
    link_chunk(pool, chunk);
    return chunk;
}

/* Takes an object from a free list or carves one from its chunk; NULL when
 * both are exhausted. */
static void *take(struct prokio__free_list *fl)
{
    void *obj = fl->head;
    if (obj) {
        fl->head = link_of(obj);
        fl->len--;
    } else {
        struct prokio__chunk *c = fl->carve;
        if (!c || PROKIO__CHUNK_HEADER + c->used + c->obj_size > PROKIO__CHUNK_SIZE)
            return NULL;
        obj = (char *)c + PROKIO__CHUNK_HEADER + c->used;
        c->used += c->obj_size;
    }
    struct prokio__chunk *chunk = prokio__chunk_of(obj);
    prokio__poison_obj_alloc(chunk->pool, obj, chunk->obj_size);
    return obj;
}

static void *alloc_large(struct prokio__pool *pool, size_t size, bool locked)
{
    if (size > UINT32_MAX - PROKIO__CHUNK_HEADER)
        return NULL;
    size_t total =
        (PROKIO__CHUNK_HEADER + size + PROKIO__CHUNK_SIZE - 1) & ~(PROKIO__CHUNK_SIZE - 1);
    struct prokio__chunk *c = aligned_alloc(PROKIO__CHUNK_SIZE, total);
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    c->pool = pool;
    c->obj_size = (uint32_t)size;
    c->used = (uint32_t)size;
    c->large = 1;
    if (!locked)
        pthread_mutex_lock(&pool->lock);
    link_chunk(pool, c);
    if (!locked)
        pthread_mutex_unlock(&pool->lock);
    void *obj = (char *)c + PROKIO__CHUNK_HEADER;
    prokio__poison_obj_alloc(pool, obj, size);
    return obj;
}

void *prokio__pool_alloc_local(struct prokio__pool *pool, size_t size)
{
    if (size > PROKIO__POOL_MAX_OBJ)
        return alloc_large(pool, size, false);
    unsigned c = class_of_size(size < PROKIO__POOL_MIN_OBJ ? PROKIO__POOL_MIN_OBJ : size);
    struct prokio__free_list *fl = &pool->local[c];
    void *obj = take(fl);
    if (PROKIO_LIKELY(obj != NULL))
        return obj;

    /* Reclaim what other threads freed (or the owner handed back) before
     * growing. */
    if (atomic_load_explicit(&pool->shared_hint, memory_order_relaxed) & (1u << c)) {
        pthread_mutex_lock(&pool->lock);
        struct prokio__free_list *sh = &pool->shared[c];
        fl->head = sh->head;
        fl->len = sh->len;
        sh->head = NULL;
        sh->len = 0;
        atomic_fetch_and_explicit(&pool->shared_hint, ~(1u << c), memory_order_relaxed);
        pthread_mutex_unlock(&pool->lock);
        if ((obj = take(fl)) != NULL)
            return obj;
    }

    pthread_mutex_lock(&pool->lock);
    struct prokio__chunk *chunk = new_chunk(pool, c);
    pthread_mutex_unlock(&pool->lock);
    if (chunk == NULL)
        return NULL;
    fl->carve = chunk;
    return take(fl);
}

void *prokio__pool_alloc_remote(struct prokio__pool *pool, size_t size)
{
    if (size > PROKIO__POOL_MAX_OBJ)
        return alloc_large(pool, size, true);
    unsigned c = class_of_size(size < PROKIO__POOL_MIN_OBJ ? PROKIO__POOL_MIN_OBJ : size);
    struct prokio__free_list *fl = &pool->shared[c];
    void *obj = take(fl);
    if (obj)
        return obj;
    struct prokio__chunk *chunk = new_chunk(pool, c);
    if (chunk == NULL)
        return NULL;
    fl->carve = chunk;
    return take(fl);
}

/* Moves half of an overfull local list to the shared side. */
static void hand_back(struct prokio__pool *pool, unsigned c)
{
    struct prokio__free_list *fl = &pool->local[c];
    uint32_t keep = fl->len / 2, give = fl->len - keep;
    void *first = fl->head, *last = first;
    for (uint32_t i = 1; i < give; i++)
        last = link_of(last);
    fl->head = link_of(last);
    fl->len = keep;
    pthread_mutex_lock(&pool->lock);
    struct prokio__free_list *sh = &pool->shared[c];
    set_link(last, sh->head);
    sh->head = first;
    sh->len += give;
    atomic_fetch_or_explicit(&pool->shared_hint, 1u << c, memory_order_relaxed);
    pthread_mutex_unlock(&pool->lock);
}

void prokio__pool_free(void *obj)
{
    struct prokio__chunk *chunk = prokio__chunk_of(obj);
    struct prokio__pool *pool = chunk->pool;
    /* Word 0 is the scans' "not live" mark. Another thread than the owner
     * clears it under the lock only: prokio_runtime_free scans under the
     * lock, and once it sees no live object it frees the pool, so the free
     * must be over, lock released, by the time the mark is visible. */
    if (chunk->large) {
        pthread_mutex_lock(&pool->lock);
        atomic_store_explicit((_Atomic uint64_t *)obj, 0, memory_order_release);
        bool keep = pool->draining; /* the shutdown walk may be in this chunk */
        if (!keep) {
            if (chunk->prev)
                chunk->prev->next = chunk->next;
            else
                pool->chunks = chunk->next;
            if (chunk->next)
                chunk->next->prev = chunk->prev;
        }
        prokio__poison_obj_free(pool, obj, chunk->obj_size);
        pthread_mutex_unlock(&pool->lock);
        if (!keep)
            free(chunk);
        return;
    }
    unsigned c = chunk->class_index;
    if (prokio__tls_worker == pool->worker) {
        struct prokio__free_list *fl = &pool->local[c];
        atomic_store_explicit((_Atomic uint64_t *)obj, 0, memory_order_release);
        set_link(obj, fl->head);
        prokio__poison_obj_free(pool, obj, chunk->obj_size);
        fl->head = obj;
        if (PROKIO_UNLIKELY(++fl->len > LOCAL_KEEP_BYTES / chunk->obj_size))
            hand_back(pool, c);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    atomic_store_explicit((_Atomic uint64_t *)obj, 0, memory_order_release);
    struct prokio__free_list *sh = &pool->shared[c];
    set_link(obj, sh->head);
    prokio__poison_obj_free(pool, obj, chunk->obj_size);
    sh->head = obj;
    sh->len++;
    atomic_fetch_or_explicit(&pool->shared_hint, 1u << c, memory_order_relaxed);
    pthread_mutex_unlock(&pool->lock);
}

size_t prokio__pool_scan(struct prokio__pool *pool, void (*visit)(void *obj, void *arg), void *arg)
{
    size_t n = 0;
    pthread_mutex_lock(&pool->lock);
    for (struct prokio__chunk *c = pool->chunks; c; c = c->next) {
        char *base = (char *)c + PROKIO__CHUNK_HEADER;
        for (uint32_t off = 0; off < c->used; off += c->obj_size) {
            void *obj = base + off;
            if (is_live(obj)) {
                visit(obj, arg);
                n++;
            }
        }
    }
    pthread_mutex_unlock(&pool->lock);
    return n;
}

void prokio__pool_drain(struct prokio__pool *pool, bool (*select)(void *obj),
                        void (*visit)(void *obj, void *arg), void *arg)
{
    /* One bit per object of a chunk: the smallest class gives the most. */
    enum { MAX_OBJS = (PROKIO__CHUNK_SIZE - PROKIO__CHUNK_HEADER) / PROKIO__POOL_MIN_OBJ };
    uint64_t chosen[(MAX_OBJS + 63) / 64];

    pthread_mutex_lock(&pool->lock);
    pool->draining = true;
    struct prokio__chunk *c = pool->chunks;
    pthread_mutex_unlock(&pool->lock);
    /* Chunks are only ever added at the head (a spawn from another thread
     * that fails), and none leaves the list while draining: the walk from
     * the head seen above is stable without holding the lock. */
    while (c) {
        memset(chosen, 0, sizeof chosen);
        pthread_mutex_lock(&pool->lock);
        char *base = (char *)c + PROKIO__CHUNK_HEADER;
        uint32_t size = c->obj_size, n = c->used / size;
        for (uint32_t i = 0; i < n; i++)
            if (is_live(base + (size_t)i * size) && select(base + (size_t)i * size))
                chosen[i / 64] |= UINT64_C(1) << (i % 64);
        struct prokio__chunk *next = c->next;
        pthread_mutex_unlock(&pool->lock);
        for (uint32_t i = 0; i < n; i++)
            if (chosen[i / 64] & (UINT64_C(1) << (i % 64)))
                visit(base + (size_t)i * size, arg);
        c = next;
    }
}
