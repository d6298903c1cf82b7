/* 11. a one-byte overflow past the requested size (HEAPWISE_HARDEN=full) */
#include "misuse.h"
int main(void) {
    char *p, *q; /* 24 usable bytes: the byte after them is the next block's header */
    adjacent_pair(24, &p, &q);
    memset(p, 'x', 24);
    if (full_mode()) /* the canary right after the 24 requested bytes */
        expect("heap overflow past the requested size of", p);
    else
        expect("corrupted block header of", q);
    ((char *)launder(p))[24] = 'x'; /* off by one */
    free(p);
    free(launder(q));
    survived();
    return 0;
}
