//! heapwise under test: every policy as a concrete `Heap<FixedArena, P>` (the headline
//! numbers: the policy is a type parameter and every call is inlined), and as an
//! [`AnyHeap`] (the run-time choice, one `match` per call), both behind [`Contender`].
//!
//! Invariant: every [`PolicyKind`] of the core is benchmarked; a policy added to the core
//! after this file was written is measured through [`AnyHeap`] until it gets its own arm in
//! [`visit_heapwise`].

use std::mem::MaybeUninit;
use std::ptr;

use heapwise_core::block::ALIGN;
use heapwise_core::{
    AddressOrdered, AnyHeap, BestFit, Compact, CompactSlab, Deferred, Explicit, FirstFit,
    FixedArena, Heap, Immediate, Implicit, Lifo, NextFit, Policy, PolicyKind, Segregated, Source,
};

use crate::contender::{realloc_by_copy, Contender, Visit};

/// A heapwise heap with a compile-time policy.
pub struct HeapwisePeer<'a, P: Policy>(pub Heap<FixedArena<'a>, P>);

/// A heapwise heap with a run-time policy.
pub struct HeapwiseAnyPeer<'a>(pub AnyHeap<FixedArena<'a>>);

macro_rules! heapwise_contender {
    ($ty:ty $(, $gen:ident : $bound:path)?) => {
        impl<'a $(, $gen: $bound)?> Contender for $ty {
            #[inline]
            fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
                // Every heapwise payload is 16-byte aligned: smaller alignments are a malloc.
                let p = if align <= ALIGN {
                    self.0.malloc(size)
                } else {
                    self.0.aligned_alloc(align, size)
                };
                p.map_or(ptr::null_mut(), |p| p.as_ptr())
            }

            #[inline]
            unsafe fn free(&mut self, ptr: *mut u8, _size: usize, _align: usize) {
                // SAFETY: caller contract: `ptr` is a live payload of this heap.
                unsafe { self.0.free(ptr) }
            }

            #[inline]
            unsafe fn realloc(
                &mut self,
                ptr: *mut u8,
                old: usize,
                align: usize,
                new: usize,
            ) -> *mut u8 {
                // SAFETY: caller contract: `ptr` is a live payload of this heap; heapwise's
                // realloc keeps 16-byte alignment, larger ones go through a fresh block.
                unsafe {
                    if align <= ALIGN {
                        self.0.realloc(ptr, new).map_or(ptr::null_mut(), |p| p.as_ptr())
                    } else {
                        realloc_by_copy(self, ptr, old, align, new)
                    }
                }
            }
        }
    };
}

heapwise_contender!(HeapwisePeer<'a, P>, P: Policy);
heapwise_contender!(HeapwiseAnyPeer<'a>);

fn arena(mem: &mut [MaybeUninit<u8>]) -> FixedArena<'_> {
    FixedArena::new(mem)
}

/// Runs `v` on a concrete heap of policy `kind` over `mem`.
pub fn visit_heapwise<V: Visit>(kind: PolicyKind, mem: &mut [MaybeUninit<u8>], v: V) -> V::Out {
    fn go<P: Policy, V: Visit>(mem: &mut [MaybeUninit<u8>], v: V) -> V::Out {
        let mut c = HeapwisePeer::<P>(Heap::new(arena(mem)));
        let (base, len) = span(c.0.source());
        v.visit(&mut c, base, len)
    }
    #[allow(unreachable_patterns)] // the last arm serves policies added to the core later
    match kind {
        PolicyKind::ImplicitFirst => go::<Implicit<FirstFit, Immediate>, V>(mem, v),
        PolicyKind::ImplicitNext => go::<Implicit<NextFit, Immediate>, V>(mem, v),
        PolicyKind::ImplicitBest => go::<Implicit<BestFit, Immediate>, V>(mem, v),
        PolicyKind::ImplicitFirstDeferred => go::<Implicit<FirstFit, Deferred>, V>(mem, v),
        PolicyKind::ImplicitNextDeferred => go::<Implicit<NextFit, Deferred>, V>(mem, v),
        PolicyKind::ImplicitBestDeferred => go::<Implicit<BestFit, Deferred>, V>(mem, v),
        PolicyKind::ExplicitLifoFirst => go::<Explicit<Lifo, FirstFit>, V>(mem, v),
        PolicyKind::ExplicitLifoNext => go::<Explicit<Lifo, NextFit>, V>(mem, v),
        PolicyKind::ExplicitLifoBest => go::<Explicit<Lifo, BestFit>, V>(mem, v),
        PolicyKind::ExplicitAddrFirst => go::<Explicit<AddressOrdered, FirstFit>, V>(mem, v),
        PolicyKind::ExplicitAddrNext => go::<Explicit<AddressOrdered, NextFit>, V>(mem, v),
        PolicyKind::ExplicitAddrBest => go::<Explicit<AddressOrdered, BestFit>, V>(mem, v),
        PolicyKind::Segregated => go::<Segregated, V>(mem, v),
        PolicyKind::Compact => go::<Compact, V>(mem, v),
        PolicyKind::CompactSlab => go::<CompactSlab, V>(mem, v),
        other => visit_heapwise_any(other, mem, v),
    }
}

/// Runs `v` on an [`AnyHeap`] of policy `kind` over `mem`.
pub fn visit_heapwise_any<V: Visit>(kind: PolicyKind, mem: &mut [MaybeUninit<u8>], v: V) -> V::Out {
    let mut c = HeapwiseAnyPeer(AnyHeap::new(kind, arena(mem)));
    let (base, len) = span(c.0.source());
    v.visit(&mut c, base, len)
}

fn span(s: &FixedArena<'_>) -> (*const u8, usize) {
    (s.start().as_ptr(), s.capacity())
}
