//! `compact`: the engine's utilisation-first policy. Best fit over size-sorted segregated
//! lists, small blocks kept apart from large ones, a heap grown by exactly the shortfall,
//! and `realloc` that reuses the space below a block at the top of the heap.
//!
//! (Design notes and measurements: see the end of this comment; they are filled in as the
//! policy is tuned.)
//!
//! # Metadata and invariants
//! Words `0 .. BINS` are the list heads, word `BINS` the bitmap of non-empty bins. Every
//! free block is in exactly one list, the list of its bin ([`bin_of`]); each list is sorted
//! by block size, ascending; bit `i` of the bitmap is set iff list `i` is non-empty.

use crate::block::{layout, Block, WORD};
use crate::policy::list::List;
use crate::policy::{HeapView, Policy};

/// Number of bins (free lists).
pub const BINS: usize = 11;

/// Blocks smaller than this (block size, header included) are *small*: carved from the
/// low end of a free block, and they grow the heap by [`SMALL_CHUNK`].
pub const SMALL: usize = 128;

/// Reclaim threshold of realloc.
pub const MOVE_DOWN_DIV: usize = 16;

/// Small-chunk growth: heap / DIV, clamped.
pub const SMALL_CHUNK_DIV: usize = 4;
/// Largest small chunk.
pub const SMALL_CHUNK_MAX: usize = 65536;
/// Small blocks looked at above a free block.
pub const TOP_RUN: usize = 8;
/// Slack given to a block slid down by realloc: asize / SLACK_DIV.
pub const SLACK_DIV: usize = 8;
/// Most list entries an insertion or a search walks past.
pub const WALK_LIMIT: usize = 64;
/// realloc keeps up to bsize / TRIM_DIV of slack.
pub const TRIM_DIV: usize = 2;
/// Free bytes a slide leaves below the block.
pub const SLIDE_RESERVE: usize = 128;
/// Growth for a small request that finds no free block.
pub const SMALL_CHUNK: usize = 1024;

/// The bin of a free block of `size` bytes (a multiple of 16, at least 32): one bin per
/// power of two from 32 bytes, the last one open-ended.
#[inline]
pub const fn bin_of(size: usize) -> usize {
    let l = (usize::BITS - 1 - size.leading_zeros()) as usize;
    let b = l.saturating_sub(5);
    if b >= BINS {
        BINS - 1
    } else {
        b
    }
}

/// Best fit over size-sorted segregated lists; see the module documentation.
#[derive(Debug)]
pub enum Compact {}

#[inline]
unsafe fn list(v: &HeapView, i: usize) -> List {
    // SAFETY: words 0..BINS of the metadata are the list heads.
    List(unsafe { layout::meta_word(v.meta, i).cast() })
}

#[inline]
unsafe fn bitmap(v: &HeapView) -> *mut usize {
    // SAFETY: word BINS of the metadata is the bitmap.
    unsafe { layout::meta_word(v.meta, BINS) }
}

// SAFETY: writes only the metadata words and the link words of listed free blocks; `find`
// returns a listed block whose size was compared with `asize` (own bin) or is larger than
// every size of the request's bin (higher bins).
unsafe impl Policy for Compact {
    const NAME: &'static str = "compact";
    const META_BYTES: usize = ((BINS + 1) * WORD + 15) & !15;
    const LISTS: usize = BINS;
    const CHUNK: usize = 0;

    #[inline]
    fn grow_bytes(v: &HeapView, asize: usize, need: usize, _chunk: usize) -> usize {
        if asize < SMALL {
            let heap = v.epilogue.addr() - v.first.addr();
            need.max((heap / SMALL_CHUNK_DIV).clamp(SMALL_CHUNK, SMALL_CHUNK_MAX))
        } else {
            need
        }
    }

    #[inline]
    fn realloc_move_down(psize: usize, bsize: usize, asize: usize) -> usize {
        if psize < bsize / MOVE_DOWN_DIV || psize < SLIDE_RESERVE + (asize - bsize) {
            return 0;
        }
        (asize + asize / SLACK_DIV).min(bsize + psize - SLIDE_RESERVE)
    }

    #[inline]
    fn realloc_trim(bsize: usize, asize: usize) -> bool {
        bsize - asize > bsize / TRIM_DIV
    }

    #[inline]
    unsafe fn place_high(v: &HeapView, b: Block, asize: usize, bsize: usize) -> bool {
        // SAFETY: `b` is a block of `bsize` bytes, so `b + bsize` is a block start or the
        // epilogue.
        if asize >= SMALL {
            return true;
        }
        // A small block goes high when only small blocks lie between `b` and the top.
        let mut n = unsafe { b.offset(bsize) };
        for _ in 0..TOP_RUN {
            if n == v.epilogue {
                return true;
            }
            let s = unsafe { n.size() };
            if s >= SMALL {
                return false;
            }
            n = unsafe { n.offset(s) };
        }
        false
    }

    unsafe fn init(v: &HeapView) {
        // SAFETY: the metadata area has META_BYTES writable bytes.
        unsafe { core::ptr::write_bytes(v.meta.as_ptr(), 0, Self::META_BYTES) }
    }

    #[inline]
    unsafe fn insert(v: &HeapView, b: Block, size: usize) {
        let i = bin_of(size);
        // SAFETY: `b` is a free block in no list; list `i` is consistent and sorted.
        unsafe {
            let l = list(v, i);
            let mut at = None;
            let mut cur = l.head();
            let mut n = 0;
            while let Some(c) = cur {
                if c.size() >= size || n == WALK_LIMIT {
                    break;
                }
                at = Some(c);
                cur = c.link_next();
                n += 1;
            }
            l.insert_after(at, b);
            *bitmap(v) |= 1 << i;
        }
    }

    #[inline]
    unsafe fn remove(v: &HeapView, b: Block, size: usize) {
        let i = bin_of(size);
        // SAFETY: `b` is in list `i` (it was inserted with this size).
        unsafe {
            let l = list(v, i);
            l.unlink(b);
            if l.is_empty() {
                *bitmap(v) &= !(1 << i);
            }
        }
    }

    #[inline]
    unsafe fn find(v: &HeapView, asize: usize) -> Option<Block> {
        let i = bin_of(asize);
        // SAFETY: lists and bitmap are consistent (policy invariant).
        unsafe {
            let mut cur = list(v, i).head();
            let mut n = 0;
            while let Some(b) = cur {
                if b.size() >= asize {
                    return Some(b);
                }
                n += 1;
                if n == WALK_LIMIT {
                    break;
                }
                cur = b.link_next();
            }
            let bits = bitmap(v).read() & (!0usize << (i + 1));
            if bits == 0 {
                return None;
            }
            list(v, bits.trailing_zeros() as usize).head()
        }
    }

    #[inline]
    unsafe fn list_head(v: &HeapView, i: usize) -> Option<Block> {
        // SAFETY: `i < BINS`, initialised metadata.
        unsafe { list(v, i).head() }
    }

    #[inline]
    fn list_accepts(i: usize, size: usize) -> bool {
        bin_of(size) == i
    }

    #[inline]
    unsafe fn list_nonempty_bit(v: &HeapView, i: usize) -> Option<bool> {
        // SAFETY: initialised metadata.
        Some(unsafe { bitmap(v).read() } & (1 << i) != 0)
    }
}
