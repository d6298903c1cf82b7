/* 5. free of a misaligned pointer */
#include "misuse.h"
int main(void) {
    char *p = malloc(100);
    expect("invalid pointer of", p + 1);
    free(launder(p + 1));
    survived();
    return 0;
}
