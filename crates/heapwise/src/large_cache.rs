//! A small process-wide cache of freed large-block mappings, so that repeated large
//! alloc/free does not pay page faults every time (the job glibc's dynamic mmap threshold
//! does): a freed large block's mapping is kept, pages resident, and the next large request
//! reuses it: whole when it is up to 4 times bigger than needed (its resident pages are the
//! point), trimmed with `munmap` of its tail when it is bigger still, grown with `mremap`
//! (which keeps the resident pages) when it is smaller.
//!
//! Bounds (the hysteresis): at most [`SLOTS`] mappings, none over [`MAX_ONE`] bytes, and
//! in total at most the caller's budget (the live large bytes, clamped to
//! [`MIN_BUDGET`]..=[`MAX_BUDGET`]); a mapping that does not fit is unmapped at once.
//! [`release`] unmaps everything (for `malloc_trim`). Blocks served from the cache are not
//! zero: `calloc` maps fresh memory instead.
//!
//! Invariants: every slot with `len != 0` is a whole mapping `[base, base + len)` owned by
//! the cache and by nothing else, with the large-block tag cleared (a second `free` of its
//! old payload is reported as an invalid pointer); `total` is the sum of the slot lengths;
//! slots change only with the lock held; the lock is registered for `fork`.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::fork;
use crate::large::{self, HEADER};
use crate::lock::{FutexLock, LockGuard};
use crate::sys;

/// Most mappings kept.
pub const SLOTS: usize = 8;
/// Largest mapping kept.
pub const MAX_ONE: usize = 32 << 20;
/// Budget floor: none, so the cache never holds more than the program has live in large
/// blocks (a program that frees everything under memory pressure gets it all back).
pub const MIN_BUDGET: usize = 0;
/// Budget ceiling.
pub const MAX_BUDGET: usize = 64 << 20;

struct Slots {
    base: [usize; SLOTS],
    len: [usize; SLOTS],
    total: usize,
}

struct Cache {
    lock: FutexLock,
    /// 0: lock not registered for fork, 1: registering, 2: registered, 3: failed (no cache).
    reg: AtomicU8,
    slots: UnsafeCell<Slots>,
}

// SAFETY: `slots` is only accessed with `lock` held.
unsafe impl Sync for Cache {}

static CACHE: Cache = Cache {
    lock: FutexLock::new(),
    reg: AtomicU8::new(0),
    slots: UnsafeCell::new(Slots {
        base: [0; SLOTS],
        len: [0; SLOTS],
        total: 0,
    }),
};

fn with<R>(f: impl FnOnce(&mut Slots) -> R) -> R {
    let _g = LockGuard::new(&CACHE.lock);
    // SAFETY: the lock is held: the only reference.
    f(unsafe { &mut *CACHE.slots.get() })
}

/// Registers the lock for `fork` (once); `false` if that is impossible (then nothing is
/// cached). Called with no allocator lock held.
fn ready() -> bool {
    match CACHE
        .reg
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            let ok = fork::register(&CACHE.lock, fork::RANK_HEAP + 1);
            CACHE.reg.store(if ok { 2 } else { 3 }, Ordering::Release);
            ok
        }
        Err(s) => s == 2,
    }
}

