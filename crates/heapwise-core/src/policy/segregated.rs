//! Segregated fits, the default policy: one free list per size class, and a bitmap of the
//! non-empty classes so that finding a class with a block that fits is a few bit-scan
//! instructions.
//!
//! # Size classes
//!
//! ```text
//!  class   0 .. 255  exact: class c holds blocks of exactly 16·c bytes (16 B .. 4080 B)
//!  class 256 .. 319  four classes per power of two, from 4 KiB:
//!                    class 256 + 4·(log2(s) - 12) + (next two bits of s)
//!                    e.g. 4096..5119 → 256, 5120..6143 → 257, ..., 8192..10239 → 260
//!                    class 319 also takes every block of 224 MiB and more
//! ```
//!
//! Exact classes up to 4 KiB make the best fit for a request below 4 KiB one bitmap scan
//! and one list head: the smallest non-empty class at or above the request's holds only
//! blocks of the smallest free size that fits.
//!
//! # Placement: best fit, and growth instead of a poor fit
//!
//! [`find`](Policy::find), for a request of block size `a`:
//! * in an exact class (`a` < 4 KiB): the head of the smallest non-empty class `>=
//!   class(a)` — a best fit, in O(1) plus the bitmap scan;
//! * in a range class: a first fit among the first [`SEARCH_LIMIT`] entries of the
//!   request's own class (they may be smaller than `a`); otherwise the head of the smallest
//!   non-empty class above it, every block of which fits (a good fit).
//!
//! The heap splits the block (the allocation takes its low end) and files the remainder in
//! its own class.
//!
//! **The wilderness last** (Korn and Vo's wilderness preservation; glibc's top chunk): when
//! the block found is the free block at the top of the heap, another fit is taken if one
//! exists — a later entry of the same list that fits, or the head of a higher class — and
//! the top only when nothing else fits. The top is the one free block that can grow, and the
//! block below it grows in place into it: in the malloc-lab `realloc-bal` pattern (a block
//! grown by `realloc` while small blocks come and go) small blocks used to land in the top,
//! the growing block had to move every few steps, and the heap ended twice its size
//! (peak utilisation 49.9 %; now 99.0 %; `realloc2-bal` 46.9 % → 79.4 %). The test is one
//! comparison of the found block's end with the epilogue on every search.
//!
//! **Growth instead of a poor fit** ([`Policy::prefer_growth`]): a fit that would leave a
//! remainder of 1 .. [`POOR_FIT_BELOW`] bytes (16 .. 112 B: a sliver only the smallest
//! requests can use, or 16 bytes of internal waste) is refused, and the request served at
//! the top of the heap instead, while
//! * the source can grow for free ([`crate::Source::free_room`] covers the request: the
//!   rest of a `FixedArena`), and
//! * less than 1/[`POOR_FIT_FREE_SHARE`] (1/64) of the heap is free.
//!
//! The refused block stays free for a later request it fits exactly, and next to other
//! free memory it coalesces into larger blocks: the bet is that such a request comes
//! before the arena is full. Where block sizes repeat (the bench's efficiency workload,
//! uniform 16–4096 B) it pays: ≈ 0.2 % of the 64 MiB arena is free at the first failure
//! instead of 1.3 % with best fit alone (efficiency 99.07 % instead of 97.9 %). Where they
//! do not (sizes up to 16 KiB, range classes), refused blocks pile up instead; the 1/64
//! limit stops the bet there, so it never costs more than that share of the heap. Once the
//! room is used up every fit is accepted, so no request fails that best fit would serve.
//! Sources whose growth costs (the OS sources, the lab's `SimBrk`: peak utilisation
//! divides by the heap size) report no free room: there the placement is the plain
//! best fit / good fit above, and the heap never grows while a block fits.
//!
//! # Cost
//! malloc of a size below 4 KiB with a fitting free block: class computation (a shift),
//! the head of the request's own class (an exact fit) or else a bitmap scan, one unlink of
//! a list head (its class is known from the search), one header write; the poor-fit test
//! is one comparison (plus a look at the heap's figures and the source's room when it is a
//! poor fit). free: two neighbour header reads for coalescing, one push (and a bitmap set
//! when the list was empty).
//!
//! # Metadata and invariants
//! Words `0 .. CLASSES` are the list heads, then `CLASSES / usize::BITS` bitmap words.
//! Bit `c` of the bitmap is set iff list `c` is non-empty; every block in list `c` has
//! `class_of(size) == c`.

use core::ptr::NonNull;

use crate::block::{layout, Block, ALIGN, WORD};
use crate::policy::list::List;
use crate::policy::{HeapView, Policy};

