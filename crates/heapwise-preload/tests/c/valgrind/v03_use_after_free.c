/* Under valgrind: a read and a write of freed blocks (small and after a realloc moved the
 * data); memcheck names the freed block: "8 bytes inside a block of size 48 free'd". */
#include <stdlib.h>
#include <string.h>

static volatile char c;

int main(void) {
    char *p = malloc(48);
    memset(p, 1, 48);
    free(p);
    c = p[8];
    char *r = malloc(200);
    memset(r, 1, 200);
    char *s = realloc(r, 4000); /* under valgrind realloc always moves */
    r[150] = 4;                 /* the old block */
    free(s);
    return 0;
}
