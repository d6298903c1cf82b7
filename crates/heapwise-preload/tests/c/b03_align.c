/* Behaviour 3: every pointer is 16-byte aligned, also for tiny sizes; malloc(64 MiB + 8) is
 * usable (every byte writable). */
#include "hw_test.h"

int main(void)
{
    hw_begin("b03_align");
    enum { N = 3000 };
    static void *p[N];
    int misaligned = 0, nulls = 0;
    size_t bad_size = 0;
    for (int i = 0; i < N; i++) {
        size_t sz = i < 1100 ? (size_t)i : (size_t)(i * 7919u % 300000u);
        p[i] = malloc(hw_sz(sz));
        if (!p[i])
            nulls++;
        else if ((uintptr_t)p[i] % 16 != 0) {
            misaligned++;
            bad_size = sz;
        }
        if (i % 3 == 2) { /* free some to create holes that later requests reuse */
            free(p[i - 1]);
            p[i - 1] = NULL;
        }
    }
    CHECK(nulls == 0, "%d NULLs among %d mallocs", nulls, N);
    CHECK(misaligned == 0, "%d pointers not 16-byte aligned (e.g. size %zu)", misaligned, bad_size);
    misaligned = 0;
    for (int i = 0; i < N; i++) {
        if (p[i] == NULL) {
            void *q = malloc(hw_sz((size_t)(i % 40)));
            if (!q || (uintptr_t)q % 16)
                misaligned++;
            p[i] = q;
        }
    }
    CHECK(misaligned == 0, "reused holes: %d bad pointers", misaligned);
    for (int i = 0; i < N; i++)
        free(p[i]);

    void *c = calloc(hw_sz(3), hw_sz(5));
    CHECK(c && (uintptr_t)c % 16 == 0, "calloc(3,5) = %p", c);
    void *r = realloc(c, hw_sz(33));
    CHECK(r && (uintptr_t)r % 16 == 0, "realloc(.., 33) = %p", r);
    free(r);

    size_t big = 64u * 1024 * 1024 + 8;
    unsigned char *b = malloc(hw_sz(big));
    CHECK(b != NULL && (uintptr_t)b % 16 == 0, "malloc(64 MiB + 8) = %p", (void *)b);
    if (b) {
        CHECK(hw_fill_check(b, big, 7), "all 64 MiB + 8 bytes writable and read back");
        free(b);
    }
    return hw_finish();
}
