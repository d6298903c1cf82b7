/* Behaviour 13c: 1000 thread create/exit cycles do not grow memory (whatever an exiting
 * thread cached is returned and reused). Each thread allocates, touches and frees ~256 KiB. */
#include "hw_test.h"
#include <pthread.h>

static int bad;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *p[96];
    for (int i = 0; i < 96; i++) {
        size_t n = i < 48 ? 4096 : (size_t)(16 + (seed * 7 + (unsigned)i * 131) % 2000);
        p[i] = malloc(n);
        if (!p[i]) {
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
            continue;
        }
        memset(p[i], (int)i, n);
    }
    /* free in an order that leaves freed blocks of many sizes behind */
    for (int i = 95; i >= 0; i -= 2)
        free(p[i]);
    for (int i = 0; i < 96; i += 2)
        free(p[i]);
    void *q = malloc(64 * 1024);
    if (q)
        memset(q, 1, 64 * 1024);
    free(q);
    return NULL;
}

static int cycles(int n, unsigned base)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        pthread_t t[2];
        int made = 0;
        for (int k = 0; k < 2; k++)
            if (pthread_create(&t[made], NULL, worker, (void *)(uintptr_t)(base + i * 2 + k)) == 0)
                made++;
        for (int k = 0; k < made; k++)
            pthread_join(t[k], NULL);
        ok += made == 2;
    }
    return ok;
}

int main(void)
{
    hw_begin("b13c_thread_cycles");
    int warm = cycles(50, 0);
    long before = hw_rss_kib();
    int done = cycles(1000, 1000);
    long after = hw_rss_kib();
    CHECK(warm == 50 && done == 1000, "%d + %d cycles of 2 threads", warm, done);
    CHECK(bad == 0, "%d failed mallocs", bad);
    /* A leaked per-thread cache would cost >= 2000 threads x 256 KiB = 500 MiB. */
    CHECK(after - before < 32 * 1024, "RSS %ld KiB -> %ld KiB after 1000 cycles (growth %ld KiB)",
          before, after, after - before);
    int again = cycles(1000, 5000);
    long after2 = hw_rss_kib();
    CHECK(again == 1000 && after2 - after < 16 * 1024,
          "another 1000 cycles: RSS %ld KiB -> %ld KiB", after, after2);
    return hw_finish();
}
