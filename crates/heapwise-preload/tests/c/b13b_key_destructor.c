/* Behaviour 13b: malloc/free in a pthread key destructor at thread exit (also a destructor
 * that allocates a new value, so it runs again, and one registered before any malloc). */
#include "hw_test.h"
#include <pthread.h>

static pthread_key_t key_a, key_b;
static int destructed, bad;

static void destructor_a(void *v)
{
    /* The value was malloc'ed by the thread; check it, allocate in the destructor, free all. */
    if (!hw_pattern_ok(v, 1000, 17))
        __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
    void *tmp[20];
    for (int i = 0; i < 20; i++) {
        tmp[i] = malloc((size_t)(i * 100 + 8));
        if (!tmp[i] || !hw_fill_check(tmp[i], (size_t)(i * 100 + 8), (unsigned)i))
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
    }
    for (int i = 0; i < 20; i++)
        free(tmp[i]);
    char *s = strdup("allocated by libc in a destructor");
    free(s);
    free(v);
    __atomic_fetch_add(&destructed, 1, __ATOMIC_RELAXED);
}

static void destructor_b(void *v)
{
    /* Runs up to twice: the first time it installs a new malloc'ed value. */
    int *gen = v;
    if (*gen == 0) {
        int *next = malloc(sizeof(int) * 64);
        if (!next)
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        else {
            next[0] = 1;
            pthread_setspecific(key_b, next);
        }
    }
    free(gen);
    __atomic_fetch_add(&destructed, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
    (void)arg;
    void *v = malloc(1000);
    if (!v) {
        __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    hw_fill_check(v, 1000, 17);
    pthread_setspecific(key_a, v);
    int *g = calloc(64, sizeof(int));
    pthread_setspecific(key_b, g);
    /* Leave some freed memory in this thread's cache too. */
    for (int i = 0; i < 100; i++)
        free(malloc((size_t)(i * 24 + 1)));
    return NULL;
}

int main(void)
{
    hw_begin("b13b_key_destructor");
    CHECK(pthread_key_create(&key_a, destructor_a) == 0, "key a");
    CHECK(pthread_key_create(&key_b, destructor_b) == 0, "key b");
    enum { T = 200 };
    int started = 0;
    for (int i = 0; i < T; i += 4) {
        pthread_t t[4];
        int n = 0;
        for (int k = 0; k < 4; k++)
            if (pthread_create(&t[n], NULL, worker, NULL) == 0)
                n++;
        for (int k = 0; k < n; k++)
            pthread_join(t[k], NULL);
        started += n;
    }
    CHECK(started == T, "%d threads started", started);
    CHECK(destructed == 3 * T, "%d destructor runs (want %d)", destructed, 3 * T);
    CHECK(bad == 0, "%d bad allocations/patterns in destructors", bad);
    return hw_finish();
}
