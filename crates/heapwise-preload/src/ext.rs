//! The rest of glibc's malloc interface (`mallinfo`, `mallinfo2`, `malloc_stats`,
//! `malloc_info`, `malloc_trim`) and the `heapwise_*` extension API declared in
//! `include/heapwise.h`.
//!
//! Invariant: these are diagnostic calls: they take the heap lock and walk the heaps
//! (O(blocks)), but never allocate. (`malloc_info` writes through the caller's `FILE`,
//! whose buffer stdio may allocate: it does so with no allocator lock held.)

use core::ffi::{c_char, c_int};

use hw::GlobalStats;

use crate::{ensure_init, report, GLOBAL};

/// glibc's `struct mallinfo2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mallinfo2 {
    /// Non-mmapped space (the heaps' bytes).
    pub arena: usize,
    /// Free blocks.
    pub ordblks: usize,
    /// Free fastbin blocks (always 0).
    pub smblks: usize,
    /// Mapped (large) blocks.
    pub hblks: usize,
    /// Bytes in mapped blocks.
    pub hblkhd: usize,
    /// Unused (0).
    pub usmblks: usize,
    /// Bytes in free fastbin blocks (0).
    pub fsmblks: usize,
    /// Heap bytes in use: `arena - fordblks` (glibc's definition), so allocated blocks,
    /// the blocks the thread caches hold (as glibc counts its tcache's chunks) and the
    /// heaps' own fixed bytes.
    pub uordblks: usize,
    /// Bytes of free heap blocks.
    pub fordblks: usize,
    /// Releasable top bytes (0: the heap does not shrink).
    pub keepcost: usize,
}

/// glibc's `struct mallinfo` (the same fields as `int`, truncated like glibc does).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mallinfo {
    /// See [`Mallinfo2::arena`].
    pub arena: c_int,
    /// See [`Mallinfo2::ordblks`].
    pub ordblks: c_int,
    /// See [`Mallinfo2::smblks`].
    pub smblks: c_int,
    /// See [`Mallinfo2::hblks`].
    pub hblks: c_int,
    /// See [`Mallinfo2::hblkhd`].
    pub hblkhd: c_int,
    /// See [`Mallinfo2::usmblks`].
    pub usmblks: c_int,
    /// See [`Mallinfo2::fsmblks`].
    pub fsmblks: c_int,
    /// See [`Mallinfo2::uordblks`].
    pub uordblks: c_int,
    /// See [`Mallinfo2::fordblks`].
    pub fordblks: c_int,
    /// See [`Mallinfo2::keepcost`].
    pub keepcost: c_int,
}

fn info2(s: &GlobalStats) -> Mallinfo2 {
    Mallinfo2 {
        arena: s.heap.heap_bytes,
        ordblks: s.heap.free_blocks,
        smblks: 0,
        hblks: s.large_blocks,
        hblkhd: s.large_bytes,
        usmblks: 0,
        fsmblks: 0,
        uordblks: s.heap.heap_bytes.saturating_sub(s.heap.free_bytes),
        fordblks: s.heap.free_bytes,
        keepcost: 0,
    }
}

/// `mallinfo2(3)`.
#[no_mangle]
pub extern "C" fn mallinfo2() -> Mallinfo2 {
    ensure_init();
    let _q = hw::front::quiet_under_valgrind();
    info2(&GLOBAL.stats())
}

/// `mallinfo(3)` (values truncated to `int`).
#[no_mangle]
pub extern "C" fn mallinfo() -> Mallinfo {
    let m = mallinfo2();
    Mallinfo {
        arena: m.arena as c_int,
        ordblks: m.ordblks as c_int,
        smblks: m.smblks as c_int,
        hblks: m.hblks as c_int,
        hblkhd: m.hblkhd as c_int,
        usmblks: m.usmblks as c_int,
        fsmblks: m.fsmblks as c_int,
        uordblks: m.uordblks as c_int,
        fordblks: m.fordblks as c_int,
        keepcost: m.keepcost as c_int,
    }
}

/// `malloc_stats(3)`: the heapwise summary on stderr.
#[no_mangle]
pub extern "C" fn malloc_stats() {
    ensure_init();
    report::print(2);
}

