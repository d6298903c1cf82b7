//! Trailers after the requested size of a block: the size the program asked for, kept in
//! the last word of the block's usable bytes, and (with `HEAPWISE_HARDEN=full`) canary
//! bytes between the requested size and that word (the first [`MAX_CANARY`] of them).
//!
//! ```text
//!  p                      p + n                     p + usable - 8      p + usable
//!  | payload (n requested) | canary bytes (1..=64)   | n ^ key(p)        |
//! ```
//!
//! A block that carries a trailer is allocated with [`extra`] bytes more than requested,
//! so the word always fits and, with canaries, at least one canary byte sits right at
//! `p + n`: a one-byte overflow past the requested size changes it and is reported when the
//! block is freed or resized ([`check`]). Under valgrind the trailer only records `n`
//! (memcheck itself reports the overflow at the access).
//!
//! Invariants: the size word is `n ^ key(p)`, keyed with a per-process secret (set once,
//! before the first block, by [`set_secret`]), so a word overwritten by an overflow decodes
//! to an implausible size; the canary byte at offset `i` after the request is
//! `canary_byte(p, i)`: the bytes of `key(p)` in turn, never zero, so an overflow that
//! writes one value over all of them (a `memset`, a run of one character) cannot match
//! them all; nothing here allocates.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of the size word at the end of the usable bytes.
pub const WORD: usize = core::mem::size_of::<usize>();

static SECRET: AtomicUsize = AtomicUsize::new(0x5eed_c0de_0bad_f00d_u64 as usize);

/// Sets the per-process secret the trailers are keyed with (call before any block has one).
pub fn set_secret(s: usize) {
    SECRET.store(s | 1, Ordering::Relaxed);
}

/// The secret is process-wide: the unit test that sets it (`front`'s, through
/// `front::configure`) holds this for writing, the tests whose blocks are keyed with it
/// (the canaries here, the guarded headers of `guard`) for reading, so that no block's
/// trailer or header is written under one secret and checked under another.
#[cfg(test)]
pub(crate) static SECRET_USE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A secret from `getrandom(2)` (or the address-space layout when that fails).
pub fn fresh_secret() -> usize {
    let mut s = 0usize;
    // SAFETY: writes at most `size_of::<usize>()` bytes into `s`.
    let n = unsafe { libc::getrandom((&mut s as *mut usize).cast(), WORD, libc::GRND_NONBLOCK) };
    if n != WORD as isize {
        s = (&s as *const usize as usize).rotate_left(29)
            ^ (&SECRET as *const AtomicUsize as usize);
    }
    s
}

/// The per-process key of the block at `p` (the secret mixed with the address).
#[inline]
pub fn key(p: *const u8) -> usize {
    SECRET.load(Ordering::Relaxed) ^ (p as usize).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize)
}

/// The canary byte at offset `i` after the requested size of the block at `p`.
#[inline]
fn canary_byte(p: *const u8, i: usize) -> u8 {
    (key(p).rotate_right((i % WORD * 8) as u32) as u8) | 1
}

/// Most canary bytes written after the requested size (a large slack, e.g. an aligned
/// mapping, is not filled further: only the bytes an overflow reaches first matter).
pub const MAX_CANARY: usize = 64;

/// Bytes to allocate beyond the requested size: the size word, plus one canary byte.
#[inline]
pub const fn extra(canaries: bool) -> usize {
    WORD + canaries as usize
}

/// Writes the trailer of the block at `p` (`usable` usable bytes) for a request of `n`
/// bytes: canary bytes over `[p + n, p + usable - WORD)` when `canaries`, and the size word.
///
/// # Safety
/// `[p, p + usable)` must be the usable bytes of a live block, `n + WORD <= usable`.
pub unsafe fn write(p: *mut u8, n: usize, usable: usize, canaries: bool) {
    let end = usable - WORD;
    // SAFETY: `[p + n, p + usable)` lies inside the block (caller contract).
    unsafe {
        if canaries && end > n {
            for i in 0..(end - n).min(MAX_CANARY) {
                p.add(n + i).write(canary_byte(p, i));
            }
        }
        (p.add(end) as *mut usize).write_unaligned(n ^ key(p));
    }
}

