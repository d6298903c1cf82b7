/* hw_test.h - tiny check framework shared by the heapwise conformance programs.
 *
 * Owns: the CHECK macros, the one summary line every program prints, and the proof that the
 * process's malloc is really heapwise's (so a preload that silently does not load fails).
 *
 * Conventions every program keeps:
 * - each check prints one line, "ok - ..." or "FAIL - file:line: ... (details)";
 * - hw_finish() prints "allocator: <heapwise|other> (<library file>)" and
 *   "RESULT <name>: N checks, M failed" and returns the exit status (0 only when M == 0);
 * - with HW_EXPECT_HEAPWISE=1 in the environment (the Rust harness sets it), malloc must resolve
 *   into a library whose file name contains "heapwise", otherwise hw_finish() fails;
 * - CHECK_HW marks expectations of the heapwise spec that glibc 2.36 does not meet (C17 DR 460
 *   for aligned_alloc, ...): enforced when heapwise serves the process, reported as
 *   "note - glibc differs" otherwise;
 * - when heapwise serves the process, hw_finish() also requires heapwise_stats() to show
 *   operations and heapwise_check() (the heap checker over every heap) to pass at exit;
 *   the heapwise_* API (include/heapwise.h) is looked up with dlsym, so the same program
 *   runs on glibc;
 * - stdout is unbuffered, so that output survives a crash and the order of lines is the order
 *   of events (and printing allocates nothing after the first line).
 */
#ifndef HW_TEST_H
#define HW_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heapwise.h"

/* Opaque sizes the compiler cannot fold (so it neither warns nor "optimises" the call). */
static volatile size_t hw_opaque_zero = 0;
__attribute__((unused)) static size_t hw_sz(size_t v) { return v + hw_opaque_zero; }

/* 2^(bits/2) of a size_t (2^32 on 64-bit targets, 2^16 on 32-bit ones): the product of two
 * of them, or of twice one and half another, overflows. */
#define HW_HALF ((size_t)1 << (sizeof(size_t) * 4))

/* The process's resident set in KiB, from /proc/self/statm (0 if it cannot be read). */
__attribute__((unused)) static long hw_rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int hw_checks, hw_failures, hw_notes;
static const char *hw_name = "?";

static void hw_vcheck(int ok, int hw_only, const char *file, int line, const char *what,
                      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int hw_malloc_is_heapwise(const char **lib)
{
    Dl_info info;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    *lib = "?";
    if (m == NULL || dladdr(m, &info) == 0 || info.dli_fname == NULL)
        return 0;
    *lib = info.dli_fname;
    return strstr(info.dli_fname, "heapwise") != NULL;
}

static int hw_is_heapwise(void)
{
    static int cached = -1;
    if (cached < 0) {
        const char *lib;
        cached = hw_malloc_is_heapwise(&lib);
    }
    return cached;
}

static void hw_begin(const char *name)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    hw_name = name;
    printf("# %s\n", name);
}

static void hw_vcheck(int ok, int hw_only, const char *file, int line, const char *what,
                      const char *fmt, ...)
{
    char details[512];
    va_list ap;
    details[0] = 0;
    if (fmt) {
        va_start(ap, fmt);
        vsnprintf(details, sizeof details, fmt, ap);
        va_end(ap);
    }
    hw_checks++;
    if (ok) {
        printf("ok - %s%s%s%s\n", what, details[0] ? " (" : "", details, details[0] ? ")" : "");
    } else if (hw_only && !hw_is_heapwise()) {
        hw_notes++;
        printf("note - glibc differs, not enforced: %s:%d: %s (%s)\n", file, line, what, details);
    } else {
        hw_failures++;
        printf("FAIL - %s:%d: %s (%s)\n", file, line, what, details);
    }
}

/* CHECK(cond, "fmt", args...) : details are printed in both cases. */
#define CHECK(cond, ...) hw_vcheck(!!(cond), 0, __FILE__, __LINE__, #cond, __VA_ARGS__)
#define CHECK_HW(cond, ...) hw_vcheck(!!(cond), 1, __FILE__, __LINE__, #cond, __VA_ARGS__)

/* A result that must be NULL with errno == e (errno is reset to 0 before the call). */
#define CHECK_NULL_ERRNO(expr, e)                                                              \
    do {                                                                                      \
        errno = 0;                                                                            \
        void *hw_p_ = (expr);                                                                 \
        int hw_e_ = errno;                                                                    \
        hw_vcheck(hw_p_ == NULL && hw_e_ == (e), 0, __FILE__, __LINE__, #expr " -> NULL, " #e, \
                  "got %p errno=%d (%s)", hw_p_, hw_e_, strerror(hw_e_));                     \
        if (hw_p_)                                                                            \
            free(hw_p_);                                                                      \
    } while (0)

#define CHECK_NULL_ERRNO_HW(expr, e)                                                           \
    do {                                                                                      \
        errno = 0;                                                                            \
        void *hw_p_ = (expr);                                                                 \
        int hw_e_ = errno;                                                                    \
        hw_vcheck(hw_p_ == NULL && hw_e_ == (e), 1, __FILE__, __LINE__, #expr " -> NULL, " #e, \
                  "got %p errno=%d (%s)", hw_p_, hw_e_, strerror(hw_e_));                     \
        if (hw_p_)                                                                            \
            free(hw_p_);                                                                      \
    } while (0)

/* Writes every byte of [p, p+n) and reads it back; returns 1 when all bytes held. */
__attribute__((unused)) static int hw_fill_check(void *p, size_t n, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(seed + i * 131u);
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 131u))
            return 0;
    return 1;
}

__attribute__((unused)) static int hw_pattern_ok(const void *p, size_t n, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(seed + i * 131u))
            return 0;
    return 1;
}

/* The process's address space in use (/proc/self/statm), in bytes; 0 if unreadable. */
__attribute__((unused)) static size_t hw_vm_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            pages = 0;
        fclose(f);
    }
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* heapwise_stats() through dlsym: 0 and *out filled when heapwise is loaded, -1 otherwise. */
__attribute__((unused)) static int hw_stats(struct heapwise_stats *out)
{
    int (*fn)(struct heapwise_stats *) =
        (int (*)(struct heapwise_stats *))dlsym(RTLD_DEFAULT, "heapwise_stats");
    memset(out, 0, sizeof *out);
    return fn ? fn(out) : -1;
}

static int hw_finish(void)
{
    const char *lib;
    int served = hw_malloc_is_heapwise(&lib);
    const char *expect = getenv("HW_EXPECT_HEAPWISE");
    if (served) {
        struct heapwise_stats st;
        int (*check)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "heapwise_check");
        free(malloc(hw_sz(24))); /* at least one operation, whatever the program did */
        int rc = hw_stats(&st);
        uint64_t ops = st.mallocs + st.callocs + st.reallocs + st.aligned + st.large_allocs;
        CHECK(rc == 0 && ops > 0, "heapwise_stats: %llu operations, %llu frees",
              (unsigned long long)ops, (unsigned long long)(st.frees + st.large_frees));
        CHECK(check != NULL && check() == 0, "heapwise_check() at exit: heap consistent");
    }
    printf("allocator: %s (%s)\n", served ? "heapwise" : "other", lib);
    if (expect && expect[0] == '1' && !served) {
        hw_failures++;
        printf("FAIL - HW_EXPECT_HEAPWISE=1 but malloc resolves into %s\n", lib);
    }
    printf("RESULT %s: %d checks, %d notes, %d failed\n", hw_name, hw_checks, hw_notes,
           hw_failures);
    return hw_failures == 0 ? 0 : 1;
}


#endif
