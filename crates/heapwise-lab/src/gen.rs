//! Synthetic workloads of the project's own design, written as classic malloc-lab traces.
//!
//! Every generator is driven by a seeded `fastrand::Rng`, so a (kind, seed, ops) triple
//! always gives the same trace. Traces are *balanced*: every block is freed by the end
//! (the last requests free what is still live, in random order), ids are never reused, and
//! the trace has exactly `ops` requests when `ops` is even or some block is live to
//! resize (otherwise one fewer).
//!
//! | kind | what it stresses |
//! |---|---|
//! | `churn` | small-object churn: many 8–128 byte blocks allocated and freed at random |
//! | `two-size` | a two-size fragmentation pattern: small and large blocks interleaved, the large ones freed, then requests slightly too large for the holes |
//! | `random` | random sizes (log-uniform 1 B – 64 KiB), random alloc/free |
//! | `realloc` | growing reallocs: a few buffers grown step by step while small blocks pin their neighbours |
//! | `coalesce` | coalescing: runs of equal blocks freed odd then even, then one request as large as the run |

use std::fmt;
use std::str::FromStr;

use crate::trace::{Op, OpKind, Trace};

/// The synthetic workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Kind {
    /// Small-object churn.
    Churn,
    /// Two-size fragmentation pattern.
    TwoSize,
    /// Random sizes.
    Random,
    /// Growing reallocs.
    Realloc,
    /// Coalescing pattern.
    Coalesce,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 5] = [
        Kind::Churn,
        Kind::TwoSize,
        Kind::Random,
        Kind::Realloc,
        Kind::Coalesce,
    ];

    /// The kind's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Churn => "churn",
            Kind::TwoSize => "two-size",
            Kind::Random => "random",
            Kind::Realloc => "realloc",
            Kind::Coalesce => "coalesce",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown workload kind `{s}`"))
    }
}

/// Builds a balanced trace within an operation budget.
struct Builder {
    ops: Vec<Op>,
    budget: usize,
    size: Vec<usize>,
    live: Vec<u32>,
    rng: fastrand::Rng,
}

