//! Segregated fits, the default policy: one free list per size class, and a bitmap of the
//! non-empty classes so that finding a class with a block that fits is a couple of
//! bit-scan instructions.
//!
//! # Size classes
//!
//! ```text
//!  class   0 ..  63  exact: class c holds blocks of exactly 16·c bytes (16 B .. 1008 B)
//!  class  64 .. 127  four classes per power of two, from 1 KiB:
//!                    class 64 + 4·(log2(s) - 10) + (next two bits of s)
//!                    e.g. 1024..1279 → 64, 1280..1535 → 65, ..., 2048..2559 → 68
//!                    class 127 also takes every block of 56 MiB and more
//! ```
//!
//! # Placement (good fit)
//!
//! A request of block size `a` in an exact class takes the head of that class if any: an
//! exact fit in O(1). Otherwise, in a range class, the first [`SEARCH_LIMIT`] entries of the
//! request's own class are tried (they may be smaller than `a`); then the bitmap names the
//! smallest non-empty class above it, every block of which fits, and its head is taken.
//! The block is split by the heap, and the remainder filed in its own class.
//!
//! # Cost
//! malloc of a small size with a non-empty exact class: class computation (a shift), one
//! bitmap test, one unlink, one header write. free: two neighbour header reads for
//! coalescing, one push, one bitmap set.
//!
//! # Metadata and invariants
//! Words `0 .. CLASSES` are the list heads, then `CLASSES / usize::BITS` bitmap words.
//! Bit `c` of the bitmap is set iff list `c` is non-empty; every block in list `c` has
//! `class_of(size) == c`.

use crate::block::{layout, Block, ALIGN, WORD};
use crate::policy::list::List;
use crate::policy::{HeapView, Policy};

/// Number of size classes.
pub const CLASSES: usize = 128;
/// Classes below this index are exact (one block size each).
pub const EXACT_CLASSES: usize = 64;
/// Entries of the request's own range class tried before moving up a class.
pub const SEARCH_LIMIT: usize = 8;

const BITS: usize = usize::BITS as usize;
const BITMAP_WORDS: usize = CLASSES / BITS;

/// The size class of a block of `size` bytes (a multiple of 16).
///
/// Both halves of the table (exact, ranges) are computed and one is selected, without a
/// branch: with `fl = floor(log2(size))`, a range class is
/// `EXACT_CLASSES + 4·(fl − 10) + sl = 4·fl + sl + 24`, `sl` the two bits after the top one.
#[inline]
pub const fn class_of(size: usize) -> usize {
    // At least 1 KiB keeps the logarithm at 10 or more, so the shift below cannot
    // underflow; for sizes below 1 KiB the exact class is selected anyway.
    let s = if size < EXACT_CLASSES * ALIGN {
        EXACT_CLASSES * ALIGN
    } else {
        size
    };
    let fl = (usize::BITS - 1 - s.leading_zeros()) as usize;
    let sl = (s >> (fl - 2)) & 3;
    let c = 4 * fl + sl + EXACT_CLASSES - 40;
    let range = if c >= CLASSES { CLASSES - 1 } else { c };
    if size < EXACT_CLASSES * ALIGN {
        size / ALIGN
    } else {
        range
    }
}

/// Segregated free lists with a class bitmap and good-fit placement.
#[derive(Debug)]
pub enum Segregated {}

#[inline]
unsafe fn list(v: &HeapView, c: usize) -> List {
    // SAFETY: words 0..CLASSES of the metadata are the list heads.
    List(unsafe { layout::meta_word(v.meta, c).cast() })
}

#[inline]
unsafe fn bitmap(v: &HeapView, w: usize) -> *mut usize {
    // SAFETY: words CLASSES..CLASSES+BITMAP_WORDS of the metadata are the bitmap.
    unsafe { layout::meta_word(v.meta, CLASSES + w) }
}

/// The smallest non-empty class `>= from`, from the bitmap.
#[inline]
unsafe fn first_nonempty(v: &HeapView, from: usize) -> Option<usize> {
    let mut w = from / BITS;
    if w >= BITMAP_WORDS {
        return None;
    }
    // SAFETY: `w < BITMAP_WORDS`, valid bitmap words.
    let mut bits = unsafe { bitmap(v, w).read() } & (!0usize << (from % BITS));
    loop {
        if bits != 0 {
            return Some(w * BITS + bits.trailing_zeros() as usize);
        }
        w += 1;
        if w == BITMAP_WORDS {
            return None;
        }
        // SAFETY: `w < BITMAP_WORDS`.
        bits = unsafe { bitmap(v, w).read() };
    }
}

