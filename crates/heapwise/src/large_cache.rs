//! A small process-wide cache of freed large-block mappings, so that repeated large
//! alloc/free does not pay page faults every time (the job glibc's dynamic mmap threshold
//! does): a freed large block's mapping is kept, pages resident, and the next large request
//! reuses it (best fit; the front of a bigger range is handed out and the tail stays cached),
//! or grows the biggest range with `mremap` (which keeps the resident pages) when none is
//! big enough. Adjacent cached ranges are merged (coalescing).
//!
//! Bounds (the hysteresis): at most [`SLOTS`] mappings, none over [`MAX_ONE`] bytes, and
//! in total at most the caller's budget, clamped to [`MIN_BUDGET`]..=[`MAX_BUDGET`]: what
//! the program had mapped at its peak and no longer has, so that heaps plus live large
//! blocks plus cached mappings never exceed the footprint the program reached without the
//! cache. A mapping that does not fit evicts smaller cached ones, or is unmapped at once;
//! when the footprint grows later (a heap grows, a large block is mapped), [`shrink_to`]
//! cuts the cache back under the same bound, so the cache adds nothing to the peak RSS.
//! When the OS refuses memory (a mapping, a heap's growth, an `mremap`), [`or_release`]
//! gives the cached mappings back and tries once more. [`release`] unmaps everything (for
//! `malloc_trim`). Blocks served from the cache are not zero: `calloc` maps fresh memory
//! instead.
//!
//! The lock is also the *claim* lock of large blocks (`with_claim_lock`): [`free`] (and
//! `guard::free`, for the guarded blocks of `HEAPWISE_HARDEN=full`) checks a block's header, clears its tag and
//! records the release ([`crate::harden::note_large_freed`]) under it, before any memory
//! is unmapped or cached, so that of two `free`s of one block, racing or not, exactly one
//! passes and the other is reported as a double free.
//!
//! Invariants: every slot with `len != 0` is a page-aligned mapped range `[base, base + len)`
//! (one or more adjacent kernel mappings) owned by the cache and by nothing else, disjoint
//! from the other slots, with the large-block tag cleared (a second `free` of its
//! old payload is reported as a double free while the release is remembered, as an invalid
//! pointer afterwards); `total` is the sum of the slot lengths, and [`cached_bytes`]'s
//! mirror of it is updated with it; slots change only with the lock held; the lock is
//! registered for `fork`.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::fork;
use crate::large::{self, OFFSET};
use crate::lock::{FutexLock, LockGuard};
use crate::sys;

/// Most mappings kept.
pub const SLOTS: usize = 16;
/// Largest mapping kept.
pub const MAX_ONE: usize = 32 << 20;
/// Budget floor: none (the budget is what the program had mapped at its peak and no longer
/// has; a program that frees everything under memory pressure gets it back by
/// [`or_release`], which gives the cache back before a refused request gives up).
pub const MIN_BUDGET: usize = 0;
/// Budget ceiling.
pub const MAX_BUDGET: usize = 64 << 20;

struct Slots {
    base: [usize; SLOTS],
    len: [usize; SLOTS],
    total: usize,
}

impl Slots {
    /// Empties slot `i`; returns its range `(base, len)` (`len == 0`: it was empty).
    fn take(&mut self, i: usize) -> (usize, usize) {
        let r = (self.base[i], self.len[i]);
        self.base[i] = 0;
        self.len[i] = 0;
        self.total -= r.1;
        r
    }

    /// Cuts `cut <= len` bytes off the tail of slot `i`; returns the cut range.
    fn cut_tail(&mut self, i: usize, cut: usize) -> (usize, usize) {
        if cut == self.len[i] {
            return self.take(i);
        }
        self.len[i] -= cut;
        self.total -= cut;
        (self.base[i] + self.len[i], cut)
    }
}

/// Unmaps the non-empty ranges `(base, len)` of `ranges`; returns the bytes unmapped.
///
/// # Safety
/// Every non-empty range must be a page-aligned range of mappings that nobody owns any
/// more (taken out of the cache, or a freed block's).
unsafe fn unmap_ranges(ranges: &[(usize, usize)]) -> usize {
    let mut n = 0;
    for &(b, l) in ranges.iter().filter(|r| r.1 != 0) {
        // SAFETY: forwarded caller contract.
        unsafe { sys::unmap(b as *mut u8, l) };
        n += l;
    }
    n
}

