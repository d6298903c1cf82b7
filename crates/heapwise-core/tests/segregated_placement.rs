//! The default policy's placement, asserted block by block: best fit below 4 KiB (exact
//! classes), the free top of the heap (the wilderness) taken last, and growth instead of a
//! poor fit where growing is free (`FixedArena`) and little of the heap is free, but never
//! where growth costs (`SimBrk`), nor while 1/64 of the heap or more is free, nor once the
//! room is used up.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use heapwise_core::policy::segregated::{POOR_FIT_BELOW, POOR_FIT_FREE_SHARE};
use heapwise_core::{FixedArena, Heap, Segregated, SimBrk, Source};

/// A request whose block (header included, rounded to 16) is exactly `block` bytes.
fn req(block: usize) -> usize {
    block - 8
}

fn region(bytes: usize) -> Vec<MaybeUninit<u8>> {
    let mut v = Vec::with_capacity(bytes);
    // SAFETY: `MaybeUninit<u8>` needs no initialisation, and the capacity is `bytes`.
    unsafe { v.set_len(bytes) };
    v
}

fn addr(p: Option<NonNull<u8>>) -> usize {
    p.expect("allocation").as_ptr() as usize
}

/// A live block of `bytes` first, so that the free blocks a test makes are well under
/// 1/POOR_FIT_FREE_SHARE of the heap.
fn ballast<S: Source>(h: &mut Heap<S, Segregated>, bytes: usize) {
    addr(h.malloc(bytes));
}

/// Allocates blocks of exactly `blocks` bytes, each followed by an allocated separator, then
/// frees them in order, so that each stays a free block of exactly that size (the last one
/// freed heads its list); returns their payload addresses.
fn free_blocks_of<S: Source>(h: &mut Heap<S, Segregated>, blocks: &[usize]) -> Vec<usize> {
    let mut v = Vec::new();
    for &b in blocks {
        v.push(addr(h.malloc(req(b))));
        addr(h.malloc(16));
    }
    for &a in &v {
        // SAFETY: `a` is a live payload of `h`.
        unsafe { h.free(a as *mut u8) };
    }
    h.check().unwrap();
    v
}

#[test]
fn below_4k_the_smallest_fitting_block_is_taken_not_the_newest() {
    let mut mem = region(1 << 20);
    let mut h: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    // Both in the old range class 2048..2559; the larger one is freed last (list head).
    let v = free_blocks_of(&mut h, &[2304, 2544]);
    let (small, large) = (v[0], v[1]);
    assert_eq!(addr(h.malloc(req(2064))), small, "best fit: 2304 for 2064");
    assert_eq!(addr(h.malloc(req(2400))), large);
    h.check().unwrap();
}

#[test]
fn a_poor_fit_grows_the_arena_heap_and_stays_free_for_an_exact_fit() {
    let mut mem = region(4 << 20);
    let mut h: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    ballast(&mut h, 1 << 20);
    let v = free_blocks_of(&mut h, &[1040, 1040]);
    let (a, b) = (v[0], v[1]);
    // 16 bytes too large (and any remainder up to POOR_FIT_BELOW - 16): not taken; the
    // request is served at the top (from the free last block, or by growing the heap).
    for block in [1024, 1040 + 16 - POOR_FIT_BELOW] {
        let p = addr(h.malloc(req(block)));
        assert!(p > b, "{block}-byte request took a poor fit");
        h.check().unwrap();
    }
    // The refused blocks are still free and serve an exact fit...
    let p = addr(h.malloc(req(1040)));
    assert!(p == a || p == b);
    // ...and a fit leaving POOR_FIT_BELOW bytes or more is taken as usual.
    let q = addr(h.malloc(req(1040 - POOR_FIT_BELOW)));
    assert!(q == a || q == b);
    assert_ne!(p, q);
    h.check().unwrap();
}

#[test]
fn while_much_of_the_heap_is_free_a_poor_fit_is_taken() {
    let mut mem = region(4 << 20);
    let mut h: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    ballast(&mut h, 1 << 20);
    // 1/POOR_FIT_FREE_SHARE of the heap free, in blocks that are not a poor fit.
    let spare = (h.source().heap_size() / POOR_FIT_FREE_SHARE).next_multiple_of(4096);
    free_blocks_of(&mut h, &vec![4096; spare / 4096]);
    let a = free_blocks_of(&mut h, &[1040])[0];
    assert_eq!(addr(h.malloc(req(1024))), a);
    h.check().unwrap();
}

