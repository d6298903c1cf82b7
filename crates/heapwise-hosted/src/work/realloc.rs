//! realloc-heavy: 1000 strings grown a few bytes at a time (each append is a `realloc`) up to
//! 2..6 KiB, and every 20,000 appends a vector grown by doubling up to 1 MiB (150 at scale 1); each string's bytes follow a
//! pattern derived from its seed and are checked in full before it is freed and restarted.
//!
//! Invariant: byte `i` of a string with seed `s` is `pattern(s, i)` for every `i < len`.

use super::{mix, Outcome, Params};
use crate::rng::Rng;

#[inline]
fn pattern(seed: u64, i: usize) -> u8 {
    (seed as usize ^ i.wrapping_mul(31)) as u8
}

struct Str {
    ptr: *mut u8,
    len: usize,
    cap: usize,
    seed: u64,
    limit: usize,
}

impl Str {
    fn check(&self) -> Result<u64, String> {
        // SAFETY: [ptr, ptr+len) is the initialised part of the live block.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.len) };
        for (i, &b) in bytes.iter().enumerate() {
            if b != pattern(self.seed, i) {
                return Err(format!(
                    "string {:p} len {} lost byte {i} after realloc",
                    self.ptr, self.len
                ));
            }
        }
        Ok(self.len as u64 ^ self.seed)
    }
}

fn grow(ptr: *mut u8, size: usize) -> Result<*mut u8, String> {
    // SAFETY: ptr is null or a live block from malloc/realloc owned by the caller.
    let p = unsafe { libc::realloc(ptr.cast(), size) } as *mut u8;
    if p.is_null() {
        return Err(format!("realloc(.., {size}) returned NULL"));
    }
    Ok(p)
}

/// Appends to random strings `n` times; grows the vectors between.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let n = p.n(3_000_000, 1000);
    let mut rng = Rng::new(5);
    let mut ops = 0u64;
    let mut sum = 0u64;
    let mut strs: Vec<Str> = (0..1000)
        .map(|_| Str {
            ptr: std::ptr::null_mut(),
            len: 0,
            cap: 0,
            seed: rng.next_u64(),
            limit: rng.range(2048, 6144),
        })
        .collect();
    for step in 0..n {
        let s = &mut strs[rng.range(0, 1000)];
        let k = rng.range(1, 33);
        // Exact-size growth: every append is a realloc.
        s.ptr = grow(s.ptr, s.len + k)?;
        ops += 1;
        for i in s.len..s.len + k {
            // SAFETY: the block now has len + k bytes.
            unsafe { s.ptr.add(i).write(pattern(s.seed, i)) };
        }
        s.len += k;
        s.cap = s.len;
        if s.len >= s.limit {
            sum = mix(sum, s.check()?);
            // SAFETY: the live block is freed once and forgotten.
            unsafe { libc::free(s.ptr.cast()) };
            ops += 1;
            s.ptr = std::ptr::null_mut();
            s.len = 0;
            s.cap = 0;
            s.seed = rng.next_u64();
        }
        if step % 20_000 == 0 {
            // A vector grown by doubling to 1 MiB, the first word of each chunk checked.
            let mut v: *mut u64 = std::ptr::null_mut();
            let mut len = 0usize;
            let mut cap = 0usize;
            while len < (1 << 17) {
                if len == cap {
                    cap = (cap * 2).max(16);
                    v = grow(v.cast(), cap * 8)?.cast();
                    ops += 1;
                }
                // SAFETY: len < cap words are allocated.
                unsafe { v.add(len).write(len as u64 ^ step as u64) };
                len += 1;
            }
            for i in (0..len).step_by(509) {
                // SAFETY: i < len, initialised above.
                let x = unsafe { v.add(i).read() };
                if x != i as u64 ^ step as u64 {
                    return Err(format!("vector lost element {i} after realloc"));
                }
            }
            sum = mix(sum, len as u64);
            // SAFETY: the live vector block is freed once.
            unsafe { libc::free(v.cast()) };
            ops += 1;
        }
    }
    for s in strs {
        if !s.ptr.is_null() {
            sum = mix(sum, s.check()?);
            // SAFETY: the live block is freed once.
            unsafe { libc::free(s.ptr.cast()) };
            ops += 1;
        }
    }
    let _ = ops;
    Ok(Outcome { checksum: sum, ops })
}
