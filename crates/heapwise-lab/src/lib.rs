//! # heapwise-lab
//!
//! The heapwise lab: the `heapwise` command-line tool and the library behind it. It replays
//! malloc-lab traces on every policy of the [`heapwise_core`] engine and on the system
//! allocator, checks every answer, and measures the seed's two goals — throughput and peak
//! utilisation — and its two enemies, internal and external fragmentation.
//!
//! ```
//! use heapwise_core::PolicyKind;
//! use heapwise_lab::gen::{generate, Kind};
//! use heapwise_lab::lab::{run, Config};
//! use heapwise_lab::progress::Progress;
//!
//! let trace = generate(Kind::Coalesce, 1, 500);
//! let cfg = Config { policies: vec![PolicyKind::Segregated], repeat: 0, heap_limit: 1 << 24 };
//! let report = run(&[trace], &cfg, &Progress::hidden()).unwrap();
//! assert!(report.traces[0].ok);
//! assert!(report.summary[0].mean_util.unwrap() > 0.0);
//! ```
//!
//! ## Module map
//!
//! | module | owns |
//! |---|---|
//! | [`trace`] | trace files: [`trace::Trace`], the parser (both header variants), the writer |
//! | [`alloc`] | [`alloc::TraceAllocator`], the engine on a fresh `SimBrk`, the system allocator |
//! | [`pattern`] | the per-block byte pattern |
//! | [`replay`] | the validating replayer and the measures taken at the peak |
//! | [`timing`] | the unchecked, timed replayer |
//! | [`lab`] | a measurement run over traces × policies, the report and its summary |
//! | [`table`] | the text table |
//! | [`gen`] | the synthetic workloads |
//! | [`svg`] | a minimal self-contained SVG writer |
//! | [`viz`] | the heap map and heap/payload curves of `heapwise viz` |
//! | [`chart`] | the `bench` report chart |
//! | [`progress`] | the late, terminal-only progress bar |
//! | [`preload`] | `run` / `record` with `libheapwise.so` |
//! | [`cli`] | the command line |
//!
//! ## Definitions
//!
//! * **peak utilisation** — peak over the trace of the sum of requested sizes of live blocks
//!   (mdriver's `max_total`, updated after `a` and `r`), divided by the heap size
//!   (`brk − start`) at the end of the trace (the heap never shrinks, so this is also its
//!   peak size).
//! * **internal fragmentation** — at the request where the live payload first reaches its
//!   peak: `(allocated block bytes − requested bytes) / allocated block bytes`, where
//!   allocated block bytes is the sum of allocated block sizes (headers, padding, rounding
//!   included) from the engine's heap walk.
//! * **external fragmentation** — at the same moment: `1 − largest free block / total free
//!   bytes` (0 when nothing is free).
//! * **throughput** — requests per second of the best of `--repeat` timed runs, which use a
//!   replayer without any validation; Kops/s = thousands of requests per second.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod alloc;
pub mod chart;
pub mod cli;
pub mod gen;
pub mod lab;
pub mod pattern;
pub mod preload;
pub mod progress;
pub mod replay;
pub mod svg;
pub mod table;
pub mod timing;
pub mod trace;
pub mod viz;
