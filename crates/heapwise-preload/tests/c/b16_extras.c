/* The rest of the exported family (issue 4, "Library faces"): cfree, malloc_trim, mallinfo2,
 * mallinfo, malloc_stats; realloc of blocks from the aligned functions; and a fixed number of
 * operations, whose counts the harness finds again in the HEAPWISE_STATS summary. */
#include "hw_test.h"
#include <malloc.h>


enum { N_MALLOC = 1000, N_CALLOC = 500, N_REALLOC = 200, N_ALIGNED = 300 };

int main(void)
{
    hw_begin("b16_extras");
    struct mallinfo2 m0 = mallinfo2();
    void *p[N_MALLOC];
    for (int i = 0; i < N_MALLOC; i++)
        p[i] = malloc(hw_sz(1000));
    struct mallinfo2 m1 = mallinfo2();
    size_t grew = (m1.uordblks + m1.hblkhd) - (m0.uordblks + m0.hblkhd);
    CHECK(grew >= (size_t)N_MALLOC * 1000, "mallinfo2: in-use bytes grew by %zu after %d x 1000",
          grew, N_MALLOC);
    CHECK(m1.arena > 0, "mallinfo2: arena %zu", m1.arena);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo mi = mallinfo();
#pragma GCC diagnostic pop
    CHECK(mi.uordblks > 0 && (size_t)mi.arena == (m1.arena & 0xffffffffu),
          "mallinfo: uordblks %d arena %d", mi.uordblks, mi.arena);
    for (int i = 0; i < N_MALLOC; i++)
        free(p[i]);
    struct mallinfo2 m2 = mallinfo2();
    CHECK(m2.uordblks + m2.hblkhd < m1.uordblks + m1.hblkhd, "mallinfo2: in-use bytes fell after the frees");
    CHECK(m2.fordblks > 0, "mallinfo2: free bytes %zu", m2.fordblks);
    /* glibc's definition: in use is what the heap holds less what is free (blocks a thread
     * cache holds count as in use, as glibc's tcache chunks do). */
    CHECK(m2.uordblks + m2.fordblks == m2.arena, "mallinfo2: uordblks %zu + fordblks %zu != arena %zu",
          m2.uordblks, m2.fordblks, m2.arena);

    for (int i = 0; i < N_CALLOC; i++) {
        p[i] = calloc(hw_sz(10), hw_sz(10));
        if (!p[i] || ((unsigned char *)p[i])[99] != 0)
            CHECK(0, "calloc %d", i);
    }
    for (int i = 0; i < N_REALLOC; i++) {
        void *r = realloc(p[i], hw_sz(200 + (size_t)i));
        if (r)
            p[i] = r;
        else
            CHECK(0, "realloc %d", i);
    }
    for (int i = 0; i < N_CALLOC; i++)
        free(p[i]);
    for (int i = 0; i < N_ALIGNED; i++) {
        void *a = NULL;
        switch (i % 3) {
        case 0: a = memalign(hw_sz(64), hw_sz(100)); break;
        case 1: posix_memalign(&a, hw_sz(128), hw_sz(300)); break;
        default: a = aligned_alloc(hw_sz(256), hw_sz(512)); break;
        }
        if (!a)
            CHECK(0, "aligned %d", i);
        free(a);
    }

    /* Blocks from the aligned functions can be reallocated; their data survives. */
    int ok = 1;
    for (size_t al = 32; al <= 65536; al *= 8) {
        unsigned char *a = memalign(hw_sz(al), hw_sz(al + 3));
        hw_fill_check(a, al + 3, 5);
        a = realloc(a, hw_sz(al * 5));
        ok &= a && hw_pattern_ok(a, al + 3, 5);
        a = realloc(a, hw_sz(7));
        ok &= a && hw_pattern_ok(a, 7, 5);
        free(a);
    }
    CHECK(ok, "realloc of memalign'd blocks keeps their data (grow and shrink)");

    /* cfree: glibc >= 2.26 keeps it only as a compat symbol (not linkable), so look it up. */
    void (*cfree_fn)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    CHECK_HW(cfree_fn != NULL, "cfree exported: %p", (void *)cfree_fn);
    if (cfree_fn) {
        struct heapwise_stats s0, s1;
        void *c = malloc(hw_sz(77));
        int have = hw_stats(&s0) == 0;
        cfree_fn(c);
        hw_stats(&s1);
        CHECK(!have || s1.frees == s0.frees + 1, "cfree counted as a free: %llu -> %llu",
              (unsigned long long)s0.frees, (unsigned long long)s1.frees);
        c = malloc(hw_sz(77));
        CHECK(c != NULL, "malloc works after cfree");
        free(c);
    }

    /* malloc_trim: returns 0 or 1, nothing breaks; allocation works afterwards. */
    void *big[64];
    for (int i = 0; i < 64; i++)
        big[i] = malloc(hw_sz(30000));
    for (int i = 0; i < 64; i++)
        free(big[i]);
    int t = malloc_trim(0);
    CHECK(t == 0 || t == 1, "malloc_trim(0) = %d", t);
    void *after = malloc(hw_sz(30000));
    CHECK(after && hw_fill_check(after, 30000, 1), "malloc after malloc_trim");
    free(after);

    /* malloc_stats prints a report on stderr; the harness checks it appeared. */
    fflush(stderr);
    malloc_stats();
    printf("counts: malloc>=%d calloc>=%d realloc>=%d aligned>=%d\n", N_MALLOC, N_CALLOC,
           N_REALLOC, N_ALIGNED);
    return hw_finish();
}
