/* 1. immediate double free of a small block */
#include "misuse.h"
int main(void) {
    char *p = malloc(40);
    strcpy(p, "hello");
    free(p);
    expect("double free of", p);
    free(launder(p));
    survived();
    return 0;
}
