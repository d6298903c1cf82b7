//! The OS memory sources: `MmapRegion` (reserve, commit, refuse past the end, zero fresh
//! memory) and `Sbrk` (contiguous growth at the program break, zero fresh memory, refusal
//! when someone else moved the break), each also driving an engine heap.

use heapwise::{MmapRegion, Sbrk};
use heapwise_core::{Heap, Segregated, Source};

fn all_zero(p: *const u8, n: usize) -> bool {
    // SAFETY: callers pass memory the source just handed out.
    unsafe { std::slice::from_raw_parts(p, n) }
        .iter()
        .all(|&b| b == 0)
}

#[test]
fn region_commits_as_brk_advances_and_refuses_past_its_end() {
    let mut r = MmapRegion::reserve(1 << 20).expect("reserve 1 MiB");
    assert_eq!(r.capacity(), 1 << 20);
    assert_eq!(r.committed(), 0);
    assert_eq!(r.start().as_ptr() as usize % 4096, 0);
    let a = r.sbrk(4096).unwrap();
    assert_eq!(a, r.start());
    assert!(r.committed() >= 4096);
    let b = r.sbrk(100 * 1024).unwrap();
    assert_eq!(b.as_ptr() as usize, a.as_ptr() as usize + 4096);
    assert!(all_zero(a.as_ptr(), 4096 + 100 * 1024));
    // SAFETY: `[a, a + 104 KiB)` was handed out by the region.
    unsafe { std::ptr::write_bytes(a.as_ptr(), 0xAB, 4096 + 100 * 1024) };
    assert!(
        r.sbrk(1 << 20).is_none(),
        "growth past the reservation is refused"
    );
    assert_eq!(
        r.heap_size(),
        4096 + 100 * 1024,
        "a refusal changes nothing"
    );
    let rest = (1 << 20) - r.heap_size();
    assert!(r.sbrk(rest).is_some(), "the whole reservation can be used");
    assert_eq!(r.committed(), 1 << 20);
    assert!(r.sbrk(16).is_none());
    assert!(r.reserved_contains(a.as_ptr()));
    assert!(!r.reserved_contains(r.brk().as_ptr()));
    assert!(r.fresh_is_zeroed());
}

#[test]
fn heap_over_a_region_serves_until_full_then_refuses() {
    let r = MmapRegion::reserve(256 * 1024).unwrap();
    let mut heap: Heap<_, Segregated> = Heap::new(r);
    let mut live = Vec::new();
    while let Some(p) = heap.malloc(1000) {
        // SAFETY: `p` is a live block of at least 1000 bytes.
        unsafe { std::ptr::write_bytes(p.as_ptr(), live.len() as u8, 1000) };
        live.push(p);
    }
    assert!(
        live.len() > 200,
        "256 KiB holds more than 200 blocks of 1000 B"
    );
    assert!(heap.source().heap_size() <= 256 * 1024);
    heap.check().unwrap();
    for (i, p) in live.iter().enumerate() {
        // SAFETY: live blocks of 1000 bytes.
        let s = unsafe { std::slice::from_raw_parts(p.as_ptr(), 1000) };
        assert!(s.iter().all(|&b| b == i as u8), "block {i} kept its bytes");
        // SAFETY: freed once.
        unsafe { heap.free(p.as_ptr()) };
    }
    heap.check().unwrap();
    assert!(
        heap.malloc(100 * 1024).is_some(),
        "memory is reusable after frees"
    );
}

#[test]
fn calloc_on_a_region_is_zero_without_clearing_fresh_pages() {
    let r = MmapRegion::reserve(8 << 20).unwrap();
    let mut heap: Heap<_, Segregated> = Heap::new(r);
    let p = heap.calloc(1000, 1000).unwrap();
    assert!(all_zero(p.as_ptr(), 1_000_000));
    // Dirty the block, free it, and calloc again: reused memory must be cleared.
    // SAFETY: `p` is a live block of 1e6 bytes.
    unsafe {
        std::ptr::write_bytes(p.as_ptr(), 0xFF, 1_000_000);
        heap.free(p.as_ptr());
    }
    let q = heap.calloc(500, 1000).unwrap();
    assert!(all_zero(q.as_ptr(), 500_000));
}

/// Everything about the real break in one test, so no other test of this binary moves it
/// concurrently (glibc's malloc of other threads uses its own arenas, not the break).
#[test]
fn sbrk_grows_contiguously_zeroed_and_refuses_a_moved_break() {
    if cfg!(target_env = "musl") {
        // musl's `sbrk` refuses every move of the break: no source (allocators fall back to
        // regions, `fallback.rs`).
        assert!(Sbrk::new().is_none(), "musl's sbrk cannot move the break");
        return;
    }
    let mut s = Sbrk::with_step(64 * 1024).expect("the break can move");
    let start = s.start();
    assert_eq!(start.as_ptr() as usize % 16, 0);
    let a = s.sbrk(4096).unwrap();
    assert_eq!(a, start);
    let b = s.sbrk(200 * 1024).unwrap();
    assert_eq!(
        b.as_ptr() as usize,
        a.as_ptr() as usize + 4096,
        "contiguous"
    );
    assert!(all_zero(a.as_ptr(), 204 * 1024));
    // SAFETY: `[a, a + 204 KiB)` was handed out by the source.
    unsafe { std::ptr::write_bytes(a.as_ptr(), 0x5A, 204 * 1024) };
    assert!(s.slack() < 64 * 1024 + 4096);

    // Use up the slack, then let someone else move the break: growth must be refused.
    let slack = s.slack() & !15;
    if slack > 0 {
        assert!(s.sbrk(slack).is_some());
    }
    // SAFETY: moving the break up by a page maps fresh memory nobody uses.
    let foreign = unsafe { libc::sbrk(4096) };
    assert_ne!(foreign as isize, -1);
    let before = s.heap_size();
    assert!(s.sbrk(4096).is_none(), "the break is not where we left it");
    assert_eq!(s.heap_size(), before);
    assert_eq!(s.refusals(), 1);

    // A fresh source at the new break works, with a heap on top.
    let mut heap: Heap<_, Segregated> = Heap::new(Sbrk::new().unwrap());
    let p = heap.malloc(100_000).unwrap();
    let q = heap.calloc(10, 1000).unwrap();
    assert!(all_zero(q.as_ptr(), 10_000));
    // SAFETY: live blocks.
    unsafe {
        std::ptr::write_bytes(p.as_ptr(), 1, 100_000);
        heap.free(p.as_ptr());
        heap.free(q.as_ptr());
    }
    heap.check().unwrap();
    assert!(heap.source().heap_size() >= 110_000);
}
