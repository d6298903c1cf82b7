/* 4. free of an interior pointer */
#include "misuse.h"
int main(void) {
    char *p = malloc(100);
    memset(p, 0x5a, 100);
    expect("invalid pointer of", p + 32);
    free(launder(p + 32));
    survived();
    return 0;
}
