//! The timed replayer: the same requests as [`crate::replay`], with no checks, no pattern
//! and no bookkeeping beyond the id → pointer table, so that the clock measures the
//! allocator and not the validator.
//!
//! The clock runs from the first request to the last; creating the heap and freeing blocks
//! a trace leaves live happen outside it. Both the engine and the system allocator go
//! through this one generic loop.

use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::alloc::TraceAllocator;
use crate::trace::{OpKind, Trace};

/// Replays `trace` on `a` and returns the time the requests took, or the line of the first
/// request answered with null.
pub fn replay_timed<A: TraceAllocator>(trace: &Trace, a: &mut A) -> Result<Duration, u32> {
    let mut ptrs: Vec<Option<NonNull<u8>>> = vec![None; trace.num_ids as usize];
    let t0 = Instant::now();
    let mut failed = None;
    for op in &trace.ops {
        let slot = &mut ptrs[op.id as usize];
        match (op.kind, *slot) {
            (OpKind::Alloc, _) | (OpKind::Realloc, None) => match a.malloc(op.size) {
                Some(p) => *slot = Some(p),
                None => {
                    failed = Some(op.line);
                    break;
                }
            },
            (OpKind::Realloc, Some(p)) if op.size == 0 => {
                // SAFETY: `p` is live and came from `a`.
                unsafe { a.free(p) };
                *slot = None;
            }
            (OpKind::Realloc, Some(p)) => {
                // SAFETY: `p` is live and came from `a`.
                match unsafe { a.realloc(p, op.size) } {
                    Some(q) => *slot = Some(q),
                    None => {
                        failed = Some(op.line);
                        break;
                    }
                }
            }
            (OpKind::Free, Some(p)) => {
                // SAFETY: `p` is live and came from `a`.
                unsafe { a.free(p) };
                *slot = None;
            }
            (OpKind::Free, None) => {}
        }
    }
    let elapsed = t0.elapsed();
    for p in ptrs.into_iter().flatten() {
        // SAFETY: every pointer left in the table is live and came from `a`.
        unsafe { a.free(p) };
    }
    match failed {
        Some(line) => Err(line),
        None => Ok(elapsed),
    }
}
