//! The fallback from `sbrk` to `mmap`: a `Global` whose first heap is at the program break
//! keeps serving, from a new region heap, once the break is moved by someone else; frees
//! are routed to the right heap, and the heap at the break is reused after frees.
//! (One test in its own binary: it moves the real break.)

use heapwise::{Config, Global};

static G: Global = Global::new(Config {
    use_sbrk: true,
    ..Config::DEFAULT
});

#[test]
fn sbrk_heap_falls_back_to_a_region_when_the_break_moves() {
    if cfg!(target_env = "musl") {
        // musl's `sbrk` cannot move the break: the first heap is a region.
        let p = G.malloc(1000);
        assert!(!p.is_null());
        let s = G.stats();
        assert_eq!((s.heaps, s.sbrk_heaps), (1, 0), "no heap at the break");
        // SAFETY: `p` is a live block, freed once.
        unsafe { G.free(p) };
        return;
    }
    let mut blocks = Vec::new();
    for i in 0..64 {
        let p = G.malloc(1000);
        assert!(!p.is_null());
        // SAFETY: `p` is a live block of 1000 bytes.
        unsafe { std::ptr::write_bytes(p, i as u8, 1000) };
        blocks.push(p);
    }
    let s = G.stats();
    assert_eq!((s.heaps, s.sbrk_heaps), (1, 1), "first heap at the break");

    // Someone else moves the break past our slack.
    // SAFETY: moving the break up maps fresh memory nobody uses.
    assert_ne!(unsafe { libc::sbrk(1 << 20) } as isize, -1);

    // Allocate far more than the heap at the break had left.
    for i in 64..2064 {
        let p = G.malloc(1000);
        assert!(!p.is_null(), "allocation {i} served after the break moved");
        // SAFETY: as above.
        unsafe { std::ptr::write_bytes(p, i as u8, 1000) };
        blocks.push(p);
    }
    let s = G.stats();
    assert!(s.heaps >= 2, "a region heap was added: {s:?}");
    assert_eq!(s.sbrk_heaps, 1);
    G.check().unwrap();

    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: live block of 1000 bytes.
        let b = unsafe { std::slice::from_raw_parts(p, 1000) };
        assert!(b.iter().all(|&x| x == i as u8), "block {i} intact");
    }
    // Free the first 64 (in the heap at the break) and allocate again: served from there.
    for &p in &blocks[..64] {
        // SAFETY: freed once.
        unsafe { G.free(p) };
    }
    let again = G.malloc(1000);
    assert!(
        blocks[..64].contains(&again),
        "the break heap is used again after frees"
    );
    // SAFETY: live blocks, each freed once.
    unsafe {
        G.free(again);
        for &p in &blocks[64..] {
            G.free(p);
        }
    }
    G.check().unwrap();
    let s = G.stats();
    assert_eq!(s.heap.allocated_blocks, 0);
}
