//! The heaps give free memory back to the OS on their own, with hysteresis: after
//! `AUTO_TRIM_EVERY` bytes were freed into them, the interior pages of free ranges of
//! `AUTO_TRIM_MIN` bytes or more are discarded (checked with `mincore`), and the memory is
//! usable again afterwards. The trim threshold moves both (`mallopt(M_TRIM_THRESHOLD)`):
//! a lower one trims smaller ranges sooner, `usize::MAX` never.

use heapwise::global::{AUTO_TRIM_EVERY, AUTO_TRIM_EVERY_MIN, AUTO_TRIM_HEAPS, AUTO_TRIM_MIN};
use heapwise::harden::Harden;
use heapwise::{Config, Global, LARGE_THRESHOLD};
use heapwise_core::block::block_size_for;

/// No quarantine: every free releases its block at once, so the freed-bytes count (the
/// engine's released bytes) is exact below.
static G: Global = Global::new(Config {
    harden: Harden::OFF,
    ..Config::DEFAULT
});

/// Resident pages among those of `[lo, hi)` (page-aligned inward).
fn resident_pages(lo: usize, hi: usize) -> usize {
    let page = 4096;
    let lo = (lo + page - 1) & !(page - 1);
    let hi = hi & !(page - 1);
    if lo >= hi {
        return 0;
    }
    let n = (hi - lo) / page;
    let mut v = vec![0u8; n];
    // SAFETY: `[lo, hi)` is page-aligned and mapped (heap memory); `v` has one byte per page.
    let r = unsafe { libc::mincore(lo as *mut libc::c_void, hi - lo, v.as_mut_ptr()) };
    assert_eq!(r, 0, "mincore failed");
    v.iter().filter(|&&b| b & 1 != 0).count()
}

/// Usable again after a trim: a fresh block of `size` bytes reads back what it writes.
fn usable_again(g: &'static Global, size: usize) {
    let p = g.malloc(size);
    assert!(!p.is_null());
    // SAFETY: live block of `size` bytes, freed once.
    unsafe {
        core::ptr::write_bytes(p, 0x5a, size);
        assert!((0..size).step_by(4096).all(|i| *p.add(i) == 0x5a));
        g.free(p);
    }
    assert!(g.check().is_ok());
}

#[test]
fn freed_ranges_go_back_to_the_os_after_enough_frees() {
    // A run of at least 4 * AUTO_TRIM_MIN bytes of heap blocks (not mappings): its last
    // free crosses AUTO_TRIM_EVERY (this test's Global serves nothing else, and every free
    // releases, and is counted with, its block size).
    let big = LARGE_THRESHOLD / 2;
    let (before, after, total) =
        free_a_run_at_the_trim_point(&G, AUTO_TRIM_MIN, big, (4 * AUTO_TRIM_MIN) / big + 1);
    assert!(
        before * 10 >= total * 9,
        "{before} of {total} pages were resident"
    );
    assert!(
        after * 8 < total,
        "{after} of {total} pages of the freed range still resident"
    );
    usable_again(&G, big);
}

/// Two more allocators for the trim threshold's tests (each test owns one, so the
/// freed-bytes counts are exact).
static LOW: Global = Global::new(Config {
    harden: Harden::OFF,
    ..Config::DEFAULT
});
static OFF: Global = Global::new(Config {
    harden: Harden::OFF,
    ..Config::DEFAULT
});

/// Runs `n` heap blocks of `big` bytes, written, then freed, after just enough churn that
/// the last free reaches the trim point for `threshold` (`AUTO_TRIM_EVERY_MIN` times it, and
/// `AUTO_TRIM_HEAPS` times the heap); returns the resident pages of their range before and
/// after the frees, and its page count.
fn free_a_run_at_the_trim_point(
    g: &'static Global,
    threshold: usize,
    big: usize,
    n: usize,
) -> (usize, usize, usize) {
    let big_block = block_size_for(big).unwrap();
    let blocks: Vec<*mut u8> = (0..n).map(|_| g.malloc(big)).collect();
    let mut span = (usize::MAX, 0usize);
    for &p in &blocks {
        assert!(!p.is_null());
        // SAFETY: a live block of `big` bytes: every page is written (made resident).
        unsafe { core::ptr::write_bytes(p, 0xa5, big) };
        span = (span.0.min(p as usize), span.1.max(p as usize + big));
    }
    let small = 16 * 1024;
    let small_block = block_size_for(small).unwrap();
    let churn = || {
        let p = g.malloc(small);
        assert!(!p.is_null());
        // SAFETY: live block, freed once.
        unsafe { g.free(p) };
    };
    churn(); // the heap has its final size from here on
    let mut acc = small_block;
    let heap = g.stats().heap.heap_bytes;
    let point = (threshold.saturating_mul(AUTO_TRIM_EVERY_MIN))
        .min(AUTO_TRIM_EVERY)
        .max(heap * AUTO_TRIM_HEAPS);
    while acc + small_block + (n - 1) * big_block < point {
        churn();
        acc += small_block;
    }
    assert!(acc + n * big_block >= point && acc + (n - 1) * big_block < point);
    let before = resident_pages(span.0, span.1);
    for p in blocks {
        // SAFETY: live block, freed once.
        unsafe { g.free(p) };
    }
    let after = resident_pages(span.0, span.1);
    assert_eq!(
        g.stats().heap.heap_bytes,
        heap,
        "the churn did not grow the heap"
    );
    assert!(g.check().is_ok());
    (before, after, (span.1 - span.0) / 4096)
}

#[test]
fn a_lower_trim_threshold_trims_smaller_ranges_sooner() {
    let threshold = 64 * 1024;
    LOW.set_trim_threshold(threshold);
    assert_eq!(LOW.trim_threshold(), threshold);
    // With the default threshold nothing would be trimmed here: the run (800 KiB) is
    // below AUTO_TRIM_MIN and the frees far below AUTO_TRIM_EVERY.
    const { assert!(8 * 100 * 1024 < AUTO_TRIM_MIN) };
    let (before, after, total) = free_a_run_at_the_trim_point(&LOW, threshold, 100 * 1024, 8);
    assert!(
        before * 10 >= total * 9,
        "{before} of {total} pages were resident"
    );
    assert!(
        after * 8 < total,
        "{after} of {total} pages of the freed run still resident"
    );
    usable_again(&LOW, 500 * 1024);
}

#[test]
fn a_trim_threshold_of_usize_max_turns_automatic_trims_off() {
    OFF.set_trim_threshold(usize::MAX);
    // The same run at the point where a 64 KiB threshold trims it: nothing is given back.
    let (before, after, total) = free_a_run_at_the_trim_point(&OFF, 64 * 1024, 100 * 1024, 8);
    assert!(
        before * 10 >= total * 9,
        "{before} of {total} pages were resident"
    );
    assert!(
        after * 10 >= total * 9,
        "{after} of {total} pages of the freed run still resident"
    );
}
