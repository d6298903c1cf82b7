/* heapwise.h: the heapwise_* extension API of libheapwise.so.
 *
 * libheapwise.so replaces the C malloc family (malloc, free, calloc, realloc, reallocarray,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size, cfree,
 * malloc_trim, mallinfo2, mallinfo, malloc_stats, malloc_info, mallopt: declared by
 * <stdlib.h> and <malloc.h>),
 * glibc's __libc_malloc, __libc_calloc, __libc_realloc, __libc_free, __libc_memalign,
 * __libc_valloc and __libc_pvalloc, and C23's free_sized and free_aligned_sized, and adds
 * the functions below. Use them from a program linked with -lheapwise, or look
 * them up with dlsym(RTLD_DEFAULT, "heapwise_stats") when the library is only preloaded.
 *
 * Environment (read once, at start-up):
 *   HEAPWISE_POLICY=NAME  heap policy: implicit-first, implicit-next, implicit-best,
 *                         implicit-{first,next,best}-deferred, explicit-lifo-{first,next,best},
 *                         explicit-addr-{first,next,best}, segregated (default), or any
 *                         other policy the engine names
 *   HEAPWISE_STATS=1      summary on stderr at exit
 *   HEAPWISE_TRACE=FILE   record every call in the malloc-lab replay format (%p = pid)
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef HEAPWISE_H
#define HEAPWISE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Statistics of the process allocator. Heap counters cover blocks served by the heaps;
 * large blocks (>= 256 KiB, or mallopt(M_MMAP_THRESHOLD)) are mapped with mmap and counted
 * apart. */
struct heapwise_stats {
    uint64_t mallocs;              /* malloc calls served by the heaps */
    uint64_t callocs;              /* calloc calls served by the heaps */
    uint64_t reallocs;             /* realloc calls served by the heaps */
    uint64_t aligned;              /* aligned allocations served by the heaps */
    uint64_t frees;                /* frees of heap blocks */
    uint64_t failures;             /* requests the heaps refused */
    uint64_t errors;               /* misuse or corruption reports */
    uint64_t large_allocs;         /* large blocks mapped */
    uint64_t large_frees;          /* large blocks freed (unmapped or cached) */
    uint64_t large_reallocs;       /* large blocks resized with mremap */
    uint64_t heaps;                /* heaps in use */
    uint64_t sbrk_heaps;           /* heaps at the program break (0 or 1) */
    uint64_t heap_bytes;           /* bytes of all heaps (brk - start) */
    uint64_t allocated_blocks;     /* allocated heap blocks */
    uint64_t allocated_bytes;      /* bytes of allocated heap blocks (headers included) */
    uint64_t usable_bytes;         /* usable bytes of allocated heap blocks */
    uint64_t free_blocks;          /* free heap blocks */
    uint64_t free_bytes;           /* bytes of free heap blocks */
    uint64_t largest_free;         /* largest free heap block */
    uint64_t large_blocks;         /* live large blocks */
    uint64_t large_bytes;          /* bytes mapped for live large blocks */
    uint64_t peak_large_bytes;     /* high-water mark of large_bytes */
    uint64_t footprint_bytes;      /* heap_bytes + large_bytes + large_cached_bytes */
    uint64_t peak_footprint_bytes; /* high-water mark of the footprint (never decreases) */
    uint64_t requested_bytes;      /* bytes requested and not freed (if tracked) */
    uint64_t peak_requested_bytes; /* high-water mark of requested_bytes */
    int32_t requested_tracked;     /* 1 with HEAPWISE_STATS=1 or HEAPWISE_TRACE */
    int32_t reserved;              /* 0 */
    double peak_utilisation;       /* peak requested / peak footprint; -1 if not tracked */
    double external_fragmentation; /* 1 - largest free / free bytes */
    uint64_t large_cached_bytes;   /* freed large mappings kept for reuse (malloc_trim
                                      returns them) */
};

/* Fills *out; returns 0, or -1 if out is NULL. */
int heapwise_stats(struct heapwise_stats *out);

/* Runs the heap checker over every heap: 0 if consistent, otherwise -1 after printing
 * one line ("heapwise: check: ...") on stderr. */
int heapwise_check(void);

/* Test hook (fault injection): after n more successful OS memory requests (heap growth,
 * mmap), every further one fails as if memory were exhausted; n < 0 lifts the limit.
 * HEAPWISE_FAIL_AFTER=N in the environment sets it at start-up. */
void heapwise_test_fail_os(long n);

/* The heap policy's name, e.g. "segregated" (a static string). */
const char *heapwise_policy_name(void);

/* Writes the statistics summary (three lines, as at exit with HEAPWISE_STATS=1) to fd. */
void heapwise_print_stats(int fd);

#ifdef __cplusplus
}
#endif

#endif /* HEAPWISE_H */
