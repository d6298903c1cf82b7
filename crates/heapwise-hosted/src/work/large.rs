//! Large blocks: a ring of 4 live blocks of 64 KiB..16 MiB (power-of-two classes plus a
//! random tail) replaced one at a time; every page of each block is written and read back
//! before the block is freed. Models the malloc-large pattern, where an allocator that returns
//! each freed large block to the OS pays page faults on every allocation.
//!
//! Invariant: a block's pages hold `stamp ^ page_index` until it is freed.

use super::{Outcome, Params};
use crate::cmem::Block;
use crate::rng::Rng;

const PAGE: usize = 4096;

fn touch(b: &Block) {
    let p = b.as_ptr();
    let mut off = PAGE;
    while off + 8 <= b.size() - 8 {
        // SAFETY: [off, off+8) lies inside the payload, clear of both stamps ([0,8), [size-8,size)).
        unsafe {
            p.add(off)
                .cast::<u64>()
                .write_unaligned(b.stamp() ^ off as u64)
        };
        off += PAGE;
    }
}

fn verify(b: &Block) -> Result<(), String> {
    let p = b.as_ptr();
    let mut off = PAGE;
    while off + 8 <= b.size() - 8 {
        // SAFETY: as in `touch`.
        let v = unsafe { p.add(off).cast::<u64>().read_unaligned() };
        if v != b.stamp() ^ off as u64 {
            return Err(format!(
                "large block {p:p} size {}: page at {off} lost its data",
                b.size()
            ));
        }
        off += PAGE;
    }
    Ok(())
}

/// Replaces ring slots `n` times.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let n = p.n(1200, 20);
    let mut rng = Rng::new(4);
    let mut ring: Vec<Option<Block>> = (0..4).map(|_| None).collect();
    let mut sum = 0u64;
    for _ in 0..n {
        let slot = rng.range(0, ring.len());
        if let Some(b) = ring[slot].take() {
            verify(&b)?;
            sum = sum.wrapping_add(b.free()?);
        }
        let class = (64 << 10) << rng.range(0, 8); // 64 KiB .. 8 MiB
        let size = (class + rng.range(0, class)).min(16 << 20);
        let b = Block::new(size, rng.next_u64())?;
        touch(&b);
        ring[slot] = Some(b);
    }
    for b in ring.into_iter().flatten() {
        verify(&b)?;
        sum = sum.wrapping_add(b.free()?);
    }
    Ok(Outcome {
        checksum: sum,
        ops: 2 * n as u64,
    })
}