#[test]
fn where_growth_costs_a_poor_fit_is_taken() {
    let mut mem = region(4 << 20);
    let mut h: Heap<_, Segregated> = Heap::new(SimBrk::new(&mut mem, 4 << 20));
    ballast(&mut h, 1 << 20);
    let a = free_blocks_of(&mut h, &[1040])[0];
    let top = h.source().heap_size();
    assert_eq!(addr(h.malloc(req(1024))), a, "SimBrk: best fit, no growth");
    assert_eq!(h.source().heap_size(), top);
    h.check().unwrap();
}

#[test]
fn once_the_room_is_used_up_a_poor_fit_is_taken_instead_of_failing() {
    let mut mem = region(2 << 20);
    // Chunk 0: the heap grows by exactly what a request lacks.
    let mut h: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem)).with_chunk(0);
    ballast(&mut h, 1 << 20);
    let a = free_blocks_of(&mut h, &[1040])[0];
    // Leave 512 bytes of room: less than the 1024-byte block asked for next.
    let room = h.source().free_room();
    addr(h.malloc(req(room - 512)));
    assert_eq!(h.source().free_room(), 512);
    assert_eq!(addr(h.malloc(req(1024))), a);
    h.check().unwrap();
}

/// The free block at the top of the heap (the wilderness) is the last resort: a request that
/// another free block fits goes there, even when the top is the better fit, so that the top
/// stays free for the block below it to grow into.
#[test]
fn the_wilderness_is_taken_last() {
    let mut mem = region(1 << 20);
    let mut h: Heap<_, Segregated> = Heap::new(SimBrk::new(&mut mem, 1 << 20));
    // A free hole of 1008 bytes between two allocated blocks.
    let hole = addr(h.malloc(req(1008)));
    addr(h.malloc(16));
    // SAFETY: `hole` is a live payload of `h`.
    unsafe { h.free(hole as *mut u8) };
    // Carve the top down to a free block of 512 bytes: smaller than the hole.
    let top = h.blocks().last().expect("blocks");
    assert!(!top.allocated && top.size > 1008 + 512, "{top:?}");
    addr(h.malloc(req(top.size - 512)));
    let top = h.blocks().last().expect("blocks");
    assert_eq!(
        (top.allocated, top.size),
        (false, 512),
        "the top is 512 free bytes"
    );
    h.check().unwrap();
    // Best fit alone takes the top (512 < 1008) for 96 bytes; the wilderness rule the hole.
    assert_eq!(
        addr(h.malloc(req(96))),
        hole,
        "the hole serves, not the wilderness"
    );
    let top = h.blocks().last().expect("blocks");
    assert_eq!(
        (top.allocated, top.size),
        (false, 512),
        "the top is untouched"
    );
    // Once the hole's remainder (896 bytes) is taken, a request only the top fits gets it.
    addr(h.malloc(req(896)));
    let t = addr(h.malloc(req(400)));
    assert_eq!(
        t,
        top.payload(),
        "the wilderness serves what nothing else fits"
    );
    h.check().unwrap();
}

/// The malloc-lab `realloc-bal` pattern: one block grows by 128 bytes at a time while a
/// small block is allocated and the previous one freed between growths. With the wilderness
/// kept free the growing block stays at the top and grows in place: the heap stays within
/// a chunk of the block's final size (it was twice that when small blocks took the top).
#[test]
fn a_block_growing_at_the_top_stays_there() {
    let mut mem = region(8 << 20);
    let mut h: Heap<_, Segregated> = Heap::new(SimBrk::new(&mut mem, 8 << 20));
    let mut grow = h.malloc(512).expect("block");
    let mut small = addr(h.malloc(128));
    let mut size = 512;
    let mut moves = 0;
    // Fewer steps under Miri (the checker after each one walks the heap).
    let steps = if cfg!(miri) { 150 } else { 1000 };
    for _ in 0..steps {
        size += 128;
        // SAFETY: `grow` is the live growing block.
        let q = unsafe { h.realloc(grow.as_ptr(), size) }.expect("realloc");
        moves += usize::from(q != grow);
        grow = q;
        let next = addr(h.malloc(128));
        // SAFETY: `small` is the live small block.
        unsafe { h.free(small as *mut u8) };
        small = next;
        h.check().unwrap();
    }
    let heap = h.stats().heap_bytes;
    assert!(moves <= 2, "the growing block moved {moves} times");
    assert!(
        heap < size + 16 * 1024,
        "heap {heap} B for a {size}-byte block and one small block"
    );
}