/// Number of size classes.
pub const CLASSES: usize = 320;
/// Classes below this index are exact (one block size each): blocks below 4 KiB.
pub const EXACT_CLASSES: usize = 256;
/// `log2(EXACT_CLASSES * ALIGN)`: the first range class starts at this power of two.
const EXACT_LOG2: usize = (EXACT_CLASSES * ALIGN).trailing_zeros() as usize;
/// Entries of the request's own range class tried before moving up a class.
pub const SEARCH_LIMIT: usize = 8;
/// A fit leaving a remainder of `1 .. POOR_FIT_BELOW` bytes is a poor fit: refused while
/// the heap can grow for free (see the module documentation).
pub const POOR_FIT_BELOW: usize = 128;
/// Poor fits are refused only while less than `1 / POOR_FIT_FREE_SHARE` of the heap is
/// free (see the module documentation).
pub const POOR_FIT_FREE_SHARE: usize = 64;

/// The hint of [`Policy::find_with_hint`] for a block that does not head its list.
const NOT_FIRST: usize = usize::MAX;

const BITS: usize = usize::BITS as usize;
const BITMAP_WORDS: usize = CLASSES / BITS;
// The bitmap words hold exactly one bit per class: none is spare (so
// `Policy::bitmap_spare_bits` keeps its default, 0).
const _: () = assert!(CLASSES % BITS == 0);

