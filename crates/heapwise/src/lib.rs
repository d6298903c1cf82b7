//! # heapwise
//!
//! The heapwise allocator on an operating system: the `no_std` engine of
//! [`heapwise_core`] given real memory (the program break through `sbrk(2)`, or a large
//! address range reserved with `mmap`), large blocks straight from `mmap`, a fork-safe futex
//! lock, and [`Heapwise`], a [`GlobalAlloc`](core::alloc::GlobalAlloc) for Rust programs.
//! The drop-in C `malloc` (`libheapwise.so`) is built on this crate by `heapwise-preload`.
//!
//! ```no_run
//! use heapwise::Heapwise;
//!
//! #[global_allocator]
//! static A: Heapwise = Heapwise;
//!
//! fn main() {
//!     let words: Vec<String> = (0..100).map(|i| i.to_string()).collect();
//!     assert_eq!(words.len(), 100);
//!     let s = Heapwise::stats();
//!     println!("peak utilisation {:?}", s.peak_utilisation());
//! }
//! ```
//!
//! ## Module map
//!
//! | module | owns |
//! |---|---|
//! | [`sbrk`] | [`Sbrk`]: a heap at the program break, refusing when someone else moved it |
//! | [`region`] | [`MmapRegion`]: a heap in a reserved `PROT_NONE` range, committed as `brk` advances |
//! | [`os_source`] | [`OsSource`]: either of the two, chosen per heap |
//! | [`large`] | large blocks: one `mmap` each, a tagged header, `munmap`, `mremap` |
//! | [`large_cache`] | freed large mappings kept (up to the program's own large high-water mark) and reused by best fit, split and coalesced, so repeated large alloc/free does not fault |
//! | [`lock`] | [`FutexLock`]: a non-allocating lock with a fork-child reset |
//! | [`fork`] | `pthread_atfork` handlers over every registered lock; the per-process claim on a once-only set-up |
//! | `once_key` | a `pthread` key created once per process with its owner's set-up, taken over by a `fork` child that inherited it unfinished |
//! | [`config`] | [`Config`]: how a `Global` builds its heaps; one copy for all its arenas, frozen at first use |
//! | [`global`] | [`Global`]: heaps + large blocks + accounting behind one lock; the `sbrk` → `mmap` fallback; trimming (on request and automatic, with hysteresis) |
//! | [`remote`] | per-arena lock-free stacks of small blocks freed by threads of other arenas, collected by the owner arena's threads |
//! | [`tcache`] | per-thread caches of small free blocks: the lock-free fast path, refilled and flushed in batches, bounded in bytes |
//! | [`thread_slot`] | the calling thread's slot (one initial-exec TLS word) pointing at its cache |
//! | [`record_pool`] | mapped, recycled storage for the threads' caches |
//! | [`stats`] | [`GlobalStats`]: summed heap statistics, footprint, peak utilisation |
//! | [`alloc`] | [`Heapwise`]: the `GlobalAlloc` face |
//! | [`front`] | the API boundary: optional layers (valgrind client requests, canaries, guard pages) behind one cached flag |
//! | [`valgrind`] | valgrind client requests (inline assembly, no headers needed) |
//! | [`canary`] | trailers after the requested size: the size, canary bytes (`full`) |
//! | [`guard`] | large blocks between `PROT_NONE` guard pages (`full`) |
//! | [`diag`] | no-allocation text output: [`diag::StackBuf`], the abort-on-corruption hook |
//! | [`sys`] | thin, `errno`-preserving OS call wrappers |
//!
//! ## Invariants
//! The crate is `no_std` (it needs only `core` and `libc`), so that `libheapwise.so` links
//! none of `std`'s panic and backtrace machinery. Nothing in this crate allocates through another allocator, prints with `std`, or
//! unwinds; OS calls preserve `errno`; every heap operation runs with its arena's lock held
//! (a thread cache's hits take none); a large block is mapped without a heap lock, while its
//! `free`, `realloc` and `usable_size` first ask arena 0 (under its lock) whether a heap
//! holds the pointer, and the large cache's claim lock guards the release.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

// The C library, linked by name (the `libc` crate leaves that to `std`, which a `no_std`
// `libheapwise.so` does not link). Named here, by the crate that calls it, so that the link
// line puts `-lc` after this crate's code: functions glibc keeps in `libc_nonshared.a`
// (`pthread_atfork`) are then resolved from that archive. Named only by the final crate,
// `-lc` came first and `pthread_atfork` was left undefined wherever `fork::register` was
// not inlined into it (aarch64: "undefined symbol: pthread_atfork" at load).
#[link(name = "c")]
extern "C" {}

/// The README's examples, compiled and run as doctests (so that they stay true).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub mod alloc;
pub mod canary;
pub mod config;
pub mod diag;
pub mod fork;
pub mod front;
pub mod global;
pub mod guard;
pub mod harden;
pub mod large;
pub mod large_cache;
pub mod lock;
pub(crate) mod once_key;
pub mod os_source;
pub mod record_pool;
pub mod region;
pub mod remote;
pub mod sbrk;
pub mod stats;
pub mod sys;
pub mod tcache;
pub mod thread_slot;
pub mod valgrind;

pub use alloc::Heapwise;
pub use config::Config;
pub use global::{ArenaMode, Global, ARENAS, AUTO_TRIM_MIN, MAX_HEAPS, REALLOC_HEADROOM};
pub use large::LARGE_THRESHOLD;
pub use lock::{FutexLock, LockGuard};
pub use os_source::OsSource;
pub use region::MmapRegion;
pub use sbrk::Sbrk;
pub use stats::GlobalStats;

pub use heapwise_core::{PolicyKind, Stats};
