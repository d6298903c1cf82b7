//! The heap-efficiency workload: allocate (2/3) and free (1/3) random blocks until the
//! first allocation fails; the result is the peak of live requested bytes over the arena
//! size. What is lost is headers, rounding, alignment padding, metadata kept in the arena,
//! and free memory fragmented into pieces too small for the failing request.
//!
//! The request sequence depends only on the seed (and on the moment of the failure), so the
//! result is deterministic: one run per contender suffices.

use crate::contender::{Contender, Visit};
use crate::rng::Rng;
use crate::verify::{Integrity, Slot};

/// Parameters of the heap-efficiency workload.
#[derive(Clone, Copy, Debug)]
pub struct Efficiency {
    /// PRNG seed.
    pub seed: u64,
    /// Smallest request (bytes).
    pub min_size: usize,
    /// Largest request (bytes); sizes are uniform in `[min_size, max_size]`.
    pub max_size: usize,
    /// Stop (without a failure) after this many operations.
    pub max_ops: usize,
}

impl Default for Efficiency {
    /// 16–4096-byte requests, uniform; effectively unbounded operations.
    fn default() -> Self {
        Efficiency {
            seed: 0x6566_6669_6369_656e, // "efficien"
            min_size: 16,
            max_size: 4096,
            max_ops: 100_000_000,
        }
    }
}

/// The outcome of one efficiency run.
#[derive(Clone, Debug)]
pub struct EffStats {
    /// Operations until the failure (or `max_ops`).
    pub ops: usize,
    /// Whether an allocation failed (else the run hit `max_ops`).
    pub failed: bool,
    /// Highest sum of requested sizes of the live blocks.
    pub peak_live: usize,
    /// Bytes of the arena.
    pub arena: usize,
    /// Tag and pointer checks.
    pub integrity: Integrity,
}

impl EffStats {
    /// Peak live requested bytes / arena bytes.
    pub fn efficiency(&self) -> f64 {
        self.peak_live as f64 / self.arena as f64
    }
}

impl Visit for Efficiency {
    type Out = EffStats;

    fn visit<C: Contender>(self, c: &mut C, base: *const u8, len: usize) -> EffStats {
        let mut rng = Rng::new(self.seed);
        let mut live: Vec<Slot> = Vec::new();
        let mut ig = Integrity::default();
        let (mut bytes, mut peak, mut ops, mut failed) = (0usize, 0usize, 0usize, false);
        while ops < self.max_ops {
            ops += 1;
            if live.is_empty() || rng.below(3) < 2 {
                let size = rng.uniform(self.min_size, self.max_size);
                let align = 8 << rng.below(2);
                let ptr = c.alloc(size, align);
                if ptr.is_null() {
                    failed = true;
                    break;
                }
                ig.check_ptr(ptr, size, align, base, len);
                let s = Slot {
                    ptr,
                    size: size as u32,
                    align: align as u8,
                    tag: (ops as u8) | 1,
                };
                // SAFETY: `ptr` is a fresh block of `size` bytes.
                unsafe { Integrity::stamp(&s) };
                live.push(s);
                bytes += size;
                peak = peak.max(bytes);
            } else {
                let s = live.swap_remove(rng.below(live.len() as u64) as usize);
                // SAFETY: `s` is a live, stamped block of this contender.
                unsafe {
                    ig.verify(&s);
                    c.free(s.ptr, s.size as usize, s.align as usize);
                }
                bytes -= s.size as usize;
            }
        }
        for s in live.drain(..) {
            // SAFETY: every remaining slot is a live, stamped block of this contender.
            unsafe {
                ig.verify(&s);
                c.free(s.ptr, s.size as usize, s.align as usize);
            }
        }
        EffStats {
            ops,
            failed,
            peak_live: peak,
            arena: len,
            integrity: ig,
        }
    }
}
