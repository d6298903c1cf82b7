//! Memory sources: where the heap's bytes come from and how its `brk` moves.
//!
//! A [`Source`] presents the heap as one contiguous range `[start, brk)` that only grows at
//! the top, like `sbrk(2)`. The engine asks for `n` more bytes and gets the old top back, or a
//! refusal. Two sources live here, both over borrowed memory and usable without an OS:
//!
//! * [`FixedArena`] — a borrowed slice; `brk` never passes its end. Embedded and test users
//!   start here. More contiguous memory can be added later with [`FixedArena::extend`].
//! * [`SimBrk`] — the malloc lab's simulated memory: a region with its own `brk`, a hard
//!   maximum you choose, and counters. `brk - start` is the heap size that peak utilisation
//!   divides by; the lab replays traces on it.
//!
//! [`Source::free_room`] tells the engine whether growing costs anything: the rest of a
//! `FixedArena` is owned already (free room); a `SimBrk`'s growth lowers peak utilisation,
//! and the OS sources' growth costs pages, so they report none.
//!
//! The OS sources (real `sbrk`, an `mmap`-reserved region) implement the same trait in the
//! `heapwise` crate.
//!
//! Invariant kept by every source: `start <= brk <= limit`, `start` is 16-byte aligned,
//! and bytes in `[start, brk)` stay readable and writable until the source is dropped.

use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::block::ALIGN;

/// A contiguous, upward-growing memory region: the heap's backing store.
///
/// # Contract
/// * [`start`](Source::start) is fixed for the life of the source and aligned to 16 bytes.
/// * [`sbrk`](Source::sbrk)`(n)` with `n` a multiple of 16 either returns the old top
///   (`brk` before the call) and makes `[old, old + n)` readable and writable, or returns
///   `None` and changes nothing. The engine never asks to shrink.
/// * Memory returned by `sbrk` is uninitialised unless
///   [`fresh_is_zeroed`](Source::fresh_is_zeroed) says it is zero (demand-zero pages).
///
/// # Safety
/// Implementors must uphold the contract: the engine writes to every byte it was given.
pub unsafe trait Source {
    /// The lowest address of the heap, aligned to 16 bytes. Must be stable.
    fn start(&self) -> NonNull<u8>;
    /// The current top of the heap (one past its last byte).
    fn brk(&self) -> NonNull<u8>;
    /// Grows the heap by `incr` bytes; returns the old top, or `None` if refused.
    fn sbrk(&mut self, incr: usize) -> Option<NonNull<u8>>;
    /// Whether bytes newly returned by `sbrk` are guaranteed to be zero.
    fn fresh_is_zeroed(&self) -> bool {
        false
    }
    /// Current heap size, `brk - start`.
    fn heap_size(&self) -> usize {
        self.brk().as_ptr() as usize - self.start().as_ptr() as usize
    }
    /// Bytes that [`sbrk`](Source::sbrk) is sure to hand out from memory the source already
    /// owns outright, so that growing the heap into them costs nothing: no system call, no
    /// new pages, no figure that counts the heap's size. A policy may then grow the heap
    /// rather than split a poorly fitting free block ([`Policy::prefer_growth`]), which
    /// leaves more memory usable before the source runs out. Default 0: growth has a cost
    /// (RSS for the OS sources; peak utilisation, which divides by the heap size, for
    /// [`SimBrk`]).
    ///
    /// [`Policy::prefer_growth`]: crate::Policy::prefer_growth
    #[inline]
    fn free_room(&self) -> usize {
        0
    }
}

/// Aligns the start of a borrowed region; returns `(start, bytes from start to the end of
/// the region)`.
fn align_region(mem: &mut [MaybeUninit<u8>]) -> (NonNull<u8>, usize) {
    let base = mem.as_mut_ptr() as *mut u8;
    let pad = base.align_offset(ALIGN).min(mem.len());
    // SAFETY: `pad <= mem.len()`, so `base + pad` is within or one past the slice, and a
    // slice pointer is never null.
    let start = unsafe { NonNull::new_unchecked(base.add(pad)) };
    (start, mem.len() - pad)
}

/// Whether `[start, start + len)` passes the top of the address space (it may end exactly
/// there).
pub(crate) fn wraps(start: usize, len: usize) -> bool {
    len != 0 && start.checked_add(len - 1).is_none()
}

/// Whether two ranges `[a, a + alen)` and `[b, b + blen)` share a byte, addresses taken
/// modulo the address space (a range that [wraps](wraps) covers its end and its start).
pub(crate) fn overlap((a, alen): (usize, usize), (b, blen): (usize, usize)) -> bool {
    alen != 0 && blen != 0 && (a.wrapping_sub(b) < blen || b.wrapping_sub(a) < alen)
}

