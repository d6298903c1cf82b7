/* Under valgrind: a correct threaded program using every allocation function (small,
 * large, aligned, calloc, realloc across the large threshold) and fork. memcheck must
 * report nothing: heapwise's own work on its metadata is not the program's error. */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *work(void *arg) {
    long id = (long)arg;
    char *keep[64] = {0};
    size_t len[64] = {0};
    for (int i = 0; i < 6000; i++) {
        int k = (i * 7 + (int)id) % 64;
        size_t n = (size_t)((i * 131 + id * 17) % 700) + 1;
        if (i % 997 == 0) n = 300000;
        if (keep[k]) {
            for (size_t j = 0; j < len[k]; j += 61)
                if (keep[k][j] != (char)k) abort();
            if (i % 3 == 0) {
                char *q = realloc(keep[k], n);
                if (!q) abort();
                keep[k] = q;
                memset(q, k, n);
                len[k] = n;
                continue;
            }
            free(keep[k]);
        }
        keep[k] = (i % 5 == 0) ? calloc(1, n) : malloc(n);
        if (!keep[k]) abort();
        if (malloc_usable_size(keep[k]) < n) abort();
        memset(keep[k], k, n);
        len[k] = n;
        if (i % 101 == 0) {
            void *a;
            if (posix_memalign(&a, 64, n) || (uintptr_t)a % 64) abort();
            memset(a, 1, n);
            free(a);
        }
        if (i % 103 == 0) {
            char *a = aligned_alloc(4096, 4096);
            memset(a, 1, 4096);
            free(a);
            a = valloc(100);
            memset(a, 1, 100);
            free(a);
        }
    }
    for (int k = 0; k < 64; k++) free(keep[k]);
    return NULL;
}

int main(void) {
    pthread_t t[3];
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, work, (void *)i);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    char *s = strdup("clean");
    pid_t pid = fork();
    if (pid == 0) {
        free(s);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
    printf("%s\n", s);
    free(s);
    return 0;
}
