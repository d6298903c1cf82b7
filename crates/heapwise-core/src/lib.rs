//! # heapwise-core
//!
//! The heap engine of heapwise: the malloc package of the CS:APP-style seed notes, and the
//! explicit and segregated free lists that follow it, as a `#![no_std]` library with no
//! dependencies. It never allocates, never panics on a request (impossible requests return
//! `None`), takes `&mut self` (locking is the caller's business), and reports detected
//! corruption through one hook.
//!
//! ```
//! use core::mem::MaybeUninit;
//! use heapwise_core::{FixedArena, Heap, Segregated};
//!
//! let mut mem = vec![MaybeUninit::<u8>::uninit(); 1 << 20];
//! let mut heap: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
//! let p = heap.malloc(24).unwrap();
//! let q = heap.aligned_alloc(4096, 100).unwrap();
//! assert_eq!(q.as_ptr() as usize % 4096, 0);
//! // SAFETY: `p` and `q` came from this heap and are each freed once.
//! unsafe {
//!     heap.free(p.as_ptr());
//!     heap.free(q.as_ptr());
//! }
//! heap.check().unwrap();
//! ```
//!
//! ## Module map
//!
//! | module | owns |
//! |---|---|
//! | [`block`] | the block format: header bits, footer, links, the ASCII diagram, all layout pointer arithmetic |
//! | [`source`] | the [`Source`] trait (a heap grown like `brk`), [`FixedArena`], [`SimBrk`] |
//! | [`heap`] | [`Heap`]: malloc / free / calloc / realloc / reallocarray / aligned_alloc / usable_size, splitting, coalescing, growth |
//! | [`policy`] | the [`Policy`] trait and fits; [`policy::implicit`], [`policy::explicit`], [`policy::segregated`], [`policy::compact`], [`policy::compact_slab`] |
//! | [`policy::slab`] | header-free small objects in slabs (for policies with `SLAB_MAX > 0`), the slab directory |
//! | `check` | [`Heap::check`], the heap checker |
//! | [`stats`] | [`Stats`] and fragmentation measures |
//! | [`error`] | [`HeapError`], [`ErrorKind`], the [`CorruptionHook`] |
//! | [`integrity`] | [`Integrity`]: how much the fast paths check (basic, glibc-like; full, every address) |
//! | [`any`] | [`PolicyKind`] and [`AnyHeap`]: a policy chosen at run time |
//! | `section` | which link section the hot engine functions of a policy go to (the hot code group for the default policy) |
//! | [`global`] | the `no_std` face: [`ArenaAlloc`], a lock-wrapped `GlobalAlloc` over fixed memory |
//!
//! ## Glossary (the seed's vocabulary)
//!
//! * **heap** — the contiguous range `[start, brk)` the allocator manages; it grows at the
//!   top, like `sbrk`.
//! * **block** — a piece of the heap: a one-word **header** (size and allocated bits), the
//!   **payload** the application uses, and, in free blocks, a **footer** repeating the header.
//! * **free list** — how free blocks are found: *implicit* (walk every block), *explicit*
//!   (a doubly linked list through free blocks), *segregated* (one list per size class).
//! * **placement** — which free block serves a request: first, next, best (or good) fit.
//! * **splitting** — cutting the unused tail of a chosen free block into a free block.
//! * **coalescing** — merging a freed block with free neighbours, through the boundary tags.
//! * **peak utilisation** — `max over time of live payload / heap size`; its enemies are
//!   **internal fragmentation** (block bytes beyond the payload) and **external
//!   fragmentation** (free memory scattered in blocks too small to use).
//!
//! ## Choosing a policy
//!
//! Policies are type parameters ([`ImplicitFirstFit`], [`ExplicitAddrFirst`],
//! [`Segregated`], ...), so a heap pays only for the one it uses. [`AnyHeap`] selects one
//! by name at run time.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

/// The README's examples, compiled and run as doctests (so that they stay true).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod any;
pub mod block;
mod check;
pub mod error;
pub mod global;
pub mod heap;
pub mod integrity;
pub mod policy;
pub mod quarantine;
mod section;
pub mod source;
pub mod stats;

pub use any::{AnyHeap, IntoAny, PolicyKind};
pub use error::{CorruptionHook, ErrorKind, HeapError};
pub use global::{ArenaAlloc, ArenaStats, RawLock, SingleCoreLock, SpinLock, StaticArena};
pub use heap::{BlockInfo, Counters, Heap, HeapLayout, DEFAULT_CHUNK};
pub use integrity::Integrity;
pub use policy::compact::Compact;
pub use policy::compact_slab::CompactSlab;
pub use policy::explicit::{AddressOrdered, Explicit, Lifo};
pub use policy::implicit::{Deferred, Immediate, Implicit};
pub use policy::segregated::Segregated;
pub use policy::{BestFit, FirstFit, Fit, NextFit, Policy};
pub use quarantine::{Quarantine, QUARANTINE_MAX};
pub use source::{FixedArena, SimBrk, Source};
pub use stats::Stats;

/// Implicit free list, first fit, immediate coalescing: the seed's textbook allocator.
pub type ImplicitFirstFit = Implicit<FirstFit, Immediate>;
/// Implicit free list, next fit, immediate coalescing.
pub type ImplicitNextFit = Implicit<NextFit, Immediate>;
/// Implicit free list, best fit, immediate coalescing.
pub type ImplicitBestFit = Implicit<BestFit, Immediate>;
/// Explicit LIFO free list, first fit.
pub type ExplicitLifoFirst = Explicit<Lifo, FirstFit>;
/// Explicit address-ordered free list, first fit.
pub type ExplicitAddrFirst = Explicit<AddressOrdered, FirstFit>;
