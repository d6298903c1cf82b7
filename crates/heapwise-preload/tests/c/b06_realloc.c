/* Behaviour 6: realloc(NULL,n) = malloc(n); realloc(NULL,0) non-NULL; realloc(p,0) frees p and
 * returns NULL without touching errno (glibc); the first min(old,new) bytes survive growing and
 * shrinking; realloc(p, SIZE_MAX) -> NULL, ENOMEM, p intact and usable. */
#include "hw_test.h"
#include <malloc.h>

int main(void)
{
    hw_begin("b06_realloc");
    void *a = realloc(NULL, hw_sz(100));
    CHECK(a != NULL && (uintptr_t)a % 16 == 0, "realloc(NULL,100) = %p", a);
    CHECK(a && malloc_usable_size(a) >= 100, "usable %zu", a ? malloc_usable_size(a) : 0);
    if (a)
        CHECK(hw_fill_check(a, 100, 1), "realloc(NULL,100) block writable");
    free(a);

    void *z = realloc(NULL, hw_sz(0));
    CHECK(z != NULL, "realloc(NULL,0) = %p", z);
    free(z);

    for (int i = 0; i < 3; i++) {
        size_t n = i == 0 ? 24 : i == 1 ? 5000 : 4u << 20;
        void *p = malloc(hw_sz(n));
        errno = 4321;
        void *r = realloc(p, hw_sz(0));
        int e = errno;
        CHECK(r == NULL && e == 4321, "realloc(p[%zu],0) = %p, errno %d (want NULL, 4321)", n, r,
              e);
        free(r);
    }
    /* p was freed: blocks allocated afterwards work (no double use). */
    void *after = malloc(hw_sz(24));
    CHECK(after != NULL, "malloc after realloc(p,0)");
    free(after);

    static const size_t seq[] = {1,      15,      16,    17,    100,     1000,  4095,  4096,
                                 5000,   65536,   131072, 262144, 1u << 20, 3u << 20, 9u << 20,
                                 5000,   100,     17,    1,     33u << 20, 7,     0x12345,
                                 48,     2u << 20, 64};
    size_t cur = 40;
    unsigned char *p = malloc(hw_sz(cur));
    hw_fill_check(p, cur, 9);
    int intact = 1;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        size_t n = seq[i];
        unsigned char *q = realloc(p, hw_sz(n));
        if (!q) {
            CHECK(0, "realloc to %zu failed", n);
            break;
        }
        size_t keep = cur < n ? cur : n;
        if (!hw_pattern_ok(q, keep, 9)) {
            intact = 0;
            printf("# realloc %zu -> %zu lost data\n", cur, n);
        }
        if ((uintptr_t)q % 16)
            intact = 0;
        hw_fill_check(q, n, 9);
        p = q;
        cur = n;
    }
    CHECK(intact, "the first min(old,new) bytes survived %zu grow/shrink steps",
          sizeof seq / sizeof seq[0]);
    /* Grow in place repeatedly with a neighbour freed in between. */
    unsigned char *x = malloc(hw_sz(64)), *y = malloc(hw_sz(64));
    hw_fill_check(x, 64, 3);
    free(y);
    x = realloc(x, hw_sz(120));
    CHECK(x && hw_pattern_ok(x, 64, 3), "grow into a freed neighbour keeps data");
    free(x);

    static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 16, (size_t)PTRDIFF_MAX + 1};
    for (size_t i = 0; i < 3; i++) {
        errno = 0;
        void *r = realloc(p, hw_sz(huge[i]));
        int e = errno;
        CHECK(r == NULL && e == ENOMEM, "realloc(p, %#zx) -> %p errno=%d", huge[i], r, e);
        CHECK(hw_pattern_ok(p, cur, 9), "p intact after the failed realloc");
    }
    p = realloc(p, hw_sz(cur * 2 + 100));
    CHECK(p && hw_pattern_ok(p, cur, 9), "p usable: grows afterwards with its data");
    free(p);
    return hw_finish();
}
