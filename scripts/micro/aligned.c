/* free + aligned_alloc pairs over a ring of 64 blocks: `aligned ALIGN` (default 64), sizes
 * 64..112 bytes. Prints "<ns> ns per pair". Part of scripts/micro.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    size_t align = argc > 1 ? (size_t)atol(argv[1]) : 64;
    enum { N = 2000000 };
    void *ring[64] = {0};
    double t0 = now();
    for (int i = 0; i < N; i++) {
        int k = i & 63;
        free(ring[k]);
        ring[k] = aligned_alloc(align, 64 + (size_t)(i % 4) * 16);
        if (!ring[k] || (uintptr_t)ring[k] % align) {
            fprintf(stderr, "aligned_alloc(%zu) gave %p\n", align, ring[k]);
            return 1;
        }
    }
    double t1 = now();
    for (int k = 0; k < 64; k++) free(ring[k]);
    printf("%.1f ns per pair\n", (t1 - t0) / N * 1e9);
    return 0;
}
