/* Injected OS failures (heapwise_test_fail_os): every function fails with NULL/ENOMEM
 * (posix_memalign returns ENOMEM), the heap checker stays clean, allocation succeeds again
 * from freed memory, and everything works once the failures stop. Prints "OK" at the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <dlfcn.h>

#define CHECK(c) do { if (!(c)) { printf("FAIL line %d: %s\n", __LINE__, #c); return 1; } } while (0)
#define MAXB 1000000

static void *blk[MAXB];

int main(void) {
    void (*fail_os)(long) = (void (*)(long))dlsym(RTLD_DEFAULT, "heapwise_test_fail_os");
    int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "heapwise_check");
    CHECK(fail_os && check); /* proves libheapwise.so serves the process */
    void *warm = malloc(100);
    CHECK(warm);
    fail_os(0);
    errno = 0;
    CHECK(malloc(1 << 20) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, 1 << 20) == NULL && errno == ENOMEM);
    void *mp = (void *)1;
    CHECK(posix_memalign(&mp, 4096, 1 << 20) == ENOMEM && mp == (void *)1);
    errno = 0;
    CHECK(aligned_alloc(64, 1 << 20) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(realloc(warm, 1 << 20) == NULL && errno == ENOMEM);
    /* small blocks until the heaps are full: then NULL with ENOMEM too */
    int n = 0;
    for (; n < MAXB; n++) {
        errno = 0;
        blk[n] = malloc(1000);
        if (!blk[n]) {
            CHECK(errno == ENOMEM);
            break;
        }
        memset(blk[n], n & 0xff, 1000);
    }
    CHECK(n < MAXB);
    errno = 0;
    CHECK(malloc(1000) == NULL && errno == ENOMEM);
    CHECK(check() == 0);
    for (int i = 0; i < n; i++) {
        unsigned char *b = blk[i];
        CHECK(b[0] == (i & 0xff) && b[999] == (i & 0xff));
        free(b);
    }
    /* memory came back: allocation works again without the OS */
    for (int i = 0; i < n; i++) {
        blk[i] = malloc(1000);
        CHECK(blk[i]);
    }
    for (int i = 0; i < n; i++) free(blk[i]);
    CHECK(check() == 0);
    fail_os(-1);
    void *big = malloc(1 << 20);
    CHECK(big);
    memset(big, 1, 1 << 20);
    free(big);
    free(warm);
    CHECK(check() == 0);
    printf("OK %d blocks before the heaps were full\n", n);
    return 0;
}