/// `malloc_trim(3)`: returns the interior pages of free blocks and the cached large-block
/// mappings to the OS; 1 if any memory was released, else 0.
#[no_mangle]
pub extern "C" fn malloc_trim(_pad: usize) -> c_int {
    ensure_init();
    let _q = hw::front::quiet_under_valgrind();
    (GLOBAL.trim() > 0) as c_int
}

/// Size ranges of `malloc_info`'s `<sizes>`: free blocks of `[2^k, 2^(k+1))` bytes.
const SIZE_RANGES: usize = usize::BITS as usize;

/// Lines of `malloc_info`'s XML, formatted on the stack and written with `fwrite`.
struct Xml {
    fp: *mut libc::FILE,
    ok: bool,
}

impl Xml {
    fn line(&mut self, args: core::fmt::Arguments<'_>) {
        use core::fmt::Write;
        let mut b = hw::diag::StackBuf::<192>::new();
        let _ = b.write_fmt(args);
        b.push_bytes(b"\n");
        let bytes = b.as_bytes();
        // SAFETY: `fp` is the caller's open stream (malloc_info's contract); `bytes` is
        // readable for its length.
        let n = unsafe { libc::fwrite(bytes.as_ptr().cast(), 1, bytes.len(), self.fp) };
        self.ok &= n == bytes.len() && !b.truncated();
    }

    /// The `<total>`, `<system>` and `<aspace>` lines of a heap (`mmap: None`) or of the
    /// whole process: free blocks and bytes, large blocks and bytes, heap bytes.
    fn summary(&mut self, free: (usize, usize), mmap: Option<(usize, usize)>, bytes: usize) {
        self.line(format_args!(
            "<total type=\"fast\" count=\"0\" size=\"0\"/>"
        ));
        self.line(format_args!(
            "<total type=\"rest\" count=\"{}\" size=\"{}\"/>",
            free.0, free.1
        ));
        if let Some((count, size)) = mmap {
            self.line(format_args!(
                "<total type=\"mmap\" count=\"{count}\" size=\"{size}\"/>"
            ));
        }
        // A heap's break never moves down: its current size is its largest.
        for (tag, kind) in [
            ("system", "current"),
            ("system", "max"),
            ("aspace", "total"),
            ("aspace", "mprotect"),
        ] {
            self.line(format_args!("<{tag} type=\"{kind}\" size=\"{bytes}\"/>"));
        }
    }
}

/// `malloc_info(3)`: the heaps' state as glibc's XML on `fp`: `<malloc version="1">`, one
/// `<heap nr="N">` per arena with its free blocks by size range (block sizes, header
/// included, in power-of-two ranges) and their totals, then the process totals, the large
/// blocks as `type="mmap"`. Blocks held by other threads' caches count as allocated, as
/// glibc's tcache chunks do. Returns 0, or `EINVAL` (returned, as glibc does; `errno` is
/// untouched) for `options != 0` or a null stream; -1 if the stream refused a write.
///
/// # Safety
/// `fp` must be null or an open `FILE` stream.
#[no_mangle]
pub unsafe extern "C" fn malloc_info(options: c_int, fp: *mut libc::FILE) -> c_int {
    if options != 0 || fp.is_null() {
        return libc::EINVAL;
    }
    ensure_init();
    let mut x = Xml { fp, ok: true };
    x.line(format_args!("<malloc version=\"1\">"));
    let (mut free, mut system) = ((0, 0), 0);
    for a in 0..hw::ARENAS {
        let mut ranges = [(0usize, 0usize); SIZE_RANGES];
        let info = {
            let _q = hw::front::quiet_under_valgrind();
            GLOBAL.arena_info(a, |size| {
                if let Some(r) = ranges.get_mut(size.max(1).ilog2() as usize) {
                    r.0 += 1;
                    r.1 += size;
                }
            })
        };
        let Some((_, st)) = info else { continue };
        x.line(format_args!("<heap nr=\"{a}\">"));
        x.line(format_args!("<sizes>"));
        for (k, &(count, total)) in ranges.iter().enumerate().filter(|(_, r)| r.0 > 0) {
            let from = 1usize << k;
            x.line(format_args!(
                "<size from=\"{from}\" to=\"{}\" total=\"{total}\" count=\"{count}\"/>",
                from.saturating_sub(1).saturating_add(from)
            ));
        }
        x.line(format_args!("</sizes>"));
        x.summary((st.free_blocks, st.free_bytes), None, st.heap_bytes);
        x.line(format_args!("</heap>"));
        free = (free.0 + st.free_blocks, free.1 + st.free_bytes);
        system += st.heap_bytes;
    }
    let large = {
        let _q = hw::front::quiet_under_valgrind();
        GLOBAL.large_live()
    };
    x.summary(free, Some(large), system);
    x.line(format_args!("</malloc>"));
    if x.ok {
        0
    } else {
        -1
    }
}

