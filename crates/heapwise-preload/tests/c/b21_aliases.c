/* Behaviour 21: the family's other names. glibc's public __libc_malloc, __libc_calloc,
 * __libc_realloc, __libc_free, __libc_memalign, __libc_valloc and __libc_pvalloc, and C23's
 * free_sized and free_aligned_sized, are the same allocator as malloc/free: blocks pass
 * freely between the two sets of names, and (under heapwise) each name resolves into the
 * library and its calls show in heapwise's counters.
 *
 * The names are looked up with dlsym, so the program also runs on glibc 2.36, which has the
 * __libc_* names but not the C23 ones (reported as notes there). */
#include "hw_test.h"
#include <malloc.h>

typedef void *(*malloc_fn)(size_t);
typedef void *(*calloc_fn)(size_t, size_t);
typedef void *(*realloc_fn)(void *, size_t);
typedef void (*free_fn)(void *);
typedef void *(*memalign_fn)(size_t, size_t);
typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);

/* The address of `name` in the process, and whether it lies in heapwise's library. */
static void *lookup(const char *name, int *in_heapwise)
{
    Dl_info info;
    void *f = dlsym(RTLD_DEFAULT, name);
    *in_heapwise = f && dladdr(f, &info) && info.dli_fname && strstr(info.dli_fname, "heapwise");
    return f;
}

int main(void)
{
    hw_begin("b21_aliases");
    static const char *const names[] = {"__libc_malloc",  "__libc_calloc", "__libc_realloc",
                                        "__libc_free",    "__libc_memalign", "__libc_valloc",
                                        "__libc_pvalloc", "free_sized",    "free_aligned_sized"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int hw;
        void *f = lookup(names[i], &hw);
        CHECK_HW(f && hw, "%s resolves into heapwise's library (%p)", names[i], f);
    }

    int hw;
    malloc_fn lmalloc = (malloc_fn)lookup("__libc_malloc", &hw);
    calloc_fn lcalloc = (calloc_fn)lookup("__libc_calloc", &hw);
    realloc_fn lrealloc = (realloc_fn)lookup("__libc_realloc", &hw);
    free_fn lfree = (free_fn)lookup("__libc_free", &hw);
    memalign_fn lmemalign = (memalign_fn)lookup("__libc_memalign", &hw);
    malloc_fn lvalloc = (malloc_fn)lookup("__libc_valloc", &hw);
    malloc_fn lpvalloc = (malloc_fn)lookup("__libc_pvalloc", &hw);
    CHECK(lmalloc && lcalloc && lrealloc && lfree && lmemalign && lvalloc && lpvalloc,
          "every __libc_* name exists");
    if (!(lmalloc && lcalloc && lrealloc && lfree && lmemalign && lvalloc && lpvalloc))
        return hw_finish();
    long page = sysconf(_SC_PAGESIZE);

    /* Blocks of the __libc_* names go to free/realloc and the other way round. */
    for (int round = 0; round < 200; round++) {
        size_t n = hw_sz(16 + (size_t)round * 37);
        unsigned char *a = lmalloc(n);
        if (!a || malloc_usable_size(a) < n || !hw_fill_check(a, n, (unsigned)round))
            CHECK(0, "__libc_malloc(%zu) round %d: %p", n, round, (void *)a);
        a = realloc(a, n * 2);
        if (!a || a[0] != (unsigned char)round)
            CHECK(0, "realloc of a __libc_malloc block, round %d", round);
        free(a);
        unsigned char *b = malloc(n);
        if (!b || !hw_fill_check(b, n, (unsigned)round + 1))
            CHECK(0, "malloc(%zu) round %d", n, round);
        b = lrealloc(b, n + 100);
        if (!b || b[0] != (unsigned char)(round + 1))
            CHECK(0, "__libc_realloc keeps the bytes, round %d", round);
        lfree(b);
    }
    CHECK(1, "200 rounds of __libc_malloc -> realloc -> free and malloc -> __libc_realloc -> __libc_free");

    unsigned char *z = lcalloc(hw_sz(100), hw_sz(40));
    int zeroed = z != NULL;
    for (size_t i = 0; z && i < 4000; i++)
        zeroed &= z[i] == 0;
    CHECK(zeroed, "__libc_calloc(100, 40) is zeroed");
    free(z);
    errno = 0;
    void *over = lcalloc(hw_sz(SIZE_MAX / 2), hw_sz(3));
    CHECK(over == NULL && errno == ENOMEM, "__libc_calloc overflow -> NULL, ENOMEM (errno %d)", errno);

    void *m = lmemalign(hw_sz(256), hw_sz(1000));
    CHECK(m && (uintptr_t)m % 256 == 0, "__libc_memalign(256, 1000) = %p", m);
    free(m);
    void *v = lvalloc(hw_sz(100));
    CHECK(v && (uintptr_t)v % (uintptr_t)page == 0, "__libc_valloc(100) = %p is page-aligned", v);
    lfree(v);
    void *pv = lpvalloc(hw_sz(1));
    CHECK(pv && (uintptr_t)pv % (uintptr_t)page == 0 && malloc_usable_size(pv) >= (size_t)page,
          "__libc_pvalloc(1) = %p, a whole page (usable %zu)", pv, pv ? malloc_usable_size(pv) : 0);
    free(pv);
    lfree(NULL);

    /* C23 sized deallocation. */
    free_sized_fn fs = (free_sized_fn)lookup("free_sized", &hw);
    free_aligned_sized_fn fas = (free_aligned_sized_fn)lookup("free_aligned_sized", &hw);
    CHECK_HW(fs && fas, "free_sized %p and free_aligned_sized %p exist", (void *)fs, (void *)fas);
    if (fs && fas) {
        struct heapwise_stats s0, s1;
        int counted = hw_stats(&s0) == 0;
        for (int i = 0; i < 100; i++) {
            size_t n = hw_sz(8 + (size_t)i * 24);
            fs(malloc(n), n);
            void *a = aligned_alloc(hw_sz(64), hw_sz(128));
            if (!a || (uintptr_t)a % 64)
                CHECK(0, "aligned_alloc(64, 128) = %p", a);
            fas(a, 64, 128);
        }
        fs(NULL, 0);
        fas(NULL, 64, 0);
        if (counted && hw_stats(&s1) == 0)
            CHECK(s1.frees >= s0.frees + 200, "200 sized frees counted as frees (%llu -> %llu)",
                  (unsigned long long)s0.frees, (unsigned long long)s1.frees);
        CHECK(1, "free_sized / free_aligned_sized of 100 blocks each, and of NULL");
    }
    return hw_finish();
}
