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
    char *a = memalign(64, 100); /* an aligned block */
    memset(a, 1, 100);
    a[100] = 3;
    char *z = calloc(7, 9);      /* 63 bytes */
    c = z[63];
    free(p);
    free(q);
    free(a);
    free(z);
    return 0;
}
