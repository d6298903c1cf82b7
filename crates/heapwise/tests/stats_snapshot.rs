//! `Heapwise::stats` while another thread refills its cache: a snapshot counts every call
//! that returned before it began. (It used to read the heaps' counters, which count a
//! cache's refill as engine `malloc`s, before the caches' counters, which subtract it: a
//! refill in between took a whole batch off the snapshot, which then fell short of the calls
//! the program had made.)

use std::sync::mpsc;
use std::time::{Duration, Instant};

use heapwise::Heapwise;

#[global_allocator]
static A: Heapwise = Heapwise;

fn mallocs() -> u64 {
    Heapwise::stats().heap.counters.mallocs
}

#[test]
fn a_snapshot_counts_every_call_that_returned_before_it() {
    // One arena per new thread: the refiller gets arena 1 and the holder arena 2, whose
    // million blocks make a snapshot's walk of arena 2 long. The refiller's one `malloc`,
    // timed to land in that walk (after arena 1 was read), refills a whole batch.
    Heapwise::global().set_arena_mode(heapwise::ArenaMode::PerThread);
    let (go_tx, go_rx) = mpsc::channel::<(usize, Duration)>();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let refiller = std::thread::spawn(move || {
        let mut kept: Vec<Box<[u8]>> = Vec::with_capacity(64);
        done_tx.send(()).unwrap();
        while let Ok((size, delay)) = go_rx.recv() {
            std::thread::sleep(delay);
            // A class this thread never used: an empty list, refilled from the heaps.
            kept.push(vec![7u8; size].into_boxed_slice());
            done_tx.send(()).unwrap();
        }
        drop(kept);
    });
    done_rx.recv().unwrap();
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let held: Vec<Box<u64>> = (0..1_000_000).map(Box::new).collect();
        ready_tx.send(()).unwrap();
        hold_rx.recv().unwrap();
        drop(held);
    });
    ready_rx.recv().unwrap();
    let t = Instant::now();
    mallocs();
    let walk = t.elapsed();
    let mut short = Vec::new();
    for round in 0..30 {
        let before = mallocs();
        let mine: Vec<Box<u64>> = (0..100).map(Box::new).collect();
        // 100 boxes and their vector returned before the next snapshot began.
        go_tx.send((40 + 32 * round, walk / 2)).unwrap();
        let after = mallocs();
        done_rx.recv().unwrap();
        if after - before < 101 {
            short.push(after - before);
        }
        drop(mine);
    }
    drop(go_tx);
    refiller.join().unwrap();
    hold_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(
        short.is_empty(),
        "snapshots counted {short:?} of the 101 allocations made before them (walk {walk:?})"
    );
}
