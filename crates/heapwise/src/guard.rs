//! Guarded large blocks (`HEAPWISE_HARDEN=full`): a large block gets a mapping of its own
//! with a `PROT_NONE` guard page on each side, and its payload ends as close to the back
//! guard page as its alignment allows, so an overflow faults (SIGSEGV) at the offending
//! access instead of corrupting memory.
//!
//! ```text
//!  base          base + page                                   end            end + page
//!  | guard page  | ... | n | check | offset | len|0b111 | payload (n) | slack | guard page |
//!  '- PROT_NONE -'          header: 4 words before p        p        < align  '- PROT_NONE -'
//! ```
//!
//! The slack between `p + n` and the back guard page (less than the alignment, 15 bytes at
//! most for ordinary requests) is filled with canary bytes checked at `free`. An underflow
//! first overwrites the header, whose keyed check word is verified at `free`; a run below
//! the mapping's writable part faults on the front guard page.
//!
//! A freed guarded block is not unmapped at once: its pages are discarded and the whole
//! mapping made `PROT_NONE`, and the last [`RETIRED`] such mappings are kept, so a use after
//! free of a large block faults too (and a second `free` of it finds no header and is
//! reported as a double free through [`crate::harden::was_large_freed`]).
//!
//! Invariants: the length word's low bits are `0b111`, which no large block
//! ([`crate::large::TAG`] is `0b101`) and no heap header of a pointer outside every heap
//! carries; the header is read without faulting; guarded blocks live outside every heap and
//! are handled only by [`crate::front`].

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use heapwise_core::block::ALIGN;

use crate::canary::{self, Overflow};
use crate::{harden, large, sys};

/// Low bits of the length word of a guarded block.
pub const GUARD_TAG: usize = 0b111;

/// Header bytes before the payload: requested size, check word, offset, length.
const HEADER: usize = 4 * core::mem::size_of::<usize>();

/// Freed guarded mappings kept inaccessible before they are unmapped.
pub const RETIRED: usize = 16;

static RETIRED_BASE: [AtomicUsize; RETIRED] = [const { AtomicUsize::new(0) }; RETIRED];
static RETIRED_LEN: [AtomicUsize; RETIRED] = [const { AtomicUsize::new(0) }; RETIRED];
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Held (briefly, never waited for) while a slot of the ring is replaced, so that a base and
/// its length always go together.
static RING_BUSY: AtomicBool = AtomicBool::new(false);

fn check_word(p: usize, n: usize, offset: usize, len: usize) -> usize {
    canary::key(p as *const u8) ^ n ^ offset.rotate_left(19) ^ len.rotate_left(37)
}

/// Maps a guarded block of `n` bytes aligned to `align` (a power of two). The payload is
/// zero. Returns it with the bytes of its mapping the program can reach (the mapping less
/// its two guard pages: what the block adds to the footprint). `None` if the size is
/// impossible or the kernel refuses.
pub fn alloc(n: usize, align: usize) -> Option<(NonNull<u8>, usize)> {
    let page = sys::page_size();
    let align = align.max(ALIGN);
    if n > large::MAX_LARGE || align > large::MAX_LARGE {
        return None;
    }
    let rw = sys::round_up(n.checked_add(HEADER + align)?, page)?;
    let len = rw.checked_add(2 * page)?;
    let base = sys::map_anon(len, libc::PROT_NONE, 0)?.as_ptr();
    // SAFETY: `[base + page, base + page + rw)` lies inside the fresh mapping.
    if !unsafe {
        sys::protect(
            base.wrapping_add(page),
            rw,
            libc::PROT_READ | libc::PROT_WRITE,
        )
    } {
        // SAFETY: the whole fresh mapping, used by nobody.
        unsafe { sys::unmap(base, len) };
        return None;
    }
    let b = base as usize;
    let end = b + page + rw;
    let p = (end - n) & !(align - 1);
    let offset = p - b;
    // SAFETY: `p - HEADER >= base + page` (rw holds n + HEADER + align bytes), so the header
    // and `[p, end)` are writable bytes of the mapping.
    unsafe {
        let w = (p as *mut usize).sub(4);
        w.write(n);
        w.add(1).write(check_word(p, n, offset, len));
        w.add(2).write(offset);
        w.add(3).write(len | GUARD_TAG);
        let slack = end - (p + n);
        core::ptr::write_bytes((p + n) as *mut u8, slack_byte(p), slack);
    }
    harden::note_large_allocated(p as *const u8);
    NonNull::new(p as *mut u8).map(|p| (p, rw))
}

fn slack_byte(p: usize) -> u8 {
    (check_word(p, 0, 0, 0) >> 8) as u8 | 1
}

/// `(n, offset, len)` of the guarded block at `p`, if the four words before it are readable
/// and form its header. `Err(())` when they carry the guard tag but do not check out (an
/// underflow overwrote the header).
pub fn header(p: *const u8) -> Option<Result<(usize, usize, usize), ()>> {
    let a = p as usize;
    if a % ALIGN != 0 || a < HEADER {
        return None;
    }
    let [offset, word] = harden::read_before(p)?;
    if word & GUARD_TAG != GUARD_TAG {
        return None;
    }
    let [n, chk] = harden::read_before(p.wrapping_sub(2 * core::mem::size_of::<usize>()))?;
    let len = word & !GUARD_TAG;
    let page = sys::page_size();
    let base = a.wrapping_sub(offset);
    let sane = len % page == 0
        && base % page == 0
        && offset < len
        && n <= len - offset
        && chk == check_word(a, n, offset, len);
    Some(if sane { Ok((n, offset, len)) } else { Err(()) })
}

