/* Shared helpers of the misuse programs: each program prints the line it expects the
 * allocator to report ("EXPECT <error> <address>") before the misuse, and "SURVIVED" if it
 * returns from it. The harness asserts SIGABRT and the named error and address on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

static void expect(const char *what, const void *p) {
    printf("EXPECT %s %p\n", what, p);
    fflush(stdout);
}

static void survived(void) {
    printf("SURVIVED\n");
    fflush(stdout);
}

/* Whether heapwise runs with HEAPWISE_HARDEN=full (canaries after the requested size:
 * an overflow out of a block is caught by its own canary first). */
static int full_mode(void) {
    const char *v = getenv("HEAPWISE_HARDEN");
    return v && strcmp(v, "full") == 0;
}

/* Keeps the compiler from reasoning about a pointer's provenance. */
static void *launder(void *p) {
    __asm__ volatile("" : "+r"(p));
    return p;
}

/* Two live blocks of `size` bytes where the second directly follows the first in memory
 * (allocation order need not be address order); the others stay allocated. */
static void adjacent_pair(size_t size, char **lo, char **hi) {
    char *b[64];
    for (int i = 0; i < 64; i++) b[i] = malloc(size);
    size_t step = malloc_usable_size(b[0]) + sizeof(size_t);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < 64; j++)
            if (b[j] == b[i] + step) {
                *lo = b[i];
                *hi = b[j];
                return;
            }
    /* Another allocator's layout (no headers): overflow out of b[0] anyway. */
    *lo = b[0];
    *hi = b[1];
}
