//! The arena: one page-aligned region handed, freshly zeroed, to every allocator in turn.
//!
//! The region is allocated and touched once (so page faults are paid before any timing),
//! then zero-filled again before each allocator is built on it: every contender starts from
//! the same state of the same memory. Invariant: while a contender uses the region nothing
//! else reads or writes it.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::mem::MaybeUninit;

/// Alignment of the arena's start (a page).
pub const ARENA_ALIGN: usize = 4096;

/// A page-aligned, zeroed region of memory owned by the benchmark.
pub struct Arena {
    ptr: *mut u8,
    layout: Layout,
}

impl Arena {
    /// A region of `bytes` bytes (rounded up to a page), faulted in.
    ///
    /// ```
    /// let mut arena = heapwise_bench::Arena::new(1 << 20);
    /// assert_eq!(arena.len(), 1 << 20);
    /// let mem = arena.fresh();
    /// assert_eq!(mem.as_ptr() as usize % 4096, 0);
    /// ```
    pub fn new(bytes: usize) -> Self {
        let bytes = bytes.max(ARENA_ALIGN).next_multiple_of(ARENA_ALIGN);
        let layout = Layout::from_size_align(bytes, ARENA_ALIGN).expect("arena size");
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "cannot allocate a {bytes}-byte arena");
        let mut arena = Arena { ptr, layout };
        arena.fresh(); // touch every page now, not inside a timed run
        arena
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Always false (an arena has at least one page).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The whole region, zero-filled again, for the next allocator.
    pub fn fresh(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: `ptr` is valid for `len` bytes of reads and writes (allocated with that
        // layout) and exclusively borrowed through `&mut self` for the slice's lifetime.
        unsafe {
            self.ptr.write_bytes(0, self.len());
            std::slice::from_raw_parts_mut(self.ptr.cast(), self.len())
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with exactly this layout, freed once.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}
