//! The per-block byte pattern the validator writes into every payload and checks at
//! `realloc` and `free`.
//!
//! Byte `i` of a block with seed `s` is byte `i % 8` (little endian) of the word
//! [`word`]`(s, i / 8)`. The pattern depends on the offset, so a payload copied to the
//! wrong place or shifted is caught, and on the seed, which the replayer derives from the
//! block's id and allocation count, so two blocks never carry the same bytes.
//!
//! Writing and checking go eight bytes at a time; the cost is a pass over the payload.

/// The seed of the `generation`-th allocation of block `id` (a SplitMix64 step).
pub fn seed(id: u32, generation: u64) -> u64 {
    let mut z = (u64::from(id) << 32 ^ generation).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Word `k` of the pattern with seed `s`.
#[inline]
pub fn word(s: u64, k: usize) -> u64 {
    s.wrapping_add((k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .rotate_left(29)
}

/// The pattern byte at offset `i`.
#[inline]
pub fn byte(s: u64, i: usize) -> u8 {
    word(s, i / 8).to_le_bytes()[i % 8]
}

/// Writes the pattern with seed `s` over `buf[from..]`, where `buf` starts at payload
/// offset 0.
pub fn fill(buf: &mut [u8], from: usize, s: u64) {
    let mut i = from;
    while i < buf.len() && i % 8 != 0 {
        buf[i] = byte(s, i);
        i += 1;
    }
    let body = &mut buf[i..];
    let mut chunks = body.chunks_exact_mut(8);
    let mut k = i / 8;
    for c in &mut chunks {
        c.copy_from_slice(&word(s, k).to_le_bytes());
        k += 1;
    }
    let rest = chunks.into_remainder();
    for (j, b) in rest.iter_mut().enumerate() {
        *b = byte(s, k * 8 + j);
    }
}

/// The first offset in `buf` (payload offset 0 onward) that does not carry the pattern
/// with seed `s`, if any.
pub fn first_mismatch(buf: &[u8], s: u64) -> Option<usize> {
    let mut chunks = buf.chunks_exact(8);
    for (k, c) in (&mut chunks).enumerate() {
        if c != word(s, k).to_le_bytes() {
            let w = word(s, k).to_le_bytes();
            return (0..8).find(|&j| c[j] != w[j]).map(|j| k * 8 + j);
        }
    }
    let base = buf.len() - chunks.remainder().len();
    chunks
        .remainder()
        .iter()
        .enumerate()
        .find(|&(j, &b)| b != byte(s, base + j))
        .map(|(j, _)| base + j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_then_check_and_detect_one_flipped_byte() {
        for len in [0usize, 1, 7, 8, 9, 63, 100] {
            let mut v = vec![0u8; len];
            fill(&mut v, 0, seed(3, 1));
            assert_eq!(first_mismatch(&v, seed(3, 1)), None);
            if len > 0 {
                v[len / 2] ^= 0x40;
                assert_eq!(first_mismatch(&v, seed(3, 1)), Some(len / 2));
            }
        }
    }

    #[test]
    fn partial_fill_extends_a_prefix() {
        let mut v = vec![0u8; 50];
        fill(&mut v[..13], 0, 9);
        fill(&mut v, 13, 9);
        assert_eq!(first_mismatch(&v, 9), None);
        assert_ne!(first_mismatch(&v, 10), None);
    }
}
