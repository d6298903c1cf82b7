//! cache-scratch (after Hoard's benchmark): the main thread allocates one small block per
//! thread and hands it over; each thread frees it and then repeatedly allocates a small block,
//! writes it many times and frees it. An allocator that gives a thread a block sharing a cache
//! line with another thread's block (passive false sharing) makes every write a cache miss.
//!
//! Invariant: each thread owns the block it writes; the checksum (final word values) is fixed.

use std::hint::black_box;

use super::{Outcome, Params};
use crate::cmem::Block;

/// `p.threads` threads, 16-byte objects (100 writes to bytes 8..16 of each).
pub fn run(p: &Params) -> Result<Outcome, String> {
    let t = p.threads.max(1);
    let iters = p.n(18_000_000, 100) / t;
    let writes = 100u64;
    let handed = (0..t)
        .map(|i| Block::new(16, i as u64))
        .collect::<Result<Vec<_>, _>>()?;
    let results: Vec<Result<u64, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = handed
            .into_iter()
            .enumerate()
            .map(|(id, first)| {
                s.spawn(move || -> Result<u64, String> {
                    let mut sum = first.free()?;
                    for i in 0..iters {
                        let b = Block::new(16, id as u64)?;
                        let w = b.as_ptr().wrapping_add(8).cast::<u64>();
                        for _ in 0..writes {
                            // SAFETY: bytes [8, 16) of the live 16-byte payload are ours; the
                            // volatile access keeps every write (the point of the benchmark).
                            unsafe { w.write_volatile(w.read_volatile().wrapping_add(1)) };
                        }
                        // SAFETY: as above; reading back the value the loop produced.
                        let v = unsafe { w.read_volatile() };
                        // The tail stamp lives in [8, 16): restore it before the check.
                        let expect_tail = !(id as u64);
                        if v != expect_tail.wrapping_add(writes) {
                            return Err(format!(
                                "thread {id} iter {i}: word {v:#x} after {writes} increments"
                            ));
                        }
                        // SAFETY: as above.
                        unsafe { w.write_volatile(expect_tail) };
                        sum = sum.wrapping_add(black_box(b).free()?).wrapping_add(v);
                    }
                    Ok(sum)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sum = 0u64;
    for r in results {
        sum = sum.wrapping_add(r?);
    }
    Ok(Outcome {
        checksum: sum,
        ops: (2 * iters * t) as u64,
    })
}
