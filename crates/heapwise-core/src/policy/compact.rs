//! `compact`: the engine's utilisation-first policy. Best fit over size-sorted segregated
//! lists, small blocks kept apart from large ones, a heap grown by exactly the shortfall,
//! and a `realloc` that keeps a growing block at the top of the heap and reuses the space
//! below it.
//!
//! Every allocation is still a normal engine block (one header word, 16-byte aligned
//! payload, block sizes multiples of 16, at least 32 bytes), so `free`, `realloc`,
//! `usable_size` and the heap checker work exactly as for the other policies. What changes
//! is *where* blocks go and *how much* the heap grows. The policy uses four hooks of
//! [`Policy`] that the other policies leave at their defaults: [`Policy::grow_bytes`],
//! [`Policy::place_high`], [`Policy::realloc_move_down`] and [`Policy::realloc_trim`]
//! (and [`Policy::CHUNK`] = 0).
//!
//! # Design
//!
//! 1. **Best fit, cheaply.** Free blocks live in [`BINS`] lists, one per power of two from
//!    32 bytes (the last open-ended), each **sorted by size**, smallest first (a new block
//!    goes before blocks of its own size). The first block of the request's own bin that
//!    fits is the best fit in that bin; otherwise the head of the next non-empty bin (a
//!    bitmap word finds it) is the smallest block of that bin, larger than anything the
//!    request's bin holds. So placement is exact best fit, with 11 list heads and one
//!    bitmap word: 96 bytes of metadata on 64-bit, which matters because the metadata is
//!    part of the heap (the default `segregated` policy reserves 1040 bytes, 11 % of the
//!    heap it ends `coalescing-bal` with, whose peak payload is 8190 bytes). Insertion and search walk at most
//!    [`WALK_LIMIT`] entries of one list, so no operation is worse than O(`WALK_LIMIT` +
//!    `BINS`): past that (a bin with thousands of free blocks) a list is only roughly
//!    sorted and the fit only roughly best, never an O(n²) replay.
//! 2. **Exact growth.** The heap grows by exactly the shortfall (after merging a free last
//!    block), so no chunk is left unused at the end of a trace — except for small requests
//!    (3).
//! 3. **Small and large apart.** Blocks under [`SMALL`] bytes are *small*. A large block is
//!    carved from the **high** end of its free block, a small one from the **low** end, so
//!    inside any free region the two kinds grow towards each other instead of alternating.
//!    When a small request must grow the heap it asks for a chunk (half the heap size,
//!    clamped to [`SMALL_CHUNK`]..[`SMALL_CHUNK_MAX`]) and the region it opens fills with
//!    small blocks from below and large ones from above. This is what `binary-bal` and
//!    `binary2-bal` need: when their large blocks (448 / 112 bytes) are freed they leave long
//!    runs that coalesce into room for the 512 / 128-byte requests that follow, instead of
//!    holes one block wide between small survivors (53 % → 94 % on `binary-bal`).
//!    Exception: a small block whose free block is followed by nothing but small blocks up
//!    to the top of the heap (at most [`TOP_RUN`] of them) takes the **high** end, joining
//!    the small blocks already there, so that a large block *below* the free region can
//!    still grow into it (`realloc2-bal`).
//! 4. **realloc keeps a growing block at the top.** The engine already grows a block in
//!    place into a free successor or at the top of the heap. On top of that:
//!    * a block at the top that must grow, and whose free predecessor is at least
//!      1/[`MOVE_DOWN_DIV`] of its size, **slides down** into the predecessor instead of
//!      growing the heap: it is copied to the top end of the predecessor-plus-block region
//!      with 1/[`SLACK_DIV`] of slack, leaving at least [`SLIDE_RESERVE`] bytes free below
//!      for the small blocks that come and go under it. The block stays at the top, the
//!      hole left when it first moved is reclaimed, and copies are amortised by the slack.
//!    * a `realloc` that fits in the block keeps the tail as slack unless it is more than
//!      1/[`TRIM_DIV`] of the block (a real shrink), so the slack given above is not cut
//!      off by the next small growth.
//!
//!    `realloc-bal` (a block growing by 128 bytes among short-lived 128-byte blocks) and
//!    `realloc2-bal` (a block growing by 5 bytes among 16-byte blocks) go from 50 % and
//!    48 % under `segregated` to 99.9 % and 99 %, and `realloc-bal` replays 35× faster
//!    because the block no longer moves on every call.
//!
//! # Measurements
//!
//! Peak utilisation on the 11 classic CS:APP traces (`../shared/traces/csapp`), 16-byte
//! alignment, 64-bit, heap = `brk - start` of a `SimBrk` including metadata, padding,
//! prologue and epilogue; heap checker run after every operation. Reproduce with
//! `cargo run --release -p heapwise-core --example util -- --bound --check`.
//!
//! | trace | implicit-first | explicit-lifo-best | segregated | **compact** | block-model bound |
//! |---|---:|---:|---:|---:|---:|
//! | amptjp-bal | 99.12 % | 99.15 % | 99.11 % | **99.17 %** | 99.43 % |
//! | cccp-bal | 99.36 % | 99.36 % | 99.06 % | **99.52 %** | 99.54 % |
//! | cp-decl-bal | 98.96 % | 99.23 % | 99.20 % | **99.40 %** | 99.60 % |
//! | expr-bal | 99.27 % | 99.34 % | 99.24 % | **99.60 %** | 99.63 % |
//! | coalescing-bal | 99.01 % | 99.01 % | 88.10 % | **98.06 %** | 99.20 % |
//! | random-bal | 92.73 % | 96.02 % | 94.53 % | **95.52 %** | 99.91 % |
//! | random2-bal | 91.19 % | 94.76 % | 93.80 % | **94.82 %** | 99.91 % |
//! | binary-bal | 53.67 % | 53.67 % | 53.65 % | **93.75 %** | 94.73 % |
//! | binary2-bal | 47.35 % | 47.35 % | 47.31 % | **81.54 %** | 81.81 % |
//! | realloc-bal | 99.43 % | 50.05 % | 50.01 % | **99.91 %** | 99.99 % |
//! | realloc2-bal | 85.65 % | 48.98 % | 48.12 % | **98.95 %** | 99.74 % |
//! | **mean** | 87.79 % | 80.63 % | 79.28 % | **96.39 %** | 97.59 % |
//!
//! The *block-model bound* is the peak payload divided by the largest sum, over the trace,
//! of the block sizes of the live blocks plus the empty heap: no placement can beat it as
//! long as every allocation is an engine block (one 8-byte header, 16-byte granularity,
//! 32-byte minimum). It caps `binary2-bal` at 81.8 % (a 16-byte request needs a 32-byte
//! block) and the mean at 97.6 %; reaching a 97 % mean would need 99 %+ on the random
//! traces, where exact best fit leaves 4-5 % of the heap in holes at the peak.
//!
//! Throughput (median of 9 replays of all 11 traces in one process, on the shared 2-core
//! machine): about 61 M ops/s for `compact` against 27 M ops/s for glibc's `malloc` replaying
//! the same traces through `std::alloc::System` (2.3×); glibc is faster on `binary2-bal` and
//! `realloc2-bal` alone. `cargo run --release -p heapwise-core --example util -- --policy
//! compact --time 9 -v` prints the per-trace figures.
//!
//! # Costs
//!
//! * A sorted insert walks its bin (up to [`WALK_LIMIT`] entries): slower than the O(1)
//!   push of `segregated` when a bin holds many blocks of mixed sizes.
//! * A small request that grows the heap takes a chunk, which may stay partly unused.
//! * The slide copies the block (amortised by the slack); kept slack is memory no other
//!   request can use until the block is freed or shrinks by more than half.
//! * [`Policy::place_high`] reads up to [`TOP_RUN`] headers above a block chosen for a
//!   small request.
//!
//! # Metadata and invariants
//! Words `0 .. BINS` are the list heads, word `BINS` the bitmap of non-empty bins. Every
//! free block is in exactly one list, the list of its bin ([`bin_of`]); bit `i` of the
//! bitmap is set iff list `i` is non-empty, and bits `BINS..` are zero (all verified by
//! the heap checker). Each list is
//! sorted by size, ascending, as long as insertions found their place within
//! [`WALK_LIMIT`] steps; searches never rely on the order for correctness (a returned block
//! of the request's own bin is compared with the request, and every block of a higher bin
//! is larger than any request of a lower one).
//!
//! ```
//! use core::mem::MaybeUninit;
//! use heapwise_core::{Compact, Heap, SimBrk, Source};
//!
//! let mut mem = vec![MaybeUninit::<u8>::uninit(); 1 << 20];
//! let mut heap: Heap<_, Compact> = Heap::new(SimBrk::new(&mut mem, 1 << 20));
//! let big = heap.malloc(10_000).unwrap();
//! // The heap grew by exactly what the block needed (no 4 KiB chunk).
//! assert!(heap.source().heap_size() < 10_000 + 256);
//! // A block at the top grows in place.
//! let grown = unsafe { heap.realloc(big.as_ptr(), 20_000) }.unwrap();
//! assert_eq!(grown, big);
//! unsafe { heap.free(grown.as_ptr()) };
//! heap.check().unwrap();
//! ```

