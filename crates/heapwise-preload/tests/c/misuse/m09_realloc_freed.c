/* 9. realloc of a freed pointer */
#include "misuse.h"
int main(void) {
    char *p = malloc(40);
    free(p);
    expect("use after free of", p);
    p = realloc(launder(p), 80);
    survived();
    return p != 0;
}
