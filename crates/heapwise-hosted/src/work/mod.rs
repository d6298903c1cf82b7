//! The synthetic workloads of the suite and their registry.
//!
//! Each workload models one of the classic allocator benchmarks, calls libc `malloc`/`free`/
//! `realloc` directly (through [`crate::cmem`]), verifies every block it frees and returns an
//! [`Outcome`] whose checksum depends only on the workload and its scale, never on thread
//! timing. At `scale = 1.0` one run takes roughly 0.3–2 s under glibc on the reference
//! machine (2 cores); `--quick` runs use 0.1.

mod cache_scratch;
mod large;
mod larson;
mod mstress;
mod realloc;
mod small;
mod symbolic;
mod xmalloc;

/// How big and how parallel one run is.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Work multiplier: 1.0 is a full run, 0.1 a quick one, 0.001 a smoke test.
    pub scale: f64,
    /// Threads (for the multi-threaded workloads).
    pub threads: usize,
}

impl Params {
    /// `base * scale`, at least `min`.
    pub fn n(&self, base: usize, min: usize) -> usize {
        ((base as f64 * self.scale) as usize).max(min)
    }
}

/// What a run did: a checksum that must match across allocators, and a count of allocator
/// operations (for throughput).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Timing-independent checksum of everything verified.
    pub checksum: u64,
    /// Number of malloc/free/realloc calls made.
    pub ops: u64,
}

/// A registered workload.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Name used on the command line and in the tables.
    pub name: &'static str,
    /// Threads it runs with.
    pub threads: usize,
    /// One line of description.
    pub about: &'static str,
    /// The workload.
    pub run: fn(&Params) -> Result<Outcome, String>,
}

/// Every synthetic workload, in table order.
pub const ALL: &[Spec] = &[
    Spec {
        name: "st-small",
        threads: 1,
        about: "single thread: malloc/free pairs and a ring of fixed small sizes 16..256 B",
        run: small::fixed_small,
    },
    Spec {
        name: "st-random",
        threads: 1,
        about: "single thread: ring of random sizes 16 B..4 KiB",
        run: small::random_sizes,
    },
    Spec {
        name: "symbolic",
        threads: 1,
        about: "single thread: build, differentiate and simplify expression trees (32 B nodes)",
        run: symbolic::run,
    },
    Spec {
        name: "larson-2t",
        threads: 2,
        about: "larson-like server: blocks of random sizes handed to the next thread, which frees them",
        run: larson::run,
    },
    Spec {
        name: "larson-4t",
        threads: 4,
        about: "larson-like server, 4 threads on 2 cores (oversubscribed)",
        run: larson::run,
    },
    Spec {
        name: "xmalloc-2t",
        threads: 2,
        about: "xmalloc-like: one producer thread allocates, one consumer thread frees",
        run: xmalloc::run,
    },
    Spec {
        name: "xmalloc-4t",
        threads: 4,
        about: "xmalloc-like, two producer/consumer pairs (oversubscribed)",
        run: xmalloc::run,
    },
    Spec {
        name: "cache-scratch-2t",
        threads: 2,
        about: "cache-scratch: each thread frees a block from the main thread, then reuses small blocks (false sharing)",
        run: cache_scratch::run,
    },
    Spec {
        name: "cache-scratch-4t",
        threads: 4,
        about: "cache-scratch with 4 threads (oversubscribed)",
        run: cache_scratch::run,
    },
    Spec {
        name: "mstress-2t",
        threads: 2,
        about: "mstress-like: mixed lifetimes, some blocks survive rounds and are freed by another thread",
        run: mstress::run,
    },
    Spec {
        name: "mstress-4t",
        threads: 4,
        about: "mstress-like with 4 threads (oversubscribed)",
        run: mstress::run,
    },
    Spec {
        name: "large",
        threads: 1,
        about: "large blocks: repeated alloc/free of 64 KiB..16 MiB, every page touched",
        run: large::run,
    },
    Spec {
        name: "realloc",
        threads: 1,
        about: "realloc-heavy: growing strings (small steps) and vectors (doubling), contents checked",
        run: realloc::run,
    },
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<&'static Spec> {
    ALL.iter().find(|s| s.name == name)
}

/// Adds `v` into a checksum (order-sensitive mix).
#[inline]
pub fn mix(sum: u64, v: u64) -> u64 {
    (sum ^ v).wrapping_mul(0x100_0000_01B3).rotate_left(5)
}
