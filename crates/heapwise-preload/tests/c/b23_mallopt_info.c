/* glibc's tuning and reporting calls: mallopt (M_MMAP_THRESHOLD, M_MMAP_MAX, M_TRIM_THRESHOLD,
 * M_ARENA_MAX, M_MXFAST and parameters without an effect) and malloc_info's XML, as
 * glibc 2.36 answers them.
 *
 * Usage: b23_mallopt_info [threads | nommap]
 *   with a number, only the arena part runs: N threads allocate at once, then the program
 *   prints the number of <heap> elements of malloc_info as "heaps: N" (the harness runs it
 *   with HEAPWISE_ARENAS=per-thread and with and without MALLOC_ARENA_MAX / M_ARENA_MAX);
 *   with "nommap", only the check that the environment turned mappings off runs (the harness
 *   runs it with MALLOC_MMAP_MAX_=0 and GLIBC_TUNABLES=glibc.malloc.mmap_max=0). */
#include "hw_test.h"
#include <malloc.h>
#include <pthread.h>

/* Large blocks the allocator has mapped now (mallinfo2's hblks). */
static size_t mapped_blocks(void) { return mallinfo2().hblks; }

/* malloc_info's output in a malloc'd string (open_memstream allocates through malloc). */
static char *info_xml(int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    *rc = malloc_info(0, f);
    fclose(f);
    return buf;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Sum of an attribute over the elements that start with `open` (e.g. `<size `). */
static unsigned long long sum_attr(const char *s, const char *open, const char *attr, const char *stop)
{
    unsigned long long sum = 0;
    const char *end = stop ? strstr(s, stop) : NULL;
    for (const char *p = s; (p = strstr(p, open)) != NULL && (!end || p < end); p++) {
        const char *a = strstr(p, attr);
        if (a)
            sum += strtoull(a + strlen(attr), NULL, 10);
    }
    return sum;
}

static pthread_barrier_t barrier;

static void *worker(void *arg)
{
    void *p[64];
    (void)arg;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++)
            p[i] = malloc(hw_sz(16 + (size_t)(i * 24)));
        for (int i = 0; i < 64; i++)
            free(p[i]);
    }
    pthread_barrier_wait(&barrier); /* every thread is attached before any exits */
    void *keep = malloc(hw_sz(100));
    pthread_barrier_wait(&barrier);
    free(keep);
    return NULL;
}