use crate::block::{layout, Block, WORD};
use crate::policy::list::List;
use crate::policy::{HeapView, Policy};

/// Number of bins (free lists): one per power of two from 32 bytes, the last open-ended.
pub const BINS: usize = 11;

/// Blocks smaller than this (block size, header included) are *small*: carved from the
/// low end of a free block (unless only small blocks lie above it), and they grow the heap
/// by a chunk.
pub const SMALL: usize = 128;

/// Smallest growth for a small request that finds no free block.
pub const SMALL_CHUNK: usize = 2048;

/// Largest growth for a small request that finds no free block.
pub const SMALL_CHUNK_MAX: usize = 64 * 1024;

/// A small request that grows the heap asks for `heap size / SMALL_CHUNK_DIV` bytes,
/// clamped to `[SMALL_CHUNK, SMALL_CHUNK_MAX]`.
pub const SMALL_CHUNK_DIV: usize = 2;

/// How many blocks above a free block a small request looks at to decide whether only small
/// blocks lie between the free block and the top of the heap.
pub const TOP_RUN: usize = 8;

/// A block at the top slides down into a free predecessor of at least
/// `size / MOVE_DOWN_DIV` bytes rather than grow the heap.
pub const MOVE_DOWN_DIV: usize = 16;

/// A sliding block gets `needed / SLACK_DIV` bytes of slack.
pub const SLACK_DIV: usize = 8;

