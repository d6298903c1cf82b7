//! The statistics summary: three lines on a file descriptor, written from a stack buffer,
//! at exit when `HEAPWISE_STATS=1` (on stderr) or `HEAPWISE_STATS_FILE=FILE` (appended to
//! the file), and on request (`heapwise_print_stats`, `malloc_stats`):
//!
//! ```text
//! heapwise[4242 git]: policy segregated: 1234 malloc, 56 calloc, 78 realloc, 9 aligned, 1300 free, 3 large (mmap), 0 failed
//! heapwise[4242 git]: peak heap 1.2 MiB (1 heap, sbrk), peak footprint 3.4 MiB, peak requested 1.1 MiB, peak utilisation 85.3 %
//! heapwise[4242 git]: at exit: heap 1.2 MiB, allocated 0.5 MiB in 123 blocks, free 0.7 MiB in 12 blocks, external fragmentation 12.3 %
//! ```
//!
//! Invariant: no allocation; each line is cut at the buffer's end rather than overflow it.

use core::ffi::{c_char, CStr};
use core::fmt::{self, Write};
use core::sync::atomic::Ordering;

use hw::diag::StackBuf;
use hw::GlobalStats;

use crate::{GLOBAL, RECORDER, STATS_AT_EXIT};

/// A byte count shown with a binary unit (`512 B`, `1.5 KiB`, `3.2 MiB`, `1.1 GiB`).
pub struct Bytes(pub usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if self.0 < 1024 {
            write!(f, "{} B", self.0)
        } else if b < 1024.0 * 1024.0 {
            write!(f, "{:.1} KiB", b / 1024.0)
        } else if b < 1024.0 * 1024.0 * 1024.0 {
            write!(f, "{:.1} MiB", b / (1024.0 * 1024.0))
        } else {
            write!(f, "{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
        }
    }
}

extern "C" {
    static program_invocation_short_name: *const c_char;
}

fn prefix<const N: usize>(b: &mut StackBuf<N>) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: glibc sets `program_invocation_short_name` before constructors run to a
    // NUL-terminated string (or leaves it null).
    let name = unsafe {
        let p = core::ptr::addr_of!(program_invocation_short_name).read();
        if p.is_null() {
            "?"
        } else {
            CStr::from_ptr(p).to_str().unwrap_or("?")
        }
    };
    let _ = write!(b, "heapwise[{pid} {name}]: ");
}

/// Writes the three summary lines for `s` to `fd`.
pub fn write_summary(fd: i32, s: &GlobalStats) {
    let c = &s.heap.counters;
    let mut b = StackBuf::<512>::new();
    prefix(&mut b);
    let _ = writeln!(
        b,
        "policy {}: {} malloc, {} calloc, {} realloc, {} aligned, {} free, {} large (mmap), {} failed",
        s.policy.name(),
        c.mallocs,
        c.callocs,
        c.reallocs,
        c.aligned,
        c.frees,
        s.large_allocs,
        c.failures
    );
    b.write_to(fd);
    b.clear();
    prefix(&mut b);
    let _ = write!(
        b,
        "peak heap {} ({} heap{}, {}), peak footprint {}, ",
        Bytes(s.heap.heap_bytes),
        s.heaps,
        if s.heaps == 1 { "" } else { "s" },
        if s.sbrk_heaps > 0 { "sbrk" } else { "mmap" },
        Bytes(s.peak_footprint_bytes),
    );
    match s.peak_utilisation() {
        Some(u) => {
            let _ = writeln!(
                b,
                "peak requested {}, peak utilisation {:.1} %",
                Bytes(s.peak_requested_bytes),
                u * 100.0
            );
        }
        None => {
            let _ = writeln!(b, "peak utilisation not tracked");
        }
    }
    b.write_to(fd);
    b.clear();
    prefix(&mut b);
    let _ = writeln!(
        b,
        "now: heap {}, allocated {} in {} blocks, free {} in {} blocks, large {} in {} blocks, external fragmentation {:.1} %",
        Bytes(s.heap.heap_bytes),
        Bytes(s.heap.allocated_bytes),
        s.heap.allocated_blocks,
        Bytes(s.heap.free_bytes),
        s.heap.free_blocks,
        Bytes(s.large_bytes),
        s.large_blocks,
        s.external_fragmentation() * 100.0
    );
    b.write_to(fd);
}

/// Writes the summary of the process allocator to `fd`.
pub fn print(fd: i32) {
    let _q = hw::front::quiet_under_valgrind();
    write_summary(fd, &GLOBAL.stats());
}

/// The exit hook: finishes the trace, then prints the summary if asked to.
pub fn at_exit() {
    if !RECORDER.active() {
        return; // neither statistics nor a trace: nothing to do (and no heap walk)
    }
    let _q = hw::front::quiet_under_valgrind();
    let traced = RECORDER.finish(GLOBAL.peak_footprint());
    if STATS_AT_EXIT.load(Ordering::Relaxed) {
        let fd = match crate::stats_file() {
            // SAFETY: the path is NUL-terminated.
            Some(path) => unsafe {
                libc::open(
                    path,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                    0o644 as libc::c_uint,
                )
            },
            None => 2,
        };
        if fd < 0 {
            return;
        }
        print(fd);
        if let Some((ops, ids, dropped)) = traced {
            let mut b = StackBuf::<256>::new();
            prefix(&mut b);
            let _ = writeln!(
                b,
                "trace: {ops} operations, {ids} ids ({dropped} blocks untracked)"
            );
            b.write_to(fd);
        }
        if fd != 2 {
            // SAFETY: `fd` was opened above and is not used elsewhere.
            unsafe { libc::close(fd) };
        }
    }
}
