/* Under valgrind: two leaked blocks, a small one (100 bytes) and a large one (300000 bytes,
 * a mapping of its own); memcheck must find both "definitely lost" (freed blocks, and
 * heapwise's own records, must not keep them reachable). */
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

static void leak(size_t n) {
    char *p = malloc(n);
    memset(p, 1, n);
    sink = p;
    sink = NULL; /* the only pointer is gone */
}

int main(void) {
    for (int i = 0; i < 100; i++) free(malloc(100)); /* reused and quarantined blocks */
    leak(100);
    leak(300000);
    free(malloc(300000));
    return 0;
}
