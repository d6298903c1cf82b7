/* Behaviour 8: posix_memalign error and alignment semantics. */
#include "hw_test.h"

#define SENTINEL ((void *)0x1234)

int main(void)
{
    hw_begin("b08_posix_memalign");
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    /* Not powers of two, or below sizeof(void *) (4 is one on 64-bit targets only). */
    static const size_t bad[] = {0, 3, sizeof(void *) / 2, 24, 12, 48, 1, 2};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = SENTINEL;
        int rc = posix_memalign(&p, hw_sz(bad[i]), hw_sz(64));
        CHECK(rc == EINVAL && p == SENTINEL, "posix_memalign(&p,%zu,64) = %d, *memptr %p", bad[i],
              rc, p);
    }
    void *p = SENTINEL;
    int rc = posix_memalign(&p, hw_sz(8), hw_sz(0));
    CHECK(rc == 0 && p != SENTINEL, "posix_memalign(&p,8,0) = %d, p=%p", rc, p);
    if (rc == 0)
        free(p);

    static const size_t huge[] = {SIZE_MAX, 0, SIZE_MAX - 8};
    for (size_t i = 0; i < 3; i++) {
        size_t sz = i == 1 ? (size_t)0 - pg : huge[i];
        for (size_t al = 8; al <= 4096; al *= 8) {
            p = SENTINEL;
            rc = posix_memalign(&p, hw_sz(al), hw_sz(sz));
            CHECK(rc == ENOMEM && p == SENTINEL, "posix_memalign(&p,%zu,%#zx) = %d, *memptr %p",
                  al, sz, rc, p);
        }
    }

    int bad_align = 0, fails = 0, lost = 0;
    for (size_t al = 8; al <= (64u << 20); al *= 2) {
        size_t sizes[3] = {1, 100, al};
        void *blocks[3];
        for (int k = 0; k < 3; k++) {
            blocks[k] = NULL;
            rc = posix_memalign(&blocks[k], hw_sz(al), hw_sz(sizes[k]));
            if (rc != 0 || blocks[k] == NULL) {
                fails++;
                printf("# posix_memalign(&p,%zu,%zu) = %d\n", al, sizes[k], rc);
                continue;
            }
            if ((uintptr_t)blocks[k] % al) {
                bad_align++;
                printf("# posix_memalign(&p,%zu,%zu) = %p misaligned\n", al, sizes[k], blocks[k]);
            }
            size_t n = sizes[k] > 4096 ? 4096 : sizes[k];
            if (!hw_fill_check(blocks[k], n, (unsigned)al) ||
                !hw_fill_check((char *)blocks[k] + sizes[k] - n, n, 3))
                lost++;
        }
        for (int k = 0; k < 3; k++)
            free(blocks[k]);
    }
    CHECK(fails == 0, "%d failures for alignments 8 B .. 64 MiB", fails);
    CHECK(bad_align == 0, "%d misaligned blocks", bad_align);
    CHECK(lost == 0, "%d blocks not fully writable", lost);
    return hw_finish();
}