/// A large block of at least `size` bytes (alignment 16) from a cached mapping, or `None`.
/// The payload is not zeroed.
pub fn alloc(size: usize) -> Option<NonNull<u8>> {
    if CACHE.reg.load(Ordering::Acquire) != 2 {
        return None;
    }
    let need = sys::round_up(size.checked_add(HEADER)?, sys::page_size())?;
    let (base, len) = with(|s| {
        // Smallest mapping that is big enough, else the biggest one (grown below).
        let mut pick: Option<usize> = None;
        for i in 0..SLOTS {
            let l = s.len[i];
            if l == 0 {
                continue;
            }
            pick = match pick {
                None => Some(i),
                Some(j) => {
                    let lj = s.len[j];
                    let better = if l >= need {
                        lj < need || l < lj
                    } else {
                        lj < need && l > lj
                    };
                    Some(if better { i } else { j })
                }
            };
        }
        let i = pick?;
        let r = (s.base[i], s.len[i]);
        s.len[i] = 0;
        s.base[i] = 0;
        s.total -= r.1;
        Some(r)
    })?;
    let (base, need) = if len >= need {
        if len / 4 > need {
            // Far too big: give the tail back rather than hold it for this block.
            // SAFETY: `[base + need, base + len)` is the tail of a mapping the cache owned
            // and now hands out; nothing uses it.
            unsafe { sys::unmap((base + need) as *mut u8, len - need) };
            (base, need)
        } else {
            (base, len) // used whole: its pages are resident, the tail is usable slack
        }
    } else {
        // SAFETY: `[base, base + len)` is a whole mapping we own.
        match unsafe { sys::remap(base as *mut u8, len, need) } {
            Some(b) => (b.as_ptr() as usize, need),
            None => {
                // SAFETY: as above; nobody else has it.
                unsafe { sys::unmap(base as *mut u8, len) };
                return None;
            }
        }
    };
    let p = (base + HEADER) as *mut u8;
    // SAFETY: `[base, base + need)` is our mapping; the header words precede `p` in it.
    unsafe { large::write_header(p, HEADER, need) };
    NonNull::new(p)
}

/// Takes the large block at `p` (a live large block, already validated by the caller's
/// accounting) into the cache, or unmaps it. Returns the bytes the block had mapped, or
/// `None` if `p` is not a large block (nothing done). `budget` is the live large bytes.
///
/// # Safety
/// As [`large::free`].
pub unsafe fn free(p: *mut u8, budget: usize) -> Option<usize> {
    // SAFETY: forwarded caller contract.
    let (offset, len) = unsafe { large::header(p)? };
    if offset != HEADER || len > MAX_ONE || !ready() {
        // SAFETY: forwarded caller contract.
        return unsafe { large::free(p) };
    }
    let budget = budget.clamp(MIN_BUDGET, MAX_BUDGET);
    let base = p as usize - HEADER;
    // SAFETY: the tag word is inside the live mapping; clearing it makes a second free of
    // `p` fail the header check.
    unsafe { (p as *mut usize).sub(1).write(0) };
    let kept = with(|s| {
        if s.total + len > budget {
            return false;
        }
        match s.len.iter().position(|&l| l == 0) {
            Some(i) => {
                s.base[i] = base;
                s.len[i] = len;
                s.total += len;
                true
            }
            None => false,
        }
    });
    if !kept {
        // SAFETY: the whole mapping of a block being freed.
        unsafe { sys::unmap(base as *mut u8, len) };
    }
    Some(len)
}

/// Unmaps every cached mapping; returns the bytes released.
pub fn release() -> usize {
    let mut out = [(0usize, 0usize); SLOTS];
    with(|s| {
        for (i, o) in out.iter_mut().enumerate() {
            *o = (s.base[i], s.len[i]);
            s.base[i] = 0;
            s.len[i] = 0;
        }
        s.total = 0;
    });
    let mut n = 0;
    for (b, l) in out {
        if l != 0 {
            // SAFETY: a whole mapping the cache owned, now removed from it.
            unsafe { sys::unmap(b as *mut u8, l) };
            n += l;
        }
    }
    n
}

/// Bytes held in cached mappings.
pub fn cached_bytes() -> usize {
    with(|s| s.total)
}

/// Ceiling of the dynamic large-block threshold.
pub const MAX_THRESHOLD: usize = 32 << 20;

/// glibc's dynamic mmap threshold: a freed large block of `len` mapped bytes (up to
/// [`MAX_THRESHOLD`]) shows that the program uses blocks of that size repeatedly, so from
/// now on requests up to that size are served by the heaps, whose freed blocks are reused
/// with their pages resident, instead of paying a fresh mapping's page faults every time.
pub fn raise_threshold(threshold: &AtomicUsize, len: usize) {
    if len <= MAX_THRESHOLD && len > threshold.load(Ordering::Relaxed) {
        threshold.fetch_max(len, Ordering::Relaxed);
    }
}
