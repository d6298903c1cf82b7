/* Under valgrind: a correct program that uses glibc's malloc introspection and tuning
 * calls (mallopt with every parameter, mallinfo, mallinfo2, malloc_stats, malloc_info,
 * malloc_trim, malloc_usable_size) around live and freed blocks. heapwise's state is hidden
 * from the program under valgrind, so each call must do its work on it without a report:
 * memcheck must find no error at all. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    char *small = malloc(100);
    char *large = malloc(300000);
    memset(small, 1, 100);
    memset(large, 1, 300000);
    free(malloc(5000));
    int params[] = {M_MXFAST, M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX,
                    M_CHECK_ACTION, M_ARENA_TEST, M_ARENA_MAX};
    int values[] = {64, 1 << 20, 1 << 16, 1 << 20, 0, 3, 8, 4};
    for (unsigned i = 0; i < sizeof params / sizeof params[0]; i++)
        mallopt(params[i], values[i]);
    mallopt(M_MMAP_MAX, 65536);     /* mappings back on */
    mallopt(M_MMAP_THRESHOLD, -1);  /* never */
    struct mallinfo m1 = mallinfo();
    struct mallinfo2 m2 = mallinfo2();
    if (m1.uordblks < 0 || m2.uordblks == 0) puts("odd mallinfo");
    malloc_stats();
    FILE *null = fopen("/dev/null", "w");
    if (malloc_info(0, null) != 0) puts("malloc_info failed");
    fclose(null);
    malloc_trim(0);
    if (malloc_usable_size(small) < 100) puts("usable too small");
    free(small);
    free(large);
    puts("clean");
    return 0;
}