struct Cache {
    lock: FutexLock,
    /// The lock's registration for `fork` (nothing is cached without it).
    reg: fork::Registration,
    slots: UnsafeCell<Slots>,
}

// SAFETY: `slots` is only accessed with `lock` held.
unsafe impl Sync for Cache {}

static CACHE: Cache = Cache {
    lock: FutexLock::new(),
    reg: fork::Registration::new(),
    slots: UnsafeCell::new(Slots {
        base: [0; SLOTS],
        len: [0; SLOTS],
        total: 0,
    }),
};

/// `Slots::total`, readable without the lock (written with it held).
static TOTAL: AtomicUsize = AtomicUsize::new(0);

fn with<R>(f: impl FnOnce(&mut Slots) -> R) -> R {
    let _g = LockGuard::new(&CACHE.lock);
    // SAFETY: the lock is held: the only reference.
    let s = unsafe { &mut *CACHE.slots.get() };
    let r = f(s);
    TOTAL.store(s.total, Ordering::Relaxed);
    r
}

/// Registers the lock for `fork` unless that is done (see [`fork::Registration`]);
/// `false` if that is impossible (then nothing is cached). Called with no heap lock held.
fn ready() -> bool {
    CACHE.reg.ensure(&CACHE.lock, fork::RANK_HEAP + 1)
}

/// Remainders smaller than this are handed out with the block rather than kept.
pub const SPLIT_MIN: usize = 64 * 1024;

/// A large block of at least `size` bytes (alignment 16) from a cached mapping, or `None`.
/// The payload is not zeroed.
///
/// The slot a request of `need` bytes takes, given the slots' lengths (0: empty): the first
/// of the smallest ranges that fit, else the last of the biggest (to be grown); `None` when
/// the cache is empty. (A plain loop: iterator adaptors left a function of `core` outside
/// the hot code group.)
#[inline(always)]
fn pick(len: &[usize; SLOTS], need: usize) -> Option<usize> {
    let (mut fit, mut biggest) = (None::<usize>, None::<usize>);
    for (i, &l) in len.iter().enumerate() {
        if l >= need && fit.is_none_or(|f| l < len[f]) {
            fit = Some(i);
        }
        if l != 0 && biggest.is_none_or(|b| l >= len[b]) {
            biggest = Some(i);
        }
    }
    fit.or(biggest)
}

/// Best fit: the smallest cached range that is big enough; its front is handed out and a
/// remainder of [`SPLIT_MIN`] bytes or more stays cached (its pages stay resident for the
/// next request). When no range is big enough, the biggest is grown with `mremap`, which
/// keeps its resident pages.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn alloc(size: usize) -> Option<NonNull<u8>> {
    // A size no large block may have (`large::alloc` refuses it too): never grown to.
    if size > large::MAX_LARGE || !CACHE.reg.is_done() {
        return None;
    }
    let need = sys::round_up(size.checked_add(OFFSET)?, sys::page_size())?;
    let (base, len, split) = with(|s| {
        let i = pick(&s.len, need)?;
        let r = (s.base[i], s.len[i]);
        if r.1 >= need && r.1 - need >= SPLIT_MIN {
            // Split: the front is handed out, the tail stays in the slot.
            s.base[i] += need;
            s.len[i] -= need;
            s.total -= need;
            return Some((r.0, need, true));
        }
        let (b, l) = s.take(i);
        Some((b, l, false))
    })?;
    let (base, len) = if split || len >= need {
        (base, len) // used whole: its pages are resident, the tail is usable slack
    } else {
        // SAFETY: `[base, base + len)` is a range we own; `mremap` refuses (and we unmap
        // it) when it spans more than one kernel mapping.
        match unsafe { sys::remap(base as *mut u8, len, need) } {
            Some(b) => (b.as_ptr() as usize, need),
            None => {
                // SAFETY: as above; nobody else has it.
                unsafe { sys::unmap(base as *mut u8, len) };
                return None;
            }
        }
    };
    let p = (base + OFFSET) as *mut u8;
    // SAFETY: `[base, base + len)` is ours; the header words precede `p` in it.
    unsafe { large::write_header(p, OFFSET, len) };
    NonNull::new(p)
}

