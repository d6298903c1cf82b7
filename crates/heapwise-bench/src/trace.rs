//! The random-actions trace: the whole request sequence generated before any timing, so the
//! timed loop only decodes one packed word per operation and every allocator sees exactly
//! the same requests.
//!
//! The live-block count after each operation depends only on the trace (an allocation adds
//! a slot even when it fails, a free removes one, a realloc keeps the count), so the slot
//! indices can be drawn while generating.
//!
//! Packing of an [`Op`] (one `u32`): bits 0..2 the kind, bit 2 "align 16" (else 8),
//! bits 3..17 the size, bits 17..32 the slot index.

use crate::rng::Rng;

/// What one operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// Allocate a new block (appended to the live slots).
    Alloc,
    /// Free the block of a live slot (the last slot moves into its place).
    Free,
    /// Resize the block of a live slot.
    Realloc,
}

/// One packed operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op(u32);

const SIZE_BITS: u32 = 14;
const INDEX_BITS: u32 = 15;
/// Largest size an [`Op`] can carry.
pub const MAX_OP_SIZE: usize = (1 << SIZE_BITS) - 1;
/// Largest live-slot count an [`Op`] can index.
pub const MAX_OP_LIVE: usize = 1 << INDEX_BITS;

impl Op {
    fn new(kind: OpKind, align16: bool, size: usize, index: usize) -> Op {
        debug_assert!(size <= MAX_OP_SIZE && index < MAX_OP_LIVE);
        let k = match kind {
            OpKind::Alloc => 0,
            OpKind::Free => 1,
            OpKind::Realloc => 2,
        };
        Op(k | (align16 as u32) << 2 | (size as u32) << 3 | (index as u32) << (3 + SIZE_BITS))
    }

    /// The kind.
    #[inline]
    pub fn kind(self) -> OpKind {
        match self.0 & 3 {
            0 => OpKind::Alloc,
            1 => OpKind::Free,
            _ => OpKind::Realloc,
        }
    }

    /// Alignment of an allocation (8 or 16); a realloc keeps its block's alignment.
    #[inline]
    pub fn align(self) -> usize {
        8 << (self.0 >> 2 & 1)
    }

    /// Requested size (new size for a realloc; unused for a free).
    #[inline]
    pub fn size(self) -> usize {
        (self.0 >> 3) as usize & MAX_OP_SIZE
    }

    /// Slot index of a free or realloc.
    #[inline]
    pub fn index(self) -> usize {
        (self.0 >> (3 + SIZE_BITS)) as usize
    }
}

/// Parameters of the random-actions workload.
#[derive(Clone, Copy, Debug)]
pub struct RandomActions {
    /// Number of operations.
    pub ops: usize,
    /// PRNG seed.
    pub seed: u64,
    /// Below this many live blocks the next operation is an allocation.
    pub min_live: usize,
    /// Above this many live blocks the next operation is a free.
    pub max_live: usize,
    /// Smallest request (bytes).
    pub min_size: usize,
    /// Largest request (bytes).
    pub max_size: usize,
}

impl Default for RandomActions {
    /// The benchmark's workload: 5 M operations, 1000–3000 live blocks, 16–8192 bytes.
    fn default() -> Self {
        RandomActions {
            ops: 5_000_000,
            seed: 0x6865_6170_7769_7365, // "heapwise"
            min_live: 1000,
            max_live: 3000,
            min_size: 16,
            max_size: 8192,
        }
    }
}

impl RandomActions {
    /// Generates the trace: 1/3 alloc, 1/3 free of a random live block, 1/3 realloc of a
    /// random live block to a new size; sizes log-uniform in `[min_size, max_size]`,
    /// alignment 8 or 16 with equal odds; allocate below `min_live` live blocks, free above
    /// `max_live`.
    ///
    /// ```
    /// use heapwise_bench::{OpKind, RandomActions};
    /// let t = RandomActions { ops: 5000, ..RandomActions::default() }.trace();
    /// assert_eq!(t.len(), 5000);
    /// assert!(t[..1000].iter().all(|op| op.kind() == OpKind::Alloc));
    /// ```
    pub fn trace(&self) -> Vec<Op> {
        assert!(self.max_size <= MAX_OP_SIZE && self.max_live < MAX_OP_LIVE);
        assert!(self.min_size >= 1 && self.min_size <= self.max_size);
        let mut rng = Rng::new(self.seed);
        let mut live = 0usize;
        let mut out = Vec::with_capacity(self.ops);
        for _ in 0..self.ops {
            let kind = if live < self.min_live || live == 0 {
                OpKind::Alloc
            } else if live > self.max_live {
                OpKind::Free
            } else {
                [OpKind::Alloc, OpKind::Free, OpKind::Realloc][rng.below(3) as usize]
            };
            let op = match kind {
                OpKind::Alloc => {
                    live += 1;
                    let size = rng.log_uniform(self.min_size, self.max_size);
                    Op::new(kind, rng.below(2) == 1, size, 0)
                }
                OpKind::Free => {
                    let i = rng.below(live as u64) as usize;
                    live -= 1;
                    Op::new(kind, false, 0, i)
                }
                OpKind::Realloc => {
                    let i = rng.below(live as u64) as usize;
                    let size = rng.log_uniform(self.min_size, self.max_size);
                    Op::new(kind, false, size, i)
                }
            };
            out.push(op);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        for (k, a, s, i) in [
            (OpKind::Alloc, true, 8192, 0),
            (OpKind::Free, false, 0, 3000),
            (OpKind::Realloc, false, MAX_OP_SIZE, MAX_OP_LIVE - 1),
        ] {
            let op = Op::new(k, a, s, i);
            assert_eq!(op.kind(), k);
            assert_eq!(op.align(), if a { 16 } else { 8 });
            assert_eq!(op.size(), s);
            assert_eq!(op.index(), i);
        }
    }

    #[test]
    fn trace_keeps_live_count_in_bounds_and_mixes_thirds() {
        let p = RandomActions {
            ops: 200_000,
            ..RandomActions::default()
        };
        let t = p.trace();
        assert_eq!(t, p.trace(), "deterministic");
        let mut live = 0usize;
        let mut counts = [0usize; 3];
        for (n, op) in t.iter().enumerate() {
            match op.kind() {
                OpKind::Alloc => live += 1,
                OpKind::Free => {
                    assert!(op.index() < live);
                    live -= 1
                }
                OpKind::Realloc => assert!(op.index() < live),
            }
            if n >= 1000 {
                assert!((999..=3001).contains(&live), "live {live} at {n}");
                counts[op.kind() as usize] += 1;
            }
            if op.kind() != OpKind::Free {
                assert!((16..=8192).contains(&op.size()));
            }
        }
        for c in counts {
            assert!(c > 60_000, "{counts:?}");
        }
    }
}
