//! The random-actions workload: replays a [`trace`](crate::trace) on one contender and
//! measures the thread CPU time of the replay.
//!
//! Each operation stamps or verifies the tags of the blocks it touches ([`Integrity`]), so
//! the cost of touching the memory the allocator hands out is part of every measurement,
//! the same for every contender. Blocks still live at the end are verified and freed after
//! the clock has stopped.

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

/// Replays a trace (see [`Visit`]).
pub struct Replay<'t>(pub &'t [Op]);

impl Visit for Replay<'_> {
    type Out = RunStats;

    fn visit<C: Contender>(self, c: &mut C, base: *const u8, len: usize) -> RunStats {
        let mut live: Vec<Slot> = Vec::with_capacity(crate::trace::MAX_OP_LIVE);
        let mut ig = Integrity::default();
        let mut failures = 0u64;
        let mut tag = 0u8;
        let t0 = thread_cpu_time();
        for &op in self.0 {
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
                        ig.check_ptr(ptr, size, align, base, len);
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
                            ig.verify(&s);
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
                            ig.verify(s);
                            c.realloc(s.ptr, s.size as usize, align, new)
                        };
                        if q.is_null() {
                            failures += 1;
                            continue;
                        }
                        ig.check_ptr(q, new, align, base, len);
                        if !s.ptr.is_null() {
                            ig.verify_moved(s, q, new);
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
                ig.verify(&s);
                c.free(s.ptr, s.size as usize, s.align as usize);
            }
        }
        RunStats {
            ops: self.0.len(),
            cpu,
            failures,
            integrity: ig,
        }
    }
}
