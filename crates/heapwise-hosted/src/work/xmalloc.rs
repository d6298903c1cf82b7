//! An xmalloc-like producer/consumer: a producer thread allocates batches of blocks of random
//! sizes 16..512 B and sends them to its consumer thread, which checks and frees them; every
//! free is of a block another thread allocated. `threads / 2` pairs run side by side.
//!
//! Invariant: a batch is owned by the channel between send and receive; the checksum is the
//! sum of the stamps the consumers freed, independent of timing.

use std::sync::mpsc::sync_channel;

use super::{Outcome, Params};
use crate::cmem::Block;
use crate::rng::Rng;

const BATCH: usize = 256;

/// `max(1, threads / 2)` producer/consumer pairs.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let pairs = (p.threads / 2).max(1);
    let batches = p.n(30_000, 4) / pairs;
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for pair in 0..pairs {
            let (tx, rx) = sync_channel::<Vec<Block>>(16);
            handles.push(s.spawn(move || -> Result<u64, String> {
                let mut rng = Rng::new(200 + pair as u64);
                for _ in 0..batches {
                    let mut batch = Vec::with_capacity(BATCH);
                    for _ in 0..BATCH {
                        batch.push(Block::new(rng.range(16, 513), rng.next_u64())?);
                    }
                    if tx.send(batch).is_err() {
                        return Err("consumer hung up".into());
                    }
                }
                Ok(0)
            }));
            handles.push(s.spawn(move || -> Result<u64, String> {
                let mut sum = 0u64;
                let mut got = 0;
                for batch in rx.iter() {
                    for b in batch {
                        sum = sum.wrapping_add(b.free()?);
                    }
                    got += 1;
                }
                if got != batches {
                    return Err(format!("consumer got {got} batches of {batches}"));
                }
                Ok(sum)
            }));
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sum = 0u64;
    for r in results {
        sum = sum.wrapping_add(r?);
    }
    Ok(Outcome {
        checksum: sum,
        ops: (2 * BATCH * batches * pairs) as u64,
    })
}
