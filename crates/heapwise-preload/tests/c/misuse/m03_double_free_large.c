/* 3. double free of a large (mmap) block */
#include "misuse.h"
int main(void) {
    char *p = malloc(1 << 20);
    memset(p, 1, 1 << 20);
    free(p);
    expect("double free of", p);
    free(launder(p));
    survived();
    return 0;
}
