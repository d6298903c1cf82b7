//! `realloc` with the thread caches on (`Heapwise`, default policy): a request that still
//! fits the block's usable size keeps the block (served without the engine, and counted),
//! a block that grows gets headroom for the next small growths, a large shrink still gives
//! the tail back, and the bytes always survive.

use std::alloc::{alloc, dealloc, realloc, Layout};

use heapwise::{Heapwise, REALLOC_HEADROOM};

#[global_allocator]
static A: Heapwise = Heapwise;

fn usable(p: *mut u8) -> usize {
    // SAFETY: `p` is a live block of the global allocator.
    unsafe { Heapwise::global().usable_size(p) }
}

#[test]
fn realloc_in_place_headroom_and_shrink() {
    let layout = Layout::from_size_align(100, 8).unwrap();
    // SAFETY: non-zero size; every pointer below is the live block, resized with the
    // layout it was last given, and freed once.
    unsafe {
        let p = alloc(layout);
        assert!(!p.is_null());
        for i in 0..100 {
            p.add(i).write(i as u8);
        }
        let u = usable(p);
        assert!(u >= 100);
        let before = Heapwise::stats().heap.counters.reallocs;
        let mut size = 100;
        for n in 101..=u {
            let q = realloc(p, Layout::from_size_align(size, 8).unwrap(), n);
            assert_eq!(q, p, "realloc to {n} <= usable {u} moved the block");
            size = n;
        }
        let counted = Heapwise::stats().heap.counters.reallocs - before;
        assert!(
            counted >= (u - 100) as u64,
            "{counted} reallocs counted, {} made",
            u - 100
        );
        // Growing past the usable size: the new block has headroom.
        let n = u + 1;
        let q = realloc(p, Layout::from_size_align(size, 8).unwrap(), n);
        assert!(!q.is_null());
        let want = n + (n / 8).min(REALLOC_HEADROOM);
        assert!(
            usable(q) >= want,
            "grown to {n}: usable {} < {want}",
            usable(q)
        );
        assert!((0..100).all(|i| q.add(i).read() == i as u8));
        // A large shrink goes to the engine, which splits the block.
        let big = realloc(q, Layout::from_size_align(n, 8).unwrap(), 8000);
        assert!(usable(big) >= 8000);
        let small = realloc(big, Layout::from_size_align(8000, 8).unwrap(), 16);
        assert!(
            usable(small) < 1000,
            "shrunk to 16 bytes, usable {}",
            usable(small)
        );
        assert!((0..16).all(|i| small.add(i).read() == i as u8));
        dealloc(small, Layout::from_size_align(16, 8).unwrap());
    }
    Heapwise::check().unwrap();
}