/// A heap over a borrowed byte slice: `brk` grows inside it and never beyond its end.
///
/// ```
/// use core::mem::MaybeUninit;
/// use heapwise_core::{FixedArena, Heap, Segregated};
///
/// let mut mem = [MaybeUninit::<u8>::uninit(); 4096];
/// let mut heap: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
/// let p = heap.malloc(100).expect("fits");
/// assert_eq!(p.as_ptr() as usize % 16, 0);
/// // SAFETY: `p` came from this heap's malloc and is freed once.
/// unsafe { heap.free(p.as_ptr()) };
/// assert!(heap.check().is_ok());
/// ```
pub struct FixedArena<'a> {
    start: NonNull<u8>,
    brk: usize,
    /// Bytes from `start` to the end of the memory given (at creation and by every
    /// [`extend`](FixedArena::extend)), the tail short of 16 bytes included: the next
    /// `extend` continues from there. `brk` may go up to it rounded down to 16 bytes
    /// ([`FixedArena::capacity`]).
    len: usize,
    _mem: core::marker::PhantomData<&'a mut [MaybeUninit<u8>]>,
}

// SAFETY: the arena exclusively borrows its memory; moving it to another thread moves that
// exclusive access with it.
unsafe impl Send for FixedArena<'_> {}

impl<'a> FixedArena<'a> {
    /// An arena over `mem`. The start is rounded up to 16 bytes; the tail that does not
    /// fill a 16-byte unit is not used.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let (start, len) = align_region(mem);
        FixedArena {
            start,
            brk: 0,
            len,
            _mem: core::marker::PhantomData,
        }
    }

    /// An arena over raw memory `[ptr, ptr + len)`, usable in `const` contexts (statics).
    ///
    /// # Safety
    /// `ptr` must be 16-byte aligned and non-null, and `[ptr, ptr + len)` must be valid for
    /// reads and writes, and used by nothing else, for `'a`.
    pub const unsafe fn from_raw(ptr: *mut u8, len: usize) -> Self {
        FixedArena {
            // SAFETY: the caller guarantees `ptr` is non-null.
            start: unsafe { NonNull::new_unchecked(ptr) },
            brk: 0,
            len,
            _mem: core::marker::PhantomData,
        }
    }

    /// Adds `additional` bytes directly after the end of the memory given so far (the end
    /// of the slice or raw range the arena was made over, moved by every `extend`). A tail
    /// short of 16 bytes is not used until a later `extend` completes it: steps of any size
    /// add up. Returns whether the bytes were taken: an end past the top of the address
    /// space cannot be valid memory (it breaks the contract below), and such a request
    /// changes nothing rather than overflow or wrap `brk` around to address 0.
    ///
    /// # Safety
    /// `[end, end + additional)`, where `end` is that end, must be valid for reads and
    /// writes and used by nothing else for `'a`.
    pub unsafe fn extend(&mut self, additional: usize) -> bool {
        match self.len.checked_add(additional) {
            Some(len) if !wraps(self.start.as_ptr() as usize, len) => {
                self.len = len;
                true
            }
            _ => false,
        }
    }

    /// The memory given so far (at creation and by every [`extend`](FixedArena::extend)):
    /// its start address and length, the tail short of 16 bytes included.
    pub(crate) fn given(&self) -> (usize, usize) {
        (self.start.as_ptr() as usize, self.len)
    }

    /// Total bytes the arena can hold.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.len & !(ALIGN - 1)
    }

    /// Whether `p` lies inside `[start, start + capacity)`.
    pub fn contains(&self, p: *const u8) -> bool {
        // (No `start + capacity`: a region that ends at the top of the address space, which
        // a raw range may, would wrap.)
        (p as usize).wrapping_sub(self.start.as_ptr() as usize) < self.capacity()
    }
}

// SAFETY: `brk` stays within `[0, capacity]` of memory the arena borrows exclusively, and
// `start` is 16-byte aligned by construction.
unsafe impl Source for FixedArena<'_> {
    #[inline]
    fn start(&self) -> NonNull<u8> {
        self.start
    }
    #[inline]
    fn brk(&self) -> NonNull<u8> {
        // SAFETY: `brk <= capacity`, so the pointer is within or one past the region.
        unsafe { NonNull::new_unchecked(self.start.as_ptr().add(self.brk)) }
    }
    fn sbrk(&mut self, incr: usize) -> Option<NonNull<u8>> {
        if incr > self.capacity() - self.brk {
            return None;
        }
        let old = self.brk();
        self.brk += incr;
        Some(old)
    }
    /// The rest of the arena: memory the arena owns whether the heap uses it or not.
    #[inline]
    fn free_room(&self) -> usize {
        self.capacity() - self.brk
    }
}