impl Builder {
    fn new(seed: u64, budget: usize) -> Builder {
        Builder {
            // (Reserved up front only up to a million: the budget may be the `--ops`
            // a user typed.)
            ops: Vec::with_capacity(budget.min(1 << 20)),
            budget,
            size: Vec::new(),
            live: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn push(&mut self, kind: OpKind, id: u32, size: usize) {
        self.ops.push(Op {
            kind,
            id,
            size,
            line: 0,
        });
    }

    /// Allocates a new block; `None` when it (and its free) would not fit the budget.
    fn alloc(&mut self, size: usize) -> Option<u32> {
        if self.ops.len() + 1 + self.live.len() + 1 > self.budget {
            return None;
        }
        let id = self.size.len() as u32;
        self.size.push(size);
        self.live.push(id);
        self.push(OpKind::Alloc, id, size);
        Some(id)
    }

    /// Resizes the live block `id`; false when the budget is spent.
    fn realloc(&mut self, id: u32, size: usize) -> bool {
        if self.ops.len() + 1 + self.live.len() > self.budget {
            return false;
        }
        self.size[id as usize] = size;
        self.push(OpKind::Realloc, id, size);
        true
    }

    /// Frees the live block `id`.
    fn free(&mut self, id: u32) {
        if let Some(i) = self.live.iter().rposition(|&x| x == id) {
            self.live.swap_remove(i);
            self.push(OpKind::Free, id, 0);
        }
    }

    /// Frees a random live block, if any.
    fn free_random(&mut self) {
        if !self.live.is_empty() {
            let i = self.rng.usize(..self.live.len());
            let id = self.live.swap_remove(i);
            self.push(OpKind::Free, id, 0);
        }
    }

    /// Fills the budget with small allocations, then frees everything in random order.
    fn finish(mut self, name: &str) -> Trace {
        while self.budget - self.ops.len() >= self.live.len() + 2 {
            let s = self.rng.usize(1..=64);
            self.alloc(s);
        }
        if self.budget - self.ops.len() > self.live.len() && !self.live.is_empty() {
            let id = self.live[0];
            let s = self.size[id as usize] + 16;
            self.realloc(id, s);
        }
        while !self.live.is_empty() {
            self.free_random();
        }
        Trace::from_ops(name, self.size.len() as u32, self.ops)
    }

    fn spent(&self) -> bool {
        self.ops.len() + self.live.len() + 2 > self.budget
    }
}

/// Most requests a generated trace may have (`gen --ops`; `bench` holds five of them and
/// has its own, lower bound, `cli::BENCH_MAX_OPS`): ids and line numbers are `u32`, and a
/// trace this long already takes ~2.4 GB in memory.
pub const MAX_OPS: usize = 100_000_000;

/// Generates `ops` requests of workload `kind` from `seed` (at most [`MAX_OPS`]; more are
/// cut to it).
///
/// ```
/// use heapwise_lab::gen::{generate, Kind};
/// let a = generate(Kind::Churn, 7, 1000);
/// assert_eq!(a.ops.len(), 1000);
/// assert_eq!(a, generate(Kind::Churn, 7, 1000)); // deterministic
/// ```
pub fn generate(kind: Kind, seed: u64, ops: usize) -> Trace {
    let mut b = Builder::new(seed, ops.min(MAX_OPS));
    match kind {
        Kind::Churn => churn(&mut b),
        Kind::TwoSize => two_size(&mut b),
        Kind::Random => random(&mut b),
        Kind::Realloc => realloc(&mut b),
        Kind::Coalesce => coalesce(&mut b),
    }
    b.finish(kind.name())
}

fn churn(b: &mut Builder) {
    const POOL: usize = 2000;
    while !b.spent() {
        let grow = b.live.is_empty() || (b.live.len() < POOL && b.rng.u8(..) < 140);
        if grow {
            // Mostly tiny objects, a few up to 128 bytes.
            let s = if b.rng.u8(..) < 200 {
                b.rng.usize(8..=32)
            } else {
                b.rng.usize(33..=128)
            };
            if b.alloc(s).is_none() {
                break;
            }
        } else {
            b.free_random();
        }
    }
}

fn two_size(b: &mut Builder) {
    let mut round = 0usize;
    while !b.spent() {
        let small = 16 + 16 * (round % 3);
        let large = 112 + 16 * (round % 4);
        let n = 200 + b.rng.usize(..200);
        let mut smalls = Vec::new();
        let mut larges = Vec::new();
        for _ in 0..n {
            let (Some(s), Some(l)) = (b.alloc(small), b.alloc(large)) else {
                return;
            };
            smalls.push(s);
            larges.push(l);
        }
        for l in larges {
            b.free(l);
        }
        // Slightly larger than the holes: none of them can be reused.
        let mut bigger = Vec::new();
        for _ in 0..n / 2 {
            match b.alloc(large + 32) {
                Some(id) => bigger.push(id),
                None => return,
            }
        }
        for s in smalls {
            b.free(s);
        }
        if round % 2 == 1 {
            for id in bigger {
                b.free(id);
            }
        }
        round += 1;
    }
}

fn random(b: &mut Builder) {
    const POOL: usize = 600;
    while !b.spent() {
        if b.live.is_empty() || (b.live.len() < POOL && b.rng.bool()) {
            // Log-uniform: 2^e * (1 + fraction), e in 0..16.
            let e = b.rng.u32(0..16);
            let s = (1usize << e) + b.rng.usize(..(1usize << e));
            if b.alloc(s.min(64 << 10)).is_none() {
                break;
            }
        } else {
            b.free_random();
        }
    }
}

fn realloc(b: &mut Builder) {
    let mut bufs: Vec<u32> = Vec::new();
    let mut pins: Vec<u32> = Vec::new();
    while !b.spent() {
        if bufs.len() < 4 {
            let s = b.rng.usize(16..=256);
            match b.alloc(s) {
                Some(id) => bufs.push(id),
                None => break,
            }
            continue;
        }
        let i = b.rng.usize(..bufs.len());
        let id = bufs[i];
        let cur = b.size[id as usize];
        if cur > (256 << 10) {
            b.free(id);
            bufs.swap_remove(i);
            continue;
        }
        let grown = if b.rng.u8(..) < 40 {
            cur + cur / 2
        } else {
            cur + b.rng.usize(1..=128)
        };
        if !b.realloc(id, grown) {
            break;
        }
        // A small block right after the resize pins the space behind the buffer.
        if b.rng.u8(..) < 64 {
            let s = b.rng.usize(8..=64);
            match b.alloc(s) {
                Some(p) => pins.push(p),
                None => break,
            }
            if pins.len() > 64 {
                let j = b.rng.usize(..pins.len());
                let p = pins.swap_remove(j);
                b.free(p);
            }
        }
    }
}

fn coalesce(b: &mut Builder) {
    while !b.spent() {
        let size = 16 * b.rng.usize(1..=32);
        let n = 16 + b.rng.usize(..240);
        let mut run = Vec::with_capacity(n);
        for _ in 0..n {
            match b.alloc(size) {
                Some(id) => run.push(id),
                None => return,
            }
        }
        for id in run.iter().step_by(2) {
            b.free(*id);
        }
        for id in run.iter().skip(1).step_by(2) {
            b.free(*id);
        }
        // Everything just freed is one free block again: a request as large as the run
        // must fit without growing the heap.
        match b.alloc(size * n) {
            Some(id) => b.free(id),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_balanced_exact_and_deterministic() {
        for k in Kind::ALL {
            for n in [0usize, 1, 2, 3, 10, 1001, 5000] {
                let t = generate(k, 42, n);
                assert!(t.ops.len() == n || t.ops.len() + 1 == n, "{k} {n}");
                let text = t.to_classic();
                let back = Trace::parse("g.rep".as_ref(), &text, crate::trace::Format::Auto)
                    .unwrap_or_else(|e| panic!("{k} {n}: {e}"));
                let allocs = back.ops.iter().filter(|o| o.kind == OpKind::Alloc).count();
                let frees = back.ops.iter().filter(|o| o.kind == OpKind::Free).count();
                assert_eq!(allocs, frees, "{k} balanced");
                assert_eq!(generate(k, 42, n), t);
            }
            assert_ne!(generate(k, 1, 3000).ops, generate(k, 2, 3000).ops, "{k}");
        }
    }
}
