//! The Rust-level workloads: the single- and multi-threaded patterns of the suite written with
//! `Box`, `Vec`, `String` and `BTreeMap`, so they allocate through whatever
//! `#[global_allocator]` the binary that runs them chose (`rust-work-system`,
//! `rust-work-heapwise`, `rust-work-mimalloc`, `rust-work-jemalloc`).
//!
//! Verification as in [`crate::work`]: contents are checked before they are dropped and the
//! checksum does not depend on thread timing.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::mpsc::{sync_channel, TrySendError};

use crate::rng::Rng;
use crate::work::{mix, Outcome, Params, Spec};

/// Every Rust-level workload.
pub const ALL: &[Spec] = &[
    Spec {
        name: "rust-st",
        threads: 1,
        about: "Rust GlobalAlloc, single thread: Box<[u8]> 16..256 B churn, growing Strings, BTreeMap churn",
        run: single_thread,
    },
    Spec {
        name: "rust-mt-2t",
        threads: 2,
        about: "Rust GlobalAlloc, larson-like: Vec<u8> blocks sent to the next thread, which drops them",
        run: multi_thread,
    },
    Spec {
        name: "rust-mt-4t",
        threads: 4,
        about: "Rust GlobalAlloc, larson-like with 4 threads (oversubscribed)",
        run: multi_thread,
    },
];

/// The Rust-level workload called `name`.
pub fn find(name: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.name == name)
}

fn boxed(rng: &mut Rng, size: usize) -> Box<[u8]> {
    let tag = rng.next_u64() as u8;
    let mut v = vec![tag; size].into_boxed_slice();
    v[size - 1] = !tag;
    v
}

fn check(b: &[u8]) -> Result<u64, String> {
    let tag = b[0];
    if b[b.len() - 1] != !tag || b[b.len() / 2] != tag && b.len() / 2 != b.len() - 1 {
        return Err(format!("boxed slice of {} bytes corrupted", b.len()));
    }
    Ok(tag as u64 + b.len() as u64)
}

/// Boxed slices 16..256 B in a ring, Strings grown by pushes, a BTreeMap with inserts and
/// removes.
pub fn single_thread(p: &Params) -> Result<Outcome, String> {
    let n = p.n(6_000_000, 1000);
    let mut rng = Rng::new(6);
    let mut sum = 0u64;
    let mut ring: Vec<Box<[u8]>> = (0..512).map(|_| boxed(&mut rng, 16)).collect();
    for _ in 0..n {
        let i = rng.range(0, ring.len());
        let size = 16 * rng.range(1, 17);
        let old = std::mem::replace(&mut ring[i], black_box(boxed(&mut rng, size)));
        sum = sum.wrapping_add(check(&old)?);
    }
    for b in &ring {
        sum = sum.wrapping_add(check(b)?);
    }
    let mut strings: Vec<String> = (0..256).map(|_| String::new()).collect();
    for k in 0..n / 4 {
        let s = &mut strings[rng.range(0, 256)];
        s.push_str(["a", "bc", "def", "ghij"][k % 4]);
        if s.len() > 1500 {
            sum = mix(sum, s.len() as u64 ^ s.bytes().map(u64::from).sum::<u64>());
            *s = String::new();
        }
    }
    let mut map: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for k in 0..n / 8 {
        let key = rng.next_u64() % 20_000;
        if let Some(v) = map.remove(&key) {
            if v.len() != (key % 7 + 1) as usize || v.iter().any(|&x| x != key as u32) {
                return Err(format!("map value for {key} corrupted"));
            }
            sum = mix(sum, key);
        } else {
            map.insert(key, vec![key as u32; (key % 7 + 1) as usize]);
        }
        if k % 100_000 == 0 {
            sum = mix(sum, map.len() as u64);
        }
    }
    Ok(Outcome {
        checksum: sum,
        ops: (2 * n + n / 4 + n / 4) as u64,
    })
}

/// Threads in a ring: each allocates `Vec<u8>` of random sizes 16..1024 B in batches of 100
/// and sends every other batch to the next thread, which checks and drops it.
pub fn multi_thread(p: &Params) -> Result<Outcome, String> {
    let t = p.threads.max(1);
    let batches = p.n(18_000, 10) / t;
    let mut txs = Vec::new();
    let mut rxs = Vec::new();
    for _ in 0..t {
        let (tx, rx) = sync_channel::<Vec<Vec<u8>>>(8);
        txs.push(tx);
        rxs.push(Some(rx));
    }
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..t)
            .map(|id| {
                let tx = txs[(id + 1) % t].clone();
                let rx = rxs[id].take().unwrap();
                s.spawn(move || -> Result<u64, String> {
                    let mut rng = Rng::new(400 + id as u64);
                    let mut sum = 0u64;
                    let verify = |batch: Vec<Vec<u8>>, sum: &mut u64| -> Result<(), String> {
                        for v in batch {
                            let tag = v[0];
                            if v.iter().any(|&x| x != tag) {
                                return Err(format!("Vec<u8> of {} bytes corrupted", v.len()));
                            }
                            *sum = sum.wrapping_add(tag as u64 + v.len() as u64);
                        }
                        Ok(())
                    };
                    let mut sent = 0;
                    for b in 0..batches {
                        let batch: Vec<Vec<u8>> = (0..100)
                            .map(|_| {
                                let size = rng.range(16, 1025);
                                vec![rng.next_u64() as u8; size]
                            })
                            .collect();
                        if b % 2 == 0 {
                            // try_send, draining our own queue while the next one is full: a
                            // ring of blocking sends could deadlock.
                            let mut batch = batch;
                            loop {
                                match tx.try_send(batch) {
                                    Ok(()) => break,
                                    Err(TrySendError::Full(back)) => {
                                        batch = back;
                                        while let Ok(got) = rx.try_recv() {
                                            verify(got, &mut sum)?;
                                        }
                                        std::thread::yield_now();
                                    }
                                    Err(TrySendError::Disconnected(_)) => {
                                        return Err("receiver hung up".to_string())
                                    }
                                }
                            }
                            sent += 1;
                            while let Ok(got) = rx.try_recv() {
                                verify(got, &mut sum)?;
                            }
                        } else {
                            verify(batch, &mut sum)?;
                        }
                    }
                    drop(tx);
                    let _ = sent;
                    for got in rx.iter() {
                        verify(got, &mut sum)?;
                    }
                    Ok(sum)
                })
            })
            .collect();
        drop(txs);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sum = 0u64;
    for r in results {
        sum = sum.wrapping_add(r?);
    }
    Ok(Outcome {
        checksum: sum,
        ops: (2 * 100 * batches * t) as u64,
    })
}

/// The `main` of every `rust-work-*` binary: `NAME [--scale X]`; prints one result line
/// `rust-work: workload=.. global=.. malloc=.. checksum=.. ops=..` and exits 0, or prints
/// `VERIFY FAILED: ..` and exits 2.
pub fn main_with(global: &str) -> ! {
    crate::child::run_main("rust-work", global, find)
}