/// The size class of a block of `size` bytes (a multiple of 16).
///
/// Both halves of the table (exact, ranges) are computed and one is selected, without a
/// branch: with `fl = floor(log2(size))`, a range class is
/// `EXACT_CLASSES + 4·(fl − 12) + sl = 4·fl + sl + 208`, `sl` the two bits after the top
/// one.
#[inline]
pub const fn class_of(size: usize) -> usize {
    // At least 4 KiB keeps the logarithm at EXACT_LOG2 (12) or more, so the shift below
    // cannot underflow; for sizes below 4 KiB the exact class is selected anyway.
    let s = if size < EXACT_CLASSES * ALIGN {
        EXACT_CLASSES * ALIGN
    } else {
        size
    };
    let fl = (usize::BITS - 1 - s.leading_zeros()) as usize;
    let sl = (s >> (fl - 2)) & 3;
    let c = 4 * fl + sl + EXACT_CLASSES - 4 * EXACT_LOG2;
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
unsafe fn list(meta: NonNull<u8>, c: usize) -> List {
    // SAFETY: words 0..CLASSES of the metadata are the list heads.
    List(unsafe { layout::meta_word(meta, c).cast() })
}

#[inline]
unsafe fn bitmap(meta: NonNull<u8>, w: usize) -> *mut usize {
    // SAFETY: words CLASSES..CLASSES+BITMAP_WORDS of the metadata are the bitmap.
    unsafe { layout::meta_word(meta, CLASSES + w) }
}

/// The smallest non-empty class `>= from`, from the bitmap.
#[inline]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
unsafe fn first_nonempty(meta: NonNull<u8>, from: usize) -> Option<usize> {
    let mut w = from / BITS;
    if w >= BITMAP_WORDS {
        return None;
    }
    // SAFETY: `w < BITMAP_WORDS`, valid bitmap words.
    let mut bits = unsafe { bitmap(meta, w).read() } & (!0usize << (from % BITS));
    loop {
        if bits != 0 {
            return Some(w * BITS + bits.trailing_zeros() as usize);
        }
        w += 1;
        if w == BITMAP_WORDS {
            return None;
        }
        // SAFETY: `w < BITMAP_WORDS`.
        bits = unsafe { bitmap(meta, w).read() };
    }
}

/// Best fit / good fit for `asize` (see the module documentation), with the hint of
/// [`Policy::find_with_hint`] and the block's size.
///
/// Always inlined, as `Segregated`'s [`Policy::find_with_hint`] is (see the comment
/// there).
///
/// # Safety
/// As [`Policy::find_with_hint`].
#[inline(always)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
unsafe fn fit(v: &HeapView, asize: usize) -> Option<(Block, usize, usize)> {
    let c = class_of(asize);
    // SAFETY: lists and bitmap are consistent (policy invariant); a listed block's header
    // holds its size, and a block in an exact class has that class's size.
    unsafe {
        if c >= EXACT_CLASSES {
            if let Some((b, size, first)) = first_fit_from(v, list(v.meta, c).head(), asize) {
                return Some((b, if first { c } else { NOT_FIRST }, size));
            }
            let up = first_nonempty(v.meta, c + 1)?;
            return list(v.meta, up).head().map(|b| (b, up, b.size()));
        }
        // An exact fit first: the own class's head, without the bitmap.
        if let Some(b) = list(v.meta, c).head() {
            return Some((b, c, c * ALIGN));
        }
        let up = first_nonempty(v.meta, c + 1)?;
        let b = list(v.meta, up).head()?;
        let size = if up < EXACT_CLASSES {
            up * ALIGN
        } else {
            b.size()
        };
        Some((b, up, size))
    }
}

/// A fit for `asize` other than the wilderness `top` (of `tsize` bytes, found by [`fit`]):
/// a later entry of `top`'s list that fits, else the head of the next non-empty class.
///
/// The heap's view comes as the scalars it is made of (its epilogue is the end of `top`),
/// not as a reference: a `&HeapView` argument made every search store the view on the
/// stack for this rare call (5 instructions per `malloc` on the arena benchmark).
///
/// # Safety
/// As [`Policy::find_with_hint`] for the view `meta`, `first`, `checked` with its epilogue
/// at the end of `top`, a listed free block of `tsize` bytes.
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
unsafe fn other_fit(
    meta: NonNull<u8>,
    first: Block,
    checked: bool,
    asize: usize,
    top: Block,
    tsize: usize,
) -> Option<(Block, usize)> {
    let v = &HeapView {
        meta,
        first,
        // SAFETY: `top` is a free block of `tsize` bytes: the epilogue follows it.
        epilogue: unsafe { top.offset(tsize) },
        checked,
    };
    let c = class_of(tsize);
    // SAFETY: lists and bitmap are consistent (policy invariant).
    unsafe {
        if let Some((b, _, _)) = first_fit_from(v, top.link_next(), asize) {
            return Some((b, NOT_FIRST));
        }
        let up = first_nonempty(v.meta, c + 1)?;
        list(v.meta, up).head().map(|b| (b, up))
    }
}

/// The first of up to [`SEARCH_LIMIT`] list entries from `cur` on that fits `asize`, with
/// its size and whether it is `cur` itself.
///
/// # Safety
/// `cur` must be `None` or an entry of a consistent free list.
#[inline(always)]
unsafe fn first_fit_from(
    v: &HeapView,
    mut cur: Option<Block>,
    asize: usize,
) -> Option<(Block, usize, bool)> {
    let mut n = 0;
    while let Some(b) = cur {
        if !v.may_read(b) {
            // A wild link (`Full` only): returned unread, the heap's checks report it.
            return Some((b, 0, n == 0));
        }
        // SAFETY: a listed free block: its header holds its size, its payload the links.
        let size = unsafe { b.size() };
        if size >= asize {
            return Some((b, size, n == 0));
        }
        n += 1;
        if n == SEARCH_LIMIT {
            return None;
        }
        // SAFETY: as above.
        cur = unsafe { b.link_next() };
    }
    None
}

// SAFETY: writes only the metadata and link words of listed free blocks; `find` returns a
// listed block whose size is checked (own range class) or guaranteed by the class bounds
// (exact classes, higher classes) to be at least `asize`.
unsafe impl Policy for Segregated {
    const NAME: &'static str = "segregated";
    const META_BYTES: usize = ((CLASSES + BITMAP_WORDS) * WORD).next_multiple_of(ALIGN);
    const LISTS: usize = CLASSES;
    const HOT_SECTION: bool = true;

    #[inline]
    fn may_prefer_growth(asize: usize, bsize: usize) -> bool {
        // 1 <= bsize - asize < POOR_FIT_BELOW (an exact fit wraps around and is kept).
        bsize.wrapping_sub(asize).wrapping_sub(1) < POOR_FIT_BELOW - 1
    }

    #[inline]
    fn prefer_growth(asize: usize, bsize: usize, free: usize, heap: usize) -> bool {
        Self::may_prefer_growth(asize, bsize) && free < heap / POOR_FIT_FREE_SHARE
    }

    unsafe fn init(v: &HeapView) {
        // SAFETY: the metadata area has META_BYTES writable bytes.
        unsafe { core::ptr::write_bytes(v.meta.as_ptr(), 0, Self::META_BYTES) }
    }

    #[inline]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn insert(v: &HeapView, b: Block, size: usize) {
        let c = class_of(size);
        // SAFETY: `b` is a free block in no list; `c` is a valid class.
        unsafe {
            let l = list(v.meta, c);
            let old = l.head();
            // A non-empty list has its bit set already.
            if old.is_none() {
                *bitmap(v.meta, c / BITS) |= 1 << (c % BITS);
            }
            l.push_front_of(b, old);
        }
    }

    #[inline]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn remove(v: &HeapView, b: Block, size: usize) {
        // The class (the list head and the bitmap bit) is only needed when `b` is the first
        // entry of its list.
        let mut c = 0;
        // SAFETY: `b` is in list `class_of(size)` (it was inserted with this size).
        unsafe {
            let first = List::unlink_lazy(b, || {
                c = class_of(size);
                list(v.meta, c)
            });
            if first.is_some_and(|l| l.is_empty()) {
                *bitmap(v.meta, c / BITS) &= !(1 << (c % BITS));
            }
        }
    }

    #[inline]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn find(v: &HeapView, asize: usize) -> Option<Block> {
        // SAFETY: forwarded caller contract.
        unsafe { Self::find_with_hint(v, asize) }.map(|(b, _)| b)
    }

    /// The hint is the block's class when the block heads its list, `usize::MAX` when it
    /// was found further down its (own, range) class.
    // Always inlined (with `fit`): `malloc` inlined it anyway, and the out-of-line move of
    // `realloc` (`Heap::move_block_apart`) called it out of line, with the view stored on
    // the stack for the call; inlined there too, the arena benchmark runs 54,293,717 →
    // 53,930,706 instructions (with the move out of line).
    #[inline(always)]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn find_with_hint(v: &HeapView, asize: usize) -> Option<(Block, usize)> {
        // SAFETY: forwarded caller contract.
        let (b, hint, size) = unsafe { fit(v, asize) }?;
        // SAFETY: `b` is a listed free block of `size` bytes: the block after it (or the
        // epilogue) starts `size` bytes on.
        if unsafe { b.offset(size) } != v.epilogue {
            return Some((b, hint));
        }
        // The wilderness (the free block at the top) is the last resort.
        // SAFETY: forwarded caller contract.
        Some(unsafe { other_fit(v.meta, v.first, v.checked, asize, b, size) }.unwrap_or((b, hint)))
    }

    #[inline]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn remove_found(v: &HeapView, b: Block, size: usize, hint: usize) {
        if hint == NOT_FIRST {
            // SAFETY: forwarded caller contract.
            unsafe { Self::remove(v, b, size) };
            return;
        }
        // SAFETY: `b` heads list `hint` (its class), by `find_with_hint`.
        unsafe {
            if list(v.meta, hint).unlink_first(b) {
                *bitmap(v.meta, hint / BITS) &= !(1 << (hint % BITS));
            }
        }
    }

    #[inline]
    unsafe fn list_head(v: &HeapView, i: usize) -> Option<Block> {
        // SAFETY: `i < CLASSES`, initialised metadata.
        unsafe { list(v.meta, i).head() }
    }

    #[inline]
    fn list_accepts(i: usize, size: usize) -> bool {
        class_of(size) == i
    }

    #[inline]
    unsafe fn list_nonempty_bit(v: &HeapView, i: usize) -> Option<bool> {
        // SAFETY: `i < CLASSES`, initialised metadata.
        Some(unsafe { bitmap(v.meta, i / BITS).read() } & (1 << (i % BITS)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore)]
    fn classes_are_monotonic_and_exact_below_4k() {
        let mut last = 0;
        let mut s = 16;
        while s < (1 << 30) {
            let c = class_of(s);
            assert!(c >= last && c < CLASSES, "size {s}");
            if s < 4096 {
                assert_eq!(c, s / 16);
            }
            last = c;
            s += if s < 8192 { 16 } else { (s / 64) & !15 };
        }
        assert_eq!(class_of(4080), 255);
        assert_eq!(class_of(4096), 256);
        assert_eq!(class_of(5119), 256);
        assert_eq!(class_of(5120), 257);
        assert_eq!(class_of(8192), 260);
        assert_eq!(class_of(usize::MAX & !15), CLASSES - 1);
    }

    #[test]
    fn poor_fits_are_remainders_of_1_to_127_bytes_while_little_is_free() {
        let poor = |a, b| Segregated::prefer_growth(a, b, 0, 1 << 20);
        assert!(!poor(1024, 1024), "an exact fit is taken");
        assert!(poor(1024, 1040), "16 bytes of waste");
        assert!(poor(1024, 1024 + POOR_FIT_BELOW - 16));
        assert!(!poor(1024, 1024 + POOR_FIT_BELOW));
        assert!(!poor(32, usize::MAX & !15));
        let heap = POOR_FIT_FREE_SHARE << 20;
        assert!(Segregated::prefer_growth(1024, 1040, (1 << 20) - 1, heap));
        assert!(!Segregated::prefer_growth(1024, 1040, 1 << 20, heap));
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
