/* Behaviour 22: libheapwise.so loaded with dlopen (not preloaded) is a separate allocator
 * reached through dlsym, usable by four threads at once. Its initial-exec TLS must fit
 * glibc's static-TLS surplus for dlopen, without GLIBC_TUNABLES. A dlclose while a thread
 * that used it is alive does not unmap it: that thread's exit runs the library's
 * thread-exit destructor. argv[1] is the library. */
#include "hw_test.h"
#include <pthread.h>

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef void *(*aligned_fn)(size_t, size_t);
typedef int (*check_fn)(void);

static malloc_fn hw_malloc;
static free_fn hw_free;
static aligned_fn hw_aligned;

/* 50,000 malloc / aligned_alloc(64) / free over a ring of 32 blocks, contents checked:
 * returns the number of bad blocks. */
static void *work(void *arg)
{
    uintptr_t bad = 0, tag = (uintptr_t)arg;
    void *ring[32] = {0};
    for (int i = 0; i < 50000; i++) {
        int k = i % 32;
        if (ring[k]) {
            if (*(unsigned char *)ring[k] != (unsigned char)(k + tag))
                bad++;
            hw_free(ring[k]);
        }
        size_t n = 16 + (size_t)(i * 7) % 700;
        ring[k] = (i % 3) ? hw_malloc(n) : hw_aligned(64, n);
        if (!ring[k] || (uintptr_t)ring[k] % ((i % 3) ? 16 : 64))
            return (void *)(uintptr_t)1000000;
        memset(ring[k], (int)(k + tag), n);
    }
    for (int k = 0; k < 32; k++)
        hw_free(ring[k]);
    return (void *)bad;
}

static pthread_barrier_t bar;

/* Uses the library, then waits (twice) for main, which dlcloses it in between. */
static void *user(void *arg)
{
    (void)arg;
    void *p = hw_malloc(100);
    if (p)
        hw_free(p);
    pthread_barrier_wait(&bar);
    pthread_barrier_wait(&bar);
    return p;
}

int main(int argc, char **argv)
{
    hw_begin("b22_dlopen");
    CHECK(argc > 1, "the library's path is given");
    void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    CHECK(h != NULL, "dlopen without tunables: %s", h ? "loaded" : dlerror());
    if (h) {
        hw_malloc = (malloc_fn)dlsym(h, "malloc");
        hw_free = (free_fn)dlsym(h, "free");
        hw_aligned = (aligned_fn)dlsym(h, "aligned_alloc");
        check_fn check = (check_fn)dlsym(h, "heapwise_check");
        int found = hw_malloc && hw_free && hw_aligned && check;
        CHECK(found, "dlsym finds malloc, free, aligned_alloc and heapwise_check");
        CHECK(hw_malloc != (malloc_fn)dlsym(RTLD_DEFAULT, "malloc"),
              "the library's malloc is not the process's");
        if (found) {
            pthread_t t[4];
            uintptr_t bad = 0;
            for (uintptr_t i = 0; i < 4; i++)
                pthread_create(&t[i], NULL, work, (void *)i);
            for (int i = 0; i < 4; i++) {
                void *r;
                pthread_join(t[i], &r);
                bad += (uintptr_t)r;
            }
            CHECK(bad == 0, "4 threads x 50,000 malloc / aligned_alloc / free: %lu bad",
                  (unsigned long)bad);
            CHECK(check() == 0, "heapwise_check() after the threads exited");
            pthread_barrier_init(&bar, NULL, 2);
            pthread_t u;
            void *r = NULL;
            pthread_create(&u, NULL, user, NULL);
            pthread_barrier_wait(&bar);
            int closed = dlclose(h);
            pthread_barrier_wait(&bar);
            pthread_join(u, &r);
            CHECK(closed == 0 && r != NULL,
                  "dlclose, then a thread that used the library exits (survived)");
        }
    }
    return hw_finish();
}
