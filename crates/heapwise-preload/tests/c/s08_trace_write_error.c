/* A program under HEAPWISE_TRACE whose trace file cannot be written to the end: it limits
 * the size of the files it writes (RLIMIT_FSIZE, 4 KiB) and ignores SIGXFSZ, so that the
 * recorder's writes past the limit fail with EFBIG (as on a full disk), then makes 20 000
 * allocations and frees (far more than the recorder's 64 KiB buffer of lines holds) and
 * prints "done". The library must say once, on stderr, that the trace could not be
 * written, naming the file and the error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

int main(void)
{
    struct rlimit r = { 4096, 4096 };
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &r) != 0) {
        perror("setrlimit");
        return 2;
    }
    for (int i = 0; i < 20000; i++) {
        char *volatile p = malloc(16 + i % 200);
        if (!p)
            return 3;
        p[0] = 1;
        free(p);
    }
    printf("done\n");
    return 0;
}
