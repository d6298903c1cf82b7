//! Opt-in soak test (`cargo test --release -p heapwise --test soak -- --ignored soak`):
//! `SOAK_THREADS` threads (default 8) for `SOAK_SECONDS` (default 120) allocate blocks of
//! random sizes (mostly small, some large), keep them for random lifetimes, hand a share to
//! other threads to free (cross-thread frees), grow and shrink them with `realloc`, and check
//! every block's fill pattern before it is resized or freed. At the end: zero corruption,
//! every block accounted for (the allocator's live small-block count returns to within
//! [`SMALL_SLACK`] blocks of its start, no large block is left over), the
//! heap checker clean, and RSS bounded (`SOAK_RSS_MIB`, default 1024).
//!
//! Variations: `SOAK_ARENAS` = `shared`, `contention` (the default) or `per-thread` (how
//! the worker threads spread over the arenas: `per-thread` makes most cross-thread frees
//! remote frees), `SOAK_CACHE=0` (no thread caches: every operation takes the arena lock).
//! Every `SOAK_TICK_MS` (default 500): with `SOAK_CHECK=1` the heap checker runs while the
//! workers go on, and with `SOAK_FORK=1` a `fork` child allocates and runs it (fork
//! safety under the whole workload).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use heapwise::{ArenaMode, Heapwise};

#[path = "support/fork_child.rs"]
mod fork_child;
use fork_child::{expect_child, heaps_pass};

#[global_allocator]
static A: Heapwise = Heapwise;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A block with a known fill: byte `i` is `(seed + i) as u8`.
struct Block {
    data: Vec<u8>,
    seed: u8,
}

impl Block {
    fn new(len: usize, seed: u8) -> Block {
        let data = (0..len).map(|i| seed.wrapping_add(i as u8)).collect();
        Block { data, seed }
    }
    fn verify(&self) {
        for (i, &b) in self.data.iter().enumerate() {
            assert_eq!(
                b,
                self.seed.wrapping_add(i as u8),
                "corrupted byte {i} of {}",
                self.data.len()
            );
        }
    }
    fn resize(&mut self, len: usize) {
        self.verify();
        let old = self.data.len();
        if len > old {
            self.data.reserve_exact(len - old);
            for i in old..len {
                self.data.push(self.seed.wrapping_add(i as u8));
            }
        } else {
            self.data.truncate(len);
            self.data.shrink_to_fit();
        }
        self.verify();
    }
}

fn size(r: &mut Rng) -> usize {
    match r.below(100) {
        0 => 256 * 1024 + r.below(1 << 20) as usize,
        1..=10 => r.below(64 * 1024) as usize,
        _ => r.below(512) as usize,
    }
}

fn rss_mib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Forks a child that allocates, checks the block and runs the heap checker over every
/// heap while the parent's workers go on; panics unless the child exits with 0.
fn fork_and_check(round: usize) {
    expect_child(round, || {
        let v = vec![7u8; 1000];
        let ok = v.iter().all(|&b| b == 7);
        heaps_pass(&format!("soak fork child {round}")) && ok
    });
}

