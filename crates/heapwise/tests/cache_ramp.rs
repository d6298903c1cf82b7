//! The thread caches' slow start (`tcache::RAMP_START`): the first refill of a class from
//! the engine carves two blocks, and each later one twice as many, up to the class's batch.
//! A thread that uses many sizes a little (most programs) then holds a block or so of each,
//! not a whole batch of every size it touched: every carved block has its header written,
//! so the batches were resident memory.
//!
//! What the caches hold is read from the statistics: the program's view counts cached
//! blocks neither as allocated nor as free, so they are what the heap holds beyond the
//! fixed overhead, the allocated and the free bytes.

use heapwise::tcache::{self, BATCHES, MAX_CACHED_BLOCK, RAMP_START};
use heapwise::{Config, Global};
use heapwise_core::block::{ALIGN, MIN_BLOCK, WORD};

static G: Global = Global::with_thread_cache(Config::DEFAULT);

/// The figures are exact only while one thread at a time allocates from `G`.
static SEQ: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Block bytes the thread caches of `G` hold now (exact: one thread allocates at a time).
fn cached_bytes() -> usize {
    let s = G.stats().heap;
    s.heap_bytes - s.fixed_overhead_bytes - s.allocated_bytes - s.free_bytes
}

/// Runs `f` on a new thread: a fresh cache, whose owner becomes `G` at its first call.
fn on_new_thread(f: impl FnOnce() + Send + 'static) {
    let _seq = SEQ.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::spawn(f).join().expect("test thread panicked");
}

/// Returns the thread's cached blocks and the central lists' batches (the frees of a test
/// may pass batches there, which the next test's refills would take first) to the heaps.
fn give_back_all() {
    tcache::flush_current();
    tcache::drain_central(&G);
    assert_eq!(cached_bytes(), 0);
    assert_eq!(G.check(), Ok(()));
}

#[test]
fn one_block_of_each_size_keeps_one_more_of_each_cached_not_a_batch() {
    on_new_thread(|| {
        let mut live = Vec::new();
        let mut bsize = MIN_BLOCK;
        while bsize <= MAX_CACHED_BLOCK {
            live.push(G.malloc(bsize - WORD) as usize);
            bsize += ALIGN;
        }
        assert!(live.iter().all(|&p| p != 0));
        let classes = live.len();
        // Each class's first refill carved `RAMP_START` blocks and handed one out. Whole
        // batches would have left 15 blocks of each class up to 256 bytes (3 of 1 KiB ones).
        let expect: usize = (0..classes)
            .map(|k| (RAMP_START - 1) * (MIN_BLOCK + k * ALIGN))
            .sum();
        assert_eq!(cached_bytes(), expect, "{classes} classes");
        for p in live {
            // SAFETY: `p` came from `G.malloc` and is freed once.
            unsafe { G.free(p as *mut u8) };
        }
        give_back_all();
    });
}

#[test]
fn each_refill_of_a_class_carves_twice_as_many_up_to_its_batch() {
    on_new_thread(|| {
        // A class of 64-byte blocks: a batch of 16 (`BATCHES`).
        let bsize = 64;
        let batch = BATCHES[(bsize - MIN_BLOCK) / ALIGN] as usize;
        assert_eq!(batch, 16);
        let mut live = Vec::new();
        // Refills carve 2, 4, 8, 16, 16, ...: the cache runs empty after 2, 6, 14, 30, ...
        // allocations, and the next allocation refills it.
        let mut carved = 0;
        let mut ramp = RAMP_START;
        for _ in 0..6 {
            carved += ramp;
            while live.len() < carved - ramp + 1 {
                live.push(G.malloc(bsize - WORD) as usize);
            }
            assert_eq!(
                cached_bytes(),
                (carved - live.len()) * bsize,
                "after {} blocks (refill of {ramp})",
                live.len()
            );
            while live.len() < carved {
                live.push(G.malloc(bsize - WORD) as usize);
            }
            assert_eq!(cached_bytes(), 0, "after {} blocks", live.len());
            ramp = (2 * ramp).min(batch);
        }
        assert!(live.iter().all(|&p| p != 0));
        for p in live {
            // SAFETY: `p` came from `G.malloc` and is freed once.
            unsafe { G.free(p as *mut u8) };
        }
        give_back_all();
    });
}

#[test]
fn a_refill_takes_a_whole_central_batch_before_carving_slowly() {
    // A consumer thread frees 64 blocks a producer allocated: past its local list's cap
    // (two batches: it never reuses its own frees) it passes batches of 16 to the class's
    // central list, whose first batch the next thread's first refill takes whole.
    let _seq = SEQ.lock().unwrap_or_else(|e| e.into_inner());
    let bsize = 64;
    let batch = BATCHES[(bsize - MIN_BLOCK) / ALIGN] as usize;
    let blocks: Vec<usize> =
        std::thread::spawn(move || (0..64).map(|_| G.malloc(bsize - WORD) as usize).collect())
            .join()
            .expect("producer panicked");
    assert!(blocks.iter().all(|&p| p != 0));
    std::thread::spawn(move || {
        for p in blocks {
            // SAFETY: `p` came from `G.malloc` (in the producer) and is freed once.
            unsafe { G.free(p as *mut u8) };
        }
    })
    .join()
    .expect("consumer panicked");
    let held = cached_bytes();
    assert!(
        held >= batch * bsize,
        "no central batch: {held} bytes cached"
    );
    std::thread::spawn(move || {
        let p = G.malloc(bsize - WORD);
        assert!(!p.is_null());
        // The batch came from the central list: the bytes cached did not grow (a carve
        // from the engine would have added a block), one block went to the program.
        assert_eq!(cached_bytes(), held - bsize);
        // SAFETY: `p` came from `G.malloc` and is freed once.
        unsafe { G.free(p) };
        give_back_all();
    })
    .join()
    .expect("second producer panicked");
}
