/* Behaviour 4: free(NULL) does nothing; free never changes errno (small and large blocks). */
#include "hw_test.h"

int main(void)
{
    hw_begin("b04_free");
    errno = 1234;
    free(NULL);
    CHECK(errno == 1234, "errno after free(NULL) = %d", errno);
    static const size_t sizes[] = {1, 24, 100, 1000, 4096, 65536, 200000, 1u << 20, 8u << 20,
                                   64u << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        void *p = malloc(hw_sz(sizes[i]));
        CHECK(p != NULL, "malloc(%zu)", sizes[i]);
        if (p)
            memset(p, 0x5a, sizes[i]);
        errno = 1234;
        free(p);
        CHECK(errno == 1234, "errno after free of a %zu-byte block = %d", sizes[i], errno);
    }
    /* errno = ENOMEM from a failed call must not be cleared by a later free either. */
    void *keep = malloc(hw_sz(50));
    errno = 0;
    void *fail = malloc(hw_sz(SIZE_MAX));
    free(keep);
    CHECK(fail == NULL && errno == ENOMEM, "ENOMEM survives a free: errno=%d", errno);
    /* Many frees in a row (coalescing, trimming paths) keep errno. */
    void *v[256];
    for (int i = 0; i < 256; i++)
        v[i] = malloc(hw_sz((size_t)(i * 97 % 5000 + 1)));
    errno = 77;
    for (int i = 0; i < 256; i += 2)
        free(v[i]);
    for (int i = 1; i < 256; i += 2)
        free(v[i]);
    CHECK(errno == 77, "errno after 256 frees = %d", errno);
    return hw_finish();
}
