/* Behaviour 13a: a block allocated in thread A is freed in thread B after A exited. */
#include "hw_test.h"
#include <pthread.h>

enum { NB = 300, ROUNDS = 40 };
static void *blocks[NB];
static size_t sizes[NB];
static int bad;

static size_t size_of(int r, int i)
{
    if (i % 50 == 0)
        return (size_t)(300000 + r * 1000 + i); /* large (mmap-sized) */
    if (i % 7 == 0)
        return (size_t)(4000 + i * 13);
    return (size_t)(1 + (i * 31 + r) % 600);
}

static void *producer(void *arg)
{
    int r = (int)(intptr_t)arg;
    for (int i = 0; i < NB; i++) {
        sizes[i] = size_of(r, i);
        blocks[i] = malloc(sizes[i]);
        if (!blocks[i] || !hw_fill_check(blocks[i], sizes[i], (unsigned)(r + i)))
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
    }
    /* Free some of its own blocks too, so that its cache (if any) holds something at exit. */
    for (int i = 1; i < NB; i += 3) {
        free(blocks[i]);
        blocks[i] = NULL;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    int r = (int)(intptr_t)arg;
    for (int i = 0; i < NB; i++) {
        if (!blocks[i])
            continue;
        if (!hw_pattern_ok(blocks[i], sizes[i], (unsigned)(r + i)))
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        free(blocks[i]);
        blocks[i] = NULL;
    }
    /* And allocate a little itself. */
    for (int i = 0; i < 50; i++) {
        void *p = malloc((size_t)(i * 17 + 1));
        if (!p)
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        free(p);
    }
    return NULL;
}

int main(void)
{
    hw_begin("b13a_cross_thread_free");
    int create_failed = 0;
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t a, b;
        if (pthread_create(&a, NULL, producer, (void *)(intptr_t)r)) {
            create_failed++;
            continue;
        }
        pthread_join(a, NULL); /* A has exited before B starts */
        if (pthread_create(&b, NULL, consumer, (void *)(intptr_t)r)) {
            create_failed++;
            continue;
        }
        pthread_join(b, NULL);
    }
    CHECK(create_failed == 0, "%d pthread_create failures", create_failed);
    CHECK(bad == 0, "%d rounds x %d blocks allocated in A, checked and freed in B after A "
          "exited: %d bad", ROUNDS, NB, bad);
    /* The main thread frees blocks of exited threads too. */
    pthread_t a;
    pthread_create(&a, NULL, producer, (void *)(intptr_t)99);
    pthread_join(a, NULL);
    int okm = 1;
    for (int i = 0; i < NB; i++) {
        if (blocks[i] && !hw_pattern_ok(blocks[i], sizes[i], (unsigned)(99 + i)))
            okm = 0;
        free(blocks[i]);
    }
    CHECK(okm, "main thread frees blocks of an exited thread");
    return hw_finish();
}