/// Checks the guarded block at `p` (header and slack canaries) and retires its mapping;
/// returns the bytes [`alloc`] counted for it. The block is claimed first, under the large blocks' claim lock
/// (`large_cache::with_claim_lock`): its header checked, its tag cleared and its
/// release recorded before its pages are released, so that of two `free`s of `p`, racing
/// or not, one passes and the other finds [`FreeError::Gone`] (and the release recorded,
/// so the engine's path names the double free).
///
/// # Safety
/// `p` must be a guarded block (`header(p)` returned `Some(..)`), live or released by
/// another `free`; it is dangling afterwards.
pub unsafe fn free(p: *mut u8) -> Result<usize, FreeError> {
    let (n, offset, len) = crate::large_cache::with_claim_lock(|| match header(p) {
        None => Err(FreeError::Gone),
        Some(Err(())) => Err(FreeError::Corrupt),
        Some(Ok((n, offset, len))) => {
            // SAFETY: the tag word of a live guarded block (its header was readable just
            // now, and only a holder of this lock releases it); clearing it makes a second
            // `free` of `p` find no header.
            unsafe { (p as *mut usize).sub(1).write(0) };
            harden::note_large_freed(p, len);
            Ok((n, offset, len))
        }
    })?;
    let page = sys::page_size();
    let base = (p as usize - offset) as *mut u8;
    let end = base as usize + len - page;
    let c = slack_byte(p as usize);
    // SAFETY: `[p + n, end)` is the writable slack of the block we claimed.
    let slack = unsafe { core::slice::from_raw_parts(p.add(n), end - (p as usize + n)) };
    if slack.iter().any(|&b| b != c) {
        return Err(FreeError::Overflow(Overflow(n)));
    }
    // SAFETY: the whole mapping of the block, which nobody may use any more (its header
    // was cleared when it was claimed, so the address never passes as a live block again).
    unsafe {
        sys::discard(base, len);
        sys::protect(base, len, libc::PROT_NONE);
    }
    let (old, old_len) = retire(base as usize, len);
    if old != 0 {
        // SAFETY: a retired mapping (or this one, when the ring was busy), inaccessible and
        // owned by nobody.
        unsafe { sys::unmap(old as *mut u8, old_len) };
    }
    // (The bytes `alloc` counted: the mapping less its guard pages.)
    Ok(len - 2 * page)
}

/// Why [`free`] refused a guarded block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The slack after the requested size was overwritten (the block is released: its
    /// claim happened first).
    Overflow(Overflow),
    /// The header carries the guard tag but does not check out (an underflow).
    Corrupt,
    /// No guarded header any more: another `free` released the block.
    Gone,
}

/// Puts the mapping `[base, base + len)` in the ring of retired mappings and returns the
/// one it displaces (`(0, 0)` if none), or the mapping itself when another thread holds the
/// ring (then it is unmapped at once: never a wrong pair, never a wait).
fn retire(base: usize, len: usize) -> (usize, usize) {
    if RING_BUSY
        .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        return (base, len);
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed) % RETIRED;
    let old = match (RETIRED_BASE.get(i), RETIRED_LEN.get(i)) {
        (Some(sb), Some(sl)) => {
            let old = (sb.load(Ordering::Relaxed), sl.load(Ordering::Relaxed));
            sb.store(base, Ordering::Relaxed);
            sl.store(len, Ordering::Relaxed);
            old
        }
        _ => (base, len),
    };
    RING_BUSY.store(false, Ordering::Release);
    old
}

/// The requested size of the guarded block at `p` (`None` if it is not one).
pub fn requested(p: *const u8) -> Option<Result<usize, ()>> {
    header(p).map(|r| r.map(|(n, _, _)| n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_ends_at_the_guard_page() {
        let _secret = crate::canary::SECRET_USE
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let page = sys::page_size();
        for (n, align) in [(300_000, 16), (4096 * 3, 16), (1000, 64), (5000, 4096)] {
            let (p, bytes) = alloc(n, align).expect("mapped");
            assert!(
                bytes >= n && bytes % page == 0,
                "{bytes} reachable bytes for {n}"
            );
            let a = p.as_ptr() as usize;
            assert_eq!(a % align, 0);
            assert_eq!(requested(p.as_ptr()), Some(Ok(n)));
            let end = (a + n).next_multiple_of(page);
            assert!(end - (a + n) < align.max(16));
            // SAFETY: `[p, p + n)` is the live payload.
            unsafe {
                core::ptr::write_bytes(p.as_ptr(), 0x5a, n);
                assert_eq!(
                    free(p.as_ptr()),
                    Ok(bytes),
                    "free gives back what alloc counted"
                );
            }
            assert!(harden::was_large_freed(p.as_ptr()).is_some());
            assert_eq!(requested(p.as_ptr()), None, "retired: unreadable");
        }
    }

    #[test]
    fn an_overflow_into_the_slack_is_found_at_free() {
        let _secret = crate::canary::SECRET_USE
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let (p, _) = alloc(300_001, 16).expect("mapped");
        // SAFETY: byte 300_001 is slack inside the writable part (15 bytes remain).
        unsafe {
            *p.as_ptr().add(300_001) = 0;
            assert_eq!(
                free(p.as_ptr()),
                Err(FreeError::Overflow(Overflow(300_001)))
            );
        }
    }
}
