/* Behaviour 25: memory an allocator keeps for speed (freed large mappings kept for reuse,
 * free heap blocks) never makes a request fail that the process could serve, and never
 * raises its peak RSS.
 *
 * 1. (a forked child, fresh heap) 64 MiB of large blocks, freed, then 64 MiB of small
 *    blocks: the peak resident set grows by about 64 MiB, not 128 (freed large mappings
 *    must not stay resident on top of a heap that grows later);
 * then under RLIMIT_AS lowered to what the process uses + 96 MiB:
 * 2. a live 24 MiB block grows to 80 MiB with realloc over the address space of 32 MiB of
 *    freed large blocks (only in place or by mremap: 24 + 80 MiB would not fit);
 * 3. freed large blocks do not stop the heap from growing over their address space: small
 *    blocks fill more than 64 MiB;
 * 4. with the address space used up by the heap, a large block shrinks (realloc to a small
 *    size) and keeps its bytes;
 * 5. with the heap's blocks freed but no address space left for a mapping, large requests
 *    (malloc, calloc zeroed, aligned_alloc, posix_memalign) are served from the free heap
 *    memory. */
#include "hw_test.h"
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define MIB ((size_t)1 << 20)

/* VmHWM of /proc/self/status in KiB (0 if unreadable). */
static long hwm_kib(void)
{
    char line[256];
    long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* A list of blocks threaded through their first word. */
static size_t fill(void **list, size_t size)
{
    size_t n = 0;
    for (;;) {
        void **c = malloc(size);
        if (!c)
            return n;
        memset(c, 0x5a, size);
        *c = *list;
        *list = c;
        n += size;
    }
}

/* Blocks of 4000 bytes, then ever smaller ones, until not even 16 bytes are left. */
static size_t fill_all(void **list)
{
    static const size_t sizes[] = {4000, 1000, 256, 64, 16};
    size_t n = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        n += fill(list, sizes[i]);
    return n;
}

static void drop(void **list)
{
    while (*list) {
        void **c = *list;
        *list = *c;
        free(c);
    }
}

/* Child of phase 1: 0 when the peak grew by less than 64 + 24 MiB. */
static int rss_child(void)
{
    enum { BIG = 16, SMALL = 16384 };
    static void *big[BIG];
    static void *small[SMALL];
    long before = hwm_kib();
    for (int i = 0; i < BIG; i++) {
        big[i] = malloc(4 * MIB);
        if (!big[i])
            return 2;
        memset(big[i], 1, 4 * MIB);
    }
    for (int i = 0; i < BIG; i++)
        free(big[i]);
    for (int i = 0; i < SMALL; i++) {
        small[i] = malloc(4000);
        if (!small[i])
            return 2;
        memset(small[i], 2, 4000);
    }
    long grew = hwm_kib() - before;
    printf("phase 1: peak RSS grew by %ld MiB\n", grew >> 10);
    for (int i = 0; i < SMALL; i++)
        free(small[i]);
    return grew > 0 && grew < (long)((64 + 24) * 1024) ? 0 : 1;
}

int main(void)
{
    hw_begin("b25_memory_short");

    pid_t pid = fork();
    if (pid == 0)
        _exit(rss_child());
    int status = -1;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "64 MiB of large blocks freed, then 64 MiB of small blocks: peak RSS grows by less "
          "than 88 MiB (child status %d)", status);

    struct rlimit old;
    getrlimit(RLIMIT_AS, &old);
    struct rlimit lim = old;
    lim.rlim_cur = hw_vm_bytes() + 96 * MIB;
    int set = setrlimit(RLIMIT_AS, &lim);
    CHECK(set == 0, "RLIMIT_AS lowered to the address space in use + 96 MiB");

    /* 2. 24 MiB live, 32 MiB of large blocks freed, then a realloc to 80 MiB: 24 + 32 + 80
     * MiB would exceed the limit, and so would 24 + 80 (a copy); 80 alone fits. */
    unsigned char *b = malloc(24 * MIB);
    void *c[8];
    int got = b != NULL;
    for (int i = 0; i < 8; i++) {
        c[i] = malloc(4 * MIB);
        got &= c[i] != NULL;
        if (c[i])
            memset(c[i], 3, 4 * MIB);
    }
    if (b)
        hw_fill_check(b, 24 * MIB, 25);
    for (int i = 0; i < 8; i++)
        free(c[i]);
    unsigned char *g = b ? realloc(b, 80 * MIB) : NULL;
    CHECK(got && g != NULL, "a live 24 MiB block grows to 80 MiB over freed large blocks (%s)",
          g ? "ok" : strerror(errno));
    if (g) {
        CHECK(hw_pattern_ok(g, 24 * MIB, 25), "the grown block kept its bytes");
        free(g);
    } else {
        free(b);
    }

    /* 3. The same with the heap: 16 x 4 MiB freed, then small blocks until none is left. */
    void *big[16];
    for (int i = 0; i < 16; i++) {
        big[i] = malloc(4 * MIB);
        if (big[i])
            memset(big[i], 4, 4 * MIB);
    }
    for (int i = 0; i < 16; i++)
        free(big[i]);
    unsigned char *keep = malloc(4 * MIB);
    if (keep)
        hw_fill_check(keep, 4 * MIB, 26);
    void *list = NULL;
    size_t filled = fill_all(&list);
    CHECK(filled > 64 * MIB, "small blocks fill %zu MiB after 64 MiB of large blocks were freed",
          filled >> 20);

    /* 4. No memory left: the 4 MiB block shrinks to 1000 bytes (in place, or moved). */
    unsigned char *k = keep ? realloc(keep, 1000) : NULL;
    CHECK(k != NULL, "a large block shrinks with no memory left (%s)", k ? "ok" : strerror(errno));
    if (k) {
        CHECK(hw_pattern_ok(k, 1000, 26), "the shrunk block kept its first 1000 bytes");
        free(k);
    } else {
        free(keep);
    }

    /* 5. Nothing kept for reuse, the heap grown over all the address space left, then its
     * blocks freed: large requests are served from them. */
    drop(&list);
    malloc_trim(0);
    filled = fill_all(&list);
    drop(&list);
    void *m = malloc(1 * MIB);
    CHECK(m != NULL, "malloc(1 MiB) served from free heap memory (%s)", m ? "ok" : strerror(errno));
    if (m)
        memset(m, 6, 1 * MIB);
    unsigned char *z = calloc(1, 1 * MIB);
    int zero = z != NULL;
    for (size_t i = 0; z && i < 1 * MIB; i += 512)
        zero &= z[i] == 0 && z[i + 511] == 0;
    CHECK(z != NULL && zero, "calloc(1, 1 MiB) served from free heap memory, zeroed (%s)",
          z ? "ok" : strerror(errno));
    void *a = aligned_alloc(4096, 1 * MIB);
    CHECK(a != NULL && (uintptr_t)a % 4096 == 0, "aligned_alloc(4096, 1 MiB) served (%s)",
          a ? "ok" : strerror(errno));
    void *pm = NULL;
    int rc = posix_memalign(&pm, 256, 1 * MIB);
    CHECK(rc == 0 && (uintptr_t)pm % 256 == 0, "posix_memalign(256, 1 MiB) served (%s)",
          rc == 0 ? "ok" : strerror(rc));
    free(m);
    free(z);
    free(a);
    free(pm);

    setrlimit(RLIMIT_AS, &old);
    return hw_finish();
}
