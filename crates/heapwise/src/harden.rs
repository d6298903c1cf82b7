//! Misuse detection of the OS faces beyond the engine's own checks: the quarantine
//! settings heaps are built with ([`Harden`]), fault-free reading of the words before a
//! pointer no heap contains ([`read_before`]), and a ring of recently released large blocks
//! so that a second `free` of one is reported as a double free ([`note_large_freed`],
//! [`was_large_freed`]).
//!
//! Invariants: nothing here allocates or takes a lock; reading memory that may be unmapped
//! goes through `process_vm_readv(2)` on the own process (which fails with `EFAULT` instead
//! of faulting), falling back to `mincore(2)` plus a plain read where that call is refused;
//! the ring is a fixed array of atomics, and a large block's release is recorded when it
//! is claimed, under the large blocks' claim lock, before its memory is released
//! (`large_cache::with_claim_lock`): of two `free`s of one block, racing or not,
//! one passes and the other finds the release recorded (a double free) unless 64 other
//! large blocks were released in between (then an invalid pointer); never a false report.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sys;

/// Quarantine settings every engine heap of a [`crate::Global`] is created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Harden {
    /// Blocks kept in each heap's quarantine (0: off).
    pub quarantine_blocks: usize,
    /// Bytes kept in each heap's quarantine at most.
    pub quarantine_bytes: usize,
    /// Fill freed payloads with junk and check it when they leave the quarantine.
    pub junk: bool,
}

impl Harden {
    /// The default of the OS faces: a 128-block / 256 KiB quarantine per heap (catches a
    /// double free after 100 further allocations of the same size), no junk fill.
    pub const DEFAULT: Harden = Harden {
        quarantine_blocks: 128,
        quarantine_bytes: 256 * 1024,
        junk: false,
    };
    /// `HEAPWISE_HARDEN=full`: the largest quarantine, 16 MiB per heap, junk fill checked
    /// on eviction (a write after free into a freed block's data).
    pub const FULL: Harden = Harden {
        quarantine_blocks: heapwise_core::QUARANTINE_MAX,
        quarantine_bytes: 16 << 20,
        junk: true,
    };
    /// No quarantine (`HEAPWISE_HARDEN=off`): the engine's checks only.
    pub const OFF: Harden = Harden {
        quarantine_blocks: 0,
        quarantine_bytes: 0,
        junk: false,
    };
}

/// Bytes of the two words [`read_before`] reads.
const TWO_WORDS: usize = 2 * core::mem::size_of::<usize>();

/// Reads the two words before `p` (`[p - 2w, p)`, `w` the word size: 16 bytes on 64-bit
/// targets, 8 on 32-bit ones) without faulting: `None` if they are not readable or not
/// aligned to their size.
pub fn read_before(p: *const u8) -> Option<[usize; 2]> {
    let a = (p as usize).checked_sub(TWO_WORDS)?;
    if a % TWO_WORDS != 0 {
        return None;
    }
    let mut out = [0usize; 2];
    let local = libc::iovec {
        iov_base: out.as_mut_ptr().cast(),
        iov_len: TWO_WORDS,
    };
    let remote = libc::iovec {
        iov_base: a as *mut libc::c_void,
        iov_len: TWO_WORDS,
    };
    let _e = sys::ErrnoGuard::new();
    // SAFETY: `local` describes our own two-word buffer; the kernel checks `remote` and
    // fails with EFAULT instead of faulting when it is not readable.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == TWO_WORDS as isize {
        return Some(out);
    }
    if n < 0 && sys::errno() == libc::EFAULT {
        return None;
    }
    // The call is refused here (seccomp, old kernel): ask whether the page is mapped.
    let page = sys::page_size();
    let mut v = 0u8;
    // SAFETY: `mincore` only inspects the mapping of the page and writes one byte to `v`.
    let rc = unsafe { libc::mincore((a & !(page - 1)) as *mut libc::c_void, 1, &mut v) };
    if rc != 0 {
        return None;
    }
    // SAFETY: `[a, a + 2w)` is aligned to its own size, which divides the page size, so it
    // lies in the page `mincore` found mapped; a PROT_NONE page would still fault, which
    // only happens for pointers no allocator ever returned.
    unsafe {
        Some([
            (a as *const usize).read(),
            (a as *const usize).add(1).read(),
        ])
    }
}

/// Fault injection for tests: the number of further OS memory requests (heap growth,
/// mappings) that may succeed; negative means no limit (the default).
static FAIL_AFTER: core::sync::atomic::AtomicIsize = core::sync::atomic::AtomicIsize::new(-1);

