//! An mstress-like workload: threads allocate in rounds with mixed lifetimes. Per round, each
//! thread allocates blocks (mostly 16..256 B, some up to 8 KiB, a few up to 64 KiB); half of
//! them die within the round (a random live one is freed after each allocation), the rest die
//! at the round's end, except one in ten which lives on for 4 rounds; half of those long-lived
//! blocks are handed to the next thread, which frees them when their time comes.
//!
//! Determinism: each thread's generator and each mailbox's single sender make the checksum
//! (stamps of all freed blocks) independent of timing.
//!
//! Invariant: a block is owned by exactly one list of one thread (or by a mailbox between two
//! barriers).

use std::sync::{Barrier, Mutex};

use super::{Outcome, Params};
use crate::cmem::{free_all, Block};
use crate::rng::Rng;

const ROUNDS: usize = 30;
const LIVES: usize = 4;

fn size(rng: &mut Rng) -> usize {
    match rng.next_u64() % 100 {
        0 => rng.range(8192, 65537),
        1..=9 => rng.range(256, 8193),
        _ => rng.range(16, 257),
    }
}

/// `p.threads` threads, 30 rounds.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let t = p.threads.max(1);
    let per_round = p.n(3_600_000, 300) / ROUNDS / t;
    let mailboxes: Vec<Mutex<Vec<(usize, Block)>>> =
        (0..t).map(|_| Mutex::new(Vec::new())).collect();
    let barrier = Barrier::new(t);
    let results: Vec<Result<(u64, u64), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..t)
            .map(|id| {
                let (mailboxes, barrier) = (&mailboxes, &barrier);
                s.spawn(move || -> Result<(u64, u64), String> {
                    let mut rng = Rng::new(300 + id as u64);
                    let mut sum = 0u64;
                    let mut ops = 0u64;
                    let mut failure: Option<String> = None;
                    // (round it dies at the end of, block)
                    let mut long: Vec<(usize, Block)> = Vec::new();
                    for round in 0..ROUNDS {
                        let mut outgoing = Vec::new();
                        if failure.is_none() {
                            let mut step = || -> Result<(), String> {
                                let mut short: Vec<Block> = Vec::new();
                                for _ in 0..per_round {
                                    let b = Block::new(size(&mut rng), rng.next_u64())?;
                                    ops += 1;
                                    if rng.chance(1, 10) {
                                        let dies = round + LIVES;
                                        if rng.chance(1, 2) {
                                            outgoing.push((dies, b));
                                        } else {
                                            long.push((dies, b));
                                        }
                                    } else {
                                        short.push(b);
                                    }
                                    if rng.chance(1, 2) && !short.is_empty() {
                                        let i = rng.range(0, short.len());
                                        sum = sum.wrapping_add(short.swap_remove(i).free()?);
                                        ops += 1;
                                    }
                                }
                                ops += short.len() as u64;
                                sum = sum.wrapping_add(free_all(short)?);
                                let (dead, alive): (Vec<_>, Vec<_>) = std::mem::take(&mut long)
                                    .into_iter()
                                    .partition(|(d, _)| *d <= round);
                                long = alive;
                                ops += dead.len() as u64;
                                sum = sum.wrapping_add(free_all(dead.into_iter().map(|(_, b)| b))?);
                                Ok(())
                            };
                            if let Err(e) = step() {
                                failure = Some(e);
                            }
                        }
                        *mailboxes[(id + 1) % t].lock().unwrap() = outgoing;
                        barrier.wait();
                        long.append(&mut mailboxes[id].lock().unwrap());
                        barrier.wait();
                    }
                    if let Some(e) = failure {
                        return Err(e);
                    }
                    ops += long.len() as u64;
                    sum = sum.wrapping_add(free_all(long.into_iter().map(|(_, b)| b))?);
                    Ok((sum, ops))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (mut sum, mut ops) = (0u64, 0u64);
    for r in results {
        let (s, o) = r?;
        sum = sum.wrapping_add(s);
        ops += o;
    }
    Ok(Outcome { checksum: sum, ops })
}
