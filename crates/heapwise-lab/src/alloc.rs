//! The allocators a trace is replayed on: the small [`TraceAllocator`] trait, the engine
//! under any policy on a fresh simulated heap ([`EngineAllocator`]), and the C library's
//! `malloc` under the same limit ([`SystemAllocator`]).
//!
//! The replayer only talks to the trait, so tests can plug in a deliberately broken
//! allocator and check that the validator catches it.
//!
//! Invariants: an [`EngineAllocator`] owns a fresh [`SimBrk`] heap; nothing it hands out
//! outlives it (the replayer drops every pointer with the allocator). A [`SystemAllocator`]
//! counts the usable bytes of the blocks it handed out and not freed, and refuses (null) a
//! request for more bytes than its limit leaves.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use heapwise_core::{AnyHeap, PolicyKind, SimBrk, Source, Stats};

/// A `malloc` package that a trace can be replayed on.
///
/// Only the three calls are required; the inspection methods default to "not available".
///
/// ```
/// use std::ptr::NonNull;
/// use heapwise_lab::alloc::{SystemAllocator, TraceAllocator};
/// use heapwise_lab::replay::replay_checked;
/// use heapwise_lab::trace::{Format, Trace};
///
/// /// The system allocator, counting calls.
/// struct Counting(SystemAllocator, usize);
///
/// impl TraceAllocator for Counting {
///     fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
///         self.1 += 1;
///         self.0.malloc(size)
///     }
///     unsafe fn realloc(&mut self, p: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
///         self.1 += 1;
///         // SAFETY: forwarded caller contract.
///         unsafe { self.0.realloc(p, size) }
///     }
///     unsafe fn free(&mut self, p: NonNull<u8>) {
///         self.1 += 1;
///         // SAFETY: forwarded caller contract.
///         unsafe { self.0.free(p) }
///     }
/// }
///
/// let t = Trace::parse("t.rep".as_ref(), "0 1 3 1\na 0 10\nr 0 99\nf 0\n", Format::Auto)
///     .unwrap();
/// let mut a = Counting(SystemAllocator::default(), 0);
/// let c = replay_checked(&t, &mut a).unwrap();
/// assert_eq!((a.1, c.peak_live, c.util()), (3, 99, None)); // no heap range: no utilisation
/// ```
pub trait TraceAllocator {
    /// `malloc(size)`; `None` when out of memory.
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>>;

    /// `realloc(ptr, size)` with `size > 0`; `None` when out of memory (the old block is
    /// then untouched).
    ///
    /// # Safety
    /// `ptr` must be a live block returned by this allocator.
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>>;

    /// `free(ptr)`.
    ///
    /// # Safety
    /// `ptr` must be a live block returned by this allocator.
    unsafe fn free(&mut self, ptr: NonNull<u8>);

    /// The heap's address range `[start, end)`, if the allocator has one that every
    /// payload must lie in (the system allocator has none).
    fn heap_range(&self) -> Option<(usize, usize)> {
        None
    }

    /// The engine's statistics (a heap walk), for allocators that have them.
    fn stats(&self) -> Option<Stats> {
        None
    }

    /// The blocks of the heap in address order, for allocators that can list them.
    fn blocks(&self) -> Option<Vec<heapwise_core::BlockInfo>> {
        None
    }

    /// The heap layout (start, metadata, first block, end), when the allocator has one.
    fn layout(&self) -> Option<heapwise_core::HeapLayout> {
        None
    }

    /// Runs the allocator's own consistency checker, if it has one.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Backing memory for simulated heaps, reused from one replay to the next so that every
/// replay after the first runs on memory already mapped (the same advantage the system
/// allocator has once its arena exists).
pub struct HeapMemory {
    buf: Box<[MaybeUninit<u8>]>,
}

impl HeapMemory {
    /// Reserves `limit` bytes (plus 16 for alignment). Pages are mapped only when touched.
    /// A limit the system cannot reserve is an error (one line), not an abort.
    ///
    /// ```
    /// use heapwise_lab::alloc::HeapMemory;
    /// assert_eq!(HeapMemory::new(1 << 20).unwrap().limit(), 1 << 20);
    /// assert!(HeapMemory::new(usize::MAX / 2).is_err());
    /// ```
    pub fn new(limit: usize) -> Result<HeapMemory, String> {
        let len = limit.saturating_add(16);
        let mut v: Vec<MaybeUninit<u8>> = Vec::new();
        v.try_reserve_exact(len).map_err(|_| {
            format!("cannot reserve a {limit}-byte heap limit (try a smaller --heap-limit)")
        })?;
        // SAFETY: the capacity is at least `len`, and uninitialised bytes are valid values
        // of `MaybeUninit<u8>` (nothing is written, so pages stay unmapped until touched).
        unsafe { v.set_len(len) };
        Ok(HeapMemory {
            buf: v.into_boxed_slice(),
        })
    }

    /// The usable heap limit in bytes.
    pub fn limit(&self) -> usize {
        self.buf.len() - 16
    }
}

/// The heapwise engine with one policy, over a fresh [`SimBrk`].
///
/// ```
/// use heapwise_core::PolicyKind;
/// use heapwise_lab::alloc::{EngineAllocator, HeapMemory, TraceAllocator};
///
/// let mut mem = HeapMemory::new(1 << 20).unwrap();
/// let mut a = EngineAllocator::new(PolicyKind::Segregated, &mut mem);
/// let p = a.malloc(100).unwrap();
/// assert_eq!(p.as_ptr() as usize % 16, 0);
/// // SAFETY: `p` is live and came from `a`.
/// unsafe { a.free(p) };
/// ```
pub struct EngineAllocator<'a> {
    heap: AnyHeap<SimBrk<'a>>,
}