/// Runs `f` with the lock held (when it is registered for `fork`; else without): the
/// claim lock of large and guarded blocks, under which a `free` checks a block's header,
/// clears its tag and records the release before any memory is released, so that of two
/// `free`s of one block exactly one passes. The headers read under it of blocks whose
/// release another thread recorded are read without faulting (they are no longer known as
/// live). Called with no heap lock held; `f` must not lock or allocate.
pub(crate) fn with_claim_lock<R>(f: impl FnOnce() -> R) -> R {
    if ready() {
        let _g = LockGuard::new(&CACHE.lock);
        f()
    } else {
        f()
    }
}

/// Claims the large block at `p` for release, under [`with_claim_lock`]: checks its header,
/// clears its tag and records the release ([`crate::harden::note_large_freed`]).
/// `(offset, mapped length)`, or `None` if `p` is no live large block (any more: a second
/// `free` of `p` finds no header, and the release recorded).
///
/// # Safety
/// `p` must have 16 readable bytes before it, or be no block at all (a misuse that
/// `large::header` detects without reading unmapped memory).
unsafe fn claim_locked(p: *mut u8) -> Option<(usize, usize)> {
    // SAFETY: forwarded caller contract.
    let (offset, len) = unsafe { large::header(p)? };
    // SAFETY: the tag word is inside the live mapping; clearing it makes a second free of
    // `p` fail the header check.
    unsafe { (p as *mut usize).sub(1).write(0) };
    crate::harden::note_large_freed(p, len);
    Some((offset, len))
}

/// Releases the large block at `p`: claims it (`claim_locked`), then takes its mapping into the
/// cache or unmaps it. Returns the bytes the block had mapped, or `None` if `p` is no live
/// large block (nothing done). `budget(len)` is how many bytes the cache may hold once the
/// block of `len` mapped bytes is freed (see the module doc); it is called with the lock
/// held and must not allocate or lock.
///
/// A range adjacent to a cached one is merged with it (coalescing, so that split ranges
/// grow back whole). When the result does not fit, smaller cached ranges are evicted
/// (unmapped) to make room, or it is unmapped at once.
///
/// # Safety
/// As `claim_locked`; a claimed `p` is dangling afterwards.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe fn free(p: *mut u8, budget: impl FnOnce(usize) -> usize) -> Option<usize> {
    if !ready() {
        // SAFETY: forwarded caller contract.
        let (offset, len) = unsafe { claim_locked(p)? };
        // SAFETY: the whole mapping of the block just claimed.
        unsafe { sys::unmap(p.sub(offset), len) };
        return Some(len);
    }
    let mut evicted = [(0usize, 0usize); SLOTS + 1];
    let freed = with(|s| {
        // SAFETY: forwarded caller contract; the lock is held.
        let (offset, len) = unsafe { claim_locked(p)? };
        let (mut base, mut merged) = (p as usize - offset, len);
        if offset != OFFSET || len > MAX_ONE {
            evicted[SLOTS] = (base, len);
            return Some(len);
        }
        let budget = budget(len).clamp(MIN_BUDGET, MAX_BUDGET);
        // Coalesce with the cached neighbours.
        for i in 0..SLOTS {
            let (b, l) = (s.base[i], s.len[i]);
            if l != 0 && (b + l == base || base + merged == b) && merged + l <= MAX_ONE {
                base = base.min(b);
                merged += l;
                s.take(i);
            }
        }
        // Evict the smallest ranges smaller than this one until it fits.
        loop {
            let free_slot = s.len.contains(&0);
            if merged <= budget && free_slot && s.total + merged <= budget {
                break;
            }
            let victim = (0..SLOTS)
                .filter(|&i| s.len[i] != 0 && s.len[i] < merged)
                .min_by_key(|&i| s.len[i]);
            match victim {
                Some(i) => evicted[i] = s.take(i),
                None => {
                    evicted[SLOTS] = (base, merged);
                    return Some(len);
                }
            }
        }
        if let Some(i) = s.len.iter().position(|&l| l == 0) {
            s.base[i] = base;
            s.len[i] = merged;
            s.total += merged;
        }
        Some(len)
    });
    // SAFETY: whole ranges the cache owned (or the freed block's, merged with cached
    // neighbours), now owned by nobody.
    unsafe { unmap_ranges(&evicted) };
    freed
}

