/* Under valgrind: reads and writes just past the requested size of heap blocks. Each must
 * be reported at the access as "0 bytes after a block of size N alloc'd". */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static volatile char c;

int main(void) {
    char *p = malloc(33);        /* 40 usable bytes: the byte read lands in the slack */
    memset(p, 1, 33);
    c = p[33];
    char *q = malloc(40);        /* natively no slack: under valgrind the trailer follows */
    memset(q, 1, 40);
    q[40] = 2;
    /* When a block starts within memcheck's redzone distance after z's end, memcheck may
     * describe z[63] relative to that block ("17 bytes before a block of size 100"),
     * depending on the absolute addresses: the test accepts either description. */
    char *z = calloc(7, 9);      /* 63 bytes */
    c = z[63];
    char *a = memalign(64, 100); /* an aligned block */
    memset(a, 1, 100);
    a[100] = 3;
    free(p);
    free(q);
    free(a);
    free(z);
    return 0;
}