/// Free bytes a slide leaves below the block, for the small blocks around it.
pub const SLIDE_RESERVE: usize = 128;

/// A `realloc` that fits frees the tail only when it is more than `size / TRIM_DIV` bytes.
pub const TRIM_DIV: usize = 2;

/// Most list entries an insertion or a search walks past.
pub const WALK_LIMIT: usize = 64;

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

    /// Exactly the shortfall (or the heap's chunk, 0 unless set with
    /// [`crate::Heap::with_chunk`]); a small request opens a region for small blocks.
    #[inline]
    fn grow_bytes(v: &HeapView, asize: usize, need: usize, chunk: usize) -> usize {
        let want = need.max(chunk);
        if asize < SMALL {
            let heap = v.epilogue.addr() - v.first.addr();
            want.max((heap / SMALL_CHUNK_DIV).clamp(SMALL_CHUNK, SMALL_CHUNK_MAX))
        } else {
            want
        }
    }

    /// Slide down when the predecessor is a sizeable hole, keeping a reserve below and
    /// taking some slack.
    #[inline]
    fn realloc_move_down(psize: usize, bsize: usize, asize: usize) -> usize {
        let shortfall = asize.saturating_sub(bsize);
        if psize < bsize / MOVE_DOWN_DIV || psize < SLIDE_RESERVE + shortfall {
            return 0;
        }
        (asize + asize / SLACK_DIV).min(bsize + psize - SLIDE_RESERVE)
    }

    /// Keep up to half the block as slack.
    #[inline]
    fn realloc_trim(bsize: usize, asize: usize) -> bool {
        bsize.saturating_sub(asize) > bsize / TRIM_DIV
    }

    /// Large blocks high, small blocks low, unless only small blocks lie above.
    #[inline]
    unsafe fn place_high(v: &HeapView, b: Block, asize: usize, bsize: usize) -> bool {
        if asize >= SMALL {
            return true;
        }
        // A small block goes high when only small blocks lie between `b` and the top.
        // SAFETY: `b` is a block of `bsize` bytes, so `b + bsize` is a block start or the
        // epilogue; every block start below the epilogue has a header holding its size, so
        // the walk visits block starts only and stops at the epilogue.
        unsafe {
            let mut n = b.offset(bsize);
            for _ in 0..TOP_RUN {
                if n == v.epilogue {
                    return true;
                }
                let s = n.size();
                if s >= SMALL {
                    return false;
                }
                n = n.offset(s);
            }
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

    /// Bits `BINS..` of the bitmap word, which name no bin.
    #[inline]
    unsafe fn bitmap_spare_bits(v: &HeapView) -> usize {
        // SAFETY: initialised metadata.
        unsafe { bitmap(v).read() & !((1 << BINS) - 1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{block_size_for, empty_heap_bytes, MIN_BLOCK};
    use crate::{Heap, SimBrk, Source};
    use core::mem::MaybeUninit;
    use std::vec;
    use std::vec::Vec;

    fn mem(n: usize) -> Vec<MaybeUninit<u8>> {
        vec![MaybeUninit::uninit(); n]
    }

    #[test]
    fn bins_are_powers_of_two_and_every_higher_bin_holds_larger_blocks() {
        assert_eq!(bin_of(MIN_BLOCK), 0);
        assert_eq!(bin_of(48), 0);
        assert_eq!(bin_of(64), 1);
        assert_eq!(bin_of(127 & !15), 1);
        assert_eq!(bin_of(128), 2);
        assert_eq!(bin_of(1 << 14), 9);
        assert_eq!(bin_of(1 << 15), BINS - 1);
        assert_eq!(bin_of(usize::MAX & !15), BINS - 1);
        let mut s = MIN_BLOCK;
        while s < 1 << 17 {
            let i = bin_of(s);
            // A block of the next bin up is larger than every block of this bin.
            if i + 1 < BINS {
                assert!(bin_of(s + 16) == i || (s + 16).is_power_of_two());
            }
            s += 16;
        }
        const { assert!(Compact::META_BYTES % 16 == 0 && Compact::META_BYTES <= 96) };
    }

    #[test]
    fn the_heap_grows_by_exactly_the_shortfall_for_large_requests() {
        let mut m = mem(1 << 16);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 1 << 16));
        h.malloc(10_000).unwrap();
        let expect = empty_heap_bytes(Compact::META_BYTES) + block_size_for(10_000).unwrap();
        assert_eq!(h.source().heap_size(), expect);
        h.malloc(3000).unwrap();
        assert_eq!(
            h.source().heap_size(),
            expect + block_size_for(3000).unwrap()
        );
        // A small request opens a region of at least SMALL_CHUNK bytes.
        h.malloc(16).unwrap();
        assert!(h.source().heap_size() >= expect + 3008 + SMALL_CHUNK);
        h.check().unwrap();
    }

    #[test]
    fn large_blocks_take_the_high_end_and_small_blocks_the_low_end() {
        let mut m = mem(1 << 16);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 1 << 16));
        let hole = h.malloc(4000).unwrap().as_ptr();
        let fence = h.malloc(1000).unwrap().as_ptr();
        // SAFETY: `hole` is live; freeing it leaves a free block below the large `fence`.
        unsafe { h.free(hole) };
        let small = h.malloc(16).unwrap().as_ptr();
        assert_eq!(small, hole, "small requests take the low end");
        let large = h.malloc(1000).unwrap().as_ptr();
        let lsize = block_size_for(1000).unwrap();
        // The large block ends where the fence block's header starts.
        assert_eq!(large as usize - WORD + lsize, fence as usize - WORD);
        h.check().unwrap();
        // Between them, one free block.
        let free: Vec<_> = h.blocks().filter(|b| !b.allocated).collect();
        assert_eq!(free.len(), 1);
        assert_eq!(
            free[0].addr,
            small as usize - WORD + block_size_for(16).unwrap()
        );
    }

    #[test]
    fn a_small_block_joins_small_blocks_at_the_top() {
        let mut m = mem(1 << 16);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 1 << 16));
        let big = h.malloc(2000).unwrap().as_ptr();
        let a = h.malloc(16).unwrap().as_ptr();
        // `a` opened a chunk above `big` and sits at its top, so that `big` can grow.
        let top = h.layout().unwrap().end - WORD;
        let small = block_size_for(16).unwrap();
        assert_eq!(a as usize - WORD + small, top);
        let b = h.malloc(16).unwrap().as_ptr();
        assert_eq!(b as usize + small, a as usize);
        // SAFETY: `big` is live.
        let grown = unsafe { h.realloc(big, 2500) }.unwrap().as_ptr();
        assert_eq!(grown, big, "grew in place into the room left above it");
        h.check().unwrap();
    }

    #[test]
    fn realloc_slides_a_top_block_down_into_a_hole_instead_of_growing_the_heap() {
        let mut m = mem(1 << 16);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 1 << 16));
        let hole = h.malloc(8000).unwrap().as_ptr();
        let top = h.malloc(8000).unwrap().as_ptr();
        // SAFETY: `top` is a live payload of at least 8000 bytes.
        unsafe {
            for i in 0..8000 {
                top.add(i).write(i as u8);
            }
            h.free(hole);
        }
        let before = h.source().heap_size();
        // SAFETY: `top` is live.
        let moved = unsafe { h.realloc(top, 9000) }.unwrap().as_ptr();
        assert_eq!(h.source().heap_size(), before, "the heap did not grow");
        assert!(moved < top, "the block slid down");
        // It still ends at the top of the heap, with a reserve left free below it.
        let end = h.layout().unwrap().end - WORD;
        // SAFETY: `moved` is live.
        let usable = unsafe { h.usable_size(moved) };
        assert_eq!(moved as usize + usable, end);
        assert!(moved as usize - hole as usize >= SLIDE_RESERVE);
        // SAFETY: the first 8000 bytes were kept.
        unsafe {
            for i in 0..8000 {
                assert_eq!(moved.add(i).read(), i as u8);
            }
        }
        // Growing again within the slack does not move or trim it.
        // SAFETY: `moved` is live.
        let again = unsafe { h.realloc(moved, 9100) }.unwrap().as_ptr();
        assert_eq!(again, moved);
        // SAFETY: `again` is live.
        assert_eq!(unsafe { h.usable_size(again) }, usable);
        h.check().unwrap();
    }

    #[test]
    fn realloc_still_trims_a_real_shrink() {
        let mut m = mem(1 << 16);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 1 << 16));
        let p = h.malloc(10_000).unwrap().as_ptr();
        // SAFETY: `p` is live.
        let q = unsafe { h.realloc(p, 9000) }.unwrap().as_ptr();
        // SAFETY: `q` is live.
        let usable = unsafe { h.usable_size(q) };
        assert_eq!(
            usable,
            block_size_for(10_000).unwrap() - WORD,
            "a small shrink keeps the slack"
        );
        // SAFETY: `q` is live.
        let r = unsafe { h.realloc(q, 1000) }.unwrap().as_ptr();
        assert_eq!(r, p);
        // SAFETY: `r` is live.
        let usable = unsafe { h.usable_size(r) };
        assert_eq!(usable, block_size_for(1000).unwrap() - WORD);
        h.check().unwrap();
    }

    /// The `binary-bal` pattern (alternating 64 / 448, free the 448s, then 512s), scaled
    /// down: keeping small and large blocks apart lets the freed 448s serve the 512s.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn freed_large_blocks_coalesce_into_room_for_larger_ones() {
        let n = 500;
        let mut m = mem(4 << 20);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 4 << 20));
        let mut large = Vec::new();
        for _ in 0..n {
            h.malloc(64).unwrap();
            large.push(h.malloc(448).unwrap().as_ptr());
        }
        for p in large {
            // SAFETY: each `p` is live and freed once.
            unsafe { h.free(p) };
            h.check().unwrap();
        }
        for _ in 0..n {
            h.malloc(512).unwrap();
        }
        h.check().unwrap();
        let util = (n * (64 + 512)) as f64 / h.source().heap_size() as f64;
        // The block-model bound is 576 / 608 = 94.7 %; alternating placement gives 54 %.
        assert!(util > 0.88, "utilisation {util}");
    }

    /// Every list stays sorted by size while its insertions find their place.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn lists_stay_sorted_and_the_checker_passes_under_churn() {
        let mut m = mem(32 << 20);
        let mut h: Heap<_, Compact> = Heap::new(SimBrk::new(&mut m, 32 << 20));
        let mut live: Vec<*mut u8> = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let r = x as usize;
            if live.is_empty() || r % 2 != 0 {
                let size = if r % 4 == 0 { r % 40_000 } else { r % 200 };
                live.push(h.malloc(size).unwrap().as_ptr());
            } else {
                let p = live.swap_remove(r % live.len());
                if r % 5 == 0 {
                    // SAFETY: `p` is live.
                    live.push(
                        unsafe { h.realloc(p, (r >> 8) % 20_000 + 1) }
                            .unwrap()
                            .as_ptr(),
                    );
                } else {
                    // SAFETY: `p` is live and freed once.
                    unsafe { h.free(p) };
                }
            }
            if step % 50 == 0 {
                h.check().unwrap();
                let v = h.view();
                for i in 0..BINS {
                    // SAFETY: the heap is consistent; list entries are free blocks.
                    unsafe {
                        let mut cur = Compact::list_head(&v, i);
                        let mut last = 0;
                        while let Some(b) = cur {
                            assert!(b.size() >= last, "bin {i} out of order");
                            last = b.size();
                            cur = b.link_next();
                        }
                    }
                }
            }
        }
        for p in live {
            // SAFETY: each `p` is live and freed once.
            unsafe { h.free(p) };
        }
        h.check().unwrap();
        assert_eq!(h.stats().free_blocks, 1);
    }
}