#[test]
#[ignore = "minutes long: run with --ignored soak"]
fn soak() {
    let threads = env("SOAK_THREADS", 8) as usize;
    let secs = env("SOAK_SECONDS", 120);
    let rss_cap = env("SOAK_RSS_MIB", 1024);
    let mode = match std::env::var("SOAK_ARENAS").as_deref() {
        Ok("shared") => ArenaMode::Shared,
        Ok("per-thread") => ArenaMode::PerThread,
        Ok("contention") | Err(_) => ArenaMode::OnContention,
        Ok(other) => panic!("SOAK_ARENAS={other}: expected shared, contention or per-thread"),
    };
    // The worker threads' caches are set up after this, so they follow the mode.
    Heapwise::global().set_arena_mode(mode);
    if env("SOAK_CACHE", 1) == 0 {
        Heapwise::global().set_thread_cache(false);
    }
    let tick_ms = env("SOAK_TICK_MS", 500);
    let live_check = env("SOAK_CHECK", 0) == 1;
    let fork_check = env("SOAK_FORK", 0) == 1;
    let before = Heapwise::stats();
    let stop = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..threads).map(|_| mpsc::channel::<Block>()).unzip();
    let mut handles = Vec::new();
    for (t, rx) in rxs.into_iter().enumerate() {
        let txs = txs.clone();
        let stop = stop.clone();
        let ops = ops.clone();
        handles.push(std::thread::spawn(move || {
            let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1234_5678_9ABC_DEF1));
            let mut live: Vec<Block> = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..1000 {
                    match r.below(10) {
                        0..=3 => live.push(Block::new(size(&mut r), r.next() as u8)),
                        4..=5 if !live.is_empty() => {
                            let i = r.below(live.len() as u64) as usize;
                            let b = live.swap_remove(i);
                            b.verify();
                        }
                        6 if !live.is_empty() => {
                            let i = r.below(live.len() as u64) as usize;
                            let len = size(&mut r);
                            live[i].resize(len);
                        }
                        7 if !live.is_empty() => {
                            let i = r.below(live.len() as u64) as usize;
                            let b = live.swap_remove(i);
                            let to = r.below(txs.len() as u64) as usize;
                            let _ = txs[to].send(b);
                        }
                        _ => {}
                    }
                    while let Ok(b) = rx.try_recv() {
                        b.verify();
                    }
                    if live.len() > 2000 {
                        for b in live.drain(..1000) {
                            b.verify();
                        }
                    }
                    n += 1;
                }
            }
            for b in live.drain(..) {
                b.verify();
            }
            drop(txs);
            ops.fetch_add(n, Ordering::Relaxed);
            rx
        }));
    }
    drop(txs);
    let start = Instant::now();
    let mut ticks = 0;
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(tick_ms));
        ticks += 1;
        if live_check {
            if let Err(e) = Heapwise::check() {
                panic!("heap checker while the workers run: {e}");
            }
        }
        if fork_check {
            fork_and_check(ticks);
        }
        assert!(
            rss_mib() <= rss_cap,
            "RSS {} MiB over {rss_cap} MiB",
            rss_mib()
        );
    }
    stop.store(true, Ordering::Relaxed);
    let rxs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("worker"))
        .collect();
    for rx in rxs {
        while let Ok(b) = rx.try_recv() {
            b.verify();
        }
    }
    Heapwise::check().expect("heap checker after the soak");
    let after = Heapwise::stats();
    println!(
        "soak: {threads} threads, {secs} s, arenas {mode:?}, cache {}, {} ops, peak RSS {} MiB, live small blocks {} -> {}, large blocks {} -> {}",
        Heapwise::global().thread_cache(),
        ops.load(Ordering::Relaxed),
        rss_mib(),
        before.heap.counters.alloc_blocks,
        after.heap.counters.alloc_blocks,
        before.large_blocks,
        after.large_blocks,
    );
    assert!(rss_mib() <= rss_cap);
    assert!(
        after.large_blocks <= before.large_blocks + 1,
        "large blocks lost"
    );
    // The workers' caches went back to the heaps when their threads ended, and the checker
    // flushed this thread's: what stays allocated is this thread's own few blocks (the
    // channels, the handles' vector), not the workers'.
    assert!(
        after.heap.counters.alloc_blocks <= before.heap.counters.alloc_blocks + SMALL_SLACK,
        "small blocks lost: {} allocated before the soak, {} after",
        before.heap.counters.alloc_blocks,
        after.heap.counters.alloc_blocks
    );
}

/// Blocks the main thread may still hold at the end of the soak beyond those it held at
/// its start (the receivers' vector, the channels' shared state).
const SMALL_SLACK: usize = 64;
