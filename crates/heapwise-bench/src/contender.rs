//! The contenders: the one interface every benchmarked allocator is driven through
//! ([`Contender`]), the list of contenders ([`Subject`]), and how each is built on a fresh
//! arena and handed, as a concrete type, to a workload ([`Visit`], [`with_subject`]).
//!
//! Dispatch is static: a workload is monomorphised for every contender, so no allocator
//! pays for a virtual call the others do not pay for.

use std::mem::MaybeUninit;

use heapwise_core::PolicyKind;

use crate::baseline::SlabBaseline;
use crate::heapwise::{visit_heapwise, visit_heapwise_any};
use crate::peers::{BuddyPeer, DlmallocPeer, LinkedListPeer, RlsfPeer, TalcPeer};

/// An allocator under test, seen through the Rust allocation interface: every request
/// carries its size and alignment, and `free`/`realloc` are told the old size.
pub trait Contender {
    /// A block of `size > 0` bytes aligned to `align` (a power of two, at most 16 in the
    /// workloads), or null when the arena is exhausted.
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8;

    /// Releases a block.
    ///
    /// # Safety
    /// `ptr` must come from `alloc`/`realloc` of this contender with this `size` and
    /// `align`, and not have been released since.
    unsafe fn free(&mut self, ptr: *mut u8, size: usize, align: usize);

    /// Resizes a block to `new > 0` bytes keeping its first `min(old, new)` bytes; null
    /// (with the old block untouched) when there is no room.
    ///
    /// # Safety
    /// As [`Contender::free`] for `ptr`, `old` and `align`.
    unsafe fn realloc(&mut self, ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8;
}

/// Moves a block by allocate-copy-free, for contenders without a native `realloc`.
///
/// # Safety
/// As [`Contender::realloc`].
pub unsafe fn realloc_by_copy<C: Contender + ?Sized>(
    c: &mut C,
    ptr: *mut u8,
    old: usize,
    align: usize,
    new: usize,
) -> *mut u8 {
    let q = c.alloc(new, align);
    if !q.is_null() {
        // SAFETY: `ptr` is a live block of `old` bytes and `q` a fresh, distinct block of
        // `new` bytes; both belong to the caller.
        unsafe {
            std::ptr::copy_nonoverlapping(ptr, q, old.min(new));
            c.free(ptr, old, align);
        }
    }
    q
}

/// Something a workload does with a contender, generic over its concrete type.
pub trait Visit {
    /// What the workload returns.
    type Out;
    /// Runs the workload on `c`, which owns the arena `[base, base + len)`.
    fn visit<C: Contender>(self, c: &mut C, base: *const u8, len: usize) -> Self::Out;
}

/// One row of the benchmark: an allocator (and, for heapwise, a policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A heapwise policy as a concrete `Heap<FixedArena, P>` type.
    Heapwise(PolicyKind),
    /// A heapwise policy behind the run-time [`heapwise_core::AnyHeap`] dispatch.
    HeapwiseAny(PolicyKind),
    /// `talc` 5 (`Talc<Manual, DefaultBinning>`).
    Talc,
    /// `rlsf` 0.2 (`Tlsf<usize, usize, 64, 64>`, the configuration of its `GlobalTlsf`).
    Rlsf,
    /// `linked_list_allocator` 0.10 (`Heap`, first fit).
    LinkedList,
    /// `buddy_system_allocator` 0.13 (`Heap<32>`).
    Buddy,
    /// `dlmalloc` 0.2 over an arena-backed system allocator.
    Dlmalloc,
    /// The harness floor ([`crate::baseline`]): power-of-two slabs, not a real allocator.
    Baseline,
}

impl Subject {
    /// The peers, in the order they are reported.
    pub const PEERS: [Subject; 5] = [
        Subject::Talc,
        Subject::Rlsf,
        Subject::Dlmalloc,
        Subject::Buddy,
        Subject::LinkedList,
    ];

    /// Every row of a full run: the default heapwise policy first, then its `AnyHeap`
    /// form, the peers, and every other heapwise policy.
    pub fn all() -> Vec<Subject> {
        let mut v = vec![
            Subject::Heapwise(PolicyKind::DEFAULT),
            Subject::HeapwiseAny(PolicyKind::DEFAULT),
        ];
        v.extend(Subject::PEERS);
        v.extend(
            PolicyKind::ALL
                .iter()
                .rev()
                .filter(|&&k| k != PolicyKind::DEFAULT)
                .map(|&k| Subject::Heapwise(k)),
        );
        v
    }

    /// The row's name: `heapwise/<policy>`, `heapwise-any/<policy>`, or the crate name.
    pub fn name(&self) -> String {
        match self {
            Subject::Heapwise(k) => format!("heapwise/{}", k.name()),
            Subject::HeapwiseAny(k) => format!("heapwise-any/{}", k.name()),
            Subject::Talc => "talc".into(),
            Subject::Rlsf => "rlsf".into(),
            Subject::LinkedList => "linked_list_allocator".into(),
            Subject::Buddy => "buddy_system_allocator".into(),
            Subject::Dlmalloc => "dlmalloc".into(),
            Subject::Baseline => "baseline (harness floor)".into(),
        }
    }

    /// Whether `pattern` selects this row: the full name, or a prefix ending at `/`
    /// (`heapwise` selects every `heapwise/...` row), or a policy-name prefix
    /// (`implicit` selects `heapwise/implicit-*`).
    pub fn matches(&self, pattern: &str) -> bool {
        let name = self.name();
        if name == pattern {
            return true;
        }
        if let Some(rest) = name.strip_prefix(pattern) {
            if rest.starts_with('/') {
                return true;
            }
        }
        match self {
            Subject::Heapwise(k) => k.name().starts_with(pattern),
            Subject::Baseline => pattern == "baseline",
            _ => false,
        }
    }

    /// Whether the row's search is linear in the number of blocks (implicit and explicit
    /// free lists, `linked_list_allocator`), so a full-length run would take minutes.
    pub fn is_linear(&self) -> bool {
        match self {
            Subject::Heapwise(k) | Subject::HeapwiseAny(k) => {
                k.name().starts_with("implicit") || k.name().starts_with("explicit")
            }
            Subject::LinkedList => true,
            _ => false,
        }
    }
}

/// Builds `subject` on `mem` (a fresh arena) and runs `v` on it.
pub fn with_subject<V: Visit>(subject: Subject, mem: &mut [MaybeUninit<u8>], v: V) -> V::Out {
    let base = mem.as_ptr() as *const u8;
    let len = mem.len();
    match subject {
        Subject::Heapwise(k) => visit_heapwise(k, mem, v),
        Subject::HeapwiseAny(k) => visit_heapwise_any(k, mem, v),
        Subject::Talc => v.visit(&mut TalcPeer::new(mem), base, len),
        Subject::Rlsf => v.visit(&mut RlsfPeer::new(mem), base, len),
        Subject::LinkedList => v.visit(&mut LinkedListPeer::new(mem), base, len),
        Subject::Buddy => v.visit(&mut BuddyPeer::new(mem), base, len),
        Subject::Dlmalloc => v.visit(&mut DlmallocPeer::new(mem), base, len),
        Subject::Baseline => v.visit(&mut SlabBaseline::new(mem), base, len),
    }
}
