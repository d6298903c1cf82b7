/* 2. double free after 100 other allocations of the same size */
#include "misuse.h"
int main(void) {
    char *p = malloc(40);
    free(p);
    void *q[100];
    for (int i = 0; i < 100; i++) {
        q[i] = malloc(40);
        memset(q[i], i, 40);
    }
    expect("double free of", p);
    free(launder(p));
    survived();
    for (int i = 0; i < 100; i++) free(q[i]);
    return 0;
}
