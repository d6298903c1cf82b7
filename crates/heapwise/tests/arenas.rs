//! Arenas and remote frees, with `Heapwise` as the global allocator: a small block freed by
//! a thread of another arena goes back to its owner arena (and is reused there), an exiting
//! thread hands its arena to the next thread, statistics sum over the arenas and their
//! remote stacks, and the child of a `fork` with several arenas in use can allocate and
//! free blocks of every arena.
//!
//! One test function runs the scenarios in order: arenas are handed to threads by how many
//! threads each has, so the scenarios must not run concurrently with each other. The first
//! runs in the default mode (threads share arena 0 until they contend); the others with one arena per thread
//! (`ArenaMode::PerThread`; `ArenaMode::OnContention` reaches that state only under
//! contention, which a test cannot bring about deterministically).

use std::collections::HashSet;
use std::sync::mpsc::channel;
use std::sync::{Arc, Barrier};

use heapwise::Heapwise;

#[path = "support/fork_child.rs"]
mod fork_child;
use fork_child::{expect_child, heaps_pass, say};

#[global_allocator]
static A: Heapwise = Heapwise;

/// Allocates `n` blocks of `size` bytes through the global allocator (raw, so that the test
/// decides which thread frees them).
fn alloc_n(n: usize, size: usize) -> Vec<usize> {
    let layout = std::alloc::Layout::from_size_align(size, 8).unwrap();
    (0..n)
        .map(|i| {
            // SAFETY: non-zero size.
            let p = unsafe { std::alloc::alloc(layout) };
            assert!(!p.is_null());
            // SAFETY: `p` is a fresh block of `size` bytes.
            unsafe { p.write_bytes(i as u8, size) };
            p as usize
        })
        .collect()
}

fn free_all(ps: &[usize], size: usize) {
    let layout = std::alloc::Layout::from_size_align(size, 8).unwrap();
    for &p in ps {
        // SAFETY: `p` came from `alloc_n` with this layout and is freed once.
        unsafe { std::alloc::dealloc(p as *mut u8, layout) };
    }
}

/// Thread `owner` allocates blocks, thread `other` (attached to another arena, as the
/// owner is alive while it starts) frees them; `other`'s next allocations do not reuse
/// them, the owner's next allocations of that size do (they came back through its arena's
/// remote stack, not through `other`'s cache or the engine).
fn remote_free_returns_blocks_to_their_owner() {
    const N: usize = 256;
    const SIZE: usize = 40;
    let (to_other, from_owner) = channel::<Vec<usize>>();
    let (to_owner, freed) = channel::<()>();
    let start = Arc::new(Barrier::new(2));
    let s2 = start.clone();
    let owner = std::thread::spawn(move || {
        let blocks = alloc_n(N, SIZE);
        s2.wait(); // the other thread starts (and takes an arena) while this one lives
        to_other.send(blocks.clone()).unwrap();
        freed.recv().unwrap();
        let again = alloc_n(N, SIZE);
        let old: HashSet<usize> = blocks.iter().copied().collect();
        let reused = again.iter().filter(|p| old.contains(p)).count();
        free_all(&again, SIZE);
        reused
    });
    start.wait();
    let other = std::thread::spawn(move || {
        let _warm = alloc_n(1, SIZE); // set the cache (and its arena) up
        free_all(&_warm, SIZE);
        let blocks = from_owner.recv().unwrap();
        free_all(&blocks, SIZE);
        // This thread's own allocations come from its own arena: none of the blocks it
        // just freed (they belong to the owner's arena).
        let mine = alloc_n(N, SIZE);
        let old: HashSet<usize> = blocks.iter().copied().collect();
        let taken = mine.iter().filter(|p| old.contains(p)).count();
        free_all(&mine, SIZE);
        to_owner.send(()).unwrap();
        taken
    });
    let taken = other.join().unwrap();
    assert_eq!(
        taken, 0,
        "the freeing thread reused blocks of another arena"
    );
    let reused = owner.join().unwrap();
    assert!(
        reused >= N / 2,
        "only {reused} of {N} blocks freed by the other thread came back to their owner"
    );
}

/// Threads that run one after the other reuse one arena: the heap count does not grow
/// with the number of threads (an exited thread's arena is handed to the next one).
fn exited_threads_hand_their_arena_over() {
    let first = std::thread::spawn(|| {
        let b = alloc_n(100, 64);
        free_all(&b, 64);
    });
    first.join().unwrap();
    let heaps = Heapwise::stats().heaps;
    for _ in 0..8 {
        std::thread::spawn(|| {
            let b = alloc_n(100, 64);
            free_all(&b, 64);
        })
        .join()
        .unwrap();
    }
    assert_eq!(
        Heapwise::stats().heaps,
        heaps,
        "threads that ran one at a time created new heaps"
    );
}

