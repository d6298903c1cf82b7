/* Under valgrind: definedness. A malloc block is undefined (a branch on it is reported);
 * calloc blocks are defined; realloc keeps the definedness of the bytes it keeps and the
 * new bytes are undefined. Exactly two errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    int *u = malloc(40);
    if (u[3] == 7) puts("seven");           /* error 1: uninitialised */
    int *z = calloc(10, sizeof(int));
    if (z[3] == 7) puts("seven");           /* defined: zero */
    char *r = malloc(16);
    memset(r, 1, 16);
    r = realloc(r, 4000);
    if (r[15] == 1) puts("kept");           /* defined: copied with its definedness */
    if (r[100] == 1) puts("new");           /* error 2: the new bytes are undefined */
    free(u);
    free(z);
    free(r);
    return 0;
}
