/* 8. a write after free over a freed block's list links, caught before the corrupted link
 * is followed. Blocks are separated by live guards so that nothing coalesces; enough other
 * blocks are freed after `victim` that it has left the quarantine and sits in a free list. */
#include "misuse.h"
#define N 400
int main(void) {
    void *blk[N], *guard[N];
    for (int i = 0; i < N; i++) {
        blk[i] = malloc(64);
        guard[i] = malloc(64);
    }
    char *victim = blk[0];
    for (int i = 0; i < N; i++) free(blk[i]);
    expect("corrupted free block (write after free or overflow) of", victim);
    memset(launder(victim), 'A', 16); /* the next/prev links */
    for (int i = 0; i < N; i++) blk[i] = malloc(64);
    survived();
    for (int i = 0; i < N; i++) free(guard[i]);
    return 0;
}