/// What [`check`] found wrong: the requested size if the size word was intact (0 if not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow(pub usize);

/// Reads the trailer of the block at `p`: the requested size, or [`Overflow`] when the size
/// word or (with `canaries`) a canary byte was overwritten.
///
/// # Safety
/// `[p, p + usable)` must be the usable bytes of a live block that got a trailer.
pub unsafe fn check(p: *const u8, usable: usize, canaries: bool) -> Result<usize, Overflow> {
    if usable < WORD {
        return Err(Overflow(0));
    }
    let end = usable - WORD;
    // SAFETY: the word lies inside the block (caller contract).
    let n = unsafe { (p.add(end) as *const usize).read_unaligned() } ^ key(p);
    if n > end || (canaries && n == end) {
        return Err(Overflow(0));
    }
    if canaries {
        // SAFETY: `[p + n, p + end)` lies inside the block.
        let bytes = unsafe { core::slice::from_raw_parts(p.add(n), (end - n).min(MAX_CANARY)) };
        if bytes
            .iter()
            .enumerate()
            .any(|(i, &b)| b != canary_byte(p, i))
        {
            return Err(Overflow(n));
        }
    }
    Ok(n)
}

/// Reports an overflow found by [`check`] (`heapwise: heap overflow past the requested size
/// of 0x… (block of N bytes)`) and aborts.
#[cold]
pub fn report_overflow(p: *const u8, o: Overflow) -> ! {
    if o.0 != 0 {
        crate::diag::report(format_args!(
            "heap overflow past the requested size of {:#x} (block of {} bytes)",
            p as usize, o.0
        ));
    } else {
        crate::diag::report(format_args!(
            "heap overflow past the requested size of {:#x}",
            p as usize
        ));
    }
    // SAFETY: abort has no preconditions; it never returns.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_byte_overflow_into_the_slack_is_found() {
        let _secret = SECRET_USE.read().unwrap_or_else(|e| e.into_inner());
        let mut b = [0u8; 56];
        let p = b.as_mut_ptr();
        // SAFETY: `b` is 56 bytes; 33 + 9 <= 56.
        unsafe {
            write(p, 33, 56, true);
            assert_eq!(check(p, 56, true), Ok(33));
            *p.add(32) = 0xff; // inside the request: fine
            assert_eq!(check(p, 56, true), Ok(33));
            *p.add(33) ^= 0x40; // one past
            assert_eq!(check(p, 56, true), Err(Overflow(33)));
        }
    }

    #[test]
    fn an_overflow_of_one_repeated_value_is_found_whatever_the_value() {
        let _secret = SECRET_USE.read().unwrap_or_else(|e| e.into_inner());
        // The canary bytes differ from each other (in general), so no value written over
        // all of them (as `memset` does) matches every one; the secret of this test is fixed.
        let mut b = [0u8; 64];
        let p = b.as_mut_ptr();
        for v in 0..=255u8 {
            // SAFETY: `b` is 64 bytes; 40 + 9 <= 64.
            unsafe {
                write(p, 40, 64, true);
                core::ptr::write_bytes(p.add(40), v, 8);
                assert_eq!(check(p, 64, true), Err(Overflow(40)), "value {v:#x}");
            }
        }
    }

    #[test]
    fn an_overwritten_size_word_is_found() {
        let _secret = SECRET_USE.read().unwrap_or_else(|e| e.into_inner());
        let mut b = [0u8; 40];
        let p = b.as_mut_ptr();
        // SAFETY: `b` is 40 bytes; 32 + 8 <= 40.
        unsafe {
            write(p, 32, 40, false);
            assert_eq!(check(p, 40, false), Ok(32));
            core::ptr::write_bytes(p.add(32), 0x41, 8);
            assert_eq!(check(p, 40, false), Err(Overflow(0)));
        }
    }
}
