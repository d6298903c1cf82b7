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
    /// The first verification failure of this bundle (or of its making): the bundle then
    /// does no more work, but keeps going round, so no thread is left waiting for it.
    failure: Option<String>,
}

impl Bundle {
    /// A bundle of 1000 live blocks; a failure to make it is kept in the bundle, to be
    /// reported by the thread that ends up holding it.
    fn new(mut rng: Rng, fail: bool) -> Bundle {
        let slots = (0..1000)
            .map(|k| {
                if fail && k == 3 {
                    return Err("malloc(..) returned NULL (injected)".to_string());
                }
                Block::new(rng.range(16, 1025), rng.next_u64())
            })
            .collect::<Result<Vec<_>, _>>();
        let (slots, failure) = match slots {
            Ok(v) => (v, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        Bundle {
            rng,
            slots,
            sum: 0,
            failure,
        }
    }

    fn work(&mut self, ops: usize) {
        if self.failure.is_some() {
            return;
        }
        if let Err(e) = self.replace(ops) {
            self.failure = Some(e);
        }
    }

    fn replace(&mut self, ops: usize) -> Result<(), String> {
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
    run_failing(p, None)
}

/// [`run`], with the making of thread `fail`'s bundle failing when it is given (what a
/// `malloc` returning NULL or a misaligned block does; for the tests).
fn run_failing(p: &Params, fail: Option<usize>) -> Result<Outcome, String> {
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
                    // Every thread reaches every barrier, whatever failed: one that left
                    // early would leave the others waiting for ever.
                    let mut bundle = Bundle::new(Rng::new(100 + id as u64), fail == Some(id));
                    for _ in 0..rounds {
                        bundle.work(per_round);
                        *mailboxes[(id + 1) % t].lock().unwrap() = Some(bundle);
                        barrier.wait();
                        bundle = mailboxes[id].lock().unwrap().take().expect("bundle");
                        barrier.wait();
                    }
                    if let Some(e) = bundle.failure {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_in_one_thread_is_reported_not_a_hang() {
        // Run in a thread of its own: before the fix the other threads waited at the first
        // barrier for ever; the bounded wait only keeps a regression from hanging the tests.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let p = Params {
                scale: 0.001,
                threads: 2,
            };
            let _ = tx.send(run_failing(&p, Some(1)));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("larson hung after a failure in one thread");
        let e = r.unwrap_err();
        assert!(e.contains("returned NULL"), "{e}");
    }

    #[test]
    fn the_checksum_does_not_depend_on_the_failure_hook() {
        let p = Params {
            scale: 0.001,
            threads: 2,
        };
        assert_eq!(run(&p).unwrap(), run_failing(&p, None).unwrap());
    }
}
