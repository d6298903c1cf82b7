/* 16. write after free of a pointer into the first word of a small block in a thread cache,
 * then a trim that returns the cache's blocks to the heap: the forged link is reported and
 * never followed (before the cache mark bound the link, the flush wrote through it, zeroing
 * a word of an unrelated global, and then named that global as an invalid pointer). */
#include "misuse.h"
static long target[4] = {0x1111, 0x2222, 0x3333, 0x4444};
int main(void) {
    void **p = malloc(24);
    free(p);
    expect("corrupted free block (write after free or overflow) of", p);
    ((void **)launder(p))[0] = &target[1];
    malloc_trim(0);
    printf("target: %lx %lx %lx %lx\n", target[0], target[1], target[2], target[3]);
    survived();
    return 0;
}
