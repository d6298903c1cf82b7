//! Small aligned requests (`16 < align <= tcache::MAX_CACHED_ALIGN`) served from the thread
//! cache (`tcache::aligned`): every block is aligned, disjoint from the others and keeps its
//! contents; most requests are served without the engine once the class lists hold freed
//! blocks; a block served that way is still caught when freed twice; the heaps check clean
//! afterwards.

use std::sync::atomic::{AtomicUsize, Ordering};

use heapwise::{tcache, Config, Global};
use heapwise_core::{ErrorKind, HeapError};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

static G: Global = Global::with_thread_cache(Config::DEFAULT);

#[test]
fn aligned_requests_come_from_the_cache_aligned_disjoint_and_intact() {
    let before = tcache::sum(&G);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // (address, size, fill byte)
    let mut live: Vec<(usize, usize, u8)> = Vec::new();
    let mut aligned = 0u64;
    let check = |&(p, n, b): &(usize, usize, u8)| {
        // SAFETY: a live block of at least `n` bytes.
        let s = unsafe { std::slice::from_raw_parts(p as *const u8, n) };
        assert!(
            s.iter().all(|&x| x == b),
            "block {p:#x} of {n} bytes was overwritten"
        );
    };
    for i in 0..40_000u32 {
        let size = 1 + rng.below(700);
        let p = if rng.below(4) == 0 {
            G.malloc(size) as usize
        } else {
            let align = [32, 64, 128][rng.below(3)];
            aligned += 1;
            let p = G.aligned_alloc(align, size) as usize;
            assert_eq!(p % align, 0, "aligned_alloc({align}, {size}) gave {p:#x}");
            p
        };
        assert_ne!(p, 0, "request {i} of {size} bytes failed");
        let b = i as u8;
        // SAFETY: `p` is a fresh block of at least `size` bytes.
        unsafe { std::ptr::write_bytes(p as *mut u8, b, size) };
        live.push((p, size, b));
        if live.len() > 96 {
            let v = live.swap_remove(rng.below(live.len()));
            check(&v);
            // SAFETY: a live block of `G`, freed once.
            unsafe { G.free(v.0 as *mut u8) };
        }
    }
    live.sort();
    for w in live.windows(2) {
        assert!(
            w[0].0 + w[0].1 <= w[1].0,
            "blocks {:#x} and {:#x} overlap",
            w[0].0,
            w[1].0
        );
    }
    live.iter().for_each(check);
    for &(p, _, _) in &live {
        // SAFETY: as above.
        unsafe { G.free(p as *mut u8) };
    }
    let after = tcache::sum(&G);
    let (plain, served) = (
        after.mallocs - before.mallocs,
        after.aligned - before.aligned,
    );
    // Plain requests are nearly all served by the cache; at least half of the aligned
    // ones must be too (without the aligned path none of them would be).
    assert!(
        plain > (40_000 - aligned) / 2,
        "{plain} plain requests served by the cache"
    );
    assert!(
        served >= aligned / 2,
        "{served} of {aligned} aligned requests served by the cache"
    );
    // The summary counts them as aligned requests, not as `malloc`s.
    assert!(G.stats().heap.counters.aligned >= aligned);
    G.check().expect("heaps intact");
}

static REPORTS: AtomicUsize = AtomicUsize::new(0);

fn record(e: &HeapError) {
    if e.kind == ErrorKind::DoubleFree {
        REPORTS.fetch_add(1, Ordering::SeqCst);
    }
}

static H: Global = Global::with_thread_cache(Config {
    hook: record,
    ..Config::DEFAULT
});

#[test]
fn a_cached_aligned_block_freed_twice_is_reported() {
    // Warm the class up so that aligned requests are served by the cache. Which request is
    // the first served depends on the layout (and on whether this thread's cache was set up
    // by its first request: another test thread may be creating the `pthread` key at that
    // moment), so take requests until one is, keeping the others live.
    let warm: Vec<*mut u8> = (0..64).map(|_| H.aligned_alloc(64, 100)).collect();
    for &p in &warm {
        assert!(!p.is_null() && p as usize % 64 == 0);
        // SAFETY: live blocks of `H`, freed once.
        unsafe { H.free(p) };
    }
    let mut others = Vec::new();
    let p = loop {
        let before = tcache::sum(&H).aligned;
        let p = H.aligned_alloc(64, 100);
        assert!(!p.is_null() && p as usize % 64 == 0);
        if tcache::sum(&H).aligned == before + 1 {
            break p;
        }
        others.push(p);
        assert!(others.len() < 256, "no aligned request served by the cache");
    };
    // SAFETY: `p` is live; the second free is the misuse under test (the hook records it).
    unsafe {
        H.free(p);
        H.free(p);
    }
    assert_eq!(
        REPORTS.load(Ordering::SeqCst),
        1,
        "double free not reported"
    );
    for p in others {
        // SAFETY: live blocks of `H`, freed once.
        unsafe { H.free(p) };
    }
    assert_eq!(REPORTS.load(Ordering::SeqCst), 1);
}
