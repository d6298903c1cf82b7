//! The benchmark's pseudo-random numbers: SplitMix64 (a small, fast, well-mixed 64-bit
//! generator), and the size distributions the workloads draw from.
//!
//! Invariant: the sequence depends only on the seed, so every allocator is driven by
//! exactly the same requests.

/// SplitMix64: one 64-bit word of state, full period 2^64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub const fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, n)` (`n > 0`), by the multiply-shift method (bias below
    /// 2^-32 for the small `n` used here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }

    /// A uniform float in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A size drawn log-uniformly from `[lo, hi]`: every power-of-two range is equally
    /// likely, so small requests dominate by count and large ones by bytes.
    pub fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
        let s = (l + (h - l) * self.unit()).exp() as usize;
        s.clamp(lo, hi)
    }

    /// A size drawn uniformly from `[lo, hi]`.
    pub fn uniform(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below((hi - lo + 1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_ranges_hold() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut r = Rng::new(1);
        let mut small = 0;
        for _ in 0..100_000 {
            let s = r.log_uniform(16, 8192);
            assert!((16..=8192).contains(&s));
            small += usize::from(s < 128);
            let u = r.uniform(16, 4096);
            assert!((16..=4096).contains(&u));
            assert!(r.below(3) < 3);
        }
        // log-uniform: [16, 128) is 3 of the 9 octaves, about a third of the draws.
        assert!((30_000..37_000).contains(&small), "{small}");
    }
}
