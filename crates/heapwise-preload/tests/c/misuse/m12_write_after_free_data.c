/* 12. a write after free into a freed block's data (HEAPWISE_HARDEN=full: junk fill checked
 * when the block leaves the quarantine) */
#include "misuse.h"
#define N 600
int main(void) {
    char *p = malloc(100);
    void *other[N];
    for (int i = 0; i < N; i++) other[i] = malloc(100);
    free(p);
    ((char *)launder(p))[50] = 0x78;
    expect("write after free of", p);
    for (int i = 0; i < N; i++) free(other[i]);
    survived();
    return 0;
}
