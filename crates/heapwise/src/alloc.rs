//! [`Heapwise`]: the Rust face, a [`GlobalAlloc`] over one process-wide [`Global`] with the
//! default segregated policy, its heaps in reserved regions (the system malloc keeps the
//! program break), large blocks from `mmap`.
//!
//! * `alloc` / `dealloc`: alignments up to 16 are plain heap blocks; larger ones use the
//!   engine's aligned placement (or an aligned large mapping).
//! * `realloc`: in place when the engine can (shrinking, growing into a free successor or at
//!   the top of the heap), `mremap` for large blocks; alignments above 16 are kept by
//!   allocating, copying and freeing when the block does not fit, or would keep more than
//!   half of itself unused (a shrink below half moves, as in mimalloc).
//! * `alloc_zeroed`: fresh pages from the OS are known to be zero and are not cleared again.
//! * Requested bytes are counted from each `Layout`, so [`Heapwise::stats`] reports exact
//!   peak utilisation.
//!
//! * Under valgrind (detected at the first allocation) blocks are announced to memcheck
//!   through [`crate::front`], so leaks and bad accesses of the program are reported.
//!
//! Invariant: every pointer handed out belongs to [`Heapwise::global`] and goes through
//! [`crate::front`] both ways; nothing here allocates through another allocator.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr;

use heapwise_core::block::ALIGN;
use heapwise_core::HeapError;

use crate::front;
use crate::global::{Config, Global};
use crate::stats::GlobalStats;

static GLOBAL: Global = Global::with_thread_cache(Config::DEFAULT);

/// The heapwise global allocator.
///
/// ```no_run
/// use heapwise::Heapwise;
///
/// #[global_allocator]
/// static A: Heapwise = Heapwise;
///
/// fn main() {
///     let v: Vec<u64> = (0..1000).collect();
///     assert_eq!(v.iter().sum::<u64>(), 499_500);
///     let s = Heapwise::stats();
///     assert!(s.heap.counters.mallocs > 0);
/// }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Heapwise;

impl Heapwise {
    /// The process-wide allocator state behind every `Heapwise`.
    pub fn global() -> &'static Global {
        &GLOBAL
    }

    /// Statistics of the Rust face (requested bytes are exact).
    pub fn stats() -> GlobalStats {
        let _q = front::quiet_under_valgrind();
        GLOBAL.stats()
    }

    /// Runs the heap checker over every heap.
    pub fn check() -> Result<(), HeapError> {
        let _q = front::quiet_under_valgrind();
        GLOBAL.check()
    }
}

#[inline]
fn alloc_layout(layout: Layout) -> *mut u8 {
    let p = if layout.align() <= ALIGN {
        front::malloc(&GLOBAL, layout.size())
    } else {
        front::aligned_alloc(&GLOBAL, layout.align(), layout.size())
    };
    if !p.is_null() {
        front::note_requested(&GLOBAL, layout.size());
    }
    p
}

// SAFETY: every pointer returned is null or a live block of at least `layout.size()` bytes
// aligned to `layout.align()` (the engine aligns payloads to 16 and honours larger powers of
// two); blocks are released only through `dealloc`/`realloc` with their own pointer.
unsafe impl GlobalAlloc for Heapwise {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        alloc_layout(layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the GlobalAlloc contract: `ptr` is a live block from this allocator.
        unsafe { front::free(&GLOBAL, ptr) };
        front::note_released(&GLOBAL, layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = if layout.align() <= ALIGN {
            front::calloc(&GLOBAL, 1, layout.size())
        } else {
            front::aligned_calloc(&GLOBAL, layout.align(), layout.size())
        };
        if !p.is_null() {
            front::note_requested(&GLOBAL, layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = if layout.align() <= ALIGN {
            // SAFETY: the GlobalAlloc contract: `ptr` is live, `new_size > 0`.
            unsafe { front::realloc(&GLOBAL, ptr, new_size) }
        } else {
            // SAFETY: `ptr` is a live block of this allocator.
            let usable = unsafe { front::usable_size(&GLOBAL, ptr) };
            // The block stays where it is while it fits and would keep at most half of
            // it unused (mimalloc's rule): a block shrunk below that moves to one of its
            // new size, or a 1 MiB buffer shrunk to 100 bytes would keep its megabyte. A
            // shrink that finds no new block keeps the old one, which still fits.
            if usable >= new_size && new_size >= usable / 2 {
                ptr
            } else {
                let q = front::aligned_alloc(&GLOBAL, layout.align(), new_size);
                if !q.is_null() {
                    // SAFETY: both blocks are live and distinct; the old one holds
                    // `layout.size()` bytes, the new one at least `new_size`.
                    unsafe {
                        ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                        front::free(&GLOBAL, ptr);
                    }
                    q
                } else if usable >= new_size {
                    ptr
                } else {
                    q
                }
            }
        };
        if !q.is_null() {
            front::note_released(&GLOBAL, layout.size());
            front::note_requested(&GLOBAL, new_size);
        }
        q
    }
}
