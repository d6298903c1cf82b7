/* Behaviour 13d: 8 threads of random malloc/calloc/realloc/free with cross-thread frees and
 * pattern checks: no corruption, no loss (every block allocated is freed exactly once, and a
 * second round does not need more memory than the first). */
#include "hw_test.h"
#include <pthread.h>
#include <stdatomic.h>

enum { THREADS = 8, LOCAL = 128, SLOTS = 512, OPS = 60000 };

struct hdr {
    size_t size;  /* payload bytes after the header */
    unsigned seed;
    unsigned owner;
};

static void *_Atomic slots[SLOTS];
static long n_alloc, n_free, n_bad;

static unsigned rnd(unsigned *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static size_t pick_size(unsigned *s)
{
    unsigned r = rnd(s) % 1000;
    if (r < 700)
        return 1 + rnd(s) % 256;
    if (r < 950)
        return 257 + rnd(s) % 8000;
    if (r < 995)
        return 8257 + rnd(s) % 120000;
    return 128 * 1024 + rnd(s) % (1024 * 1024);
}

static void fill(struct hdr *h)
{
    unsigned char *b = (unsigned char *)(h + 1);
    size_t n = h->size / 2 < 512 ? h->size / 2 : 512; /* head and tail: enough to see corruption */
    if (h->size % 2)
        b[h->size / 2] = (unsigned char)h->seed;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(h->seed + i);
    for (size_t i = 0; i < n; i++)
        b[h->size - 1 - i] = (unsigned char)(h->seed ^ i);
}

static int ok(const struct hdr *h, size_t upto)
{
    const unsigned char *b = (const unsigned char *)(h + 1);
    size_t n = h->size / 2 < 512 ? h->size / 2 : 512;
    for (size_t i = 0; i < n && i < upto; i++)
        if (b[i] != (unsigned char)(h->seed + i))
            return 0;
    if (upto >= h->size)
        for (size_t i = 0; i < n; i++)
            if (b[h->size - 1 - i] != (unsigned char)(h->seed ^ i))
                return 0;
    return 1;
}

static struct hdr *make(unsigned *s, unsigned owner)
{
    size_t n = pick_size(s);
    struct hdr *h = (rnd(s) % 4 == 0) ? calloc(1, sizeof *h + n) : malloc(sizeof *h + n);
    if (!h) {
        __atomic_fetch_add(&n_bad, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    __atomic_fetch_add(&n_alloc, 1, __ATOMIC_RELAXED);
    h->size = n;
    h->seed = rnd(s);
    h->owner = owner;
    fill(h);
    return h;
}

static void destroy(struct hdr *h)
{
    if (!h)
        return;
    if (!ok(h, h->size))
        __atomic_fetch_add(&n_bad, 1, __ATOMIC_RELAXED);
    free(h);
    __atomic_fetch_add(&n_free, 1, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    unsigned s = 0x9e3779b9u * (id + 1);
    struct hdr *local[LOCAL] = {0};
    for (int op = 0; op < OPS; op++) {
        unsigned i = rnd(&s) % LOCAL;
        unsigned what = rnd(&s) % 10;
        if (what < 4) { /* allocate (replacing whatever is there) */
            destroy(local[i]);
            local[i] = make(&s, id);
        } else if (what < 6 && local[i]) { /* realloc, check the kept prefix */
            struct hdr *h = local[i];
            size_t old = h->size, n = pick_size(&s);
            struct hdr *r = realloc(h, sizeof *h + n);
            if (!r) {
                __atomic_fetch_add(&n_bad, 1, __ATOMIC_RELAXED);
                continue;
            }
            if (!ok(r, old < n ? old : n))
                __atomic_fetch_add(&n_bad, 1, __ATOMIC_RELAXED);
            r->size = n;
            fill(r);
            local[i] = r;
        } else if (what < 7) {
            destroy(local[i]);
            local[i] = NULL;
        } else { /* hand a block to another thread through a shared slot */
            unsigned k = rnd(&s) % SLOTS;
            struct hdr *got = atomic_exchange(&slots[k], (void *)local[i]);
            local[i] = NULL;
            if (got && rnd(&s) % 2)
                destroy(got); /* cross-thread free (most likely made by another thread) */
            else
                local[i] = got; /* adopt it; it will be realloc'ed/freed here */
        }
    }
    for (int i = 0; i < LOCAL; i++)
        destroy(local[i]);
    return NULL;
}

static void round_of_threads(void)
{
    pthread_t t[THREADS];
    for (unsigned i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i))
            __atomic_fetch_add(&n_bad, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int k = 0; k < SLOTS; k++)
        destroy(atomic_exchange(&slots[k], NULL));
}

int main(void)
{
    hw_begin("b13d_thread_stress");
    struct heapwise_stats before, after;
    int have = hw_stats(&before) == 0;
    round_of_threads();
    long rss1 = hw_rss_kib();
    CHECK(n_bad == 0, "round 1: %ld bad (corrupt pattern or failed call)", n_bad);
    CHECK(n_alloc == n_free && n_alloc > 100000, "round 1: %ld allocated, %ld freed", n_alloc,
          n_free);
    round_of_threads();
    long rss2 = hw_rss_kib();
    CHECK(n_bad == 0, "round 2: %ld bad", n_bad);
    CHECK(n_alloc == n_free, "round 2: %ld allocated, %ld freed", n_alloc, n_free);
    if (have) {
        /* "No loss": heapwise holds as many live blocks as before the rounds (a few may be
         * libc's per-thread bookkeeping). */
        hw_stats(&after);
        long d = (long)(after.allocated_blocks + after.large_blocks) -
                 (long)(before.allocated_blocks + before.large_blocks);
        CHECK(d >= -16 && d <= 16, "heapwise live blocks before %llu+%llu, after %llu+%llu",
              (unsigned long long)before.allocated_blocks,
              (unsigned long long)before.large_blocks,
              (unsigned long long)after.allocated_blocks, (unsigned long long)after.large_blocks);
    }
    CHECK(rss2 <= rss1 + 64 * 1024, "RSS after round 1 %ld KiB, after round 2 %ld KiB", rss1,
          rss2);
    return hw_finish();
}
