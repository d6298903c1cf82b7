/* 6. free of a stack pointer */
#include "misuse.h"
int main(void) {
    _Alignas(16) char buf[64];
    memset(buf, 0, sizeof buf);
    expect("invalid pointer of", buf + 16);
    free(launder(buf + 16));
    survived();
    return buf[0];
}