/// Test hook: after `n` more successful OS memory requests (heap growth through `sbrk` or a
/// region, any `mmap`), every further one fails as if the system were out of memory;
/// `n < 0` lifts the limit. `libheapwise.so` sets it from `HEAPWISE_FAIL_AFTER=N` and exports
/// it as `heapwise_test_fail_os(n)`.
pub fn fail_os_after(n: isize) {
    FAIL_AFTER.store(n, Ordering::Relaxed);
}

/// Whether an OS memory request may go ahead (see [`fail_os_after`]); counts it if so.
#[inline]
pub fn os_request_allowed() -> bool {
    let mut cur = FAIL_AFTER.load(Ordering::Relaxed);
    loop {
        if cur < 0 {
            return true;
        }
        if cur == 0 {
            return false;
        }
        match FAIL_AFTER.compare_exchange_weak(cur, cur - 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => cur = now,
        }
    }
}

const RING: usize = 64;
static FREED: [AtomicUsize; RING] = [const { AtomicUsize::new(0) }; RING];
static FREED_LEN: [AtomicUsize; RING] = [const { AtomicUsize::new(0) }; RING];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Records that the large block at `p` (of `len` mapped bytes) was released.
pub fn note_large_freed(p: *const u8, len: usize) {
    if let Some(s) = live_slot(p as usize) {
        let _ = s.compare_exchange(p as usize, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % RING;
    if let (Some(a), Some(l)) = (FREED.get(i), FREED_LEN.get(i)) {
        l.store(len, Ordering::Relaxed);
        a.store(p as usize, Ordering::Release);
    }
}

/// Direct-mapped set of live large payloads: a hit means `p` was handed out as a large
/// block and not released since, so its header can be read directly (no system call). A
/// collision only evicts another entry, whose checks then take the slow, fault-free path.
const LIVE_SLOTS: usize = 1024;
static LIVE: [AtomicUsize; LIVE_SLOTS] = [const { AtomicUsize::new(0) }; LIVE_SLOTS];

#[inline]
fn live_slot(p: usize) -> Option<&'static AtomicUsize> {
    // The top bits of a multiplicative hash of the page number (as many as the slots need,
    // on 32-bit targets too).
    let h = (p >> 12).wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as usize);
    LIVE.get((h >> (usize::BITS - LIVE_SLOTS.trailing_zeros())) & (LIVE_SLOTS - 1))
}

/// Under valgrind: the set of live large blocks becomes `NOACCESS`, so that memcheck's leak
/// check does not count its entries as references to the blocks (every access to it runs
/// with error reporting off, inside [`crate::front`]).
pub fn hide_from_valgrind() {
    crate::valgrind::make_noaccess(LIVE.as_ptr() as *const u8, core::mem::size_of_val(&LIVE));
}

/// Whether `p` is known to be a live large block (a direct-mapped set of 1024 slots).
#[inline]
pub fn known_large(p: *const u8) -> bool {
    live_slot(p as usize).is_some_and(|s| s.load(Ordering::Acquire) == p as usize)
}

/// Records that a large block was handed out at `p`.
pub fn note_large_allocated(p: *const u8) {
    if let Some(s) = live_slot(p as usize) {
        s.store(p as usize, Ordering::Release);
    }
    for a in &FREED {
        if a.load(Ordering::Relaxed) == p as usize {
            let _ = a.compare_exchange(p as usize, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }
}

/// The mapped length of the large block `p` if it was released recently (so a `free` of it
/// is a double free).
pub fn was_large_freed(p: *const u8) -> Option<usize> {
    FREED.iter().zip(FREED_LEN.iter()).find_map(|(a, l)| {
        (a.load(Ordering::Acquire) == p as usize && p as usize != 0)
            .then(|| l.load(Ordering::Relaxed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mapped_words_and_refuses_unmapped_ones() {
        #[repr(align(16))]
        struct Words([usize; 4]);
        let x = Words([1, 2, 3, 4]);
        let p = x.0.as_ptr().wrapping_add(2) as *const u8;
        assert_eq!(read_before(p), Some([1, 2]));
        // Two words not aligned to their size are refused.
        assert_eq!(read_before(p.wrapping_add(size_of::<usize>())), None);
        assert_eq!(read_before(16 as *const u8), None);
        assert_eq!(read_before(0x10_0000 as *const u8), None);
    }

    #[test]
    fn freed_large_blocks_are_remembered_until_reused() {
        let p = 0x7230_0010usize as *const u8;
        note_large_allocated(p);
        assert!(known_large(p));
        note_large_freed(p, 8192);
        assert!(!known_large(p));
        assert_eq!(was_large_freed(p), Some(8192));
        note_large_allocated(p);
        assert_eq!(was_large_freed(p), None);
    }
}
