//! The `no_std` face installed as the global allocator of this test binary: every
//! allocation of the test harness and of the tests goes through `ArenaAlloc`.
//!
//! Not run under Miri: with a custom global allocator, std frees a `Box` argument while the
//! function holding it is still running (thread start-up), and Stacked Borrows flags the
//! allocator's footer write into that memory against the argument's protector. The
//! allocator itself runs under Miri in `arena.rs`, not installed globally.
#![cfg(not(miri))]

use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;

use heapwise_core::{ArenaAlloc, StaticArena};

static ARENA: StaticArena<{ 32 << 20 }> = StaticArena::new();

#[global_allocator]
static HEAP: ArenaAlloc = ArenaAlloc::new(&ARENA);

#[test]
fn std_collections_run_on_the_arena() {
    let before = HEAP.stats();
    assert_eq!(
        before.regions, 1,
        "the static arena was taken at the first allocation"
    );
    let mut m = BTreeMap::new();
    for i in 0..10_000u32 {
        m.insert(i, format!("value {i}"));
    }
    let v: Vec<String> = m.values().cloned().collect();
    assert_eq!(v.len(), 10_000);
    let during = HEAP.stats();
    assert!(during.used > before.used + 10_000 * 16, "{during:?}");
    drop((m, v));
    assert!(HEAP.stats().high_water >= during.used);
    HEAP.check().unwrap();
}

#[test]
fn threads_share_it() {
    let hs: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                for i in 0..2000usize {
                    v.push(vec![t as u8; i % 300]);
                    if i % 3 == 0 {
                        v.swap_remove(i % v.len());
                    }
                }
                v.iter().all(|b| b.iter().all(|&x| x == t as u8))
            })
        })
        .collect();
    for h in hs {
        assert!(h.join().unwrap());
    }
    HEAP.check().unwrap();
}

#[test]
fn over_aligned_and_zeroed_layouts() {
    for align in [32, 64, 4096, 1 << 16] {
        let l = Layout::from_size_align(100, align).unwrap();
        // SAFETY: valid non-zero layout; the block is freed with the same layout.
        unsafe {
            let p = HEAP.alloc_zeroed(l);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0);
            assert!(std::slice::from_raw_parts(p, 100).iter().all(|&b| b == 0));
            let q = HEAP.realloc(p, l, 5000);
            assert_eq!(q as usize % align, 0);
            HEAP.dealloc(q, Layout::from_size_align(5000, align).unwrap());
        }
    }
}
