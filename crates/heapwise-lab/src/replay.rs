//! The validating replayer: runs a [`Trace`] on a [`TraceAllocator`] and checks every
//! answer, like the malloc-lab driver and more.
//!
//! Checks, each reported as a [`Failure::Violation`] naming the trace line:
//! * every payload is 16-byte aligned;
//! * every payload `[p, p + size)` lies inside the heap `[start, brk)` (when the allocator
//!   has a heap range);
//! * no payload overlaps a live payload (live ranges are kept in a `BTreeMap` keyed by start;
//!   a zero-byte request counts as one byte);
//! * a per-block byte pattern ([`crate::pattern`]) is written over the whole payload at
//!   allocation, checked in full at `realloc` (before the call, and over the kept prefix
//!   after it) and at `free`, and checked for every block still live at the end;
//! * the engine's own heap checker passes at the peak and at the end.
//!
//! A request answered with null is [`Failure::OutOfMemory`].
//!
//! The replayer also measures what needs a look at the heap: live requested bytes after
//! each request and, at the request where the trace's peak live payload is first reached,
//! a [`Stats`] snapshot of the heap.

use std::collections::BTreeMap;
use std::fmt;
use std::ptr::NonNull;

use heapwise_core::block::ALIGN;
use heapwise_core::Stats;

use crate::alloc::TraceAllocator;
use crate::pattern;
use crate::trace::{OpKind, Trace};

/// Why a replay stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The allocator returned null for the request on this line.
    OutOfMemory {
        /// Trace line.
        line: u32,
    },
    /// The allocator broke a rule of the `malloc` contract.
    Violation {
        /// Trace line of the request where it was detected.
        line: u32,
        /// What was wrong.
        reason: String,
    },
}

