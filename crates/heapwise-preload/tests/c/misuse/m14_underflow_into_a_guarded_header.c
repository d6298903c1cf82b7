/* 14. (HEAPWISE_HARDEN=full) a write just before a large block, into its guarded header:
 * reported as a corrupted header at free, not taken for a pointer heapwise never gave out. */
#include "misuse.h"
int main(void) {
    unsigned char *p = malloc(300000);
    memset(p, 1, 300000);
    p[-8] ^= 0x10;
    expect("corrupted block header of", p);
    free(launder(p));
    survived();
    return 0;
}