static int arenas_part(int threads, int arena_max)
{
    pthread_t t[16];
    if (threads > 16)
        threads = 16;
    if (arena_max > 0)
        CHECK(mallopt(M_ARENA_MAX, arena_max) == 1, "mallopt(M_ARENA_MAX, %d)", arena_max);
    pthread_barrier_init(&barrier, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    pthread_barrier_wait(&barrier);
    int rc = -1;
    char *xml = info_xml(&rc);
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    CHECK(xml && rc == 0, "malloc_info with %d threads: rc %d", threads, rc);
    printf("heaps: %d\n", xml ? count(xml, "<heap nr=") : -1);
    free(xml);
    return hw_finish();
}

/* The environment said mmap_max 0: even a 4 MiB request comes from the heap, until
 * mallopt(M_MMAP_MAX) brings the mappings back. */
static int nommap_part(void)
{
    size_t m0 = mapped_blocks();
    char *a = malloc(hw_sz(4 << 20));
    CHECK(a && hw_fill_check(a, 4 << 20, 5), "4 MiB block usable");
    CHECK(mapped_blocks() == m0, "mmap_max 0 from the environment: from the heap (%zu -> %zu)", m0,
          mapped_blocks());
    free(a);
    CHECK(mallopt(M_MMAP_MAX, 65536) == 1, "M_MMAP_MAX 65536 accepted");
    m0 = mapped_blocks();
    a = malloc(hw_sz(4 << 20));
    CHECK(a && mapped_blocks() == m0 + 1, "mappings again (%zu -> %zu)", m0, mapped_blocks());
    free(a);
    return hw_finish();
}

int main(int argc, char **argv)
{
    hw_begin("b23_mallopt_info");
    if (argc > 1 && strcmp(argv[1], "nommap") == 0)
        return nommap_part();
    if (argc > 1)
        return arenas_part(atoi(argv[1]), argc > 2 ? atoi(argv[2]) : 0);

    /* M_MMAP_THRESHOLD: lowered, a 100 KB request gets a mapping of its own (glibc maps
     * only when its top chunk cannot serve, so this is heapwise's contract only). */
    CHECK(mallopt(M_MMAP_THRESHOLD, 64 * 1024) == 1, "M_MMAP_THRESHOLD 64 KiB accepted");
    size_t m0 = mapped_blocks();
    char *a = malloc(hw_sz(100000));
    CHECK(a && hw_fill_check(a, 100000, 3), "100 KB block usable");
    CHECK_HW(mapped_blocks() == m0 + 1, "below the default threshold, above the set one: mapped (%zu -> %zu)",
             m0, mapped_blocks());
    char *b = realloc(a, hw_sz(150000));
    CHECK(b && hw_pattern_ok(b, 100000, 3), "realloc of it keeps the data");
    free(b);
    CHECK_HW(mapped_blocks() == m0, "freed: %zu mapped", mapped_blocks());

    /* Raised to 1 MiB, a 512 KiB request comes from the heap. */
    CHECK(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1, "M_MMAP_THRESHOLD 1 MiB accepted");
    m0 = mapped_blocks();
    a = malloc(hw_sz(512 * 1024));
    CHECK(a && hw_fill_check(a, 512 * 1024, 4), "512 KiB block usable");
    CHECK_HW(mapped_blocks() == m0, "below the raised threshold: from the heap (%zu -> %zu)", m0,
             mapped_blocks());
    b = malloc(hw_sz(2 << 20));
    CHECK_HW(b && mapped_blocks() == m0 + 1, "above it: mapped (%zu -> %zu)", m0, mapped_blocks());
    free(a);
    free(b);

    /* A negative threshold is SIZE_MAX for glibc (2.36 accepts any value): no mappings. */
    CHECK(mallopt(M_MMAP_THRESHOLD, -1) == 1, "M_MMAP_THRESHOLD -1 accepted");
    m0 = mapped_blocks();
    a = malloc(hw_sz(3 << 20));
    CHECK(a && hw_fill_check(a, 3 << 20, 9), "3 MiB block usable");
    CHECK(mapped_blocks() == m0, "M_MMAP_THRESHOLD -1: from the heap (%zu -> %zu)", m0, mapped_blocks());
    free(a);

    /* M_MMAP_MAX 0: no mappings, the heap serves even a 4 MiB request; then mappings again. */
    CHECK(mallopt(M_MMAP_MAX, 0) == 1, "M_MMAP_MAX 0 accepted");
    m0 = mapped_blocks();
    a = malloc(hw_sz(4 << 20));
    CHECK(a && hw_fill_check(a, 4 << 20, 5), "4 MiB block usable");
    CHECK(mapped_blocks() == m0, "M_MMAP_MAX 0: from the heap (%zu -> %zu)", m0, mapped_blocks());
    free(a);
    /* A threshold set while mappings are off takes effect when they are back. */
    CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1, "M_MMAP_THRESHOLD 128 KiB");
    a = malloc(hw_sz(2 << 20));
    CHECK(a && hw_fill_check(a, 2 << 20, 10) && mapped_blocks() == m0,
          "mappings still off: 2 MiB from the heap (%zu -> %zu)", m0, mapped_blocks());
    free(a);
    CHECK(mallopt(M_MMAP_MAX, 65536) == 1, "M_MMAP_MAX 65536 accepted");
    m0 = mapped_blocks();
    a = malloc(hw_sz(4 << 20));
    CHECK(a && mapped_blocks() == m0 + 1, "mappings again (%zu -> %zu)", m0, mapped_blocks());
    free(a);
    /* A negative M_MMAP_MAX turns them off too (glibc maps while its count of mappings is
     * below the value, never below a negative one). */
    CHECK(mallopt(M_MMAP_MAX, -1) == 1, "M_MMAP_MAX -1 accepted");
    m0 = mapped_blocks();
    a = malloc(hw_sz(4 << 20));
    CHECK(a && hw_fill_check(a, 4 << 20, 11), "4 MiB block usable");
    CHECK(mapped_blocks() == m0, "M_MMAP_MAX -1: from the heap (%zu -> %zu)", m0, mapped_blocks());
    free(a);
    CHECK(mallopt(M_MMAP_MAX, 65536) == 1, "M_MMAP_MAX 65536 again");

    /* M_TRIM_THRESHOLD: accepted, -1 too (no trimming); the heaps stay usable. (What the
     * threshold does is tested in the heapwise crate: tests/auto_trim.rs.) */
    CHECK(mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1, "M_TRIM_THRESHOLD 128 KiB accepted");
    CHECK(mallopt(M_TRIM_THRESHOLD, -1) == 1, "M_TRIM_THRESHOLD -1 accepted");
    a = malloc(hw_sz(200000));
    CHECK(a && hw_fill_check(a, 200000, 6), "heap block after the trim settings");
    free(a);

    /* M_MXFAST: glibc's limit (80 * sizeof(size_t) / 4); the rest are accepted. */
    CHECK(mallopt(M_MXFAST, 64) == 1, "M_MXFAST 64 accepted");
    CHECK(mallopt(M_MXFAST, 1000) == 0, "M_MXFAST 1000 refused");
    CHECK(mallopt(M_MXFAST, -1) == 0, "M_MXFAST -1 refused (a huge size_t for glibc)");
    CHECK(mallopt(M_TOP_PAD, 4096) == 1 && mallopt(M_CHECK_ACTION, 3) == 1 &&
              mallopt(M_ARENA_TEST, 8) == 1 && mallopt(M_PERTURB, 0) == 1,
          "M_TOP_PAD, M_CHECK_ACTION, M_ARENA_TEST, M_PERTURB accepted");
    CHECK(mallopt(M_ARENA_MAX, 4) == 1 && mallopt(M_ARENA_MAX, 0) == 1, "M_ARENA_MAX accepted");

    /* malloc_info: glibc's XML, with the large blocks as type="mmap". */
    void *live[8];
    int ok = 1;
    for (int i = 0; i < 8; i++) {
        live[i] = malloc(hw_sz(1000 * (size_t)(i + 1)));
        ok &= live[i] && hw_fill_check(live[i], 1000, 7);
    }
    void *big = malloc(hw_sz(1 << 20));
    CHECK(ok && big && hw_fill_check(big, 1 << 20, 8), "blocks for malloc_info");
    for (int i = 0; i < 8; i += 2)
        free(live[i]); /* free blocks in the heap */
    int rc = -1;
    char *xml = info_xml(&rc);
    CHECK(xml && rc == 0, "malloc_info(0, f) = %d", rc);
    if (xml) {
        CHECK(strncmp(xml, "<malloc version=\"1\">\n", 21) == 0, "starts with <malloc version=\"1\">");
        CHECK(strstr(xml, "</malloc>\n") && strlen(strstr(xml, "</malloc>\n")) == 10, "ends with </malloc>");
        CHECK(strstr(xml, "<heap nr=\"0\">") != NULL, "arena 0 is <heap nr=\"0\">");
        CHECK(count(xml, "<heap nr=") == count(xml, "</heap>") &&
                  count(xml, "<sizes>") == count(xml, "</sizes>"),
              "elements balanced");
        const char *mm = strstr(xml, "<total type=\"mmap\" count=\"");
        unsigned long long mcount = mm ? strtoull(mm + 26, NULL, 10) : 0;
        CHECK(mm && mcount >= 1, "large blocks as type=\"mmap\": count %llu", mcount);
        /* heapwise: a heap's <size> ranges add up to its free blocks ("rest"). */
        const char *h0 = strstr(xml, "<heap nr=\"0\">");
        if (h0) {
            unsigned long long sizes = sum_attr(h0, "<size ", "count=\"", "</heap>");
            unsigned long long bytes = sum_attr(h0, "<size ", "total=\"", "</heap>");
            const char *rest = strstr(h0, "<total type=\"rest\" count=\"");
            unsigned long long rc_ = rest ? strtoull(rest + 26, NULL, 10) : 0;
            const char *rs = rest ? strstr(rest, "size=\"") : NULL;
            unsigned long long rb = rs ? strtoull(rs + 6, NULL, 10) : 0;
            CHECK_HW(sizes == rc_ && bytes == rb && rc_ >= 1,
                     "heap 0: <size> ranges count %llu blocks / %llu bytes, rest %llu / %llu", sizes,
                     bytes, rc_, rb);
        }
        free(xml);
    }
    CHECK(malloc_info(1, stdout) == EINVAL, "malloc_info(1, f) = EINVAL");
    for (int i = 1; i < 8; i += 2)
        free(live[i]);
    free(big);
    return hw_finish();
}
