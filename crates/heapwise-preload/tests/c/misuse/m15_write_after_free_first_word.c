/* 15. write after free into the first word only of a small block in a thread cache (the most
 * common use after free: the first field of a freed struct): the cache's link lives there,
 * and the cache mark binds it, so the corruption is reported before the link is followed. */
#include "misuse.h"
struct node {
    long value;
    struct node *next;
};
int main(void) {
    struct node *n = malloc(sizeof *n);
    free(n);
    expect("corrupted free block (write after free or overflow) of", n);
    ((struct node *)launder(n))->value = 42;
    for (int i = 0; i < 100; i++)
        free(malloc(sizeof *n));
    survived();
    return 0;
}