/// `struct heapwise_stats` of `include/heapwise.h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeapwiseStats {
    /// `malloc` calls served by the heaps.
    pub mallocs: u64,
    /// `calloc` calls served by the heaps.
    pub callocs: u64,
    /// `realloc` calls served by the heaps.
    pub reallocs: u64,
    /// Aligned allocations served by the heaps.
    pub aligned: u64,
    /// `free` calls of heap blocks.
    pub frees: u64,
    /// Requests the heaps refused.
    pub failures: u64,
    /// Misuse or corruption reports.
    pub errors: u64,
    /// Large blocks mapped.
    pub large_allocs: u64,
    /// Large blocks freed (unmapped, or kept by the large-block cache).
    pub large_frees: u64,
    /// Large blocks resized with `mremap`.
    pub large_reallocs: u64,
    /// Heaps in use.
    pub heaps: u64,
    /// Heaps at the program break (0 or 1).
    pub sbrk_heaps: u64,
    /// Bytes of all heaps (`brk - start`).
    pub heap_bytes: u64,
    /// Allocated heap blocks.
    pub allocated_blocks: u64,
    /// Bytes of allocated heap blocks.
    pub allocated_bytes: u64,
    /// Usable bytes of allocated heap blocks.
    pub usable_bytes: u64,
    /// Free heap blocks.
    pub free_blocks: u64,
    /// Bytes of free heap blocks.
    pub free_bytes: u64,
    /// Largest free heap block.
    pub largest_free: u64,
    /// Live large blocks.
    pub large_blocks: u64,
    /// Bytes mapped for live large blocks.
    pub large_bytes: u64,
    /// High-water mark of `large_bytes`.
    pub peak_large_bytes: u64,
    /// Heap plus large plus cached large bytes now.
    pub footprint_bytes: u64,
    /// High-water mark of the footprint (never decreases).
    pub peak_footprint_bytes: u64,
    /// Requested bytes live (tracked with `HEAPWISE_STATS=1` or a trace).
    pub requested_bytes: u64,
    /// High-water mark of the requested bytes.
    pub peak_requested_bytes: u64,
    /// 1 if requested bytes are tracked.
    pub requested_tracked: i32,
    /// Reserved (0).
    pub reserved: i32,
    /// Peak requested / peak footprint, or -1 when not tracked.
    pub peak_utilisation: f64,
    /// `1 - largest free / free bytes` of the heaps.
    pub external_fragmentation: f64,
    /// Bytes of freed large-block mappings kept for reuse (`malloc_trim` returns them).
    pub large_cached_bytes: u64,
}

/// Converts the allocator's statistics to the C structure.
pub fn to_c(s: &GlobalStats) -> HeapwiseStats {
    let c = &s.heap.counters;
    HeapwiseStats {
        mallocs: c.mallocs,
        callocs: c.callocs,
        reallocs: c.reallocs,
        aligned: c.aligned,
        frees: c.frees,
        failures: c.failures,
        errors: c.errors,
        large_allocs: s.large_allocs,
        large_frees: s.large_frees,
        large_reallocs: s.large_reallocs,
        heaps: s.heaps as u64,
        sbrk_heaps: s.sbrk_heaps as u64,
        heap_bytes: s.heap.heap_bytes as u64,
        allocated_blocks: s.heap.allocated_blocks as u64,
        allocated_bytes: s.heap.allocated_bytes as u64,
        usable_bytes: s.heap.usable_bytes as u64,
        free_blocks: s.heap.free_blocks as u64,
        free_bytes: s.heap.free_bytes as u64,
        largest_free: s.heap.largest_free as u64,
        large_blocks: s.large_blocks as u64,
        large_bytes: s.large_bytes as u64,
        peak_large_bytes: s.peak_large_bytes as u64,
        footprint_bytes: s.footprint_bytes as u64,
        peak_footprint_bytes: s.peak_footprint_bytes as u64,
        requested_bytes: s.requested_bytes as u64,
        peak_requested_bytes: s.peak_requested_bytes as u64,
        requested_tracked: s.requested_tracked as i32,
        reserved: 0,
        peak_utilisation: s.peak_utilisation().unwrap_or(-1.0),
        external_fragmentation: s.external_fragmentation(),
        large_cached_bytes: s.large_cached_bytes as u64,
    }
}

