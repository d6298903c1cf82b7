/* Behaviour 1: malloc(0) x3 -> three distinct non-NULL pointers, each freeable. */
#include "hw_test.h"

int main(void)
{
    hw_begin("b01_malloc_zero");
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = malloc(hw_sz(0));
        CHECK(p[i] != NULL, "malloc(0) #%d = %p", i, p[i]);
    }
    CHECK(p[0] != p[1] && p[0] != p[2] && p[1] != p[2], "%p %p %p", p[0], p[1], p[2]);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    /* Freed zero-size blocks are reusable: many rounds neither fail nor collide. */
    int distinct = 1;
    for (int r = 0; r < 1000; r++) {
        void *a = malloc(hw_sz(0)), *b = malloc(hw_sz(0));
        if (!a || !b || a == b)
            distinct = 0;
        free(a);
        free(b);
    }
    CHECK(distinct, "1000 rounds of two live malloc(0) gave distinct non-NULL pointers");
    return hw_finish();
}
