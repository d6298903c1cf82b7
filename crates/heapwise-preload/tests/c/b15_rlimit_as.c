/* Behaviour 15: with RLIMIT_AS exhausted, every allocation function in several threads fails
 * with ENOMEM (posix_memalign returns it), a failed realloc leaves its block intact, and
 * allocation works again once memory is freed.
 *
 * Phases (all threads step through them together, with barriers):
 * 1. warm-up: each thread mallocs and frees (so per-thread caches/arenas exist);
 * 2. main lowers RLIMIT_AS to the current address-space size + 16 MiB;
 * 3. every thread allocates chunks of 1 MiB, 64 KiB, 4 KiB, 256 B, 16 B until each fails,
 *    keeping them in a list threaded through the chunks, then 16 B blocks again, one thread
 *    at a time, for what other threads' caches gave back meanwhile;
 * 4. every thread calls every function and records the results (nothing is printed while the
 *    limit is in force);
 * 5. every thread frees its chunks; 6. every thread allocates again with every function (one
 * thread at a time). */
#include "hw_test.h"
#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>

enum { THREADS = 4, NCALLS = 14 };
#if SIZE_MAX > 0xffffffffu
#define GIVE_UP ((size_t)64 << 30)
#else
#define GIVE_UP ((size_t)3 << 30)
#endif
static pthread_barrier_t bar;
static pthread_mutex_t again_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *call_name[NCALLS] = {
    "malloc(16)", "malloc(256K)", "malloc(4M)", "calloc(1,256K)", "calloc(4M,1)",
    "realloc(NULL,256K)", "realloc(chunk,4M)", "reallocarray(NULL,1024,1024)",
    "posix_memalign(64,256K)", "aligned_alloc(64,256K)", "memalign(4096,256K)", "valloc(256K)",
    "pvalloc(256K)", "realloc(chunk,64M)"};

struct result {
    int exhausted;           /* phase 3 reached a failing malloc(16) */
    size_t bytes;            /* held in phase 3 */
    int err[NCALLS];         /* phase 4: errno (posix_memalign: its return) of each call; -1 = succeeded */
    int err_again[NCALLS];   /* phase 6: the same */
    int chunk_intact;        /* the chunk given to the failing reallocs kept its data */
    int again_ok;            /* phase 6: every function succeeded */
    int again_fail_at;       /* first failing call in phase 6 */
};
static struct result res[THREADS + 1];

/* Allocates blocks of each size in `sizes` until one fails (or GIVE_UP bytes are held). */
static int fill(struct result *r, void **list, const size_t *sizes, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        for (;;) {
            void **c = malloc(sizes[k]);
            if (!c)
                break;
            *c = *list;
            *list = c;
            r->bytes += sizes[k];
            if (r->bytes > GIVE_UP) /* could not exhaust the address space: give up */
                return 0;
        }
    }
    return 1;
}

static void exhaust(struct result *r, void **list)
{
    static const size_t sizes[] = {1u << 20, 64u << 10, 4u << 10, 256, 16};
    static const size_t small[] = {16};
    int ok = fill(r, list, sizes, sizeof sizes / sizeof sizes[0]);
    /* An allocator with thread caches gives cached blocks back when a thread runs out, and
     * another thread that ran out a moment earlier can use them: take that memory up too,
     * one thread at a time, in three rounds (every participant passes every barrier). */
    for (int round = 0; round < 3; round++) {
        pthread_barrier_wait(&bar);
        pthread_mutex_lock(&again_lock);
        if (ok)
            ok = fill(r, list, small, 1);
        pthread_mutex_unlock(&again_lock);
    }
    r->exhausted = ok && malloc(16) == NULL;
}

static void *try_all(int *err, void *chunk)
{
    for (int i = 0; i < NCALLS; i++) {
        void *p = NULL;
        int rc = 0;
        errno = 0;
        switch (i) {
        case 0: p = malloc(16); break;
        case 1: p = malloc(256 << 10); break;
        case 2: p = malloc(4 << 20); break;
        case 3: p = calloc(1, 256 << 10); break;
        case 4: p = calloc(4 << 20, 1); break;
        case 5: p = realloc(NULL, 256 << 10); break;
        case 6: p = realloc(chunk, 4 << 20); break;
        case 7: p = reallocarray(NULL, 1024, 1024); break;
        case 8:
            rc = posix_memalign(&p, 64, 256 << 10);
            if (rc)
                p = NULL;
            break;
        case 9: p = aligned_alloc(64, 256 << 10); break;
        case 10: p = memalign(4096, 256 << 10); break;
        case 11: p = valloc(256 << 10); break;
        case 12: p = pvalloc(256 << 10); break;
        case 13: p = realloc(chunk, 64 << 20); break;
        }
        int e = i == 8 ? rc : errno;
        if (p) {
            err[i] = -1;
            if (i == 6 || i == 13)
                chunk = p; /* it moved; keep using the new block */
            else
                free(p);
        } else {
            err[i] = e;
        }
    }
    return chunk;
}

