//! A Rust program running with `heapwise::Heapwise` as its `#[global_allocator]` (issue 4,
//! "Real programs", last item): this whole test binary — the test harness, its threads, and
//! the workloads below — allocates through heapwise.
//!
//! The `heapwise` crate is reached as `hw`, the key under which `heapwise-preload` depends on
//! it. Each workload checks its results against values computed independently of the
//! allocator, then proves that heapwise served it (its counters grew by at least the
//! allocations the workload made) and that the heap checker finds every heap consistent.

use std::alloc::{GlobalAlloc, Layout};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::mpsc;
use std::sync::Mutex;

#[global_allocator]
static A: hw::Heapwise = hw::Heapwise;

/// The stats are process-wide and tests run in parallel: serialise the workloads that
/// compare counters before and after.
static SERIAL: Mutex<()> = Mutex::new(());

fn ops() -> (u64, u64) {
    let s = hw::Heapwise::stats();
    (
        s.heap.counters.mallocs
            + s.heap.counters.callocs
            + s.heap.counters.aligned
            + s.large_allocs,
        s.heap.counters.frees + s.large_frees,
    )
}

fn assert_checker_clean() {
    if let Err(e) = hw::Heapwise::check() {
        panic!("heap checker: {e:?}");
    }
}

#[test]
fn collections_workload_is_served_by_heapwise() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (a0, f0) = ops();
    let mut map = BTreeMap::new();
    let mut hash = HashMap::new();
    for i in 0u64..100_000 {
        map.insert(format!("key{i:06}"), i * 3);
        hash.insert(i, vec![i as u8; (i % 64) as usize]);
    }
    assert_eq!(map.len(), 100_000);
    assert_eq!(map.values().sum::<u64>(), 3 * (99_999 * 100_000 / 2));
    assert_eq!(map.keys().next().map(String::as_str), Some("key000000"));
    let bytes: usize = hash.values().map(Vec::len).sum();
    assert_eq!(
        bytes,
        (0..100_000u64).map(|i| (i % 64) as usize).sum::<usize>()
    );
    for i in (0..100_000u64).step_by(2) {
        hash.remove(&i);
    }
    assert_eq!(hash.len(), 50_000);
    let mut words: Vec<String> = (0..50_000u32)
        .map(|i| format!("{:x}", i.wrapping_mul(2_654_435_761)))
        .collect();
    words.sort();
    words.dedup();
    assert!(words.windows(2).all(|w| w[0] < w[1]));
    let mut q: VecDeque<Box<[u32]>> = VecDeque::new();
    for i in 0..20_000u32 {
        q.push_back(vec![i; (i % 100) as usize].into_boxed_slice());
        if q.len() > 1000 {
            let b = q.pop_front().unwrap();
            assert!(b.iter().all(|&x| x == i - 1000));
        }
    }
    drop((map, hash, words, q));
    let (a1, f1) = ops();
    assert!(
        a1 - a0 >= 200_000,
        "heapwise counted {} allocations",
        a1 - a0
    );
    assert!(f1 - f0 >= 200_000, "heapwise counted {} frees", f1 - f0);
    assert_checker_clean();
}

#[test]
fn realloc_growth_and_shrink_keep_contents() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut v: Vec<u64> = Vec::new();
    for i in 0..2_000_000u64 {
        v.push(i ^ 0x5555);
    }
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 ^ 0x5555));
    v.truncate(1000);
    v.shrink_to_fit();
    assert!(v.capacity() >= 1000 && v.capacity() < 2_000_000);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i as u64 ^ 0x5555));
    let mut s = String::new();
    for i in 0..200_000 {
        s.push_str(&i.to_string());
    }
    assert_eq!(
        s.len(),
        (0..200_000)
            .map(|i: u32| i.to_string().len())
            .sum::<usize>()
    );
    // Raw GlobalAlloc::realloc through every size class and into large blocks.
    let mut layout = Layout::from_size_align(8, 8).unwrap();
    // SAFETY: the layout has a non-zero size.
    let mut p = unsafe { A.alloc(layout) };
    assert!(!p.is_null());
    // SAFETY: p is a live block of layout.size() bytes.
    unsafe { p.write_bytes(0xAB, 8) };
    let mut kept = 8;
    for &n in &[
        24usize,
        100,
        4000,
        70_000,
        3 << 20,
        1 << 10,
        17,
        9 << 20,
        64,
    ] {
        // SAFETY: p is live, allocated by A with `layout`; n is non-zero.
        let q = unsafe { A.realloc(p, layout, n) };
        assert!(!q.is_null(), "realloc to {n}");
        // SAFETY: q is a live block of n bytes whose first min(kept, n) were initialised.
        let head = unsafe { std::slice::from_raw_parts(q, kept.min(n)) };
        assert!(
            head.iter().all(|&b| b == 0xAB),
            "bytes lost growing/shrinking to {n}"
        );
        // SAFETY: q is a live block of n bytes.
        unsafe { q.write_bytes(0xAB, n) };
        kept = n;
        p = q;
        layout = Layout::from_size_align(n, 8).unwrap();
    }
    // SAFETY: p is the live block of `layout`.
    unsafe { A.dealloc(p, layout) };
    assert_checker_clean();
}