/// Blocks live in several arenas are all counted; freed by threads of other arenas (so
/// that they sit in caches and remote stacks) they no longer are.
fn statistics_sum_over_arenas() {
    const T: usize = 3;
    const N: usize = 500;
    const SIZE: usize = 100;
    let base = Heapwise::stats().heap.allocated_blocks;
    let b1 = Arc::new(Barrier::new(T + 1));
    let b2 = Arc::new(Barrier::new(T + 1));
    let b3 = Arc::new(Barrier::new(T + 1));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..T).map(|_| channel::<Vec<usize>>()).unzip();
    let mut rxs: Vec<_> = rxs.into_iter().map(Some).collect();
    let handles: Vec<_> = (0..T)
        .map(|t| {
            let (b1, b2, b3) = (b1.clone(), b2.clone(), b3.clone());
            let tx = txs[(t + 1) % T].clone();
            let rx = rxs[t].take().unwrap();
            std::thread::spawn(move || {
                let mine = alloc_n(N, SIZE);
                b1.wait(); // all live: counted
                b2.wait();
                tx.send(mine).unwrap();
                let theirs = rx.recv().unwrap();
                free_all(&theirs, SIZE);
                drop(theirs);
                b3.wait(); // all freed by another thread than their own
                b3.wait();
            })
        })
        .collect();
    b1.wait();
    let s = Heapwise::stats();
    let live = s.heap.allocated_blocks.saturating_sub(base);
    assert!(s.heaps >= 2, "the threads used several arenas: {s:?}");
    assert!(
        (T * N..T * N + 200).contains(&live),
        "{live} blocks counted live, {} expected",
        T * N
    );
    b2.wait();
    b3.wait();
    let after = Heapwise::stats().heap.allocated_blocks.saturating_sub(base);
    assert!(
        after < 200,
        "{after} blocks still counted live after the remote frees"
    );
    b3.wait();
    for h in handles {
        h.join().unwrap();
    }
    Heapwise::check().unwrap();
}

/// Four threads in different arenas allocate while the parent forks; the child frees
/// blocks of every arena (their threads do not exist in the child), allocates, starts a
/// thread, and checks the heaps.
fn fork_with_several_arenas() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (tx, rx) = channel::<Vec<usize>>();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                tx.send(alloc_n(64, 48)).unwrap();
                let mut keep: Vec<Vec<u8>> = Vec::new();
                let mut i = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    keep.push(vec![t as u8; (i * 37) % 2000 + 1]);
                    if keep.len() > 100 {
                        keep.swap_remove(i % 100);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let blocks: Vec<Vec<usize>> = (0..4).map(|_| rx.recv().unwrap()).collect();
    for round in 0..10 {
        expect_child(round, || {
            for b in &blocks {
                free_all(b, 48);
            }
            let ok = std::thread::spawn(move || {
                let v = alloc_n(300, 48);
                free_all(&v, 48);
                vec![round as u8; 5000].iter().all(|&b| b == round as u8)
            })
            .join()
            .unwrap_or(false);
            if !ok {
                say(&format!("fork child {round}: its new thread failed\n"));
            }
            let v = alloc_n(300, 48);
            free_all(&v, 48);
            heaps_pass(&format!("fork child {round}")) && ok
        });
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    for b in &blocks {
        free_all(b, 48);
    }
    Heapwise::check().unwrap();
}

/// By default (`ArenaMode::OnContention`) threads share arena 0 until they contend: threads
/// that never run at the same time use one heap however many ran.
fn threads_share_arena_zero_without_contention() {
    assert_eq!(
        Heapwise::global().arena_mode(),
        heapwise::ArenaMode::OnContention
    );
    let _ = alloc_n(1, 16); // the main thread's cache and the first heap exist
    let heaps = Heapwise::stats().heaps;
    for _ in 0..4 {
        std::thread::spawn(|| {
            let b = alloc_n(300, 64);
            free_all(&b, 64);
        })
        .join()
        .unwrap();
    }
    assert_eq!(heaps, 1);
    assert_eq!(
        Heapwise::stats().heaps,
        1,
        "threads without contention got arenas"
    );
}

#[test]
fn arenas() {
    threads_share_arena_zero_without_contention();
    // From here on every thread gets its own arena (the mode a contended thread reaches).
    Heapwise::global().set_arena_mode(heapwise::ArenaMode::PerThread);
    remote_free_returns_blocks_to_their_owner();
    exited_threads_hand_their_arena_over();
    statistics_sum_over_arenas();
    fork_with_several_arenas();
}
