//! The allocators a trace is replayed on: the small [`TraceAllocator`] trait, the engine
//! under any policy on a fresh simulated heap ([`EngineAllocator`]), and the C library's
//! `malloc` ([`SystemAllocator`]).
//!
//! The replayer only talks to the trait, so tests can plug in a deliberately broken
//! allocator and check that the validator catches it.
//!
//! Invariant: an [`EngineAllocator`] owns a fresh [`SimBrk`] heap; nothing it hands out
//! outlives it (the replayer drops every pointer with the allocator).

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
/// let mut a = Counting(SystemAllocator, 0);
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

/// The C library's allocator (`malloc`, `realloc`, `free` through the `libc` crate).
///
/// It keeps no state; blocks left live at the end of a replay are freed by the replayer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemAllocator;

impl TraceAllocator for SystemAllocator {
    #[inline]
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: `malloc` has no preconditions.
        NonNull::new(unsafe { libc::malloc(size) }.cast())
    }
    #[inline]
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the caller guarantees `ptr` came from `malloc`/`realloc` and is live.
        NonNull::new(unsafe { libc::realloc(ptr.as_ptr().cast(), size) }.cast())
    }
    #[inline]
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        // SAFETY: the caller guarantees `ptr` came from `malloc`/`realloc` and is live.
        unsafe { libc::free(ptr.as_ptr().cast()) }
    }
}
