//! The random-actions workload: replays a [`trace`](crate::trace) on one contender and
//! measures the thread CPU time of the replay.
//!
//! Each operation stamps the tags of the blocks it gets ([`Integrity::stamp`]), so the cost
//! of touching the memory the allocator hands out is part of every measurement, the same for
//! every contender; verifying them is the job of a separate, untimed validating replay of
//! the same trace ([`Replay::validating`]). Blocks still live at the end are freed (and, when
//! validating, verified) after the clock has stopped.

use std::time::Duration;

use crate::contender::{Contender, Visit};
use crate::cputime::thread_cpu_time;
use crate::trace::{Op, OpKind};
use crate::verify::{Integrity, Slot};

/// The outcome of one replay.
#[derive(Clone, Debug)]
pub struct RunStats {
    /// Operations replayed.
    pub ops: usize,
    /// Thread CPU time of the replay.
    pub cpu: Duration,
    /// Allocations and reallocations that returned null.
    pub failures: u64,
    /// Tag and pointer checks.
    pub integrity: Integrity,
}

impl RunStats {
    /// Millions of operations per second of CPU time.
    pub fn mops(&self) -> f64 {
        self.ops as f64 / self.cpu.as_secs_f64().max(1e-9) / 1e6
    }
}

/// Replays a trace (see [`Visit`]), in one of two modes that run the same operations on
/// the same contender code:
///
/// * **timed** ([`Replay::timed`]): every block the allocator hands out is stamped (its
///   first and last byte written, as a program uses its memory), and nothing is verified:
///   the loop measures the allocator, not the checker;
/// * **validating** ([`Replay::validating`]): the same replay, and every returned pointer is
///   checked for alignment and bounds, every block's tags verified when it is freed or
///   reallocated ([`Integrity`]). The benchmark runs it once per contender, untimed, before
///   the timed runs; its corruptions are reported and fail the invocation.
///
/// The trace is deterministic and every contender is deterministic, so the validating replay
/// sees exactly the blocks the timed replays get.
#[derive(Clone, Copy, Debug)]
pub struct Replay<'t> {
    /// The operations.
    pub trace: &'t [Op],
    /// Verify pointers and tags (the validating replay).
    pub verify: bool,
}

impl<'t> Replay<'t> {
    /// The timed replay: blocks are stamped, not verified.
    pub fn timed(trace: &'t [Op]) -> Self {
        Replay {
            trace,
            verify: false,
        }
    }

    /// The validating replay: blocks are stamped and verified.
    pub fn validating(trace: &'t [Op]) -> Self {
        Replay {
            trace,
            verify: true,
        }
    }
}

impl Visit for Replay<'_> {
    type Out = RunStats;

    fn visit<C: Contender>(self, c: &mut C, base: *const u8, len: usize) -> RunStats {
        if self.verify {
            replay_validating(self.trace, c, base, len)
        } else {
            replay_timed(self.trace, c, base, len)
        }
    }
}

/// The timed replay loop (a function of its own, so that profilers can single it out:
/// `valgrind --tool=callgrind --toggle-collect='*replay_timed*'`).
#[inline(never)]
fn replay_timed<C: Contender>(trace: &[Op], c: &mut C, base: *const u8, len: usize) -> RunStats {
    replay::<C, false>(trace, c, base, len)
}

/// The validating replay loop.
#[inline(never)]
fn replay_validating<C: Contender>(
    trace: &[Op],
    c: &mut C,
    base: *const u8,
    len: usize,
) -> RunStats {
    replay::<C, true>(trace, c, base, len)
}

/// The replay loop; `VERIFY` compiles the checks in or out.
#[inline(always)]
fn replay<C: Contender, const VERIFY: bool>(
    trace: &[Op],
    c: &mut C,
    base: *const u8,
    len: usize,
) -> RunStats {
    let mut live: Vec<Slot> = Vec::with_capacity(crate::trace::MAX_OP_LIVE);
    let mut ig = Integrity::default();
    let mut failures = 0u64;
    let mut tag = 0u8;
    let t0 = thread_cpu_time();
    for &op in trace {
        tag = tag.wrapping_add(2) | 1;
        match op.kind() {
            OpKind::Alloc => {
                let (size, align) = (op.size(), op.align());
                let ptr = c.alloc(size, align);
                let s = Slot {
                    ptr,
                    size: size as u32,
                    align: align as u8,
                    tag,
                };
                if ptr.is_null() {
                    failures += 1;
                } else {
                    if VERIFY {
                        ig.check_ptr(ptr, size, align, base, len);
                    }
                    // SAFETY: `ptr` is a fresh block of `size` bytes.
                    unsafe { Integrity::stamp(&s) };
                }
                live.push(s);
            }
            OpKind::Free => {
                let s = live.swap_remove(op.index());
                if !s.ptr.is_null() {
                    // SAFETY: `s` is a live block of this contender, stamped.
                    unsafe {
                        if VERIFY {
                            ig.verify(&s);
                        }
                        c.free(s.ptr, s.size as usize, s.align as usize);
                    }
                }
            }
            OpKind::Realloc => {
                let s = &mut live[op.index()];
                let new = op.size();
                let align = s.align as usize;
                // SAFETY: `s` is a live block of this contender, stamped; on success the
                // new block has `new` bytes and the old one is gone.
                unsafe {
                    let q = if s.ptr.is_null() {
                        c.alloc(new, align)
                    } else {
                        if VERIFY {
                            ig.verify(s);
                        }
                        c.realloc(s.ptr, s.size as usize, align, new)
                    };
                    if q.is_null() {
                        failures += 1;
                        continue;
                    }
                    if VERIFY {
                        ig.check_ptr(q, new, align, base, len);
                        if !s.ptr.is_null() {
                            ig.verify_moved(s, q, new);
                        }
                    }
                    *s = Slot {
                        ptr: q,
                        size: new as u32,
                        align: s.align,
                        tag,
                    };
                    Integrity::stamp(s);
                }
            }
        }
    }
    let cpu = thread_cpu_time() - t0;
    for s in live.drain(..).filter(|s| !s.ptr.is_null()) {
        // SAFETY: every remaining slot is a live, stamped block of this contender.
        unsafe {
            if VERIFY {
                ig.verify(&s);
            }
            c.free(s.ptr, s.size as usize, s.align as usize);
        }
    }
    RunStats {
        ops: trace.len(),
        cpu,
        failures,
        integrity: ig,
    }
}
