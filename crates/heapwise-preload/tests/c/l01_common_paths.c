/* l01_common_paths: the paths an ordinary program takes through malloc, for the layout test
 * (tests/layout.rs), which records the page faults of this program's code: start-up, small
 * blocks of every cached size and above, calloc, realloc growing and shrinking, aligned
 * requests, malloc_usable_size, large blocks, a second thread that frees the first one's
 * blocks and exits, a fork whose child allocates, and exit. Nothing here is unusual: no
 * misuse, no statistics, no heap check (the cold paths the library keeps out of its hot
 * code group).
 *
 * Prints `heapwise_base <address>`: where the library that serves malloc is loaded (its
 * `dladdr` base), from which the test turns fault addresses into the library's addresses.
 * Exits 1 when a block's contents are not what was written.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RING = 2048, ROUNDS = 60000, HANDOFF = 512 };

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int bad;

static void *fill(void *p, size_t n, unsigned char v)
{
    if (p)
        memset(p, v, n);
    else
        bad = 1;
    return p;
}

static void expect(const void *p, size_t n, unsigned char v)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != v) {
            bad = 1;
            return;
        }
}

/* Small blocks of random sizes in a ring: the tcache's hits, refills and flushes. */
static void ring(void)
{
    static void *slot[RING];
    static size_t len[RING];
    for (int r = 0; r < ROUNDS; r++) {
        size_t i = next() % RING;
        if (slot[i]) {
            expect(slot[i], len[i] < 16 ? len[i] : 16, (unsigned char)i);
            free(slot[i]);
        }
        len[i] = next() % 8 == 0 ? 16 + next() % 4080 : 1 + next() % 1024;
        slot[i] = fill(malloc(len[i]), len[i] < 16 ? len[i] : 16, (unsigned char)i);
    }
    for (int i = 0; i < RING; i++) {
        free(slot[i]);
        slot[i] = NULL;
    }
}

static void *handoff[HANDOFF];

/* A second thread: allocates, frees the main thread's blocks (remote frees), exits. */
static void *worker(void *arg)
{
    (void)arg;
    void *mine[256];
    for (int i = 0; i < 256; i++)
        mine[i] = fill(malloc(16 + (size_t)i * 3), 8, 7);
    for (int i = 0; i < HANDOFF; i++)
        free(handoff[i]);
    for (int i = 0; i < 256; i++)
        free(mine[i]);
    return NULL;
}

int main(void)
{
    ring();

    /* calloc, realloc up and down, usable size. */
    unsigned char *z = calloc(100, 7);
    if (!z || z[699] != 0)
        bad = 1;
    z = realloc(z, 5000);
    if (!z || z[0] != 0)
        bad = 1;
    z = realloc(z, 60);
    if (!z || malloc_usable_size(z) < 60)
        bad = 1;
    free(z);

    /* Aligned requests. */
    void *a = NULL;
    if (posix_memalign(&a, 64, 200) != 0 || (uintptr_t)a % 64 != 0)
        bad = 1;
    free(a);
    a = aligned_alloc(256, 1024);
    if (!a || (uintptr_t)a % 256 != 0)
        bad = 1;
    free(a);

    /* Large blocks, twice (the second reuses the first's mapping), and a large realloc. */
    for (int k = 0; k < 2; k++) {
        unsigned char *big = fill(malloc(1 << 20), 1 << 20, 3);
        if (!big)
            break;
        expect(big + 4096, 4096, 3);
        big = realloc(big, 2 << 20);
        if (big)
            expect(big, 4096, 3);
        free(big);
    }

    /* Blocks freed by another thread, which then exits. */
    for (int i = 0; i < HANDOFF; i++)
        handoff[i] = fill(malloc(24 + (size_t)(i % 64) * 8), 8, 5);
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
        bad = 1;

    /* A child that allocates. */
    pid_t pid = fork();
    if (pid == 0) {
        void *c = fill(malloc(100), 100, 9);
        free(c);
        _exit(bad);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        bad = 1;

    ring();

    Dl_info info;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (!m || !dladdr(m, &info) || !info.dli_fname || !strstr(info.dli_fname, "heapwise")) {
        printf("malloc is not heapwise's\n");
        return 1;
    }
    printf("heapwise_base %p\n", info.dli_fbase);
    return bad;
}
