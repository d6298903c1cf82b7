/* glibc's perturb byte: mallopt(M_PERTURB, v), MALLOC_PERTURB_=v and GLIBC_TUNABLES
 * glibc.malloc.perturb=v fill every new block's requested bytes with v ^ 0xff (calloc's
 * stay zero) and a freed block's bytes with v (past the first 16 bytes, where allocators
 * keep their links: glibc's fd/bk and tcache next/key, heapwise's cache link and mark). The
 * program reads freed memory on purpose: showing what a use after free would read is what
 * the option is for. The fills stay inside the block: small blocks side by side keep
 * their bytes when a neighbour is freed or grows, whatever their last words hold.
 *
 * Usage: b24_perturb            the mallopt form (on, then off again)
 *        b24_perturb env        the environment already set the byte to 165 (0xa5)
 *
 * glibc 2.36 fills only what goes through its bins: a block served by or freed into its
 * tcache (up to 1032 bytes) is not filled, so those expectations are CHECK_HW. */
#include "hw_test.h"
#include <malloc.h>

/* Whether bytes [from, to) of p all equal v. */
static int all(const unsigned char *p, size_t from, size_t to, unsigned char v)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

/* A new block of n bytes is filled with 0x5a; written and freed, it reads 0xa5 past its
 * first 16 bytes. hw_only: glibc does not fill it (its tcache serves it). */
static void new_and_freed(const char *how, size_t n, int hw_only)
{
    unsigned char *p = malloc(hw_sz(n));
    hw_vcheck(p && all(p, 0, n, 0x5a), hw_only, __FILE__, __LINE__, "new block",
              "%s: a new %zu-byte block is filled with 0x5a", how, n);
    if (!p)
        return;
    memset(p, 0x11, n);
    free(p);
    hw_vcheck(all(p, 16, n < 2000 ? n : 2000, 0xa5), hw_only, __FILE__, __LINE__, "freed block",
              "%s: a freed %zu-byte block reads 0xa5 past 16 bytes", how, n);
}

/* With the byte off: a block of n bytes written with v and freed still reads v past its
 * first 16 bytes. */
static void freed_keeps(size_t n, unsigned char v)
{
    unsigned char *p = malloc(hw_sz(n));
    CHECK(p != NULL, "malloc(%zu) after M_PERTURB 0", n);
    if (!p)
        return;
    memset(p, v, n);
    free(p);
    CHECK(all(p, 16, n < 2000 ? n : 2000, v),
          "with the byte off, free leaves a %zu-byte block's bytes", n);
}

/* Block i of n bytes: bytes 0x30 + i, and `last` in its last word. */
static void mark(unsigned char *p, size_t n, int i, uint64_t last)
{
    memset(p, 0x30 + i, n - 8);
    memcpy(p + n - 8, &last, 8);
}

static int marked(const unsigned char *p, size_t n, int i, uint64_t last)
{
    return all(p, 0, n - 8, (unsigned char)(0x30 + i)) && memcmp(p + n - 8, &last, 8) == 0;
}

/* The fill stays inside the block freed or grown, whatever the word before it holds. Small
 * blocks side by side, each ending in a word that reads as a block header (under
 * HEAPWISE_POLICY=compact-slab with HEAPWISE_HARDEN=off they are header-free slab objects,
 * and the word before one is the end of its neighbour): 0x101 (an allocated 256-byte
 * block) must not size the fill of a freed block, nor 0x21 (an allocated 32-byte block,
 * smaller than a 32- or 48-byte one) the new bytes of a growing one. */
static void neighbours(const char *how)
{
    enum { N = 64 };
    static const size_t sizes[] = {16, 32, 48};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        unsigned char *p[N];
        int ok = 1, bad = 0;
        for (int i = 0; i < N; i++) {
            p[i] = malloc(hw_sz(n));
            ok &= p[i] != NULL;
        }
        CHECK(ok, "%s: %d blocks of %zu bytes", how, N, n);
        if (!ok)
            return;
        for (int i = 0; i < N; i++)
            mark(p[i], n, i, 0x101);
        for (int i = 1; i < N; i += 2)
            free(p[i]);
        for (int i = 0; i < N; i += 2)
            bad += !marked(p[i], n, i, 0x101);
        CHECK(bad == 0, "%s: freeing every other %zu-byte block leaves the others (%d changed)",
              how, n, bad);
        for (int i = 1; i < N; i += 2) {
            p[i] = malloc(hw_sz(n));
            CHECK(p[i] != NULL, "%s: malloc(%zu) again", how, n);
            if (!p[i])
                return;
        }
        for (int i = 0; i < N; i++)
            mark(p[i], n, i, 0x21);
        bad = 0;
        for (int i = 0; i < N; i += 2) {
            unsigned char *q = realloc(p[i], hw_sz(200));
            CHECK(q != NULL, "%s: realloc(%zu -> 200)", how, n);
            if (!q)
                return;
            p[i] = q;
            bad += !marked(q, n, i, 0x21);
        }
        for (int i = 1; i < N; i += 2)
            bad += !marked(p[i], n, i, 0x21);
        CHECK(bad == 0, "%s: growing every other %zu-byte block keeps every block's bytes (%d changed)",
              how, n, bad);
        for (int i = 0; i < N; i++)
            free(p[i]);
    }
}

/* What the perturb byte 0xa5 gives: new bytes 0x5a, freed bytes 0xa5. */
static void filled(const char *how)
{
    /* A size nothing has used yet: glibc serves it from its top chunk (through its bins). */
    new_and_freed(how, 3000, 0);
    new_and_freed(how, 64, 1);

    unsigned char *c = calloc(hw_sz(100), 10);
    CHECK(c && all(c, 0, 1000, 0), "%s: calloc's block stays zero", how);
    free(c);

    /* Growth: the kept bytes stay, the new ones are 0x5a. */
    unsigned char *r = malloc(hw_sz(40));
    CHECK(r != NULL, "%s: malloc(40)", how);
    if (!r)
        return;
    memset(r, 1, 40);
    size_t old = malloc_usable_size(r);
    unsigned char *g = realloc(r, hw_sz(5000));
    CHECK(g && all(g, 0, 40, 1), "%s: realloc keeps the first 40 bytes", how);
    CHECK_HW(g && all(g, old, 5000, 0x5a), "%s: realloc's new bytes [%zu, 5000) are 0x5a", how,
             old);
    free(g);
    neighbours(how);
}

int main(int argc, char **argv)
{
    hw_begin("b24_perturb");
    if (argc > 1 && strcmp(argv[1], "env") == 0) {
        filled("environment");
        return hw_finish();
    }
    CHECK(mallopt(M_PERTURB, 0xa5) == 1, "M_PERTURB 0xa5 accepted");
    filled("mallopt");

    /* Off again: a freed block keeps what the program wrote (past the links). */
    CHECK(mallopt(M_PERTURB, 0) == 1, "M_PERTURB 0 accepted");
    freed_keeps(3000, 0x22);
    freed_keeps(64, 0x44);
    return hw_finish();
}