/// Unmaps every cached mapping; returns the bytes released. (Nothing is cached before
/// the lock is registered for `fork`, and the lock is not taken before either.)
pub fn release() -> usize {
    if !CACHE.reg.is_done() {
        return 0;
    }
    let mut out = [(0usize, 0usize); SLOTS];
    with(|s| {
        for (i, o) in out.iter_mut().enumerate() {
            *o = s.take(i);
        }
    });
    // SAFETY: whole mappings the cache owned, now removed from it.
    unsafe { unmap_ranges(&out) }
}

/// `f()`, or, when it fails (the OS refused memory) and the cache held mappings, `f()`
/// once more after [`release`] gave them back. Memory the cache keeps for speed must never
/// make a request fail that the process could serve without it. Callable with a heap lock
/// held (the cache's lock ranks after the heaps').
#[inline]
pub fn or_release<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    f().or_else(|| if release() > 0 { f() } else { None })
}

/// Unmaps cached memory until at most `max_total` bytes stay cached (the tail of one range
/// when that is enough, else the smallest ranges first, so that the big ranges that save
/// the most page faults stay); returns the bytes released. Called when the footprint grew,
/// with `max_total` what the bound of the module doc leaves; one load when nothing needs
/// to go. Callable with a heap lock held.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn shrink_to(max_total: usize) -> usize {
    if TOTAL.load(Ordering::Relaxed) <= max_total || !CACHE.reg.is_done() {
        return 0;
    }
    let mut out = [(0usize, 0usize); SLOTS];
    with(|s| {
        let page = sys::page_size();
        while s.total > max_total {
            let excess = sys::round_up(s.total - max_total, page).unwrap_or(usize::MAX);
            // The smallest range that alone covers the excess loses its tail; else the
            // smallest range goes whole.
            let fit = shortest(&s.len, |l| l > excess);
            let Some(i) = fit.or_else(|| shortest(&s.len, |l| l != 0)) else {
                break;
            };
            out[i] = s.cut_tail(i, excess.min(s.len[i]));
        }
    });
    // SAFETY: page-aligned tails (or wholes) of ranges the cache owned, now removed from it.
    unsafe { unmap_ranges(&out) }
}

/// The first of the shortest ranges whose length passes `keep`. A plain loop, always
/// inlined: `Iterator::min_by_key` stayed a function of its own, outside the hot code group.
#[inline(always)]
fn shortest(len: &[usize; SLOTS], keep: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &l) in len.iter().enumerate() {
        if keep(l) && best.is_none_or(|b| len.get(b).is_some_and(|&m| l < m)) {
            best = Some(i);
        }
    }
    best
}

/// Bytes held in cached mappings (lock-free; 0 before anything was cached).
pub fn cached_bytes() -> usize {
    TOTAL.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::{pick, SLOTS};

    fn slots(lens: &[usize]) -> [usize; SLOTS] {
        let mut s = [0; SLOTS];
        s[..lens.len()].copy_from_slice(lens);
        s
    }

    #[test]
    fn the_first_smallest_fit_else_the_last_biggest() {
        const K: usize = 4096;
        let s = slots(&[8 * K, 0, 3 * K, 5 * K, 3 * K, 2 * K]);
        assert_eq!(pick(&s, 3 * K), Some(2), "smallest fit, first of two");
        assert_eq!(pick(&s, 4 * K), Some(3));
        assert_eq!(pick(&s, 8 * K), Some(0), "exact fit");
        assert_eq!(pick(&s, K), Some(5));
        // Nothing fits: the biggest, to be grown; the last of equals.
        assert_eq!(pick(&s, 9 * K), Some(0));
        assert_eq!(pick(&slots(&[2 * K, 0, 2 * K]), 3 * K), Some(2));
        assert_eq!(pick(&[0; SLOTS], K), None, "empty cache");
    }
}
