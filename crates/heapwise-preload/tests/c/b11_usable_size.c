/* Behaviour 11: malloc_usable_size(NULL) = 0; usable size >= requested and every usable byte
 * writable (for every allocation function). */
#include "hw_test.h"
#include <malloc.h>

static int check_block(void *p, size_t req, const char *fn)
{
    if (!p) {
        printf("# %s(%zu) returned NULL\n", fn, req);
        return 0;
    }
    size_t u = malloc_usable_size(p);
    if (u < req) {
        printf("# %s(%zu): usable %zu < requested\n", fn, req, u);
        return 0;
    }
    if (!hw_fill_check(p, u, (unsigned)req)) {
        printf("# %s(%zu): usable bytes not writable\n", fn, req);
        return 0;
    }
    return 1;
}

int main(void)
{
    hw_begin("b11_usable_size");
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu", malloc_usable_size(NULL));
    int ok = 1, n = 0;
    void *keep[600];
    for (size_t i = 0; i < 600; i++) {
        size_t req = i < 300 ? i : (i * 104729u) % 400000u;
        keep[i] = malloc(hw_sz(req));
        ok &= check_block(keep[i], req, "malloc");
        n++;
    }
    for (size_t i = 0; i < 600; i += 2)
        free(keep[i]);
    for (size_t i = 0; i < 600; i += 2) {
        size_t req = (i * 31u) % 3000u;
        keep[i] = calloc(hw_sz(1), hw_sz(req));
        ok &= check_block(keep[i], req, "calloc");
        n++;
    }
    for (size_t i = 1; i < 600; i += 2) {
        size_t req = (i * 7u) % 70000u;
        void *r = realloc(keep[i], hw_sz(req));
        if (r || req != 0) {
            keep[i] = r;
            ok &= check_block(r, req, "realloc");
        } else
            keep[i] = NULL;
        n++;
    }
    for (size_t i = 0; i < 600; i++)
        free(keep[i]);
    for (size_t al = 16; al <= 65536; al *= 4) {
        void *p = memalign(hw_sz(al), hw_sz(al / 2 + 3));
        ok &= check_block(p, al / 2 + 3, "memalign");
        free(p);
        void *q = NULL;
        posix_memalign(&q, hw_sz(al), hw_sz(al * 2 + 5));
        ok &= check_block(q, al * 2 + 5, "posix_memalign");
        free(q);
        void *a = aligned_alloc(hw_sz(al), hw_sz(al));
        ok &= check_block(a, al, "aligned_alloc");
        free(a);
        n += 3;
    }
    void *big = malloc(hw_sz((16u << 20) + 1));
    ok &= check_block(big, (16u << 20) + 1, "malloc");
    free(big);
    CHECK(ok, "%d blocks: usable size >= requested, all usable bytes writable", n + 1);
    return hw_finish();
}