static void again_all(struct result *r)
{
    r->again_ok = 1;
    r->again_fail_at = -1;
    void *chunk = malloc(1000);
    if (!chunk) {
        r->again_ok = 0;
        return;
    }
    chunk = try_all(r->err_again, chunk);
    free(chunk);
    /* the last call (realloc to 64 MiB) exceeds the 16 MiB of slack: not expected to work */
    for (int i = 0; i < NCALLS - 1; i++)
        if (r->err_again[i] != -1 && r->again_ok) {
            r->again_ok = 0;
            r->again_fail_at = i;
        }
}

/* Phases 3-6 for one participant; probe is a 1000-byte block malloc'ed before the limit. */
static void participate(struct result *r, unsigned char *probe)
{
    memset(probe, 0x5c, 1000);
    /* 3. exhaust */
    void *list = NULL;
    exhaust(r, &list);
    pthread_barrier_wait(&bar);
    /* 4. every function must fail now; the realloc tests use the probe */
    unsigned char *after = try_all(r->err, probe);
    r->chunk_intact = after == probe;
    for (size_t i = 0; i < 1000; i++)
        if (after[i] != 0x5c)
            r->chunk_intact = 0;
    pthread_barrier_wait(&bar);
    /* 5. free everything (the probe only now: freed earlier, it would feed the threads
     * still in phase 4) */
    free(after);
    while (list) {
        void *next = *(void **)list;
        free(list);
        list = next;
    }
    pthread_barrier_wait(&bar);
    /* 6. works again: one participant at a time, since five calls of 4 MiB at once would
     * not fit in the 16 MiB of slack (a race that failed glibc's run on i686) */
    pthread_mutex_lock(&again_lock);
    again_all(r);
    pthread_mutex_unlock(&again_lock);
}

static void *run(void *arg)
{
    struct result *r = arg;
    /* 1. warm-up */
    void *w[64];
    for (int i = 0; i < 64; i++)
        w[i] = malloc((size_t)(i * 300 + 16));
    for (int i = 0; i < 64; i++)
        free(w[i]);
    unsigned char *probe = malloc(1000);
    pthread_barrier_wait(&bar); /* -> main lowers the limit */
    pthread_barrier_wait(&bar);
    if (probe)
        participate(r, probe);
    return NULL;
}

int main(void)
{
    hw_begin("b15_rlimit_as");
    pthread_barrier_init(&bar, NULL, THREADS + 1);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, run, &res[i]);
    struct rlimit old;
    getrlimit(RLIMIT_AS, &old);
    unsigned char *probe = malloc(1000);
    pthread_barrier_wait(&bar); /* threads warmed up */
    size_t vm = hw_vm_bytes();
    struct rlimit lim = old;
    lim.rlim_cur = vm + (16u << 20);
    int set = setrlimit(RLIMIT_AS, &lim);
    pthread_barrier_wait(&bar);
    participate(&res[THREADS], probe);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    setrlimit(RLIMIT_AS, &old);

    CHECK(set == 0, "RLIMIT_AS lowered to %zu MiB (address space in use %zu MiB)",
          (size_t)(lim.rlim_cur >> 20), vm >> 20);
    for (int k = 0; k <= THREADS; k++) {
        struct result *x = &res[k];
        const char *who = k == THREADS ? "main" : "thread";
        CHECK(x->exhausted, "%s %d: exhausted after %zu MiB", who, k, x->bytes >> 20);
        for (int i = 0; i < NCALLS; i++)
            CHECK(x->err[i] == ENOMEM, "%s %d: %s under the limit -> %s", who, k, call_name[i],
                  x->err[i] == -1 ? "succeeded" : strerror(x->err[i]));
        CHECK(x->chunk_intact, "%s %d: the block passed to the failing reallocs is intact", who, k);
        CHECK(x->again_ok, "%s %d: every function works again after the frees (first failure: %s)",
              who, k, x->again_fail_at < 0 ? "none" : call_name[x->again_fail_at]);
    }
    return hw_finish();
}
