/* A secure-execution process (set-user-ID or set-group-ID, or file capabilities: AT_SECURE)
 * must not take its allocator options from the environment, which the less privileged
 * user who ran it controls, as glibc ignores its malloc tunables there: HEAPWISE_TRACE and
 * HEAPWISE_STATS_FILE would make the process create, truncate or append to files with its
 * privileges, and HEAPWISE_FAIL_AFTER would make its allocations fail at a chosen point.
 *
 * argv[1] is libheapwise.so, loaded with dlopen (the dynamic loader ignores LD_PRELOAD
 * paths in a secure process); the library reads the options when it is loaded, serves a
 * few blocks and prints the summary at exit if told to. The program prints "secure: N"
 * (getauxval(AT_SECURE)) and "blocks: ok" or "blocks: failed" (a failure means
 * HEAPWISE_FAIL_AFTER was taken). The harness runs it set-user-ID and checks that the
 * files the environment named were neither created nor touched. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    printf("secure: %lu\n", getauxval(AT_SECURE));
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 2;
    }
    void *(*hw_malloc)(size_t) = (void *(*)(size_t))dlsym(h, "malloc");
    void (*hw_free)(void *) = (void (*)(void *))dlsym(h, "free");
    if (!hw_malloc || !hw_free)
        return 2;
    int ok = 1;
    for (int i = 0; i < 64; i++) {
        /* Large blocks too: each needs memory from the OS. */
        size_t n = (size_t)(i % 8 == 0 ? 1 << 20 : 100 + i);
        char *p = hw_malloc(n);
        if (!p) {
            ok = 0;
            break;
        }
        memset(p, i, n);
        hw_free(p);
    }
    printf("blocks: %s\n", ok ? "ok" : "failed");
    fflush(stdout);
    return 0;
}
