//! Large blocks from `mmap`: header, alignment, usable size, `mremap` growth and shrinking,
//! and how `Global` routes them (requests at or above `LARGE_THRESHOLD`).

use heapwise::large;
use heapwise::{Config, Global, LARGE_THRESHOLD};

static G: Global = Global::new(Config::DEFAULT);

/// Serialises the tests that allocate large blocks through `G`: its counters, and the
/// large-block cache (process-wide: a mapping one test frees may serve the other's next
/// request), are compared before and after by `global_routes_by_size_and_counts_large_blocks`.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: callers pass live blocks of at least `n` bytes.
        unsafe { p.add(i).write(seed.wrapping_add((i / 4096) as u8)) };
    }
}

fn holds(p: *const u8, n: usize, seed: u8) -> bool {
    // SAFETY: callers pass live blocks of at least `n` bytes.
    (0..n).all(|i| unsafe { p.add(i).read() } == seed.wrapping_add((i / 4096) as u8))
}

#[test]
fn large_blocks_map_realloc_and_unmap() {
    let p = large::alloc(1 << 20, 16).unwrap().as_ptr();
    assert_eq!(p as usize % 16, 0);
    // SAFETY: `p` is a live large block.
    unsafe {
        assert!(large::is_large(p));
        assert!(large::usable_size(p) >= 1 << 20);
        assert!(std::slice::from_raw_parts(p, 1 << 20)
            .iter()
            .all(|&b| b == 0));
        fill(p, 1 << 20, 7);
        let (q, old, new) = large::realloc(p, 8 << 20).unwrap();
        assert!(new > old && large::usable_size(q.as_ptr()) >= 8 << 20);
        assert!(holds(q.as_ptr(), 1 << 20, 7), "growth keeps the bytes");
        let (r, _, _) = large::realloc(q.as_ptr(), 300 * 1024).unwrap();
        assert!(
            holds(r.as_ptr(), 300 * 1024, 7),
            "shrinking keeps the prefix"
        );
        let mapped = large::mapped_size(r.as_ptr());
        assert_eq!(mapped, (300 * 1024 + 16usize).div_ceil(4096) * 4096);
        assert_eq!(large::free(r.as_ptr()), Some(mapped));
    }
}

/// Sizes just below and at page boundaries: the payload sits at `large::OFFSET` (16 bytes on
/// every target, two header words on 64-bit ones, slack and two words on 32-bit ones), and
/// the mapping holds all of it; also for blocks served again from the large-block cache.
#[test]
fn sizes_at_page_boundaries_fit_their_mappings() {
    for pages in [64usize, 65, 100] {
        for back in [0usize, 4, 8, 12, 16, 20, 24] {
            let n = pages * 4096 - back;
            let p = large::alloc(n, 16).unwrap().as_ptr();
            assert_eq!(p as usize % 4096, large::OFFSET);
            // SAFETY: `p` is a live large block.
            unsafe {
                assert!(large::usable_size(p) >= n, "usable < {n}");
                fill(p, n, back as u8);
                assert!(holds(p, n, back as u8));
                assert!(large::free(p).is_some());
            }
        }
    }
    let _s = serial();
    for round in 0..2u8 {
        for back in [0usize, 8, 16] {
            let n = LARGE_THRESHOLD + 4096 - back;
            let p = G.malloc(n);
            assert!(!p.is_null() && p as usize % 16 == 0, "round {round}: {p:?}");
            // SAFETY: `p` is a live block of `G` of at least `n` bytes.
            unsafe {
                assert!(G.usable_size(p) >= n, "round {round}: usable < {n}");
                fill(p, n, round);
                assert!(holds(p, n, round));
                G.free(p);
            }
        }
    }
    assert!(G.check().is_ok());
}

#[test]
fn large_alignments_up_to_64_mib_are_honoured() {
    for shift in [5, 12, 16, 21, 26] {
        let a = 1usize << shift;
        let p = large::alloc(LARGE_THRESHOLD, a).unwrap().as_ptr();
        assert_eq!(p as usize % a, 0, "alignment {a}");
        // SAFETY: live large block.
        unsafe {
            assert!(large::usable_size(p) >= LARGE_THRESHOLD);
            fill(p, LARGE_THRESHOLD, 3);
            assert!(large::free(p).is_some());
        }
    }
}

#[test]
fn impossible_large_sizes_are_refused() {
    assert!(large::alloc(usize::MAX, 16).is_none());
    assert!(large::alloc(isize::MAX as usize + 1, 16).is_none());
    assert!(large::alloc(usize::MAX - 512 * 1024 + 1, 16).is_none());
    assert!(large::alloc(1 << 20, 1 << (usize::BITS - 1)).is_none());
}

#[test]
fn global_routes_by_size_and_counts_large_blocks() {
    let _s = serial();
    let before = G.stats();
    let small = G.malloc(1000);
    let big = G.malloc(LARGE_THRESHOLD);
    let zero = G.calloc(1, 4 << 20);
    assert!(!small.is_null() && !big.is_null() && !zero.is_null());
    // SAFETY: live blocks of this allocator.
    unsafe {
        assert!(!large::is_large(small));
        assert!(large::is_large(big) && large::is_large(zero));
        assert!(std::slice::from_raw_parts(zero, 4 << 20)
            .iter()
            .all(|&b| b == 0));
        let s = G.stats();
        assert_eq!(s.large_allocs - before.large_allocs, 2);
        assert!(s.large_bytes >= before.large_bytes + LARGE_THRESHOLD + (4 << 20));
        // A heap block grown past the threshold becomes large, and back.
        fill(small, 1000, 9);
        let grown = G.realloc(small, 2 << 20);
        assert!(large::is_large(grown) && holds(grown, 1000, 9));
        let shrunk = G.realloc(grown, 500);
        assert!(!large::is_large(shrunk) && holds(shrunk, 500, 9));
        G.free(shrunk);
        G.free(big);
        G.free(zero);
        let s = G.stats();
        assert_eq!(s.large_frees - before.large_frees, 3);
        assert!(s.peak_large_bytes >= LARGE_THRESHOLD + (4 << 20));
        // The freed mappings the cache keeps are memory the allocator holds: in the
        // footprint until a trim gives them back.
        assert!(s.large_cached_bytes >= 4 << 20, "{s:?}");
        assert_eq!(
            s.footprint_bytes,
            s.heap.heap_bytes + s.large_bytes + s.large_cached_bytes
        );
        assert!(s.peak_footprint_bytes >= s.footprint_bytes);
        G.trim();
        assert_eq!(G.stats().large_cached_bytes, 0);
    }
    G.check().unwrap();
}

/// Requests larger than `large::MAX_LARGE` (on 32-bit targets: from 2 GiB, more than
/// `isize::MAX` bytes) fail also while the large-block cache holds a mapping it could grow.
/// (Before, the cache grew its biggest mapping with `mremap` to the size asked for, and on
/// i686 `malloc(isize::MAX + 1)` returned a block whenever a freed large block was cached.)
#[test]
fn impossible_sizes_fail_while_mappings_are_cached() {
    let _s = serial();
    let p = G.malloc(4 << 20);
    assert!(!p.is_null());
    // SAFETY: a live block of `G`, freed once.
    unsafe { G.free(p) };
    assert!(
        G.stats().large_cached_bytes > 0,
        "a freed mapping is cached"
    );
    for huge in [
        isize::MAX as usize + 1,
        large::MAX_LARGE + 1,
        usize::MAX - (512 << 10) + 1,
    ] {
        let q = G.malloc(huge);
        assert!(q.is_null(), "malloc({huge:#x}) gave {q:?}");
    }
    G.trim();
}
