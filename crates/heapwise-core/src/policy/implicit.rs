//! The seed's implicit free list: no list at all. The heap *is* the list, walked block by
//! block through the sizes in the headers, from the first block to the epilogue.
//!
//! Placement is first, next or best fit ([`Fit`]); coalescing is immediate (on every free)
//! or deferred (the heap merges all runs of free blocks when a search fails), chosen by the
//! [`Coalescing`] parameter. Every search is O(number of blocks), which is exactly the cost
//! the lab shows.
//!
//! Metadata: one word, the next-fit *rover* (a block start, or null for "the first block").
//! Invariant: the rover is null or the start of a block of the heap. Blocks stop being block
//! starts only when merged, and [`Policy::absorbed`] moves the rover to the merged block.

use core::marker::PhantomData;

use crate::block::{layout, Block};
use crate::policy::{Fit, FitKind, HeapView, Policy};

/// When freed blocks are merged with free neighbours.
pub trait Coalescing {
    /// `true`: on every free; `false`: when a search fails.
    const IMMEDIATE: bool;
    /// Suffix in policy names (`""` or `"-deferred"`).
    const SUFFIX: &'static str;
}

/// Coalesce on every free (the four boundary-tag cases).
#[derive(Debug)]
pub enum Immediate {}
/// Coalesce the whole heap when a search fails.
#[derive(Debug)]
pub enum Deferred {}

impl Coalescing for Immediate {
    const IMMEDIATE: bool = true;
    const SUFFIX: &'static str = "";
}
impl Coalescing for Deferred {
    const IMMEDIATE: bool = false;
    const SUFFIX: &'static str = "-deferred";
}

/// The implicit free list with fit `F` and coalescing `C`.
#[derive(Debug)]
pub struct Implicit<F: Fit, C: Coalescing = Immediate>(PhantomData<(F, C)>);

#[inline]
unsafe fn rover(v: &HeapView) -> *mut *mut u8 {
    // SAFETY: word 0 of the metadata area is the rover.
    unsafe { layout::meta_word(v.meta, 0).cast() }
}

/// First (or best) free block of at least `asize` bytes in `[from, to)`. At `Full`, a
/// block whose size would leave the heap or break the alignment is returned as found (the
/// heap's checks report it) instead of being followed.
#[inline]
unsafe fn scan(v: &HeapView, from: Block, to: Block, asize: usize, best: bool) -> Option<Block> {
    let mut b = from;
    let mut found: Option<(Block, usize)> = None;
    // SAFETY: `from` is a block start and the walk follows sizes through live headers up to
    // `to` (a block start or the epilogue, whose size is 0); at `Full` each size is checked
    // to stay inside the heap first.
    unsafe {
        while b != to {
            let h = b.header();
            let size = h & !crate::block::FLAGS;
            if size == 0 {
                break;
            }
            if !v.size_ok(b, size) {
                return Some(b);
            }
            if h & crate::block::ALLOC == 0 && size >= asize {
                if !best || size == asize {
                    return Some(b);
                }
                if found.is_none_or(|(_, s)| size < s) {
                    found = Some((b, size));
                }
            }
            b = b.offset(size);
        }
    }
    found.map(|(b, _)| b)
}

// SAFETY: the implicit list only reads headers, and only writes its rover word; `find`
// returns free blocks of sufficient size.
unsafe impl<F: Fit, C: Coalescing> Policy for Implicit<F, C> {
    const NAME: &'static str = "implicit";
    const META_BYTES: usize = 16;
    const IMMEDIATE_COALESCE: bool = C::IMMEDIATE;

    unsafe fn init(v: &HeapView) {
        // SAFETY: the metadata area is writable (caller contract).
        unsafe { rover(v).write(core::ptr::null_mut()) }
    }

    #[inline]
    unsafe fn insert(_v: &HeapView, _b: Block, _size: usize) {}

    #[inline]
    unsafe fn remove(_v: &HeapView, _b: Block, _size: usize) {}

    #[inline]
    unsafe fn absorbed(v: &HeapView, b: Block, into: Block) {
        if F::KIND == FitKind::Next {
            // SAFETY: the rover word is valid metadata.
            unsafe {
                if rover(v).read() == b.as_ptr() {
                    rover(v).write(into.as_ptr());
                }
            }
        }
    }

    unsafe fn find(v: &HeapView, asize: usize) -> Option<Block> {
        // SAFETY: the heap is consistent; the rover is null or a block start.
        unsafe {
            match F::KIND {
                FitKind::First => scan(v, v.first, v.epilogue, asize, false),
                FitKind::Best => scan(v, v.first, v.epilogue, asize, true),
                FitKind::Next => {
                    let r = rover(v).read();
                    let start = match core::ptr::NonNull::new(r) {
                        None => v.first,
                        Some(p) => Block::from_header(p),
                    };
                    let hit = scan(v, start, v.epilogue, asize, false)
                        .or_else(|| scan(v, v.first, start, asize, false));
                    if let Some(b) = hit {
                        rover(v).write(b.as_ptr());
                    }
                    hit
                }
            }
        }
    }
}
