/* 7. an overflow that overwrites the next block's header, caught at the next free that
 * touches it (here: the free of the overflowing block, which looks at its successor; with
 * HEAPWISE_HARDEN=full its own canary, right after the requested size, reports it first) */
#include "misuse.h"
int main(void) {
    char *a, *b;
    adjacent_pair(40, &a, &b);
    size_t n = malloc_usable_size(a);
    /* a string copy 8 bytes too long: runs over b's header */
    memset(launder(a), 'A', n + 8);
    if (full_mode())
        expect("heap overflow past the requested size of", a);
    else
        expect("corrupted block header of", b);
    free(a);
    free(launder(b));
    survived();
    return 0;
}