#[test]
fn over_aligned_and_zeroed_allocations() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut align = 1usize;
    while align <= 1 << 22 {
        for size in [1usize, align, align * 3 + 5] {
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size.
            let p = unsafe { A.alloc(layout) };
            assert!(!p.is_null(), "alloc({size}, align {align})");
            assert_eq!(
                p as usize % align,
                0,
                "alloc({size}, align {align}) = {p:?}"
            );
            // SAFETY: p points to `size` writable bytes.
            unsafe {
                p.write_bytes(0x11, size);
                A.dealloc(p, layout);
            }
        }
        align *= 2;
    }
    for size in [1usize, 100, 5000, 200_000, 64 << 20] {
        // Dirty memory first so that a stale block would show.
        let mut d = vec![0xEEu8; size];
        d[size - 1] = 1;
        drop(d);
        let z = vec![0u8; size];
        assert!(z.iter().all(|&b| b == 0), "vec![0; {size}] not zeroed");
    }
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let pages: Vec<Box<Page>> = (0..64).map(|i| Box::new(Page([i as u8; 4096]))).collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(&**p as *const Page as usize % 4096, 0);
        assert!(p.0.iter().all(|&b| b == i as u8));
    }
    drop(pages);
    assert_checker_clean();
}

#[test]
fn threads_with_cross_thread_frees() {
    // Serialised too: its threads' refills and exits would move the process-wide counters
    // the other tests compare (one of them saw 986 of its 1000 allocations on i686).
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = mpsc::channel::<Vec<Box<[u8]>>>();
    let consumer = std::thread::spawn(move || {
        let mut n = 0usize;
        for batch in rx {
            for b in batch {
                let seed = b[0];
                assert!(
                    b.iter()
                        .enumerate()
                        .all(|(i, &x)| x == seed.wrapping_add(i as u8)),
                    "pattern lost in a block sent across threads"
                );
                n += 1;
            }
        }
        n
    });
    let producers: Vec<_> = (0..8u8)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut rng = 0x9E37_79B9u32.wrapping_mul(u32::from(t) + 1);
                for _ in 0..50 {
                    let mut batch = Vec::new();
                    for _ in 0..200 {
                        rng ^= rng << 13;
                        rng ^= rng >> 17;
                        rng ^= rng << 5;
                        let size = if rng % 100 == 0 {
                            200_000
                        } else {
                            1 + (rng % 3000) as usize
                        };
                        let seed = (rng >> 8) as u8;
                        let b: Box<[u8]> = (0..size).map(|i| seed.wrapping_add(i as u8)).collect();
                        batch.push(b);
                    }
                    tx.send(batch).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 8 * 50 * 200);
    assert_checker_clean();
}

#[test]
fn heapwise_is_the_global_allocator() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A snapshot counts every call that returned before it began, whatever other threads'
    // caches do meanwhile (the test harness's thread may refill its cache).
    let (a0, _) = ops();
    let boxes: Vec<Box<u64>> = (0..1000).map(Box::new).collect();
    let (a1, _) = ops();
    assert_eq!(boxes.iter().map(|b| **b).sum::<u64>(), 999 * 1000 / 2);
    assert!(
        a1 - a0 >= 1001,
        "1000 Box::new and their vector made {} heapwise allocations",
        a1 - a0
    );
    let s = hw::Heapwise::stats();
    assert!(s.footprint_bytes > 0 && s.heap.heap_bytes > 0, "{s:?}");
    assert!(s.requested_tracked, "the Rust face tracks requested bytes");
}
