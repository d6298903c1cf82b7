/* One 1 MiB block (above the default mmap threshold), touched and freed: prints "big ok"
 * or "big failed" (with HEAPWISE_FAIL_AFTER=0 the request fails). The options tests read
 * the summary's "large (mmap)" count. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    char *p = malloc(1 << 20);
    if (p)
        memset(p, 1, 1 << 20);
    const char *msg = p ? "big ok\n" : "big failed\n";
    if (write(1, msg, strlen(msg)) < 0)
        return 2;
    free(p);
    return 0;
}
