//! `Global::check` checks the calling thread's cache before it returns the cached blocks to
//! the engine (`tcache::check_current`): a cached block whose header no longer gives its
//! class's block size is reported as the checker's error, and is not freed with the size
//! its header claims (which would put a free block over a live neighbour). The batches on
//! the central lists are checked the same way (`tcache::check_central`).

use std::sync::atomic::{AtomicUsize, Ordering};

use heapwise::{tcache, Config, Global};
use heapwise_core::block::WORD;
use heapwise_core::{ErrorKind, HeapError};

static REPORTS: AtomicUsize = AtomicUsize::new(0);
/// The tests damage heap memory that a `check` from another test's thread would walk.
static SEQ: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn record(_: &HeapError) {
    REPORTS.fetch_add(1, Ordering::SeqCst);
}

static G: Global = Global::with_thread_cache(Config {
    hook: record,
    ..Config::DEFAULT
});

/// The block size of a 24-byte request: 32 bytes (a header word, 16-byte granules, at
/// least four words) on 64-bit and 32-bit targets alike.
const BLOCK: usize = 32;

/// Repaired (`word` back to `saved`), the heaps check clean and every block of `ps` but the
/// cached one (`freed`) goes back, with no report since `reports` were counted.
fn repair_and_free(word: *mut usize, saved: usize, ps: &[usize], freed: usize, reports: usize) {
    // SAFETY: `word` is the word of a cached block the test overwrote, read before as `saved`.
    unsafe { word.write(saved) };
    assert_eq!(G.check(), Ok(()));
    for &p in ps.iter().filter(|&&p| p != freed) {
        // SAFETY: every other block is live.
        unsafe { G.free(p as *mut u8) };
    }
    assert_eq!(G.check(), Ok(()));
    assert_eq!(REPORTS.load(Ordering::SeqCst), reports);
}

/// Overwrites `word` of the cached block `p` (a write after free) and expects `check` to
/// return it as `CorruptFreeBlock` without a report; `(the word's old value, reports so far)`.
fn written_after_free_is_checkers_error(word: *mut usize, p: usize) -> (usize, usize) {
    // SAFETY: `word` is one of the two payload words of a cached block.
    let saved = unsafe { word.read() };
    // SAFETY: as above (the test plays the write after free).
    unsafe { word.write(saved ^ 0x40) };
    let reports = REPORTS.load(Ordering::SeqCst);
    let e = G
        .check()
        .expect_err("a cached block written after free is reported");
    assert_eq!(e.kind, ErrorKind::CorruptFreeBlock, "{e}");
    assert_eq!(e.addr, p);
    assert_eq!(
        REPORTS.load(Ordering::SeqCst),
        reports,
        "returned, not reported"
    );
    (saved, reports)
}

#[test]
fn a_cached_block_whose_header_was_overwritten_is_reported_and_not_freed_over_its_neighbour() {
    let _seq = SEQ.lock().unwrap_or_else(|e| e.into_inner());
    let ps: Vec<usize> = (0..64).map(|_| G.malloc(24) as usize).collect();
    assert!(ps.iter().all(|&p| p != 0));
    // Three neighbours `a`, `b`, `c` (a batch is carved from one free block).
    let a = *ps
        .iter()
        .find(|&&p| ps.contains(&(p + BLOCK)) && ps.contains(&(p + 2 * BLOCK)))
        .expect("three neighbouring blocks");
    let b = a + BLOCK;
    // SAFETY: `b` is a live block of 24 requested bytes.
    unsafe { std::ptr::write_bytes(b as *mut u8, 0x5a, 24) };
    let reports = REPORTS.load(Ordering::SeqCst);
    // SAFETY: `a` is a live block of `G`; freed once, it goes to this thread's cache.
    unsafe { G.free(a as *mut u8) };
    // SAFETY: `a` is a 16-aligned payload of a 32-byte block.
    assert!(unsafe { tcache::is_cached(a as *const u8) }, "a is cached");

    // An overflow from the block before `a` writes a plausible header: allocated, 64 bytes,
    // i.e. `a` and `b` (the header after it, `c`'s, has its PREV_ALLOC bit set).
    let header = (a - WORD) as *mut usize;
    // SAFETY: the word before a payload is its block's header.
    let saved = unsafe { header.read() };
    assert_eq!(saved & !15, BLOCK);
    // SAFETY: as above (the test plays the overflow).
    unsafe { header.write((saved & 15) | (2 * BLOCK)) };

    let e = G
        .check()
        .expect_err("a cached block of the wrong size is reported");
    assert_eq!(e.kind, ErrorKind::WrongClass, "{e}");
    assert_eq!(e.addr, a);
    assert_eq!(e.info, 2 * BLOCK);
    // `b` is untouched: `a` was not freed as a 64-byte block over it.
    // SAFETY: `b` is still a live block of 24 requested bytes.
    let bytes = unsafe { std::slice::from_raw_parts(b as *const u8, 24) };
    assert!(bytes.iter().all(|&x| x == 0x5a), "b's data: {bytes:x?}");
    assert_eq!(REPORTS.load(Ordering::SeqCst), reports);

    repair_and_free(header, saved, &ps, a, reports);
}

