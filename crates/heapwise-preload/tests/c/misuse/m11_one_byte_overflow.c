/* 11. a one-byte overflow past the requested size (HEAPWISE_HARDEN=full) */
#include "misuse.h"
int main(void) {
    /* A 32-byte block has 32 - sizeof(size_t) usable bytes (24 on 64-bit targets, 28 on
     * 32-bit ones): the byte after them is the next block's header. */
    const size_t n = 32 - sizeof(size_t);
    char *p, *q;
    adjacent_pair(n, &p, &q);
    memset(p, 'x', n);
    if (full_mode()) /* the canary right after the requested bytes */
        expect("heap overflow past the requested size of", p);
    else
        expect("corrupted block header of", q);
    ((char *)launder(p))[n] = 'x'; /* off by one */
    free(p);
    free(launder(q));
    survived();
    return 0;
}
