//! [`MmapRegion`]: a heap in a large range of address space reserved with `mmap` and
//! committed page by page as its `brk` advances.
//!
//! The whole range is mapped `PROT_NONE` (no memory is committed, only addresses), so the
//! heap stays one contiguous `[start, brk)` that can grow to the reservation's end; growth
//! makes the next pages readable and writable with `mprotect`, in steps of
//! [`COMMIT_STEP`] to keep system calls rare. It is the source of the Rust face (where the
//! system allocator owns the program break) and the fallback of the preload face when
//! `sbrk` fails.
//!
//! Invariants: `0 <= brk <= committed <= len`; `[base, base + committed)` is readable and
//! writable; `[base + brk, base + len)` has never been handed out and is zero (demand-zero
//! pages); the mapping is released when the region is dropped.

use core::ptr::NonNull;

use heapwise_core::block::ALIGN;
use heapwise_core::Source;

use crate::sys;

/// Bytes made accessible at a time when the heap grows past the committed part.
pub const COMMIT_STEP: usize = 256 * 1024;

/// A reserved address range used as a heap.
///
/// ```
/// use heapwise::MmapRegion;
/// use heapwise_core::{Heap, Segregated, Source};
///
/// let region = MmapRegion::reserve(1 << 20).expect("1 MiB of address space");
/// assert_eq!(region.capacity(), 1 << 20);
/// let mut heap: Heap<_, Segregated> = Heap::new(region);
/// let p = heap.calloc(100, 8).unwrap();
/// unsafe { heap.free(p.as_ptr()) };
/// assert!(heap.source().heap_size() > 0);
/// ```
#[derive(Debug)]
pub struct MmapRegion {
    base: NonNull<u8>,
    len: usize,
    brk: usize,
    committed: usize,
}

// SAFETY: the region exclusively owns its mapping; moving it moves that ownership.
unsafe impl Send for MmapRegion {}

impl MmapRegion {
    /// Reserves `len` bytes (rounded up to pages) of address space, committing nothing.
    /// `None` if the kernel refuses (e.g. under `RLIMIT_AS`).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn reserve(len: usize) -> Option<MmapRegion> {
        let len = sys::round_up(len.max(1), sys::page_size())?;
        if len > isize::MAX as usize / 4 {
            return None;
        }
        let base = sys::map_anon(len, libc::PROT_NONE, libc::MAP_NORESERVE)?;
        Some(MmapRegion {
            base,
            len,
            brk: 0,
            committed: 0,
        })
    }

    /// Bytes of address space reserved.
    pub fn capacity(&self) -> usize {
        self.len
    }

    /// Bytes made readable and writable so far.
    pub fn committed(&self) -> usize {
        self.committed
    }

    /// Whether `p` lies in the reserved range `[base, base + capacity)`.
    pub fn reserved_contains(&self, p: *const u8) -> bool {
        let a = p as usize;
        let b = self.base.as_ptr() as usize;
        a >= b && a - b < self.len
    }

    #[cold]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn commit(&mut self, new_top: usize) -> bool {
        let page = sys::page_size();
        let Some(exact) = sys::round_up(new_top, page) else {
            return false;
        };
        let wide = sys::round_up(new_top, COMMIT_STEP.max(page))
            .unwrap_or(exact)
            .min(self.len);
        // The kernel refusing even `exact`: the cached large mappings go back first (a
        // program break that cannot grow needs no such step: the heap then moves on to a
        // region, whose reservation does it).
        let mut commit = |target: usize| {
            if target <= self.committed {
                return None;
            }
            // SAFETY: `[committed, target)` lies inside our reservation, page-aligned, and
            // holds nothing yet.
            let ok = unsafe {
                sys::protect(
                    self.base.as_ptr().add(self.committed),
                    target - self.committed,
                    libc::PROT_READ | libc::PROT_WRITE,
                )
            };
            ok.then(|| self.committed = target)
        };
        commit(wide).is_some() || crate::large_cache::or_release(|| commit(exact)).is_some()
    }
}

impl Drop for MmapRegion {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours; the heap that used it is being dropped with it.
        unsafe { sys::unmap(self.base.as_ptr(), self.len) }
    }
}

// SAFETY: `sbrk` hands out `[brk, brk + incr)` only inside the reservation and after it is
// committed; `base` is page-aligned (so 16-aligned); fresh pages are demand-zero.
unsafe impl Source for MmapRegion {
    #[inline]
    fn start(&self) -> NonNull<u8> {
        self.base
    }
    #[inline]
    fn brk(&self) -> NonNull<u8> {
        // SAFETY: `brk <= len`, inside or one past the mapping.
        unsafe { NonNull::new_unchecked(self.base.as_ptr().add(self.brk)) }
    }
    fn sbrk(&mut self, incr: usize) -> Option<NonNull<u8>> {
        if incr > self.len - self.brk || incr % ALIGN != 0 {
            return None;
        }
        let new_top = self.brk + incr;
        if new_top > self.committed && !self.commit(new_top) {
            return None;
        }
        let old = self.brk();
        self.brk = new_top;
        Some(old)
    }
    fn fresh_is_zeroed(&self) -> bool {
        true
    }
}
