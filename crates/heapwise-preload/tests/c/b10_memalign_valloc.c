/* Behaviour 10: memalign, valloc, pvalloc. */
#include "hw_test.h"
#include <malloc.h>

int main(void)
{
    hw_begin("b10_memalign_valloc");
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    void *m = memalign(hw_sz(256), hw_sz(10));
    CHECK(m && (uintptr_t)m % 256 == 0, "memalign(256,10) = %p", m);
    free(m);
    CHECK_NULL_ERRNO(memalign(hw_sz(SIZE_MAX), hw_sz(pg)), EINVAL);
    CHECK_NULL_ERRNO(memalign(hw_sz(8), hw_sz(SIZE_MAX)), ENOMEM);
    CHECK_NULL_ERRNO(memalign(hw_sz(pg), hw_sz(0 - pg)), ENOMEM);
    void *z = memalign(hw_sz(64), hw_sz(0));
    CHECK(z != NULL && (uintptr_t)z % 64 == 0, "memalign(64,0) = %p", z);
    free(z);
    for (size_t al = 16; al <= (1u << 21); al *= 4) {
        void *p = memalign(hw_sz(al), hw_sz(al + 1));
        CHECK(p && (uintptr_t)p % al == 0, "memalign(%zu,%zu) = %p", al, al + 1, p);
        if (p)
            CHECK(hw_fill_check(p, al + 1, 2), "memalign(%zu,%zu) writable", al, al + 1);
        free(p);
    }

    void *v = valloc(hw_sz(100));
    CHECK(v && (uintptr_t)v % pg == 0, "valloc(100) = %p", v);
    free(v);
    void *v0 = valloc(hw_sz(0));
    CHECK(v0 != NULL, "valloc(0) = %p", v0);
    free(v0);
    void *pv = pvalloc(hw_sz(32));
    CHECK(pv && (uintptr_t)pv % pg == 0, "pvalloc(32) = %p", pv);
    CHECK(pv && malloc_usable_size(pv) >= pg, "pvalloc(32) usable %zu >= %zu",
          pv ? malloc_usable_size(pv) : 0, pg);
    if (pv)
        CHECK(hw_fill_check(pv, pg, 4), "a whole page writable");
    free(pv);
    void *pv0 = pvalloc(hw_sz(0));
    CHECK(pv0 != NULL, "pvalloc(0) = %p", pv0);
    free(pv0);
    void *pv3 = pvalloc(hw_sz(3 * pg + 1));
    CHECK(pv3 && (uintptr_t)pv3 % pg == 0 && malloc_usable_size(pv3) >= 4 * pg,
          "pvalloc(3pg+1) = %p usable %zu", pv3, pv3 ? malloc_usable_size(pv3) : 0);
    free(pv3);
    CHECK_NULL_ERRNO(valloc(hw_sz(SIZE_MAX)), ENOMEM);
    CHECK_NULL_ERRNO(valloc(hw_sz(0 - pg)), ENOMEM);
    CHECK_NULL_ERRNO(pvalloc(hw_sz(SIZE_MAX)), ENOMEM);
    CHECK_NULL_ERRNO(pvalloc(hw_sz(0 - pg)), ENOMEM);
    return hw_finish();
}
