//! `Global::usable_size` (`malloc_usable_size`) with the thread caches on: a thread with an
//! active cache answers without the arena's lock (`tcache::usable_size_fast`), a thread
//! without one through the locked engine path; both give the same figure for every block,
//! the figure is all the block's payload (writing every usable byte leaves the heaps
//! intact), and a block sitting in a thread cache is still reported as a use after free.

use std::sync::atomic::{AtomicUsize, Ordering};

use heapwise::{Config, Global, LARGE_THRESHOLD};
use heapwise_core::block::WORD;
use heapwise_core::{ErrorKind, HeapError};

static REPORTS: AtomicUsize = AtomicUsize::new(0);
static USE_AFTER_FREE: AtomicUsize = AtomicUsize::new(0);

fn record(e: &HeapError) {
    REPORTS.fetch_add(1, Ordering::SeqCst);
    if e.kind == ErrorKind::UseAfterFree {
        USE_AFTER_FREE.fetch_add(1, Ordering::SeqCst);
    }
}

static G: Global = Global::with_thread_cache(Config {
    hook: record,
    ..Config::DEFAULT
});

/// The block size the engine gives a request of `n` bytes: a header word included, 16-byte
/// granules, at least four words (32 bytes on 64-bit targets, 16 on 32-bit ones).
fn block_size(n: usize) -> usize {
    ((n + WORD).div_ceil(16) * 16)
        .max(4 * WORD)
        .next_multiple_of(16)
}

#[test]
fn lock_free_and_locked_paths_agree_and_report_cached_blocks() {
    let mut sizes: Vec<usize> = (0..=2100).collect();
    sizes.extend([
        4095,
        4096,
        10_000,
        65_536,
        200_000,
        LARGE_THRESHOLD,
        3 << 20,
    ]);
    let blocks: Vec<(usize, usize)> = sizes
        .iter()
        .map(|&n| {
            let p = G.malloc(n);
            assert!(!p.is_null(), "malloc({n})");
            (p as usize, n)
        })
        .collect();
    // This thread allocated through `G`, so its cache is active: the lock-free path.
    let here: Vec<usize> = blocks
        .iter()
        // SAFETY: every pointer is a live block of `G`.
        .map(|&(p, _)| unsafe { G.usable_size(p as *const u8) })
        .collect();
    // A thread that never allocated through `G` has no cache for it: the locked path.
    let there: Vec<usize> = std::thread::spawn({
        let blocks = blocks.clone();
        move || {
            blocks
                .iter()
                // SAFETY: every pointer is a live block of `G` (freed only after the join).
                .map(|&(p, _)| unsafe { G.usable_size(p as *const u8) })
                .collect()
        }
    })
    .join()
    .unwrap();
    assert_eq!(here, there, "the two paths disagree");
    for (&(p, n), &u) in blocks.iter().zip(&here) {
        assert!(u >= n, "usable {u} < requested {n}");
        if n < 200_000 {
            assert_eq!(
                u,
                block_size(n) - WORD,
                "usable size of a heap block of {n} bytes"
            );
        }
        // SAFETY: `u` usable bytes of the live block.
        unsafe { std::ptr::write_bytes(p as *mut u8, 0xa5, u) };
    }
    assert!(G.check().is_ok(), "writing every usable byte broke a heap");
    assert_eq!(
        REPORTS.load(Ordering::SeqCst),
        0,
        "a live block was reported"
    );

    // A freed small block waits in this thread's cache: still a use after free.
    let (p, _) = blocks[100];
    for &(q, _) in &blocks {
        // SAFETY: every block is freed once.
        unsafe { G.free(q as *mut u8) };
    }
    // SAFETY: deliberately a freed block, which the checks must catch (not a fault: the
    // block lies in a heap that is still mapped).
    let u = unsafe { G.usable_size(p as *const u8) };
    assert_eq!(u, 0);
    assert_eq!(
        USE_AFTER_FREE.load(Ordering::SeqCst),
        1,
        "use after free not reported"
    );
}
