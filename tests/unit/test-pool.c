/* tests/unit/test-pool.c: the per-worker task allocator (core/pool.c). */
#include <pthread.h>

#include "common.h"

#include "pool.h"
#include "worker.h"

static struct prokio__worker *new_worker(void)
{
    struct prokio__worker *w = aligned_alloc(64, sizeof *w);
    assert_non_null(w);
    memset(w, 0, sizeof *w);
    assert_int_equal(prokio__pool_init(&w->pool, w), 0);
    return w;
}

static void free_worker(struct prokio__worker *w)
{
    prokio__pool_fini(&w->pool);
    free(w);
}

/* Marks an object live the way a task does (word 0 non-zero). */
static void *live(void *obj)
{
    *(uint64_t *)obj = 1;
    return obj;
}

static void count(void *obj, void *arg)
{
    (void)obj;
    (*(size_t *)arg)++;
}

static size_t live_count(struct prokio__worker *w)
{
    size_t n = 0;
    prokio__pool_scan(&w->pool, count, &n);
    return n;
}

static void test_alignment_owner_and_reuse(void **state)
{
    (void)state;
    struct prokio__worker *w = new_worker();
    prokio__tls_worker = w;
    size_t sizes[] = {1, 48, 64, 65, 129, 1000, 4096, 8192, 8193, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        unsigned char *p = live(prokio__pool_alloc_local(&w->pool, sizes[i]));
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_ptr_equal(prokio__pool_of(p), &w->pool);
        if (sizes[i] > 8)
            memset(p + 8, 0xab, sizes[i] - 8); /* all of it is usable */
        assert_int_equal(live_count(w), 1);
        prokio__pool_free(p);
        assert_int_equal(live_count(w), 0);
        /* The owner's free list hands the same memory back. */
        void *q = prokio__pool_alloc_local(&w->pool, sizes[i]);
        if (sizes[i] <= PROKIO__POOL_MAX_OBJ)
            assert_ptr_equal(q, p);
        live(q);
        prokio__pool_free(q);
    }
    prokio__tls_worker = NULL;
    free_worker(w);
}

static void test_many_and_scan(void **state)
{
    (void)state;
    struct prokio__worker *w = new_worker();
    prokio__tls_worker = w;
    enum { N = 50000 };
    void **v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        v[i] = live(prokio__pool_alloc_local(&w->pool, 64 + (size_t)(i % 7) * 40));
        assert_non_null(v[i]);
    }
    assert_int_equal(live_count(w), N);
    for (int i = 0; i < N; i += 2)
        prokio__pool_free(v[i]);
    assert_int_equal(live_count(w), N / 2);
    for (int i = 1; i < N; i += 2)
        prokio__pool_free(v[i]);
    assert_int_equal(live_count(w), 0);
    free(v);
    prokio__tls_worker = NULL;
    free_worker(w);
}

struct remote_arg {
    struct prokio__worker *w;
    void **objs;
    int n;
};

static void *remote_alloc_free(void *p)
{
    struct remote_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        pthread_mutex_lock(&a->w->pool.lock);
        a->objs[i] = live(prokio__pool_alloc_remote(&a->w->pool, 96));
        pthread_mutex_unlock(&a->w->pool.lock);
    }
    for (int i = 0; i < a->n; i += 2)
        prokio__pool_free(a->objs[i]); /* not the owner: shared side */
    return NULL;
}

/* Memory allocated and freed from other threads comes back to the owner,
 * and the owner hands surplus back: the pool does not grow for ever when
 * one side allocates and the other frees. */
static void test_remote_and_hand_back(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("needs a second thread (no -pthread)");
    struct prokio__worker *w = new_worker();
    enum { N = 20000 };
    void **objs = malloc(N * sizeof *objs);
    struct remote_arg a = {w, objs, N};
    pthread_t th;
    pthread_create(&th, NULL, remote_alloc_free, &a);
    pthread_join(th, NULL);
    assert_int_equal(live_count(w), N / 2);
    prokio__tls_worker = w;
    for (int i = 1; i < N; i += 2)
        prokio__pool_free(objs[i]); /* owner frees what others allocated */
    assert_int_equal(live_count(w), 0);

    /* Rounds of "others allocate, the owner frees": the owner keeps at most
     * its cache (512 KiB per class) and hands the rest back, so after the
     * cache has filled the pool stops growing. */
    size_t chunks[11];
    for (int round = 0; round <= 10; round++) {
        chunks[round] = 0;
        for (struct prokio__chunk *c = w->pool.chunks; c; c = c->next)
            chunks[round]++;
        prokio__tls_worker = NULL;
        for (int i = 0; i < N; i++) {
            pthread_mutex_lock(&w->pool.lock);
            objs[i] = live(prokio__pool_alloc_remote(&w->pool, 96));
            pthread_mutex_unlock(&w->pool.lock);
        }
        prokio__tls_worker = w;
        for (int i = 0; i < N; i++)
            prokio__pool_free(objs[i]);
    }
    size_t cache_chunks = (512 * 1024) / (PROKIO__CHUNK_SIZE - PROKIO__CHUNK_HEADER) + 2;
    print_message("# chunks: first round %zu, fifth %zu, last %zu\n", chunks[0], chunks[5],
                  chunks[10]);
    assert_true(chunks[10] <= chunks[0] + cache_chunks);
    assert_int_equal(chunks[10], chunks[5]);
    prokio__tls_worker = NULL;
    free(objs);
    free_worker(w);
}

int main(void)
{
    test_watchdog("test-pool", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_owner_and_reuse),
        cmocka_unit_test(test_many_and_scan),
        cmocka_unit_test(test_remote_and_hand_back),
    };
    return cmocka_run_group_tests_name("task pool", tests, NULL, NULL);
}
