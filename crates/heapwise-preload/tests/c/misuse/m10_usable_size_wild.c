/* 10. malloc_usable_size of a wild pointer (unmapped memory: must not fault) */
#include "misuse.h"
int main(void) {
    void *w = (void *)0x10000;
    expect("invalid pointer of", w);
    size_t n = malloc_usable_size(launder(w));
    survived();
    return (int)n;
}
