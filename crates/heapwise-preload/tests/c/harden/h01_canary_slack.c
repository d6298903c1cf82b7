/* HEAPWISE_HARDEN=full: a one-byte overflow past the requested size that lands in the
 * block's slack (malloc(33): the engine's block has 40 usable bytes) is caught by the
 * canary at free, realloc or malloc_usable_size ("free", "realloc", "usable" as argv[1]);
 * "ok" checks that malloc_usable_size is the requested size and that correct use of every
 * function passes. */
#include "../misuse/misuse.h"
#include <stdint.h>

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "free";
    char *p = malloc(33);
    memset(p, 'x', 33);
    if (strcmp(mode, "ok") == 0) {
        if (malloc_usable_size(p) != 33) { printf("usable %zu\n", malloc_usable_size(p)); return 1; }
        char *q = realloc(p, 20);              /* shrink: keeps 20 bytes */
        if (!q || malloc_usable_size(q) != 20 || q[19] != 'x') return 2;
        q = realloc(q, 5000);                  /* grow: moves */
        if (!q || malloc_usable_size(q) != 5000 || q[0] != 'x' || q[19] != 'x') return 3;
        memset(q, 'y', 5000);
        free(q);
        int *c = calloc(10, sizeof(int));
        for (int i = 0; i < 10; i++) if (c[i]) return 4;
        if (malloc_usable_size(c) != 40) return 5;
        free(c);
        void *a = NULL;
        if (posix_memalign(&a, 256, 100) || (uintptr_t)a % 256 || malloc_usable_size(a) != 100) return 6;
        memset(a, 1, 100);
        free(a);
        a = aligned_alloc(64, 64);
        memset(a, 1, 64);
        free(a);
        char *big = malloc(300000);             /* a guarded large block */
        memset(big, 1, 300000);
        big = realloc(big, 600000);
        if (!big || big[299999] != 1 || malloc_usable_size(big) != 600000) return 7;
        big = realloc(big, 100);
        if (!big || big[99] != 1 || malloc_usable_size(big) != 100) return 8;
        free(big);
        survived();
        return 0;
    }
    expect("heap overflow past the requested size of", p);
    ((char *)launder(p))[33] = 'x'; /* off by one, into the slack */
    if (strcmp(mode, "realloc") == 0)
        p = realloc(p, 64);
    else if (strcmp(mode, "usable") == 0)
        printf("usable %zu\n", malloc_usable_size(p));
    else
        free(p);
    survived();
    return 0;
}