#[test]
fn a_cached_block_written_after_free_is_the_checkers_error_not_a_leak() {
    let _seq = SEQ.lock().unwrap_or_else(|e| e.into_inner());
    let ps: Vec<usize> = (0..8).map(|_| G.malloc(100) as usize).collect();
    assert!(ps.iter().all(|&p| p != 0));
    let p = ps[3];
    // SAFETY: `p` is a live block of `G`; freed once, it goes to this thread's cache.
    unsafe { G.free(p as *mut u8) };
    // A write after free over the block's first word (its cache link).
    let link = p as *mut usize;
    let (saved, reports) = written_after_free_is_checkers_error(link, p);
    repair_and_free(link, saved, &ps, p, reports);
}

#[test]
fn a_block_written_after_free_in_a_central_batch_is_the_checkers_error() {
    let _seq = SEQ.lock().unwrap_or_else(|e| e.into_inner());
    // 1000-byte requests: 1008-byte blocks, whose class moves batches of 4; a local list
    // over its cap (8 in a new cache, 16 at most) gives a batch to the class's central list.
    let ps: Vec<usize> = (0..24).map(|_| G.malloc(1000) as usize).collect();
    assert!(ps.iter().all(|&p| p != 0));
    for &p in &ps[..20] {
        // SAFETY: `p` is a live block of `G`; freed once, it goes to this thread's cache.
        unsafe { G.free(p as *mut u8) };
    }
    // This thread's cache goes back to the engine (marks cleared): the blocks still marked
    // as cached are the central batches'.
    tcache::flush_current();
    // SAFETY: each `p` is a 16-aligned payload of a 1008-byte block.
    let central: Vec<usize> = ps[..20]
        .iter()
        .copied()
        .filter(|&p| unsafe { tcache::is_cached(p as *const u8) })
        .collect();
    assert!(
        !central.is_empty() && central.len() % 4 == 0,
        "whole batches on the central list: {} blocks",
        central.len()
    );
    let p = central[1];
    // A write after free over the block's second word (its cache mark).
    // SAFETY: a cached block's payload holds at least two words.
    let mark = unsafe { (p as *mut usize).add(1) };
    let (saved, reports) = written_after_free_is_checkers_error(mark, p);
    // Repaired, the heaps check clean; a trim returns the batch to the engine.
    // SAFETY: `mark` is the word the test overwrote, read before as `saved`.
    unsafe { mark.write(saved) };
    assert_eq!(G.check(), Ok(()));
    G.trim();
    for &p in &ps[20..] {
        // SAFETY: the blocks not freed above are live.
        unsafe { G.free(p as *mut u8) };
    }
    assert_eq!(G.check(), Ok(()));
    assert_eq!(REPORTS.load(Ordering::SeqCst), reports);
    for &p in &ps[..20] {
        // SAFETY: a 16-aligned payload of a 1008-byte block (freed: the word is only read).
        let cached = unsafe { tcache::is_cached(p as *const u8) };
        assert!(!cached, "{p:#x} still cached after the trim");
    }
}
