/* Behaviour 9: aligned_alloc(64,64), (1,64), (16,10) succeed; alignment 0, 65 or SIZE_MAX/2+1
 * -> NULL with EINVAL (C17 DR 460, glibc >= 2.38; glibc 2.36 accepts 0 and 65, and gives
 * ENOMEM for SIZE_MAX/2+1). */
#include "hw_test.h"

int main(void)
{
    hw_begin("b09_aligned_alloc");
    void *a = aligned_alloc(hw_sz(64), hw_sz(64));
    CHECK(a && (uintptr_t)a % 64 == 0, "aligned_alloc(64,64) = %p", a);
    if (a)
        CHECK(hw_fill_check(a, 64, 1), "writable");
    free(a);
    void *b = aligned_alloc(hw_sz(1), hw_sz(64));
    CHECK(b != NULL, "aligned_alloc(1,64) = %p", b);
    free(b);
    void *c = aligned_alloc(hw_sz(16), hw_sz(10));
    CHECK(c && (uintptr_t)c % 16 == 0, "aligned_alloc(16,10) = %p", c);
    free(c);
    for (size_t al = 1; al <= (1u << 22); al *= 2) {
        void *p = aligned_alloc(hw_sz(al), hw_sz(al * 3));
        if (!p || (uintptr_t)p % al) {
            CHECK(0, "aligned_alloc(%zu,%zu) = %p", al, al * 3, p);
        }
        free(p);
    }
    CHECK(1, "aligned_alloc(2^k, 3*2^k) aligned for 2^0 .. 2^22");
    CHECK_NULL_ERRNO_HW(aligned_alloc(hw_sz(0), hw_sz(64)), EINVAL);
    CHECK_NULL_ERRNO_HW(aligned_alloc(hw_sz(65), hw_sz(64)), EINVAL);
    CHECK_NULL_ERRNO_HW(aligned_alloc(hw_sz(SIZE_MAX / 2 + 1), hw_sz(64)), EINVAL);
    CHECK_NULL_ERRNO_HW(aligned_alloc(hw_sz(24), hw_sz(64)), EINVAL);
    CHECK_NULL_ERRNO(aligned_alloc(hw_sz(64), hw_sz(SIZE_MAX)), ENOMEM);
    return hw_finish();
}
