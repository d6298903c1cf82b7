/* The program moves the break itself (sbrk) between allocations: heapwise grows its heap at
 * the break, so it must notice and never hand out (or coalesce into) the program's region;
 * afterwards allocation goes on (issue 4: "falling back to the mmap region when brk fails").
 * Also huge alignments (up to 1 GiB) and shrinking a large block into a small one. */
#include "hw_test.h"
#include <malloc.h>

int main(void)
{
    hw_begin("b20_foreign_brk");
    void *before[100];
    for (int i = 0; i < 100; i++)
        before[i] = malloc(hw_sz((size_t)(i * 37 + 1)));
    const size_t R = 1u << 20;
    unsigned char *mine = sbrk((intptr_t)R);
    CHECK(mine != (void *)-1, "sbrk(1 MiB) by the program = %p", (void *)mine);
    if (mine == (void *)-1)
        return hw_finish();
    memset(mine, 0x77, R);
    for (int i = 0; i < 100; i += 2)
        free(before[i]);
    enum { N = 20000 };
    static void *blocks[N];
    int inside = 0;
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(100 + i % 500);
        blocks[i] = malloc(hw_sz(n));
        if (!blocks[i])
            continue;
        unsigned char *b = blocks[i];
        if (b + n > mine && b < mine + R)
            inside++;
        memset(b, 1, n);
    }
    int intact = 1;
    for (size_t i = 0; i < R; i++)
        if (mine[i] != 0x77) {
            intact = 0;
            break;
        }
    CHECK(inside == 0, "%d of %d blocks overlap the program's sbrk region", inside, N);
    CHECK(intact, "the program's sbrk region is intact after %d allocations", N);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    for (int i = 1; i < 100; i += 2)
        free(before[i]);
    /* A second foreign sbrk, then more growth. */
    unsigned char *mine2 = sbrk(4096);
    if (mine2 != (void *)-1)
        memset(mine2, 0x66, 4096);
    void *big = malloc(hw_sz(300000));
    void *small = malloc(hw_sz(5000));
    CHECK(big && small, "allocation goes on after a second foreign sbrk");
    free(big);
    free(small);
    int intact2 = mine2 == (void *)-1;
    if (mine2 != (void *)-1) {
        intact2 = 1;
        for (int i = 0; i < 4096; i++)
            intact2 &= mine2[i] == 0x66;
    }
    CHECK(intact2, "second region intact");

    void *p = NULL;
    int rc = posix_memalign(&p, hw_sz((size_t)1 << 30), hw_sz(16));
    CHECK(rc == 0 && p && (uintptr_t)p % ((size_t)1 << 30) == 0, "posix_memalign(1 GiB, 16) = %d %p",
          rc, p);
    if (rc == 0)
        free(p);
    p = aligned_alloc(hw_sz((size_t)1 << 28), hw_sz(100));
    CHECK(p && (uintptr_t)p % ((size_t)1 << 28) == 0, "aligned_alloc(256 MiB, 100) = %p", p);
    free(p);
    unsigned char *s = malloc(hw_sz(1u << 20));
    if (s)
        memset(s, 9, 1u << 20);
    s = realloc(s, hw_sz(50));
    CHECK(s && s[0] == 9 && s[49] == 9 && malloc_usable_size(s) >= 50,
          "a 1 MiB block shrunk to 50 bytes keeps its data");
    free(s);
    return hw_finish();
}
