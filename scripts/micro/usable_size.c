/* malloc_usable_size on 1024 live blocks, then free + malloc + malloc_usable_size.
 * Prints "<ns> ns per call, <ns> ns per triple". Part of scripts/micro.sh. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    enum { N = 1024 };
    void *p[N];
    size_t s = 0;
    for (int i = 0; i < N; i++) p[i] = malloc(16 + (i * 37) % 200);
    double t0 = now();
    for (int r = 0; r < 20000; r++)
        for (int i = 0; i < N; i++) s += malloc_usable_size(p[i]);
    double t1 = now();
    for (int r = 0; r < 5000; r++)
        for (int i = 0; i < N; i++) {
            free(p[i]);
            p[i] = malloc(16 + (i * 37 + r) % 200);
            s += malloc_usable_size(p[i]);
        }
    double t2 = now();
    printf("%.2f ns per call, %.2f ns per triple\n", (t1 - t0) / (20000.0 * N) * 1e9,
           (t2 - t1) / (5000.0 * N) * 1e9);
    return s == 0;
}
