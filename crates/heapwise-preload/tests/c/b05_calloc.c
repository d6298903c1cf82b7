/* Behaviour 5: calloc returns zeros when it reuses dirty memory and for 8 MiB blocks, up to
 * malloc_usable_size as glibc does (the slack past the request too); overflowing products -> NULL
 * with ENOMEM; calloc(0,n) and calloc(n,0) -> unique pointers. */
#include "hw_test.h"

#include <malloc.h>

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

int main(void)
{
    hw_begin("b05_calloc");
    static const size_t sizes[] = {1, 8, 16, 24, 40, 100, 256, 1000, 4000, 4096, 10000, 65536,
                                   131072, 300000, 1u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int zero = 1;
        for (int round = 0; round < 4; round++) {
            /* Dirty several blocks of this size, free them, calloc the same size. */
            unsigned char *d[4];
            for (int k = 0; k < 4; k++) {
                d[k] = malloc(hw_sz(n));
                if (d[k])
                    memset(d[k], 0xA5, malloc_usable_size(d[k]));
            }
            for (int k = 0; k < 4; k++)
                free(d[k]);
            unsigned char *c = calloc(hw_sz(1), hw_sz(n));
            if (!c || !all_zero(c, malloc_usable_size(c)))
                zero = 0;
            else
                memset(c, 0xEE, malloc_usable_size(c)); /* dirty it for the next round */
            free(c);
            unsigned char *c2 = calloc(hw_sz(n), hw_sz(1));
            if (!c2 || !all_zero(c2, malloc_usable_size(c2)))
                zero = 0;
            free(c2);
        }
        CHECK(zero, "calloc of %zu bytes over dirty freed memory is all zeros, slack included", n);
    }
    /* Mixed: split a big dirty block into calloc'ed pieces. */
    unsigned char *big = malloc(hw_sz(200000));
    if (big)
        memset(big, 0xFF, 200000);
    free(big);
    int zero = 1;
    void *pieces[100];
    for (int i = 0; i < 100; i++) {
        size_t n = (size_t)(i * 37 % 1500 + 1);
        pieces[i] = calloc(hw_sz(n), 1);
        if (!pieces[i] || !all_zero(pieces[i], malloc_usable_size(pieces[i])))
            zero = 0;
    }
    for (int i = 0; i < 100; i++)
        free(pieces[i]);
    CHECK(zero, "100 calloc pieces carved from a freed dirty 200000-byte block are zero");

    size_t eight = 8u << 20;
    for (int round = 0; round < 3; round++) {
        unsigned char *m = malloc(hw_sz(eight));
        if (m)
            memset(m, 0x33, eight);
        free(m);
        unsigned char *c = calloc(hw_sz(eight), 1);
        CHECK(c != NULL && all_zero(c, eight), "calloc(8 MiB) round %d all zeros", round);
        if (c)
            memset(c, 0x44, eight);
        free(c);
    }

    CHECK_NULL_ERRNO(calloc(hw_sz(SIZE_MAX), hw_sz(2)), ENOMEM);
    CHECK_NULL_ERRNO(calloc(hw_sz(2), hw_sz(SIZE_MAX / 2 + 1)), ENOMEM);
    CHECK_NULL_ERRNO(calloc(hw_sz(HW_HALF * 2), hw_sz(HW_HALF / 2)), ENOMEM);
    CHECK_NULL_ERRNO(calloc(hw_sz(HW_HALF), hw_sz(HW_HALF)), ENOMEM);
    CHECK_NULL_ERRNO(calloc(hw_sz(1), hw_sz(SIZE_MAX)), ENOMEM);
    CHECK_NULL_ERRNO(calloc(hw_sz(SIZE_MAX), hw_sz(SIZE_MAX)), ENOMEM);

    void *a = calloc(hw_sz(0), hw_sz(10)), *b = calloc(hw_sz(10), hw_sz(0));
    void *c = calloc(hw_sz(0), hw_sz(0)), *d = calloc(hw_sz(0), hw_sz(SIZE_MAX));
    CHECK(a && b && c && d, "calloc(0,10)=%p calloc(10,0)=%p calloc(0,0)=%p calloc(0,SIZE_MAX)=%p",
          a, b, c, d);
    CHECK(a != b && a != c && a != d && b != c && b != d && c != d, "all four distinct");
    free(a);
    free(b);
    free(c);
    free(d);
    return hw_finish();
}
