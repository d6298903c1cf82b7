//! Storage for per-thread records (the thread caches): fixed-size, cache-line-aligned
//! records carved from anonymous mappings, never unmapped, and recycled through a free
//! list when their thread ends. It replaces the thread-local storage `std` would give, and
//! keeps a record valid after its thread is gone (a registry walk may still be reading it
//! until it is unlinked).
//!
//! # Invariants
//! * Records are carved, in order, from `[cur, end)` of the current chunk (a mapping of
//!   [`CHUNK`] bytes, or of one record if larger); the pages of a chunk become resident
//!   only as records are used.
//! * A record on the free list is dead: its first word is the link to the next one.
//! * Every operation runs under the lock the owner of the pool names (the pool has none:
//!   it is always used with that lock already held), so the inner state is never shared.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use crate::sys;

/// Bytes mapped at a time.
pub const CHUNK: usize = 64 * 1024;

/// Alignment of every record (a cache line: two threads' records never share one).
pub const RECORD_ALIGN: usize = 64;

/// A pool of records of `size` bytes (the size is fixed by the first [`RecordPool::take`]).
pub struct RecordPool {
    inner: UnsafeCell<Inner>,
}

struct Inner {
    free: *mut u8,
    cur: usize,
    end: usize,
}

// SAFETY: `inner` is only accessed by the `unsafe` methods, whose callers hold the lock
// that guards the pool.
unsafe impl Sync for RecordPool {}

impl RecordPool {
    /// An empty pool (maps nothing until the first record is taken).
    pub const fn new() -> Self {
        RecordPool {
            inner: UnsafeCell::new(Inner {
                free: ptr::null_mut(),
                cur: 0,
                end: 0,
            }),
        }
    }

    /// A record of `size` bytes (at least one word), [`RECORD_ALIGN`]-aligned, with
    /// unspecified contents: a recycled one if any, else carved from the current chunk or
    /// a new one; `None` if the system refuses memory.
    ///
    /// # Safety
    /// The caller holds the pool's guarding lock, and passes the same `size` every time.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn take(&self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the guarding lock is held (caller contract): the only access.
        let s = unsafe { &mut *self.inner.get() };
        if let Some(p) = NonNull::new(s.free) {
            // SAFETY: a dead record's first word is the free-list link (invariant).
            s.free = unsafe { (p.as_ptr() as *const *mut u8).read() };
            return Some(p);
        }
        let stride = sys::round_up(size.max(core::mem::size_of::<usize>()), RECORD_ALIGN)?;
        if s.end - s.cur < stride {
            let len = sys::round_up(stride.max(CHUNK), sys::page_size())?;
            let base = sys::map_anon(len, libc::PROT_READ | libc::PROT_WRITE, 0)?;
            s.cur = base.as_ptr() as usize;
            s.end = s.cur + len;
        }
        let p = s.cur as *mut u8;
        s.cur += stride;
        NonNull::new(p)
    }

    /// In a `fork` child: forgets the rest of the current chunk (the parent may have been
    /// carving it when it forked), keeping the free list (each of its updates is one store).
    ///
    /// # Safety
    /// No other thread uses the pool (the child of a `fork` has one thread).
    pub unsafe fn after_fork(&self) {
        // SAFETY: the only thread (caller contract).
        let s = unsafe { &mut *self.inner.get() };
        s.cur = 0;
        s.end = 0;
    }

    /// Returns a record for reuse.
    ///
    /// # Safety
    /// The caller holds the pool's guarding lock; `p` came from [`take`](Self::take) of
    /// this pool, is not on the free list, and nobody uses it any more.
    pub unsafe fn give(&self, p: NonNull<u8>) {
        // SAFETY: the guarding lock is held (caller contract): the only access.
        let s = unsafe { &mut *self.inner.get() };
        // SAFETY: `p` is a dead record of at least one word, aligned (caller contract).
        unsafe { (p.as_ptr() as *mut *mut u8).write(s.free) };
        s.free = p.as_ptr();
    }
}

impl Default for RecordPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_aligned_disjoint_and_recycled() {
        let pool = RecordPool::new();
        let size = 1_744;
        // SAFETY: the pool is local to this test (no lock needed); same size every time.
        let recs: std::vec::Vec<NonNull<u8>> = (0..100)
            .map(|_| unsafe { pool.take(size) }.unwrap())
            .collect();
        let mut addrs: std::vec::Vec<usize> = recs.iter().map(|p| p.as_ptr() as usize).collect();
        assert!(addrs.iter().all(|a| a % RECORD_ALIGN == 0));
        addrs.sort();
        assert!(
            addrs.windows(2).all(|w| w[1] - w[0] >= size),
            "records overlap"
        );
        for p in &recs {
            // SAFETY: a record of `size` writable bytes.
            unsafe { p.as_ptr().write_bytes(0xa5, size) };
        }
        // SAFETY: taken from this pool, not reused.
        unsafe { pool.give(recs[7]) };
        // SAFETY: as above.
        unsafe { pool.give(recs[3]) };
        // SAFETY: as above.
        let again = unsafe { [pool.take(size).unwrap(), pool.take(size).unwrap()] };
        assert_eq!(
            again,
            [recs[3], recs[7]],
            "the free list is reused, last in first"
        );
        // SAFETY: as above.
        let fresh = unsafe { pool.take(size) }.unwrap();
        assert!(!recs.contains(&fresh));
    }
}
