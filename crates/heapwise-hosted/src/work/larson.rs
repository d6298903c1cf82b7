//! A larson-like server: each thread works on a bundle of live blocks (replacing random
//! slots with blocks of random sizes 16..1024 B), then hands the whole bundle to the next
//! thread, which frees those blocks in its own rounds: most frees are of blocks another thread
//! allocated.
//!
//! Determinism: a bundle carries its own generator and its operations count, so what happens
//! to it does not depend on which thread holds it or when; the checksum (stamps of every block
//! freed) is therefore timing-independent.
//!
//! Invariant: a bundle is held by exactly one thread at a time (moved through a mailbox under
//! a mutex between two barriers).

use std::sync::{Barrier, Mutex};

use super::{Outcome, Params};
use crate::cmem::{free_all, Block};
use crate::rng::Rng;

struct Bundle {
    rng: Rng,
    slots: Vec<Block>,
    sum: u64,
}

impl Bundle {
    fn work(&mut self, ops: usize) -> Result<(), String> {
        for _ in 0..ops {
            let i = self.rng.range(0, self.slots.len());
            let size = self.rng.range(16, 1025);
            let b = Block::new(size, self.rng.next_u64())?;
            let old = std::mem::replace(&mut self.slots[i], b);
            self.sum = self.sum.wrapping_add(old.free()?);
        }
        Ok(())
    }
}

/// `p.threads` threads, 40 rounds, bundles of 1000 blocks passed round-robin.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let t = p.threads.max(1);
    let rounds = 40;
    let per_round = p.n(12_000_000, 400) / rounds / t;
    let mailboxes: Vec<Mutex<Option<Bundle>>> = (0..t).map(|_| Mutex::new(None)).collect();
    let barrier = Barrier::new(t);
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..t)
            .map(|id| {
                let (mailboxes, barrier) = (&mailboxes, &barrier);
                s.spawn(move || -> Result<u64, String> {
                    let mut rng = Rng::new(100 + id as u64);
                    let slots = (0..1000)
                        .map(|_| Block::new(rng.range(16, 1025), rng.next_u64()))
                        .collect::<Result<Vec<_>, _>>()?;
                    let mut bundle = Bundle { rng, slots, sum: 0 };
                    let mut failure = None;
                    for _ in 0..rounds {
                        if failure.is_none() {
                            if let Err(e) = bundle.work(per_round) {
                                failure = Some(e);
                            }
                        }
                        *mailboxes[(id + 1) % t].lock().unwrap() = Some(bundle);
                        barrier.wait();
                        bundle = mailboxes[id].lock().unwrap().take().expect("bundle");
                        barrier.wait();
                    }
                    if let Some(e) = failure {
                        return Err(e);
                    }
                    let sum = bundle.sum.wrapping_add(free_all(bundle.slots)?);
                    Ok(sum)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sum = 0u64;
    for r in results {
        sum = sum.wrapping_add(r?);
    }
    Ok(Outcome {
        checksum: sum,
        ops: (2 * per_round * rounds * t) as u64,
    })
}
