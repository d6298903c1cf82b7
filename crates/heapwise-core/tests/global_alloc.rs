//! The `no_std` face installed as the global allocator of this test binary: every
//! allocation of the test harness and of the tests goes through `ArenaAlloc`.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeMap;
use std::mem::MaybeUninit;

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

#[test]
fn a_claimed_region_serves_when_the_arena_is_full_and_oom_is_null() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    let l = Layout::from_size_align(1000, 8).unwrap();
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(l) }.is_null(), "no memory yet");
    let mem: &'static mut [MaybeUninit<u8>] =
        Box::leak(vec![MaybeUninit::uninit(); 8192].into_boxed_slice());
    assert!(a.claim_slice(mem));
    // SAFETY: valid layout; blocks are freed below.
    let p = unsafe { a.alloc(l) };
    assert!(!p.is_null());
    let big = Layout::from_size_align(100_000, 8).unwrap();
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(big) }.is_null());
    let s = a.stats();
    assert_eq!(s.regions, 1);
    assert!(s.used >= 1000 && s.capacity >= 8000);
    // SAFETY: `p` was allocated with `l`.
    unsafe { a.dealloc(p, l) };
    assert_eq!(a.stats().used, 0);
    a.check().unwrap();
}