impl Failure {
    /// Whether this is a correctness violation (as opposed to running out of memory).
    pub fn is_violation(&self) -> bool {
        matches!(self, Failure::Violation { .. })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::OutOfMemory { line } => write!(f, "out of memory at line {line}"),
            Failure::Violation { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

/// What a validated replay measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Checked {
    /// Requests replayed.
    pub ops: usize,
    /// Peak sum of requested sizes of live blocks.
    pub peak_live: usize,
    /// Heap size (`brk - start`) at the end, when the allocator has a heap range.
    pub heap_bytes: Option<usize>,
    /// Heap statistics right after the request that first reached the peak live payload.
    pub at_peak: Option<Stats>,
    /// Live requested bytes at that moment (= `peak_live`).
    pub live_at_peak: usize,
}

impl Checked {
    /// Peak utilisation, the lab's definition: peak live payload / final heap size. `None`
    /// without a heap range (the system allocator) or without a heap (a trace with no
    /// requests: 0 / 0 is no utilisation, not a utilisation of 0).
    pub fn util(&self) -> Option<f64> {
        self.heap_bytes
            .filter(|&h| h > 0)
            .map(|h| self.peak_live as f64 / h as f64)
    }

    /// Internal fragmentation at the peak: `(allocated block bytes − requested bytes) /
    /// allocated block bytes`, where allocated block bytes is the engine's sum of allocated
    /// block sizes (headers, padding and rounding included).
    pub fn internal_frag(&self) -> Option<f64> {
        let s = self.at_peak?;
        if s.allocated_bytes == 0 {
            return Some(0.0);
        }
        Some(s.allocated_bytes.saturating_sub(self.live_at_peak) as f64 / s.allocated_bytes as f64)
    }

    /// External fragmentation at the peak: `1 − largest free block / total free bytes`
    /// (0 when nothing is free), from the engine's statistics.
    pub fn external_frag(&self) -> Option<f64> {
        self.at_peak.map(|s| s.external_fragmentation())
    }
}

/// One live block as the validator sees it.
#[derive(Clone, Copy, Debug)]
struct Live {
    id: u32,
    ptr: NonNull<u8>,
    size: usize,
    seed: u64,
    line: u32,
}

/// Validator state for one replay.
struct Validator {
    live: Vec<Option<Live>>,
    ranges: BTreeMap<usize, usize>,
    generation: u64,
}

impl Validator {
    /// Writes the block's pattern over its payload from byte `from` on.
    fn fill(b: &Live, from: usize) {
        // SAFETY: `b.ptr` is a live payload of at least `b.size` bytes handed out by the
        // allocator under test; nothing else reads or writes it while this slice exists
        // (the allocator is not called during its lifetime).
        let buf = unsafe { std::slice::from_raw_parts_mut(b.ptr.as_ptr(), b.size) };
        pattern::fill(buf, from, b.seed);
    }

    fn verify(b: &Live, len: usize, line: u32, when: &str) -> Result<(), Failure> {
        let id = b.id;
        // SAFETY: as in `fill`; `len <= b.size`.
        let buf = unsafe { std::slice::from_raw_parts(b.ptr.as_ptr(), len.min(b.size)) };
        match pattern::first_mismatch(buf, b.seed) {
            None => Ok(()),
            Some(off) => Err(Failure::Violation {
                line,
                reason: format!(
                    "payload of id {id} (from line {}) corrupted at byte {off} of {} {when}",
                    b.line, b.size
                ),
            }),
        }
    }

    fn admit<A: TraceAllocator>(
        &mut self,
        a: &A,
        p: NonNull<u8>,
        size: usize,
        id: u32,
        line: u32,
    ) -> Result<(), Failure> {
        let start = p.as_ptr() as usize;
        let viol = |reason: String| Err(Failure::Violation { line, reason });
        if start % ALIGN != 0 {
            return viol(format!(
                "payload {start:#x} of id {id} is not {ALIGN}-byte aligned"
            ));
        }
        let end = start.saturating_add(size.max(1));
        if let Some((lo, hi)) = a.heap_range() {
            if start < lo || start.saturating_add(size) > hi {
                return viol(format!(
                    "payload [{start:#x}, {end:#x}) of id {id} is outside the heap [{lo:#x}, {hi:#x})"
                ));
            }
        }
        if let Some((&s, &e)) = self.ranges.range(..end).next_back() {
            if e > start {
                return viol(format!(
                    "payload [{start:#x}, {end:#x}) of id {id} overlaps the live payload [{s:#x}, {e:#x})"
                ));
            }
        }
        self.ranges.insert(start, end);
        Ok(())
    }

    fn forget(&mut self, b: &Live) {
        self.ranges.remove(&(b.ptr.as_ptr() as usize));
    }
}

/// The replay as seen after one request, for observers.
#[derive(Clone, Copy, Debug)]
pub struct Moment<'a> {
    /// Index of the request just replayed.
    pub index: usize,
    /// Sum of requested sizes of live blocks.
    pub live_bytes: usize,
    /// Live payloads: start address → end address (`start + size`, at least `start + 1`).
    pub live: &'a BTreeMap<usize, usize>,
}

/// Replays `trace` on `a` with every check on, calling `observe(moment, &a)` after each
/// request. Blocks still live at the end are checked and freed.
pub fn replay_checked_with<A, F>(
    trace: &Trace,
    a: &mut A,
    mut observe: F,
) -> Result<Checked, Failure>
where
    A: TraceAllocator,
    F: FnMut(&Moment<'_>, &A),
{
    let peak = trace.peak_live();
    let mut v = Validator {
        live: vec![None; trace.num_ids as usize],
        ranges: BTreeMap::new(),
        generation: 0,
    };
    let mut out = Checked {
        ops: trace.ops.len(),
        peak_live: peak.bytes,
        ..Checked::default()
    };
    let mut live_bytes = 0usize;
    let result = (|| {
        for (i, op) in trace.ops.iter().enumerate() {
            let (id, line) = (op.id, op.line);
            let slot = v.live[id as usize];
            match (op.kind, slot) {
                (OpKind::Alloc, _) | (OpKind::Realloc, None) => {
                    let p = a.malloc(op.size).ok_or(Failure::OutOfMemory { line })?;
                    v.generation += 1;
                    let b = Live {
                        id,
                        ptr: p,
                        size: op.size,
                        seed: pattern::seed(id, v.generation),
                        line,
                    };
                    v.admit(a, p, op.size, id, line)?;
                    Validator::fill(&b, 0);
                    v.live[id as usize] = Some(b);
                    live_bytes += op.size;
                }
                (OpKind::Realloc, Some(old)) => {
                    Validator::verify(&old, old.size, line, "before realloc")?;
                    v.forget(&old);
                    live_bytes -= old.size;
                    if op.size == 0 {
                        // SAFETY: `old.ptr` is live and came from `a`.
                        unsafe { a.free(old.ptr) };
                        v.live[id as usize] = None;
                    } else {
                        // SAFETY: `old.ptr` is live and came from `a`.
                        let q = unsafe { a.realloc(old.ptr, op.size) }
                            .ok_or(Failure::OutOfMemory { line })?;
                        let b = Live {
                            ptr: q,
                            size: op.size,
                            ..old
                        };
                        v.admit(a, q, op.size, id, line)?;
                        let kept = old.size.min(op.size);
                        Validator::verify(&b, kept, line, "after realloc (contents lost)")?;
                        Validator::fill(&b, kept);
                        v.live[id as usize] = Some(b);
                        live_bytes += op.size;
                    }
                }
                (OpKind::Free, Some(old)) => {
                    Validator::verify(&old, old.size, line, "at free")?;
                    v.forget(&old);
                    live_bytes -= old.size;
                    // SAFETY: `old.ptr` is live and came from `a`.
                    unsafe { a.free(old.ptr) };
                    v.live[id as usize] = None;
                }
                (OpKind::Free, None) => {
                    return Err(Failure::Violation {
                        line,
                        reason: format!("free of id {id}, which is not live"),
                    })
                }
            }
            if peak.op_index == Some(i) {
                out.at_peak = a.stats();
                out.live_at_peak = live_bytes;
                check_engine(a, line)?;
            }
            observe(
                &Moment {
                    index: i,
                    live_bytes,
                    live: &v.ranges,
                },
                a,
            );
        }
        let last = trace.ops.last().map_or(0, |o| o.line);
        check_engine(a, last)?;
        out.heap_bytes = a.heap_range().map(|(lo, hi)| hi - lo);
        for b in v.live.iter().flatten() {
            Validator::verify(b, b.size, last, "at the end of the trace")?;
        }
        Ok(())
    })();
    // Release whatever is still live (also after a failure), so that no allocator leaks.
    for b in v.live.iter().flatten() {
        // SAFETY: every block in `live` is live and came from `a`.
        unsafe { a.free(b.ptr) };
    }
    result.map(|()| out)
}

fn check_engine<A: TraceAllocator>(a: &A, line: u32) -> Result<(), Failure> {
    match a.check() {
        Ok(()) => Ok(()),
        Err(reason) => Err(Failure::Violation {
            line,
            reason: format!("heap checker: {reason}"),
        }),
    }
}

/// [`replay_checked_with`] without an observer.
///
/// ```
/// use heapwise_core::PolicyKind;
/// use heapwise_lab::alloc::{EngineAllocator, HeapMemory};
/// use heapwise_lab::replay::replay_checked;
/// use heapwise_lab::trace::{Format, Trace};
///
/// let t = Trace::parse("t.rep".as_ref(), "0 2 4 1\na 0 100\na 1 28\nf 0\nf 1\n",
///                      Format::Auto).unwrap();
/// let mut mem = HeapMemory::new(1 << 20).unwrap();
/// let c = replay_checked(&t, &mut EngineAllocator::new(PolicyKind::Segregated, &mut mem))
///     .unwrap();
/// assert_eq!(c.peak_live, 128);
/// assert!(c.util().unwrap() > 0.0 && c.util().unwrap() <= 1.0);
/// ```
pub fn replay_checked<A: TraceAllocator>(trace: &Trace, a: &mut A) -> Result<Checked, Failure> {
    replay_checked_with(trace, a, |_, _| {})
}