/// Fills `*out` with the allocator's statistics; 0 on success, -1 if `out` is null.
///
/// # Safety
/// `out` must be null or valid for writing a `struct heapwise_stats`.
#[no_mangle]
pub unsafe extern "C" fn heapwise_stats(out: *mut HeapwiseStats) -> c_int {
    if out.is_null() {
        return -1;
    }
    ensure_init();
    let s = {
        let _q = hw::front::quiet_under_valgrind();
        to_c(&GLOBAL.stats())
    };
    // SAFETY: the caller guarantees `out` is writable.
    unsafe { out.write(s) };
    0
}

/// Runs the heap checker over every heap: 0 if consistent; otherwise prints one line
/// (`heapwise: check: <error>`) on stderr and returns -1.
#[no_mangle]
pub extern "C" fn heapwise_check() -> c_int {
    ensure_init();
    let _q = hw::front::quiet_under_valgrind();
    match GLOBAL.check() {
        Ok(()) => 0,
        Err(e) => {
            hw::diag::report(format_args!("check: {e}"));
            -1
        }
    }
}

/// Test hook (fault injection): after `n` more successful OS memory requests (heap growth,
/// mappings), every further one fails as if memory were exhausted; `n < 0` lifts the limit.
/// The environment variable `HEAPWISE_FAIL_AFTER=N` sets it at start-up.
#[no_mangle]
pub extern "C" fn heapwise_test_fail_os(n: core::ffi::c_long) {
    hw::harden::fail_os_after(n as isize);
}

/// The heap policy's name (a static NUL-terminated string, e.g. `"segregated"`).
#[no_mangle]
pub extern "C" fn heapwise_policy_name() -> *const c_char {
    ensure_init();
    crate::policy_cname()
}

/// The statistics summary (three lines) written to file descriptor `fd`.
#[no_mangle]
pub extern "C" fn heapwise_print_stats(fd: c_int) {
    ensure_init();
    report::print(fd);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_check_and_policy_name() {
        // `black_box`: an optimised build may elide a malloc/free pair of the crate's own
        // `malloc` (treated as the C builtin) whose blocks nothing uses.
        let p = std::hint::black_box(crate::api::malloc(1000));
        let big = std::hint::black_box(crate::api::malloc(1 << 20));
        let mut s = HeapwiseStats::default();
        // SAFETY: `s` is writable.
        assert_eq!(unsafe { heapwise_stats(&mut s) }, 0);
        // SAFETY: null is accepted.
        assert_eq!(unsafe { heapwise_stats(core::ptr::null_mut()) }, -1);
        assert!(s.mallocs >= 1 && s.large_allocs >= 1 && s.large_blocks >= 1);
        assert!(s.heap_bytes >= 1000 && s.footprint_bytes >= s.heap_bytes + (1 << 20));
        assert_eq!(
            s.sbrk_heaps, 1,
            "the preload face's first heap is at the break"
        );
        let m = mallinfo2();
        assert!(m.arena > 0 && m.uordblks > 0 && m.hblks >= 1);
        assert_eq!(heapwise_check(), 0);
        // SAFETY: the name is a static NUL-terminated string.
        let name = unsafe { core::ffi::CStr::from_ptr(heapwise_policy_name()) };
        assert_eq!(name.to_str().unwrap(), "segregated");
        // SAFETY: live blocks, freed once.
        unsafe {
            crate::api::free(p);
            crate::api::free(big);
        }
    }
}