/// The malloc lab's simulated memory: a borrowed region with its own `brk`, a hard maximum
/// and counters of the `sbrk` calls made.
///
/// ```
/// use core::mem::MaybeUninit;
/// use heapwise_core::{Heap, SimBrk, Source, ImplicitFirstFit};
///
/// let mut mem = vec![MaybeUninit::<u8>::uninit(); 1 << 16];
/// let mut heap: Heap<_, ImplicitFirstFit> = Heap::new(SimBrk::new(&mut mem, 1 << 16));
/// heap.malloc(1000).unwrap();
/// assert!(heap.source().heap_size() >= 1000);
/// assert!(heap.source().sbrk_calls() >= 1);
/// ```
pub struct SimBrk<'a> {
    arena: FixedArena<'a>,
    max: usize,
    calls: usize,
    refusals: usize,
}

impl<'a> SimBrk<'a> {
    /// Simulated memory over `mem`, refusing to grow past `max` bytes (or the region's
    /// size, whichever is smaller).
    pub fn new(mem: &'a mut [MaybeUninit<u8>], max: usize) -> Self {
        let arena = FixedArena::new(mem);
        let max = max.min(arena.capacity()) & !(ALIGN - 1);
        SimBrk {
            arena,
            max,
            calls: 0,
            refusals: 0,
        }
    }

    /// The hard maximum heap size.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Successful `sbrk` calls so far.
    pub fn sbrk_calls(&self) -> usize {
        self.calls
    }

    /// Refused `sbrk` calls so far.
    pub fn refusals(&self) -> usize {
        self.refusals
    }
}

// SAFETY: delegates to `FixedArena`, with an extra, smaller limit.
unsafe impl Source for SimBrk<'_> {
    #[inline]
    fn start(&self) -> NonNull<u8> {
        self.arena.start()
    }
    #[inline]
    fn brk(&self) -> NonNull<u8> {
        self.arena.brk()
    }
    fn sbrk(&mut self, incr: usize) -> Option<NonNull<u8>> {
        if incr > self.max - self.arena.heap_size() {
            self.refusals += 1;
            return None;
        }
        let r = self.arena.sbrk(incr);
        if r.is_some() {
            self.calls += 1;
        } else {
            self.refusals += 1;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_arena_grows_to_its_end_and_no_further() {
        let mut mem = [MaybeUninit::<u8>::uninit(); 100];
        let mut a = FixedArena::new(&mut mem);
        let cap = a.capacity();
        assert!(cap >= 80 && cap % 16 == 0);
        assert_eq!(a.start().as_ptr() as usize % 16, 0);
        let s = a.start();
        assert_eq!(a.sbrk(16), Some(s));
        assert_eq!(a.heap_size(), 16);
        assert_eq!(a.sbrk(cap), None);
        assert_eq!(a.heap_size(), 16);
        assert_eq!(a.free_room(), cap - 16);
        assert!(a.sbrk(cap - 16).is_some());
        assert_eq!(a.sbrk(16), None);
        assert_eq!(a.free_room(), 0);
    }

    /// `extend` refuses bytes past the top of the address space (no valid memory lies
    /// there), as its comment says: it checked only that the length did not overflow, and
    /// an arena near the top took them, its `brk` then wrapping around to address 0.
    #[test]
    fn fixed_arena_extend_never_wraps_the_address_space() {
        let top = usize::MAX & !(ALIGN - 1);
        // SAFETY: an empty range (nothing is read or written); the `extend`s below break
        // the contract on purpose, and must be refused.
        let mut a = unsafe { FixedArena::from_raw(core::ptr::without_provenance_mut(top), 0) };
        // SAFETY: as above.
        assert!(!unsafe { a.extend(2 * ALIGN) }, "refused");
        assert_eq!(
            a.capacity(),
            0,
            "bytes past the top of the address space taken"
        );
        assert_eq!(a.sbrk(ALIGN), None);
    }

    #[test]
    fn simbrk_honours_its_maximum_and_counts() {
        let mut mem = [MaybeUninit::<u8>::uninit(); 1024];
        let mut s = SimBrk::new(&mut mem, 256);
        assert!(s.sbrk(128).is_some());
        assert!(s.sbrk(256).is_none());
        assert!(s.sbrk(128).is_some());
        assert!(s.sbrk(16).is_none());
        assert_eq!((s.sbrk_calls(), s.refusals()), (2, 2));
        assert_eq!(s.heap_size(), 256);
        assert_eq!(s.free_room(), 0, "growing a SimBrk is never free");
    }
}