// SAFETY: writes only the metadata and link words of listed free blocks; `find` returns a
// listed block whose size is checked (own class) or guaranteed by the class bounds (higher
// classes) to be at least `asize`.
unsafe impl Policy for Segregated {
    const NAME: &'static str = "segregated";
    const META_BYTES: usize = (CLASSES + BITMAP_WORDS) * WORD;
    const LISTS: usize = CLASSES;

    unsafe fn init(v: &HeapView) {
        // SAFETY: the metadata area has META_BYTES writable bytes.
        unsafe { core::ptr::write_bytes(v.meta.as_ptr(), 0, Self::META_BYTES) }
    }

    #[inline]
    unsafe fn insert(v: &HeapView, b: Block, size: usize) {
        let c = class_of(size);
        // SAFETY: `b` is a free block in no list; `c` is a valid class.
        unsafe {
            list(v, c).push_front(b);
            *bitmap(v, c / BITS) |= 1 << (c % BITS);
        }
    }

    #[inline]
    unsafe fn remove(v: &HeapView, b: Block, size: usize) {
        // SAFETY: `b` is in list `class_of(size)` (it was inserted with this size); its
        // neighbours are entries of the same list. The class (the list head and the bitmap
        // bit) is only needed when `b` is the first entry.
        unsafe {
            let p = b.link_prev();
            let n = b.link_next();
            if let Some(n) = n {
                n.set_link_prev(p);
            }
            match p {
                Some(p) => p.set_link_next(n),
                None => {
                    let c = class_of(size);
                    list(v, c).set_head(n);
                    if n.is_none() {
                        *bitmap(v, c / BITS) &= !(1 << (c % BITS));
                    }
                }
            }
        }
    }

    #[inline]
    unsafe fn find(v: &HeapView, asize: usize) -> Option<Block> {
        let c = class_of(asize);
        // SAFETY: lists and bitmap are consistent (policy invariant).
        unsafe {
            if c >= EXACT_CLASSES {
                let mut cur = list(v, c).head();
                let mut n = 0;
                while let Some(b) = cur {
                    if b.size() >= asize {
                        return Some(b);
                    }
                    n += 1;
                    if n == SEARCH_LIMIT {
                        break;
                    }
                    cur = b.link_next();
                }
                let up = first_nonempty(v, c + 1)?;
                return list(v, up).head();
            }
            let up = first_nonempty(v, c)?;
            list(v, up).head()
        }
    }

    #[inline]
    unsafe fn list_head(v: &HeapView, i: usize) -> Option<Block> {
        // SAFETY: `i < CLASSES`, initialised metadata.
        unsafe { list(v, i).head() }
    }

    #[inline]
    fn list_accepts(i: usize, size: usize) -> bool {
        class_of(size) == i
    }

    #[inline]
    unsafe fn list_nonempty_bit(v: &HeapView, i: usize) -> Option<bool> {
        // SAFETY: `i < CLASSES`, initialised metadata.
        Some(unsafe { bitmap(v, i / BITS).read() } & (1 << (i % BITS)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)]
    fn classes_are_monotonic_and_exact_below_1k() {
        let mut last = 0;
        let mut s = 16;
        while s < (1 << 30) {
            let c = class_of(s);
            assert!(c >= last && c < CLASSES, "size {s}");
            if s < 1024 {
                assert_eq!(c, s / 16);
            }
            last = c;
            s += if s < 4096 { 16 } else { (s / 64) & !15 };
        }
        assert_eq!(class_of(1024), 64);
        assert_eq!(class_of(1279), 64);
        assert_eq!(class_of(1280), 65);
        assert_eq!(class_of(2048), 68);
        assert_eq!(class_of(usize::MAX & !15), CLASSES - 1);
    }

    #[test]
    #[cfg_attr(miri, ignore)]
    fn every_block_of_a_higher_class_fits_a_lower_class_request() {
        // The smallest size of class c+1 is larger than the largest size of class c.
        let mut max_in = [0usize; CLASSES];
        let mut min_in = [usize::MAX; CLASSES];
        let mut s = 16;
        while s < (1 << 27) {
            let c = class_of(s);
            max_in[c] = max_in[c].max(s);
            min_in[c] = min_in[c].min(s);
            s += 16;
        }
        for c in 1..CLASSES - 1 {
            if max_in[c] != 0 && min_in[c + 1] != usize::MAX {
                assert!(min_in[c + 1] > max_in[c]);
            }
        }
    }
}
