//! [`Sbrk`]: the heap at the process's program break, grown with the real `sbrk(2)`.
//!
//! This is the seed's heap exactly: it follows `.bss`, grows from low to high addresses, and
//! the kernel keeps its top (`brk`). The source is meant for the process malloc (the preload
//! library), which owns the break. To survive a break that someone else moves (another
//! allocator, a direct `brk` call), it remembers where it last left the kernel's break and
//! refuses to grow when the break is no longer there; the caller then falls back to an
//! [`MmapRegion`](crate::MmapRegion).
//!
//! Invariants: `start <= brk <= os_brk`; `start` is 16-byte aligned; `[start, os_brk)` is
//! ours and readable/writable; `[brk, os_brk)` has never been handed out and is zero (the
//! kernel gives demand-zero pages, and the stale tail of the first page is cleared at
//! creation); the source never shrinks the break.

use core::ptr::NonNull;

use heapwise_core::block::ALIGN;
use heapwise_core::Source;

use crate::sys::{self, ErrnoGuard};

/// Bytes the kernel break is moved by at least, to keep `sbrk` calls rare.
pub const SBRK_STEP: usize = 128 * 1024;

/// The largest single growth accepted (keeps every address computation far from overflow).
const MAX_GROWTH: usize = isize::MAX as usize / 4;

/// A heap at the program break.
///
/// ```
/// use heapwise::Sbrk;
/// use heapwise_core::{Heap, Segregated};
///
/// // None when the break cannot move (musl, a tight RLIMIT_DATA, ...).
/// if let Some(src) = Sbrk::new() {
///     let mut heap: Heap<_, Segregated> = Heap::new(src);
///     if let Some(p) = heap.malloc(100) {
///         unsafe { heap.free(p.as_ptr()) };
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Sbrk {
    start: NonNull<u8>,
    brk: usize,
    os_brk: usize,
    step: usize,
    refusals: usize,
}

// SAFETY: the source owns `[start, os_brk)`; moving it to another thread moves that
// ownership (the kernel break is per process, not per thread).
unsafe impl Send for Sbrk {}

fn current_break() -> Option<usize> {
    let _e = ErrnoGuard::new();
    // SAFETY: sbrk(0) only reads the current break.
    let p = unsafe { libc::sbrk(0) };
    if p as isize == -1 {
        None
    } else {
        Some(p as usize)
    }
}

/// Moves the break by `incr` bytes; returns the old break.
fn move_break(incr: usize) -> Option<usize> {
    let _e = ErrnoGuard::new();
    let incr = isize::try_from(incr).ok()?;
    // SAFETY: growing the break maps fresh memory above it; nothing of ours lives there.
    let p = unsafe { libc::sbrk(incr as libc::intptr_t) };
    if p as isize == -1 {
        None
    } else {
        Some(p as usize)
    }
}

impl Sbrk {
    /// Takes the current program break as the heap start (aligned up to 16 bytes) and moves
    /// the break by a first step. `None` if the break cannot be read or moved at all (musl's
    /// `sbrk` refuses every move; so may a seccomp filter, a tight `RLIMIT_DATA` or a
    /// mapping just above the break).
    pub fn new() -> Option<Sbrk> {
        Self::with_step(SBRK_STEP)
    }

    /// As [`Sbrk::new`], moving the kernel break by at least `step` bytes at a time
    /// (rounded to pages).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn with_step(step: usize) -> Option<Sbrk> {
        let page = sys::page_size();
        let step = sys::round_up(step.max(page), page)?;
        let cur = current_break()?;
        let pad = cur.wrapping_neg() & (ALIGN - 1);
        if pad != 0 {
            let old = move_break(pad)?;
            if old != cur {
                return None;
            }
        }
        let start = cur + pad;
        // The bytes between the break and the end of its page may be mapped and hold stale
        // data from a break that was moved up and down before us; `grow_os` clears them when
        // it first moves the break past them.
        let mut s = Sbrk {
            // SAFETY: the break is never null.
            start: unsafe { NonNull::new_unchecked(start as *mut u8) },
            brk: start,
            os_brk: start,
            step,
            refusals: 0,
        };
        // The first step now: a break that cannot move gives no source rather than a heap
        // that can never grow.
        s.grow_os(start + 1).then_some(s)
    }

    /// Growth requests refused so far (break moved by someone else, or the kernel said no).
    pub fn refusals(&self) -> usize {
        self.refusals
    }

    /// Bytes the kernel break is ahead of the heap's `brk` (reserved, still zero).
    pub fn slack(&self) -> usize {
        self.os_brk - self.brk
    }

    #[cold]
    fn refuse(&mut self) -> Option<NonNull<u8>> {
        self.refusals += 1;
        None
    }

    /// Moves the kernel break up so that `os_brk >= new_top`.
    #[cold]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn grow_os(&mut self, new_top: usize) -> bool {
        if current_break() != Some(self.os_brk) {
            return false; // someone else moved the break: it is not ours any more
        }
        let need = new_top - self.os_brk;
        let page = sys::page_size();
        let want = match sys::round_up(need.max(self.step), page) {
            Some(w) => w,
            None => return false,
        };
        let got = match move_break(want) {
            Some(old) if old == self.os_brk => want,
            Some(_) => return false,
            None => match move_break(need) {
                Some(old) if old == self.os_brk => need,
                _ => return false,
            },
        };
        // The tail of the page the old break was in may hold stale bytes (see `with_step`).
        let dirty_end = sys::round_up(self.os_brk, page)
            .unwrap_or(self.os_brk)
            .min(self.os_brk + got);
        // SAFETY: `[os_brk, os_brk + got)` was just added to our heap and is writable.
        unsafe { core::ptr::write_bytes(self.os_brk as *mut u8, 0, dirty_end - self.os_brk) };
        self.os_brk += got;
        true
    }
}

// SAFETY: `sbrk` hands out `[brk, brk + incr)` only after the kernel break covers it and
// only when the break was still where this source left it; the start is 16-aligned; the
// range was never handed out before and is zero (demand-zero pages, stale tail cleared).
unsafe impl Source for Sbrk {
    #[inline]
    fn start(&self) -> NonNull<u8> {
        self.start
    }
    #[inline]
    fn brk(&self) -> NonNull<u8> {
        // SAFETY: `brk >= start`, which is non-null.
        unsafe { NonNull::new_unchecked(self.brk as *mut u8) }
    }
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn sbrk(&mut self, incr: usize) -> Option<NonNull<u8>> {
        if incr > MAX_GROWTH || incr % ALIGN != 0 {
            return self.refuse();
        }
        let Some(new_top) = self.brk.checked_add(incr) else {
            return self.refuse();
        };
        if new_top > self.os_brk && !self.grow_os(new_top) {
            return self.refuse();
        }
        let old = self.brk();
        self.brk = new_top;
        Some(old)
    }
    fn fresh_is_zeroed(&self) -> bool {
        true
    }
}