impl<'a> EngineAllocator<'a> {
    /// A fresh heap with policy `kind` that may grow to `mem.limit()` bytes.
    pub fn new(kind: PolicyKind, mem: &'a mut HeapMemory) -> Self {
        let limit = mem.limit();
        EngineAllocator {
            heap: AnyHeap::new(kind, SimBrk::new(&mut mem.buf, limit)),
        }
    }

    /// The current heap size, `brk - start` (0 before the first request).
    pub fn heap_bytes(&self) -> usize {
        self.heap.source().heap_size()
    }

    /// The underlying heap.
    pub fn heap(&self) -> &AnyHeap<SimBrk<'a>> {
        &self.heap
    }
}

impl TraceAllocator for EngineAllocator<'_> {
    #[inline]
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        self.heap.malloc(size)
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` is a live block of this heap.
        unsafe { self.heap.realloc(ptr.as_ptr(), size) }
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller guarantees `ptr` is a live block of this heap.
        unsafe { self.heap.free(ptr.as_ptr()) }
    }
    fn heap_range(&self) -> Option<(usize, usize)> {
        let s = self.heap.source();
        Some((s.start().as_ptr() as usize, s.brk().as_ptr() as usize))
    }
    fn stats(&self) -> Option<Stats> {
        Some(self.heap.stats())
    }
    fn blocks(&self) -> Option<Vec<heapwise_core::BlockInfo>> {
        Some(self.heap.blocks().collect())
    }
    fn layout(&self) -> Option<heapwise_core::HeapLayout> {
        self.heap.layout()
    }
    fn check(&self) -> Result<(), String> {
        self.heap.check().map_err(|e| e.to_string())
    }
}

/// The C library's allocator (`malloc`, `realloc`, `free` through the `libc` crate),
/// bounded like the simulated heaps: a request that would take the bytes it holds above
/// its limit is answered with null (out of memory) without reaching `malloc`, so that a
/// trace asking for more (`a 0 1000000000`) cannot make the lab take more memory than the
/// limit (about: a `realloc` that moves a block holds both for a moment).
///
/// The bytes it holds are the usable sizes (`malloc_usable_size`, at least the requested
/// size) of the blocks it handed out and that are not freed yet; blocks left live at the end
/// of a replay are freed by the replayer. The default limit is
/// [`crate::lab::DEFAULT_HEAP_LIMIT`].
///
/// ```
/// use heapwise_lab::alloc::{SystemAllocator, TraceAllocator};
///
/// let mut a = SystemAllocator::new(1 << 20);
/// assert!(a.malloc(2 << 20).is_none());
/// let p = a.malloc(1000).unwrap();
/// assert!(a.live_bytes() >= 1000);
/// // SAFETY: `p` is live and came from `a`.
/// unsafe { a.free(p) };
/// assert_eq!(a.live_bytes(), 0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct SystemAllocator {
    limit: usize,
    live: usize,
}

impl SystemAllocator {
    /// The system allocator, holding at most `limit` bytes at a time.
    pub fn new(limit: usize) -> SystemAllocator {
        SystemAllocator { limit, live: 0 }
    }

    /// The limit given to [`SystemAllocator::new`].
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The usable bytes of the blocks handed out and not freed yet.
    pub fn live_bytes(&self) -> usize {
        self.live
    }

    /// The usable size of the live block `p`.
    ///
    /// # Safety
    /// `p` must be a live block of the C library's allocator.
    #[inline]
    unsafe fn usable(p: NonNull<u8>) -> usize {
        // SAFETY: the caller guarantees `p` is a live block of `malloc`.
        unsafe { libc::malloc_usable_size(p.as_ptr().cast()) }
    }
}

impl Default for SystemAllocator {
    fn default() -> SystemAllocator {
        SystemAllocator::new(crate::lab::DEFAULT_HEAP_LIMIT)
    }
}

impl TraceAllocator for SystemAllocator {
    #[inline]
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if size > self.limit.saturating_sub(self.live) {
            return None;
        }
        // SAFETY: `malloc` has no preconditions.
        let p = NonNull::new(unsafe { libc::malloc(size) }.cast())?;
        // SAFETY: `p` was just returned by `malloc`.
        self.live += unsafe { Self::usable(p) };
        Some(p)
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` came from `malloc`/`realloc` and is live.
        let old = unsafe { Self::usable(ptr) };
        let others = self.live.saturating_sub(old);
        if size > self.limit.saturating_sub(others) {
            return None;
        }
        // SAFETY: the caller guarantees `ptr` came from `malloc`/`realloc` and is live.
        let q = NonNull::new(unsafe { libc::realloc(ptr.as_ptr().cast(), size) }.cast())?;
        // SAFETY: `q` was just returned by `realloc`.
        self.live = others + unsafe { Self::usable(q) };
        Some(q)
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller guarantees `ptr` came from `malloc`/`realloc` and is live.
        let size = unsafe { Self::usable(ptr) };
        self.live = self.live.saturating_sub(size);
        // SAFETY: the caller guarantees `ptr` came from `malloc`/`realloc` and is live.
        unsafe { libc::free(ptr.as_ptr().cast()) }
    }
}
