/* Behaviour 13e: a thread whose first allocation comes from a pthread key destructor in
 * glibc's last round (PTHREAD_DESTRUCTOR_ITERATIONS = 4) leaks nothing. Its thread cache is
 * set up too late for the allocator's own key destructor to run, so it must be reclaimed once
 * the thread is gone: 600 such threads (four at a time), each using every small size class,
 * would otherwise keep ~200 KiB each (heap and RSS grow by > 100 MiB).
 *
 * The destructor re-arms its key in rounds 1-3 (with non-heap values: the thread makes no
 * other allocator call) and allocates only in round 4: blocks of every size up to 1000
 * bytes, most freed at once, one freed by main after the join, and a block main allocated,
 * freed by the exiting thread. The program's key is created after main's first malloc,
 * i.e. after the allocator's own key (glibc runs the keys of a round in index order). */
#include "hw_test.h"
#include <pthread.h>

enum { THREADS = 600, GROUP = 4, ROUNDS = 4 };

static pthread_key_t key;
static int late_runs, bad;
static void *from_main[THREADS];
static void *to_main[THREADS];

static void destructor(void *v)
{
    /* value = (round << 16) | thread index */
    uintptr_t round = (uintptr_t)v >> 16, i = (uintptr_t)v & 0xffff;
    if (round < ROUNDS) {
        pthread_setspecific(key, (void *)(((round + 1) << 16) | i));
        return;
    }
    void *p[63];
    for (int k = 0; k < 63; k++) {
        size_t n = (size_t)(k * 16 + 8);
        p[k] = malloc(n);
        if (!p[k] || !hw_fill_check(p[k], n, (unsigned)(k + i)))
            __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
    }
    for (int k = 62; k > 0; k--)
        free(p[k]);
    to_main[i] = p[0];
    free(from_main[i]);
    __atomic_fetch_add(&late_runs, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
    /* Keys below 32 are stored without allocating: this thread's first allocator call is
     * the destructor's malloc in round 4. */
    pthread_setspecific(key, (void *)((1u << 16) | (uintptr_t)arg));
    return NULL;
}

static int run(int from, int to)
{
    int done = 0;
    for (int i = from; i < to; i += GROUP) {
        pthread_t t[GROUP];
        int idx[GROUP], n = 0;
        for (int k = 0; k < GROUP && i + k < to; k++) {
            from_main[i + k] = malloc((size_t)(24 + 40 * k));
            if (pthread_create(&t[n], NULL, worker, (void *)(uintptr_t)(i + k)) == 0)
                idx[n++] = i + k;
        }
        for (int k = 0; k < n; k++) {
            pthread_join(t[k], NULL);
            if (!to_main[idx[k]] || !hw_pattern_ok(to_main[idx[k]], 8, (unsigned)idx[k]))
                __atomic_fetch_add(&bad, 1, __ATOMIC_RELAXED);
            free(to_main[idx[k]]);
            done++;
        }
    }
    return done;
}

int main(void)
{
    hw_begin("b13e_late_key_destructor");
    void *volatile first = malloc(32);
    free(first);
    CHECK(pthread_key_create(&key, destructor) == 0, "key");
    int warm = run(0, 40);
    long before = hw_rss_kib();
    struct heapwise_stats s0, s1;
    int hw = hw_stats(&s0) == 0;
    int done = run(40, THREADS);
    long after = hw_rss_kib();
    hw_stats(&s1);
    CHECK(warm + done == THREADS, "%d threads", warm + done);
    CHECK(late_runs == THREADS, "%d destructors allocated in round %d (want %d)", late_runs,
          ROUNDS, THREADS);
    CHECK(bad == 0, "%d bad allocations/patterns", bad);
    CHECK(after - before < 24 * 1024, "RSS %ld KiB -> %ld KiB over %d threads (growth %ld KiB)",
          before, after, done, after - before);
    if (hw)
        CHECK(s1.footprint_bytes - s0.footprint_bytes < 16u << 20,
              "heapwise footprint %llu -> %llu bytes over %d threads",
              (unsigned long long)s0.footprint_bytes, (unsigned long long)s1.footprint_bytes,
              done);
    return hw_finish();
}
