/* Behaviour 2: impossible sizes -> NULL with ENOMEM, also right after small allocations
 * (no overflow when the size is padded up to a block size). */
#include "hw_test.h"

static void huge_round(const char *when)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    printf("# %s\n", when);
    CHECK_NULL_ERRNO(malloc(hw_sz(SIZE_MAX)), ENOMEM);
    CHECK_NULL_ERRNO(malloc(hw_sz((size_t)PTRDIFF_MAX + 1)), ENOMEM);
    CHECK_NULL_ERRNO(malloc(hw_sz((size_t)0 - 512 * 1024)), ENOMEM);
#if SIZE_MAX > 0xffffffffu
    /* No 64-bit address space has room for PTRDIFF_MAX bytes; a 32-bit one may (glibc serves
     * it there). */
    CHECK_NULL_ERRNO(malloc(hw_sz(PTRDIFF_MAX)), ENOMEM);
#endif
    /* Sizes that overflow when a header or the alignment padding is added. */
    static const size_t back[] = {1, 7, 8, 15, 16, 17, 31, 32, 48, 64, 4095, 4096, 65536};
    for (size_t i = 0; i < sizeof back / sizeof back[0]; i++) {
        errno = 0;
        void *p = malloc(hw_sz(SIZE_MAX - back[i]));
        int e = errno;
        CHECK(p == NULL && e == ENOMEM, "malloc(SIZE_MAX-%zu) -> %p errno=%d", back[i], p, e);
        free(p);
    }
    errno = 0;
    void *p = malloc(hw_sz(SIZE_MAX - pg + 1));
    int e = errno;
    CHECK(p == NULL && e == ENOMEM, "malloc(-pagesize) -> %p errno=%d", p, e);
    free(p);
}

int main(void)
{
    hw_begin("b02_huge");
    huge_round("on a fresh heap");
    void *small[200];
    for (int i = 0; i < 200; i++) {
        small[i] = malloc(hw_sz((size_t)i * 3 + 1));
        if (small[i])
            memset(small[i], i, (size_t)i * 3 + 1);
    }
    huge_round("after 200 small allocations");
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        unsigned char *b = small[i];
        for (int j = 0; b && j < i * 3 + 1; j++)
            if (b[j] != (unsigned char)i)
                ok = 0;
        if (!b)
            ok = 0;
        free(b);
    }
    CHECK(ok, "the 200 small blocks survived the failed huge requests intact");
    void *again = malloc(hw_sz(100));
    CHECK(again != NULL, "malloc(100) works after the failures");
    free(again);
    return hw_finish();
}
