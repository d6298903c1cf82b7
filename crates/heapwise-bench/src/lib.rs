//! # heapwise-bench
//!
//! Benchmarks of the heapwise engine — every policy — against the `no_std` allocators of
//! the Rust ecosystem (`talc`, `rlsf`, `linked_list_allocator`, `buddy_system_allocator`,
//! `dlmalloc`), each on the same fresh arena, in one invocation:
//!
//! * **random actions** ([`RandomActions`], [`Replay`]): a seeded trace of allocations,
//!   frees and reallocations with 1000–3000 live blocks of 16–8192 bytes; Mops per second
//!   of thread CPU time, median of several replays;
//! * **heap efficiency** ([`Efficiency`]): allocate and free until the first failure; peak
//!   live requested bytes over arena bytes.
//!
//! Every block handed out is tagged in its first and last byte. The tags and every pointer
//! are verified ([`Integrity`]) in an untimed validating replay of the same trace, once per
//! contender ([`Replay::validating`]); the timed replays ([`Replay::timed`]) run the same
//! loop with the checks compiled out, still stamping every block. No allocator can look fast
//! by not handing out real memory, and the timed loop measures allocators, not the checker.
//!
//! ```
//! use heapwise_bench::{run, Config, Subject, markdown};
//! let cfg = Config {
//!     subjects: vec![Subject::Heapwise(heapwise_core::PolicyKind::Segregated), Subject::Talc],
//!     actions: heapwise_bench::RandomActions { ops: 3000, ..Default::default() },
//!     runs: 1,
//!     arena_bytes: 1 << 20,
//!     ..Config::default()
//! };
//! let rows = run(&cfg, |_| {});
//! assert!(rows.iter().all(|r| r.corruptions() == 0 && r.checks() > 0));
//! println!("{}", markdown(&rows));
//! ```
//!
//! | module | owns |
//! |---|---|
//! | [`rng`] | the seeded generator and size distributions |
//! | [`trace`] | the pre-generated random-actions trace |
//! | [`baseline`] | the harness floor: a power-of-two slab non-allocator |
//! | [`arena`] | the page-aligned region each contender gets, zeroed |
//! | [`contender`] | the [`Contender`] interface, the [`Subject`] list, static dispatch |
//! | [`heapwise`] | heapwise policies as contenders (concrete types and `AnyHeap`) |
//! | [`peers`] | the five peer allocators as contenders |
//! | [`verify`] | block tags and pointer checks |
//! | [`random_actions`] | the timed and the validating replay |
//! | [`efficiency`] | the allocate-until-failure run |
//! | [`cputime`] | the thread CPU clock |
//! | [`mod@bench`] | one invocation: rows, runs, medians |
//! | [`report`] | markdown table and CSV |
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod arena;
pub mod baseline;
pub mod bench;
pub mod contender;
pub mod cputime;
pub mod efficiency;
pub mod heapwise;
pub mod peers;
pub mod random_actions;
pub mod report;
pub mod rng;
pub mod trace;
pub mod verify;

pub use arena::Arena;
pub use bench::{run, Config, Row};
pub use contender::{with_subject, Contender, Subject, Visit};
pub use efficiency::{EffStats, Efficiency};
pub use random_actions::{Replay, RunStats};
pub use report::{csv, markdown, notes};
pub use trace::{Op, OpKind, RandomActions};
pub use verify::{Integrity, Slot};
