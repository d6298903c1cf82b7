/* Behaviour 7: reallocarray overflow -> NULL, ENOMEM, p intact; reallocarray(NULL,0,16) non-NULL
 * with errno untouched. */
#include "hw_test.h"

int main(void)
{
    hw_begin("b07_reallocarray");
    CHECK_NULL_ERRNO(reallocarray(NULL, hw_sz(SIZE_MAX), hw_sz(2)), ENOMEM);
    CHECK_NULL_ERRNO(reallocarray(NULL, hw_sz(HW_HALF * 2), hw_sz(HW_HALF / 2)), ENOMEM);

    unsigned char *p = malloc(hw_sz(300));
    hw_fill_check(p, 300, 5);
    errno = 0;
    void *r = reallocarray(p, hw_sz(2), hw_sz(SIZE_MAX));
    int e = errno;
    CHECK(r == NULL && e == ENOMEM, "reallocarray(p,2,SIZE_MAX) -> %p errno=%d", r, e);
    CHECK(hw_pattern_ok(p, 300, 5), "p intact");
    errno = 0;
    r = reallocarray(p, hw_sz(SIZE_MAX / 4), hw_sz(8));
    e = errno;
    CHECK(r == NULL && e == ENOMEM, "reallocarray(p,SIZE_MAX/4,8) -> %p errno=%d", r, e);
    CHECK(hw_pattern_ok(p, 300, 5), "p intact");

    errno = 999;
    void *z = reallocarray(NULL, hw_sz(0), hw_sz(16));
    CHECK(z != NULL && errno == 999, "reallocarray(NULL,0,16) = %p errno=%d", z, errno);
    free(z);

    unsigned char *q = reallocarray(p, hw_sz(100), hw_sz(40));
    CHECK(q && hw_pattern_ok(q, 300, 5), "reallocarray(p,100,40) grows keeping data");
    unsigned char *s = reallocarray(q, hw_sz(10), hw_sz(10));
    CHECK(s && hw_pattern_ok(s, 100, 5), "reallocarray(p,10,10) shrinks keeping data");
    free(s);
    return hw_finish();
}
