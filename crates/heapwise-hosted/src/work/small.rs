//! Single-thread malloc/free of small blocks: fixed size classes 16..256 B (pairs and a
//! ring of live blocks) and random sizes 16 B..4 KiB.
//!
//! Invariant: every block is stamped at both ends and checked before it is freed.

use std::hint::black_box;

use super::{Outcome, Params};
use crate::cmem::{free_all, Block};
use crate::rng::Rng;

/// Fixed small sizes 16, 32, .., 256: half the operations are immediate malloc/free pairs,
/// half replace a random slot of a 512-block ring.
pub fn fixed_small(p: &Params) -> Result<Outcome, String> {
    let n = p.n(24_000_000, 1000);
    let mut rng = Rng::new(1);
    let mut sum = 0u64;
    for i in 0..n / 2 {
        let size = 16 * (1 + i % 16);
        let b = black_box(Block::new(size, i as u64)?);
        sum = sum.wrapping_add(b.free()?);
    }
    let mut ring: Vec<Option<Block>> = (0..512).map(|_| None).collect();
    for i in 0..n / 2 {
        let slot = rng.range(0, ring.len());
        if let Some(b) = ring[slot].take() {
            sum = sum.wrapping_add(b.free()?);
        }
        let size = 16 * (1 + (rng.next_u64() % 16) as usize);
        ring[slot] = Some(Block::new(size, i as u64 ^ 0x5555)?);
    }
    sum = sum.wrapping_add(free_all(ring.into_iter().flatten())?);
    Ok(Outcome {
        checksum: sum,
        ops: 2 * n as u64,
    })
}

/// Random sizes: mostly 16..512 B, one in eight up to 4 KiB, replacing random slots of a
/// 4096-block ring.
pub fn random_sizes(p: &Params) -> Result<Outcome, String> {
    let n = p.n(8_000_000, 1000);
    let mut rng = Rng::new(2);
    let mut sum = 0u64;
    let mut ring: Vec<Option<Block>> = (0..4096).map(|_| None).collect();
    for _ in 0..n {
        let slot = rng.range(0, ring.len());
        if let Some(b) = ring[slot].take() {
            sum = sum.wrapping_add(b.free()?);
        }
        let size = if rng.chance(1, 8) {
            rng.range(16, 4097)
        } else {
            rng.range(16, 513)
        };
        ring[slot] = Some(Block::new(size, rng.next_u64())?);
    }
    sum = sum.wrapping_add(free_all(ring.into_iter().flatten())?);
    Ok(Outcome {
        checksum: sum,
        ops: 2 * n as u64,
    })
}
