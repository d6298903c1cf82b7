//! heapwise-hosted: the hosted benchmark suite of heapwise.
//!
//! One invocation of the `heapwise-hosted` driver runs every workload under heapwise
//! (`LD_PRELOAD=libheapwise.so`), glibc (no preload) and the Debian builds of jemalloc,
//! mimalloc and tcmalloc (preloaded), interleaving the allocators across runs, and reports the
//! median wall time (min–max), the peak RSS (the workload process's own `VmHWM` for the
//! synthetic and Rust rows, `wait4`'s `ru_maxrss` for the real programs), the CPU time and the
//! ratios to glibc as a markdown table, a CSV file and an SVG bar chart.
//!
//! Module map:
//! * [`child`]: the `main` of the workload binaries (one result line, exit status);
//! * [`rng`]: the deterministic generator every workload draws from;
//! * [`cmem`]: stamped blocks through libc `malloc`/`free`/`realloc` (what the preload serves);
//! * [`work`]: the synthetic workloads (one file each) and their registry, run by the
//!   `hosted-work` binary;
//! * [`rustwork`]: the Rust-level workloads through `GlobalAlloc`, run by the `rust-work-*`
//!   binaries (one per global allocator);
//! * [`driver`]: the measuring side (allocators, child processes, real programs, statistics,
//!   reports).
//!
//! Every workload verifies its own results (stamps written into each block and checked before
//! it is freed, recomputed values) and returns a checksum that does not depend on thread
//! timing, so the driver also requires all allocators to agree on it: a broken allocator
//! cannot look fast.
//!
//! ```
//! use heapwise_hosted::work::{self, Params};
//! let spec = work::find("st-small").unwrap();
//! let out = (spec.run)(&Params { scale: 0.001, threads: spec.threads }).unwrap();
//! assert!(out.ops > 0);
//! ```

pub mod child;
pub mod cmem;
pub mod driver;
pub mod rng;
pub mod rustwork;
pub mod work;
