//! [`Global`]: the process-wide allocator state of the OS faces: [`ARENAS`] arenas of engine
//! heaps, each behind its own lock, large blocks from `mmap` beside them, and the accounting
//! behind [`GlobalStats`].
//!
//! # Structure
//! * **Arenas** — each arena holds up to [`MAX_HEAPS`] engine heaps ([`AnyHeap`] over an
//!   [`OsSource`]) with the policy of [`Config`], behind its own [`FutexLock`]. A thread with
//!   a cache ([`crate::tcache`]) is attached to an arena when its cache is set up, as the
//!   [`ArenaMode`] says (default, on contention: arena 0, moving when its lock is steadily
//!   contended; shared: arena 0 for every thread; per thread: the arena with the fewest
//!   threads),
//!   and detached when it exits, so an exited thread's arena is reused; its refills and its
//!   requests the cache does not serve go to its arena. Everything else (threads without a
//!   cache, the seed policies) uses arena 0; one configuration serves every arena
//!   ([`crate::config`]). A small block freed by a thread of another arena goes back to its
//!   owner through the owner's remote stack ([`crate::remote`]); any other block is freed
//!   into its own arena under that arena's lock. One lock is held at a time.
//! * **Heaps** — the first heap of arena 0 is at the program break when
//!   [`Config::use_sbrk`] is set (the preload face); every other heap is in a reserved
//!   region. When a heap cannot serve a request (its source refuses to grow: `sbrk` failed,
//!   the break was moved by someone else, the region is full), requests of that size or
//!   more skip it and a new heap over a fresh [`MmapRegion`] is created: the fallback from
//!   `brk` to `mmap`. A heap takes every size again when a block is freed into it.
//! * **Spans** — every heap publishes its `[start, brk)` in a lock-free table (slot
//!   `arena * MAX_HEAPS + heap`): a pointer's arena and heap are found without a lock, and
//!   the thread caches' fast `free` checks the first heap of the thread's arena.
//! * **Large blocks** — requests of [`LARGE_THRESHOLD`] bytes or more bypass the heaps and
//!   the locks (see [`crate::large`]).
//! * **Fork** — an arena's lock is registered with [`crate::fork`] before it is first taken
//!   (every locked path ensures it: one load once done), so that `fork` is safe; a `fork`
//!   child attaches only the calling thread: every `Global` a thread ever set up a cache of
//!   is on a list (`CACHING`, entered before its first thread is counted), whose arenas
//!   the child's hook sets to count that thread's cache alone (`fork_child_arenas`).
//!
//! Invariants: an arena's `Inner` is touched only with its lock held; `sizes[i]` is the heap
//! size of heap `i` last accounted into `heap_bytes`; `refused[i]` is `usize::MAX` or the
//! size of a request heap `i` failed with no free into it since; a published span never
//! shrinks.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use heapwise_core::block::ALIGN;
use heapwise_core::{AnyHeap, CorruptionHook, ErrorKind, HeapError, PolicyKind, Source, Stats};

pub use crate::config::Config;
use crate::config::Settings;
use crate::fork;
use crate::harden;
use crate::large::{self, LARGE_THRESHOLD};
use crate::large_cache;
use crate::lock::{FutexLock, LockGuard};
use crate::os_source::OsSource;
use crate::region::MmapRegion;
use crate::remote::RemoteStack;
use crate::sbrk::Sbrk;
use crate::stats::GlobalStats;
use crate::sys;
use crate::tcache;

/// Most heaps each arena of a [`Global`] will create.
pub const MAX_HEAPS: usize = 16;

/// Arenas of a [`Global`]: independent sets of heaps, each behind its own lock. Threads with
/// a cache are spread over them (the arena with the fewest threads takes the next one, an
/// exited thread hands its arena on); everything else uses arena 0.
pub const ARENAS: usize = 4;

/// Published heap extents: [`MAX_HEAPS`] per arena (heap `i` of arena `a` is slot
/// `a * MAX_HEAPS + i`).
const SPANS: usize = ARENAS * MAX_HEAPS;

const _: () = assert!(SPANS <= 64 && ARENAS == 4 && USED_ARENAS <= ARENAS);

/// How threads are spread over the arenas ([`Global::set_arena_mode`]).
///
/// Measured on a 2-core machine (docs/performance/steps-session3.md): while the machine
/// was loaded (threads rarely running at the same time) separate arenas cost memory (each
/// has its own free blocks and top; a thread that moves strands its blocks in the old
/// arena) and bought no time; on the quiet machine, where two threads do run in parallel,
/// the shared arena's lock made mstress 1.7–2× slower than glibc, and moving contended
/// threads took mstress-2t from 0.55 to 0.31 s (glibc 0.34 s) for about 1 % more peak RSS.
/// So the default is [`ArenaMode::OnContention`]: one arena for programs whose threads do
/// not contend, arenas for those that do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum ArenaMode {
    /// Every thread uses arena 0.
    Shared = 0,
    /// Threads start in arena 0; a thread moves to a less used arena when a quarter of its
    /// last refills found the arena's lock held by another thread (glibc's rule, with a
    /// rate instead of a single failed `trylock`). The default.
    #[default]
    OnContention = 1,
    /// Every new thread attaches to the arena with the fewest threads (one arena per
    /// thread up to [`ARENAS`]; an exited thread's arena goes to the next thread).
    PerThread = 2,
}

/// Arenas threads are spread over (at most [`ARENAS`]).
const USED_ARENAS: usize = 4;

/// Bytes freed into the heaps between two automatic trims (see [`Global::trim`]).
pub const AUTO_TRIM_EVERY: usize = 128 << 20;

/// Bytes freed between two automatic trims, in multiples of the heaps' size.
pub const AUTO_TRIM_HEAPS: usize = 8;

/// Most bytes of headroom a growing heap block gets on `realloc` (see [`Global::realloc`]).
pub const REALLOC_HEADROOM: usize = 4096;

/// Smallest free range an automatic trim gives back to the OS, by default (the trim
/// threshold: [`Global::set_trim_threshold`]).
pub const AUTO_TRIM_MIN: usize = 2 << 20;

/// Bytes freed between two automatic trims in multiples of the trim threshold (with the
/// default threshold, [`AUTO_TRIM_EVERY`]; never more).
pub const AUTO_TRIM_EVERY_MIN: usize = AUTO_TRIM_EVERY / AUTO_TRIM_MIN;

/// Address-space reservations tried, largest first, for a new region heap.
pub const REGION_SIZES: [usize; 6] = [1 << 30, 1 << 28, 1 << 26, 1 << 24, 1 << 22, 1 << 20];

/// (`repr(C)`: the heap slots last, so that an arena's bookkeeping shares the page of its
/// lock and first heap; see [`Arena`].)
#[repr(C)]
struct Inner {
    sizes: [usize; MAX_HEAPS],
    count: usize,
    /// `refused[i]`: the smallest request heap `i` failed since its last free
    /// (`usize::MAX` when none): larger requests skip it.
    refused: [usize; MAX_HEAPS],
    sbrk_tried: bool,
    /// The heap that served the last successful [`Inner::alloc`].
    served: usize,
    /// This arena's index (its heaps publish their extents at `id * MAX_HEAPS + i`).
    id: usize,
    /// Block bytes freed into this arena's heaps since its last automatic trim (a trigger,
    /// not an account).
    freed: usize,
    /// Engine `malloc` and `free` calls of this arena's heaps made by the thread caches
    /// (refills, flushes), not by the program: counted in the same lock hold as the
    /// engine's own counters, so that [`Global::stats`] takes them off exactly.
    cache_calls: (u64, u64),
    heaps: [Option<AnyHeap<OsSource>>; MAX_HEAPS],
}

struct Accounting {
    heap_bytes: AtomicUsize,
    large_bytes: AtomicUsize,
    large_blocks: AtomicUsize,
    peak_large_bytes: AtomicUsize,
    large_allocs: AtomicU64,
    large_frees: AtomicU64,
    large_reallocs: AtomicU64,
    peak_footprint: AtomicUsize,
    requested: AtomicUsize,
    peak_requested: AtomicUsize,
    requested_tracked: AtomicU8,
    /// `[start, brk)` of each heap (slot `arena * MAX_HEAPS + i`), published for the
    /// lock-free thread-cache checks and for finding a pointer's arena (a heap's `brk` only
    /// grows).
    span_lo: [AtomicUsize; SPANS],
    span_hi: [AtomicUsize; SPANS],
    /// Bit `i` set: span slot `i` is published (the lookups visit only these).
    used: AtomicU64,
    /// Requests of this many bytes or more are large blocks: [`LARGE_THRESHOLD`] unless
    /// the program set another ([`Global::set_mmap_threshold`], `mallopt`).
    mmap_threshold: AtomicUsize,
    /// Smallest free range an automatic trim gives back ([`AUTO_TRIM_MIN`] unless set:
    /// [`Global::set_trim_threshold`]; `usize::MAX`: no automatic trim).
    trim_min: AtomicUsize,
    /// Cache counters of exited threads: mallocs, frees, callocs, reallocs, aligned.
    retired: [AtomicU64; 5],
    /// The `malloc` and `free` counts [`Global::stats`] last reported, so that a snapshot
    /// is clamped to never go back (a `fork` child drops the other threads' cache counters).
    reported: [AtomicU64; 2],
    /// `realloc` calls that moved their block through [`Global::move_block`] (between the
    /// heaps and large mappings, or to another heap) or through the layers of
    /// [`crate::front`], the heap `malloc`s and the heap `free`s those moves made:
    /// [`Global::stats`] counts each such call as one `realloc` instead of the `malloc` and
    /// `free` it is made of.
    moves: [AtomicU64; 3],
}

fn raise_peak(peak: &AtomicUsize, v: usize) {
    if v > peak.load(Ordering::Relaxed) {
        peak.fetch_max(v, Ordering::Relaxed);
    }
}

impl Accounting {
    const fn new() -> Self {
        Accounting {
            heap_bytes: AtomicUsize::new(0),
            large_bytes: AtomicUsize::new(0),
            large_blocks: AtomicUsize::new(0),
            peak_large_bytes: AtomicUsize::new(0),
            large_allocs: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            large_reallocs: AtomicU64::new(0),
            peak_footprint: AtomicUsize::new(0),
            requested: AtomicUsize::new(0),
            peak_requested: AtomicUsize::new(0),
            requested_tracked: AtomicU8::new(0),
            span_lo: [const { AtomicUsize::new(0) }; SPANS],
            span_hi: [const { AtomicUsize::new(0) }; SPANS],
            used: AtomicU64::new(0),
            retired: [const { AtomicU64::new(0) }; 5],
            reported: [const { AtomicU64::new(0) }; 2],
            moves: [const { AtomicU64::new(0) }; 3],
            mmap_threshold: AtomicUsize::new(LARGE_THRESHOLD),
            trim_min: AtomicUsize::new(AUTO_TRIM_MIN),
        }
    }

    /// Publishes `[lo, hi)` as the extent of span slot `i` (called with its arena's lock
    /// held).
    fn publish_span(&self, i: usize, lo: usize, hi: usize) {
        if let (Some(l), Some(h)) = (self.span_lo.get(i), self.span_hi.get(i)) {
            if h.load(Ordering::Relaxed) != hi {
                l.store(lo, Ordering::Relaxed);
                h.store(hi, Ordering::Release);
            }
            let bit = 1u64 << i;
            if self.used.load(Ordering::Relaxed) & bit == 0 {
                self.used.fetch_or(bit, Ordering::AcqRel);
            }
        }
    }

    /// The footprint (heaps plus live large blocks) grew: raises its peak, and cuts the
    /// large cache back so that the footprint plus the cached mappings stay within the
    /// peak the program reached before (the cache adds nothing to the peak RSS; see
    /// [`large_cache`]). Callable with an arena's lock held.
    fn footprint_changed(&self) {
        let f = self.heap_bytes.load(Ordering::Relaxed) + self.large_bytes.load(Ordering::Relaxed);
        let peak = self.peak_footprint.load(Ordering::Relaxed);
        raise_peak(&self.peak_footprint, f);
        large_cache::shrink_to(peak.saturating_sub(f));
    }

    /// Bytes the large cache may keep once a large block of `len` mapped bytes is freed:
    /// what the program had mapped at its peaks (of large blocks, and of the whole
    /// footprint) and no longer has.
    fn cache_budget(&self, len: usize) -> usize {
        let live = self.large_bytes.load(Ordering::Relaxed).saturating_sub(len);
        let heaps = self.heap_bytes.load(Ordering::Relaxed);
        let large = self
            .peak_large_bytes
            .load(Ordering::Relaxed)
            .saturating_sub(live);
        let all = self
            .peak_footprint
            .load(Ordering::Relaxed)
            .saturating_sub(live + heaps);
        large.min(all)
    }

    fn large_mapped(&self, bytes: usize) {
        self.large_allocs.fetch_add(1, Ordering::Relaxed);
        self.large_blocks.fetch_add(1, Ordering::Relaxed);
        let now = self.large_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        raise_peak(&self.peak_large_bytes, now);
        self.footprint_changed();
    }

    fn large_unmapped(&self, bytes: usize) {
        self.large_frees.fetch_add(1, Ordering::Relaxed);
        self.large_blocks.fetch_sub(1, Ordering::Relaxed);
        self.large_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn large_remapped(&self, old: usize, new: usize) {
        self.large_reallocs.fetch_add(1, Ordering::Relaxed);
        if new >= old {
            let now = self.large_bytes.fetch_add(new - old, Ordering::Relaxed) + new - old;
            raise_peak(&self.peak_large_bytes, now);
            self.footprint_changed();
        } else {
            self.large_bytes.fetch_sub(old - new, Ordering::Relaxed);
        }
    }
}

/// What a `realloc` of a heap block does after its arena's lock is released.
enum Resize {
    Done(*mut u8),
    /// Move the block (`usable` bytes now) to a new block of `size` bytes.
    Move {
        usable: usize,
        size: usize,
    },
    NotHeap(CorruptionHook),
    Fail,
}

impl Inner {
    const fn new(id: usize) -> Self {
        Inner {
            heaps: [const { None }; MAX_HEAPS],
            sizes: [0; MAX_HEAPS],
            count: 0,
            refused: [usize::MAX; MAX_HEAPS],
            // Only arena 0 may put a heap at the program break.
            sbrk_tried: id != 0,
            served: 0,
            id,
            freed: 0,
            cache_calls: (0, 0),
        }
    }

    /// The arena's heaps: slots `[0, count)` (the others are never read, so that their
    /// pages of the static `Global` are never touched: each would count in the resident
    /// set).
    #[inline(always)]
    fn live(&self) -> impl Iterator<Item = &AnyHeap<OsSource>> {
        self.heaps.iter().take(self.count).flatten()
    }

    /// [`Inner::live`], mutably.
    #[inline(always)]
    fn live_mut(&mut self) -> impl Iterator<Item = &mut AnyHeap<OsSource>> {
        self.heaps.iter_mut().take(self.count).flatten()
    }

    /// The engine's `malloc` and `free` counts summed over this arena's heaps (inlined into
    /// the refill and flush paths, which run in the hot group).
    #[inline(always)]
    fn engine_calls(&self) -> (u64, u64) {
        self.live().fold((0, 0), |(m, f), h| {
            let c = h.counters();
            (m + c.mallocs, f + c.frees)
        })
    }

    fn heap(&mut self, i: usize) -> Option<&mut AnyHeap<OsSource>> {
        self.heaps.get_mut(i).and_then(Option::as_mut)
    }

    /// Index of the heap whose block area contains `p`.
    fn find(&self, p: *const u8) -> Option<usize> {
        (0..self.count).find(|&i| {
            self.heaps
                .get(i)
                .and_then(Option::as_ref)
                .is_some_and(|h| h.contains(p))
        })
    }

    /// Accounts a possible growth of heap `i`.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn grew(&mut self, i: usize, acct: &Accounting) {
        let Some((now, lo, hi)) = self.heaps.get(i).and_then(Option::as_ref).map(|h| {
            let s = h.source();
            (
                s.heap_size(),
                s.start().as_ptr() as usize,
                s.brk().as_ptr() as usize,
            )
        }) else {
            return;
        };
        acct.publish_span(self.id * MAX_HEAPS + i, lo, hi);
        if let Some(s) = self.sizes.get_mut(i) {
            if now != *s {
                acct.heap_bytes.fetch_add(now - *s, Ordering::Relaxed);
                *s = now;
                acct.footprint_changed();
            }
        }
    }

    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn new_source(&mut self, config: &Config) -> Option<OsSource> {
        if config.use_sbrk && !self.sbrk_tried {
            self.sbrk_tried = true;
            if let Some(s) = Sbrk::new() {
                return Some(OsSource::Brk(s));
            }
        }
        // Address space short: the cached large mappings go back first.
        large_cache::or_release(|| REGION_SIZES.iter().find_map(|&n| MmapRegion::reserve(n)))
            .map(OsSource::Region)
    }

    /// A block was freed into heap `i`: it may serve any request again.
    fn freed_into(&mut self, i: usize) {
        if let Some(r) = self.refused.get_mut(i) {
            *r = usize::MAX;
        }
    }

    /// Heap `i` failed a request of `size` bytes.
    fn refuse(&mut self, i: usize, size: usize) {
        if let Some(r) = self.refused.get_mut(i) {
            *r = (*r).min(size);
        }
    }

    /// Frees `p` into heap `i` and counts the bytes the engine released (its allocated-bytes
    /// counter, so a quarantined block counts when it really leaves the quarantine and a
    /// header-free slab object counts its class size) towards the next automatic trim.
    ///
    /// # Safety
    /// As [`heapwise_core::Heap::free`]: `p` lies in heap `i` and is a live block of it, or
    /// a misuse the engine's checks catch.
    #[inline]
    unsafe fn free_into(&mut self, i: usize, p: *mut u8) {
        if let Some(h) = self.heap(i) {
            let before = h.counters().alloc_bytes;
            // SAFETY: forwarded caller contract.
            unsafe { h.free(p) };
            let released = before.saturating_sub(h.counters().alloc_bytes);
            self.freed = self.freed.wrapping_add(released);
        }
        self.freed_into(i);
    }

    /// Automatic trim with hysteresis: once [`AUTO_TRIM_EVERY_MIN`] times the trim
    /// threshold `min` (at most [`AUTO_TRIM_EVERY`]) bytes, and at least
    /// [`AUTO_TRIM_HEAPS`] times the heaps' size, were freed into the heaps since the last
    /// one, the interior pages of free blocks of at least `min` bytes ([`AUTO_TRIM_MIN`]
    /// unless set) go back to the OS. Small holes are left alone (they are reused soon,
    /// and a discarded page costs a fault when it is); the walk over the heaps is paid
    /// once per that many freed bytes. `min == usize::MAX`: never.
    #[inline]
    fn maybe_trim(&mut self, min: usize) {
        let freed = self.freed;
        if freed >= min.saturating_mul(AUTO_TRIM_EVERY_MIN).min(AUTO_TRIM_EVERY)
            && min != usize::MAX
        {
            let heaps: usize = self.sizes.iter().sum();
            if freed >= heaps.saturating_mul(AUTO_TRIM_HEAPS) {
                self.freed = 0;
                self.discard_free(min.max(sys::page_size()));
            }
        }
    }

    /// `MADV_DONTNEED` of the interior pages of every free block whose interior spans at
    /// least `min` bytes; returns the bytes released.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn discard_free(&mut self, min: usize) -> usize {
        let page = sys::page_size();
        let mut released = 0;
        for h in self.live() {
            for b in h.blocks().filter(|b| !b.allocated && b.size >= min) {
                // Keep the header, the free-list links and the footer intact.
                let lo = sys::round_up(b.addr + 64, page).unwrap_or(usize::MAX);
                let hi = (b.addr + b.size).saturating_sub(64) & !(page - 1);
                if lo < hi && hi - lo >= min {
                    // SAFETY: `[lo, hi)` is page-aligned and lies strictly inside a free
                    // block of a private anonymous heap; the engine keeps nothing there.
                    if unsafe { sys::discard(lo as *mut u8, hi - lo) } {
                        released += hi - lo;
                    }
                }
            }
        }
        released
    }

    /// As [`Inner::alloc`], from the existing heaps only (for large requests the dynamic
    /// threshold sends to the heaps: when they cannot serve, the request is mapped instead,
    /// rather than spending address space on a new heap).
    fn alloc_existing(
        &mut self,
        acct: &Accounting,
        size: usize,
        mut f: impl FnMut(&mut AnyHeap<OsSource>) -> Option<NonNull<u8>>,
    ) -> Option<NonNull<u8>> {
        for i in 0..self.count {
            if self.refused.get(i).is_some_and(|&r| size >= r) {
                continue;
            }
            let Some(h) = self.heap(i) else { continue };
            // Short of memory, a heap first gives its quarantined blocks back.
            let r = f(h).or_else(|| {
                (!h.quarantine().is_empty()).then(|| h.flush_quarantine())?;
                f(h)
            });
            if let Some(p) = r {
                self.grew(i, acct);
                self.served = i;
                return Some(p);
            }
            self.refuse(i, size);
        }
        None
    }

    /// A request of [`LARGE_THRESHOLD`] bytes or more that a raised mmap threshold sends
    /// to the heaps: served by the existing heaps ([`Inner::alloc_existing`]), or by a
    /// first heap when the arena has none yet.
    fn alloc_large(
        &mut self,
        settings: &Settings,
        acct: &Accounting,
        size: usize,
        f: impl FnMut(&mut AnyHeap<OsSource>) -> Option<NonNull<u8>>,
    ) -> Option<NonNull<u8>> {
        if self.count == 0 {
            self.alloc(settings, acct, size, f)
        } else {
            self.alloc_existing(acct, size, f)
        }
    }

    /// Serves a request of `size` bytes (payload plus alignment slack) with `f` from the
    /// first heap that can, creating one new heap if none can.
    fn alloc(
        &mut self,
        settings: &Settings,
        acct: &Accounting,
        size: usize,
        mut f: impl FnMut(&mut AnyHeap<OsSource>) -> Option<NonNull<u8>>,
    ) -> Option<NonNull<u8>> {
        loop {
            if let Some(p) = self.alloc_existing(acct, size, &mut f) {
                return Some(p);
            }
            if self.count >= MAX_HEAPS {
                return None;
            }
            let config = settings.frozen();
            let src = self.new_source(config)?;
            // A heap at the program break may be unable to grow at all (musl's `sbrk`
            // refuses every move, as may a seccomp filter or a mapping just above the
            // break): then a region heap takes the request (`new_source` tries the break
            // only once).
            let at_break = matches!(src, OsSource::Brk(_));
            let mut h = AnyHeap::new(config.policy, src).with_chunk(config.chunk);
            h.set_corruption_hook(config.hook);
            h.set_integrity(heapwise_core::Integrity::Full);
            let hz = config.harden;
            h.set_quarantine(hz.quarantine_blocks, hz.quarantine_bytes, hz.junk);
            let r = f(&mut h);
            let i = self.count;
            if let Some(slot) = self.heaps.get_mut(i) {
                *slot = Some(h);
            }
            self.count += 1;
            self.grew(i, acct);
            self.served = i;
            if r.is_none() {
                self.refuse(i, size);
                if at_break {
                    continue;
                }
            }
            return r;
        }
    }
}

/// Whether `p`, a pointer inside heap `h`, is a payload sitting in a thread cache (freed:
/// a `realloc` or `usable_size` of it is a use after free).
fn cached_block(h: &AnyHeap<OsSource>, p: *const u8) -> bool {
    p as usize % ALIGN == 0
        && h.contains(p.wrapping_add(2 * core::mem::size_of::<usize>() - 1))
        // SAFETY: `p` is a 16-aligned pointer with its first two words inside the heap.
        && unsafe { tcache::is_cached(p) }
}

/// The allocator state of an OS face. Lives in a `static` (all operations take
/// `&'static self`, because the lock is registered for `fork` on first use).
///
/// ```
/// use heapwise::{Config, Global};
///
/// static G: Global = Global::new(Config::DEFAULT);
/// let p = G.malloc(100);
/// assert!(!p.is_null() && p as usize % 16 == 0);
/// // SAFETY: `p` is a live block of `G`; `q` replaces it and is freed once.
/// let q = unsafe { G.realloc(p, 1000) };
/// assert!(unsafe { G.usable_size(q) } >= 1000);
/// unsafe { G.free(q) };
/// G.check().unwrap();
/// ```
#[repr(C)]
pub struct Global {
    /// [`CACHE_ON`]: small blocks go through per-thread caches ([`crate::tcache`]);
    /// [`CACHE_USED`]: a thread has set up a cache of this `Global`.
    cache: AtomicU8,
    /// The next `Global` on the `CACHING` list (written once, before this one is
    /// published at its head, under `CACHING_LOCK`).
    next_caching: AtomicPtr<Global>,
    /// The [`ArenaMode`] (as `u8`).
    spread: AtomicU8,
    /// Arenas new and moving threads are spread over (1..=[`ARENAS`];
    /// [`Global::set_arena_max`]).
    arena_max: AtomicU8,
    /// The configuration every arena's heaps are built from (one copy, so that unused
    /// arenas stay untouched; see [`crate::config`]).
    settings: Settings,
    acct: Accounting,
    /// Last (`repr(C)`): the arenas a process never uses, and the unused heap slots of the
    /// others, are pages of the static that are never touched.
    arenas: [Arena; ARENAS],
}

/// One arena: a set of engine heaps behind its own lock. (`repr(C)`: the words written at
/// an arena's first use sit together, before its heaps, on the page of its lock: the heap
/// slots a process never fills are never touched.)
#[repr(C)]
struct Arena {
    lock: FutexLock,
    /// Threads whose caches use this arena (the least used one takes the next thread).
    threads: AtomicUsize,
    /// The lock's registration for `fork` (at the arena's first use).
    registered: fork::Registration,
    /// Small blocks of this arena freed by threads of other arenas (see [`crate::remote`]).
    remote: RemoteStack,
    inner: UnsafeCell<Inner>,
}

impl Arena {
    const fn new(id: usize) -> Self {
        Arena {
            lock: FutexLock::new(),
            threads: AtomicUsize::new(0),
            registered: fork::Registration::new(),
            remote: RemoteStack::new(),
            inner: UnsafeCell::new(Inner::new(id)),
        }
    }

    /// Registers the lock for `fork` unless that is done (no heap lock may be held); see
    /// [`fork::Registration`]. Called before every use of the lock, so the arena is never
    /// used before `fork` holds it (unless the registry is full). An allocation made by
    /// `pthread_atfork` while the first registration installs the handlers comes back
    /// here and goes on (see [`fork`]).
    #[inline]
    fn register(&'static self) {
        self.registered.ensure(&self.lock, fork::RANK_HEAP);
    }
}

// SAFETY: each arena's `inner` is only accessed with that arena's `lock` held; everything
// else is atomic.
unsafe impl Sync for Global {}

/// [`Global`]'s `cache` bit: the per-thread caches are on.
const CACHE_ON: u8 = 1;
/// [`Global`]'s `cache` bit: a thread has set up a cache of it, and it is on the `CACHING`
/// list (never cleared).
const CACHE_USED: u8 = 2;

/// The `Global`s some thread set up a cache of, linked through `next_caching`: each is
/// entered once (under `CACHING_LOCK`, before its first thread is counted in an arena) and
/// never leaves (they are statics). A `fork` child walks it without the lock: a `Global`'s
/// link is written before the head publishes it, so every state the child can inherit is a
/// whole list.
static CACHING: AtomicPtr<Global> = AtomicPtr::new(ptr::null_mut());
/// Serialises entries to `CACHING` (never held with another lock; reset in a `fork` child).
static CACHING_LOCK: FutexLock = FutexLock::new();

/// `fork` child hook (through the thread caches' hook): the calling thread is the child's
/// only one. Every arena of every `Global` on the `CACHING` list counts no thread, but the
/// arena `a` of `mine`, the owner of the thread's cache, counts that one. (Threads of the
/// parent are gone with their caches: a count they left would keep the arena's remote stack
/// waiting for a collector, and steer the placement of new threads.)
pub(crate) fn fork_child_arenas(mine: Option<(&Global, usize)>) {
    // SAFETY: the child has one thread: nobody else holds or waits for the lock.
    unsafe { CACHING_LOCK.force_unlock() };
    let mut g = CACHING.load(Ordering::Acquire) as *const Global;
    // SAFETY: list entries are `'static` `Global`s, each linked before it was published.
    while let Some(r) = unsafe { g.as_ref() } {
        for arena in &r.arenas {
            arena.threads.store(0, Ordering::Relaxed);
        }
        g = r.next_caching.load(Ordering::Relaxed);
    }
    if let Some(a) = mine.and_then(|(g, a)| g.arenas.get(a)) {
        a.threads.store(1, Ordering::Relaxed);
    }
}

impl Global {
    /// A new allocator state; nothing is mapped until the first request.
    pub const fn new(config: Config) -> Self {
        Global {
            cache: AtomicU8::new(0),
            next_caching: AtomicPtr::new(ptr::null_mut()),
            spread: AtomicU8::new(ArenaMode::OnContention as u8),
            arena_max: AtomicU8::new(USED_ARENAS as u8),
            settings: Settings::new(config),
            acct: Accounting::new(),
            arenas: [Arena::new(0), Arena::new(1), Arena::new(2), Arena::new(3)],
        }
    }

    /// A new allocator state with per-thread caches of small blocks in front of the heaps (see
    /// [`crate::tcache`]; they are used only with the default segregated policy).
    pub const fn with_thread_cache(config: Config) -> Self {
        let mut g = Global::new(config);
        g.cache = AtomicU8::new(CACHE_ON);
        g
    }

    /// Turns the per-thread caches on or off for the calls made from now on. Turned off,
    /// blocks already cached are no longer handed out (every call takes the engine's
    /// path): they stay valid and go back to the heaps when their thread's cache is flushed
    /// (the thread's exit; for the calling thread and exited ones, [`Global::trim`] or
    /// [`Global::check`]). Until then they are still freed blocks: a `free` of one is
    /// reported as a double free, a `realloc` or `usable_size` as a use after free. Meant
    /// to be set before the first block, as the faces do.
    pub fn set_thread_cache(&self, on: bool) {
        if on {
            self.cache.fetch_or(CACHE_ON, Ordering::Relaxed);
        } else {
            self.cache.fetch_and(!CACHE_ON, Ordering::Relaxed);
        }
    }

    /// Whether per-thread caches are on.
    #[inline]
    pub fn thread_cache(&self) -> bool {
        self.cache.load(Ordering::Relaxed) & CACHE_ON != 0
    }

    /// Whether a thread has set up a cache of this `Global` (on or off now): a block
    /// handed to the engine's paths may then sit in a cache (freed), which they must
    /// check for before they use it.
    #[inline]
    fn caches_used(&self) -> bool {
        self.cache.load(Ordering::Relaxed) & CACHE_USED != 0
    }

    /// Enters this `Global` on the `CACHING` list (once; before a thread's cache is
    /// counted in one of its arenas).
    #[cold]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn note_caching(&'static self) {
        let _l = LockGuard::new(&CACHING_LOCK);
        if self.caches_used() {
            return;
        }
        self.next_caching
            .store(CACHING.load(Ordering::Relaxed), Ordering::Relaxed);
        CACHING.store(self as *const Global as *mut Global, Ordering::Release);
        self.cache.fetch_or(CACHE_USED, Ordering::Release);
    }

    /// Whether the configured policy is one the thread caches serve (the default). No lock:
    /// a thread of a seed policy asks on every call (its cache never becomes active).
    pub(crate) fn caching_policy(&'static self) -> bool {
        self.settings.is_default_policy()
    }

    /// Whether `p` lies in `[start, brk)` of one of the heaps (lock-free).
    #[inline]
    pub(crate) fn in_heap(&self, p: *const u8) -> bool {
        self.heap_end(p) != 0
    }

    /// The published `brk` of the heap whose `[start, brk)` contains `p`, or 0 when none
    /// does (lock-free; the first heap, which serves most programs, is tried first).
    #[inline]
    pub(crate) fn heap_end(&self, p: *const u8) -> usize {
        let a = p as usize;
        let (lo, hi) = (&self.acct.span_lo, &self.acct.span_hi);
        let h0 = hi[0].load(Ordering::Acquire);
        if a < h0 && a >= lo[0].load(Ordering::Relaxed) {
            return h0;
        }
        self.heap_end_rest(a)
    }

    /// [`Global::heap_end`] for span slot `slot` only (the first heap of arena `a` is slot
    /// `a * MAX_HEAPS`): 0 when `p` is not in it.
    #[inline(always)]
    pub(crate) fn slot_end(&self, slot: usize, p: *const u8) -> usize {
        let a = p as usize;
        let (Some(hi), Some(lo)) = (self.acct.span_hi.get(slot), self.acct.span_lo.get(slot))
        else {
            return 0;
        };
        let h0 = hi.load(Ordering::Acquire);
        if a < h0 && a >= lo.load(Ordering::Relaxed) {
            h0
        } else {
            0
        }
    }

    #[inline(never)]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn heap_end_rest(&self, a: usize) -> usize {
        match self.slot_of(a) {
            Some(i) => self
                .acct
                .span_hi
                .get(i)
                .map_or(0, |h| h.load(Ordering::Acquire)),
            None => 0,
        }
    }

    /// The span slot whose `[start, brk)` contains address `a` (lock-free).
    fn slot_of(&self, a: usize) -> Option<usize> {
        let mut used = self.acct.used.load(Ordering::Acquire);
        let (lo, hi) = (&self.acct.span_lo, &self.acct.span_hi);
        while used != 0 {
            let i = used.trailing_zeros() as usize;
            used &= used - 1;
            if let (Some(l), Some(h)) = (lo.get(i), hi.get(i)) {
                if a < h.load(Ordering::Acquire) && a >= l.load(Ordering::Relaxed) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The arena whose heaps contain `p` (lock-free), or `None` for a pointer in no heap.
    #[inline]
    fn arena_of(&self, p: *const u8) -> Option<usize> {
        self.slot_of(p as usize).map(|s| s / MAX_HEAPS)
    }

    /// Chooses how threads are spread over the arenas (for threads whose cache is set up
    /// from now on; see [`ArenaMode`]).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn set_arena_mode(&self, mode: ArenaMode) {
        self.spread.store(mode as u8, Ordering::Relaxed);
    }

    /// The current [`ArenaMode`].
    pub fn arena_mode(&self) -> ArenaMode {
        match self.spread.load(Ordering::Relaxed) {
            1 => ArenaMode::OnContention,
            2 => ArenaMode::PerThread,
            _ => ArenaMode::Shared,
        }
    }

    /// Spreads new threads, and threads that move on contention, over at most `n` arenas
    /// (`mallopt(M_ARENA_MAX)`; `n` above [`ARENAS`] counts as [`ARENAS`]; 1 keeps every
    /// thread on arena 0 whatever the [`ArenaMode`]). Threads already attached to another
    /// arena stay there, as with glibc. Returns false (and changes nothing) for 0.
    pub fn set_arena_max(&self, n: usize) -> bool {
        if n == 0 {
            return false;
        }
        self.arena_max
            .store(n.min(USED_ARENAS) as u8, Ordering::Relaxed);
        true
    }

    /// The most arenas threads are spread over ([`Global::set_arena_max`]).
    pub fn arena_max(&self) -> usize {
        self.arena_max.load(Ordering::Relaxed) as usize
    }

    /// Requests of `bytes` or more (payload plus alignment) are served by a mapping of
    /// their own from now on, and smaller ones by the heaps (`mallopt(M_MMAP_THRESHOLD)`;
    /// the default is [`LARGE_THRESHOLD`]; `usize::MAX`: every request goes to the heaps
    /// first, and only one they cannot serve is mapped). Sizes the thread caches serve stay
    /// cached. A request of [`LARGE_THRESHOLD`] or more that a raised threshold sends to
    /// the heaps does not open a second heap: when the existing ones cannot serve it, it
    /// is mapped.
    pub fn set_mmap_threshold(&self, bytes: usize) {
        self.acct.mmap_threshold.store(bytes, Ordering::Relaxed);
    }

    /// The size from which requests are served by mappings of their own
    /// ([`Global::set_mmap_threshold`]).
    #[inline]
    pub fn mmap_threshold(&self) -> usize {
        self.acct.mmap_threshold.load(Ordering::Relaxed)
    }

    /// Free ranges of at least `bytes` go back to the OS on the automatic trims
    /// (`mallopt(M_TRIM_THRESHOLD)`; default [`AUTO_TRIM_MIN`]; `usize::MAX` turns them off).
    /// A trim runs once [`AUTO_TRIM_EVERY_MIN`] times this many bytes (at most
    /// [`AUTO_TRIM_EVERY`]), and at least [`AUTO_TRIM_HEAPS`] times the heaps' size, were
    /// freed into an arena's heaps since its last one.
    pub fn set_trim_threshold(&self, bytes: usize) {
        self.acct.trim_min.store(bytes, Ordering::Relaxed);
    }

    /// The automatic trims' threshold ([`Global::set_trim_threshold`]).
    pub fn trim_threshold(&self) -> usize {
        self.acct.trim_min.load(Ordering::Relaxed)
    }

    /// The arena with the fewest threads among the first [`Global::arena_max`], other than
    /// `not`.
    fn least_used(&self, not: usize) -> (usize, usize) {
        let mut best = (0, usize::MAX);
        for (i, a) in self.arenas.iter().enumerate().take(self.arena_max()) {
            let n = a.threads.load(Ordering::Relaxed);
            if i != not && n < best.1 {
                best = (i, n);
            }
        }
        best
    }

    /// Attaches a new thread cache to an arena (see [`ArenaMode`]);
    /// returns its index. The arena's lock is registered for `fork` here (no allocator
    /// lock may be held).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub(crate) fn attach_arena(&'static self) -> usize {
        if !self.caches_used() {
            self.note_caching();
        }
        let best = match self.arena_mode() {
            ArenaMode::PerThread => self.least_used(usize::MAX).0,
            ArenaMode::Shared | ArenaMode::OnContention => 0,
        };
        if let Some(a) = self.arenas.get(best) {
            a.threads.fetch_add(1, Ordering::Relaxed);
            a.register();
        }
        best
    }

    /// A thread of arena `from` found its lock contended: attaches it to the least used
    /// other arena if that one has fewer threads; returns the thread's arena. The caller
    /// detaches from `from` when the arena changed. (No allocator lock may be held: the new
    /// arena's lock may be registered for `fork`.)
    pub(crate) fn move_arena(&'static self, from: usize) -> usize {
        let Some(old) = self.arenas.get(from) else {
            return from;
        };
        let (to, n) = self.least_used(from);
        let Some(new) = self.arenas.get(to) else {
            return from;
        };
        if n >= old.threads.load(Ordering::Relaxed) {
            return from;
        }
        new.register();
        new.threads.fetch_add(1, Ordering::Relaxed);
        to
    }

    /// A thread attached to arena `a` exited: the arena may take the next thread. Returns
    /// how many threads are left in it.
    pub(crate) fn detach_arena(&self, a: usize) -> usize {
        match self.arenas.get(a) {
            Some(a) => {
                let r = a
                    .threads
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                r.map_or(0, |n| n - 1)
            }
            None => 0,
        }
    }

    /// Threads attached to arena `a`.
    #[inline]
    pub(crate) fn arena_threads(&self, a: usize) -> usize {
        self.arenas
            .get(a)
            .map_or(0, |a| a.threads.load(Ordering::Relaxed))
    }

    /// Arena `a`'s remote free stack.
    #[inline]
    pub(crate) fn remote(&self, a: usize) -> Option<&RemoteStack> {
        self.arenas.get(a).map(|a| &a.remote)
    }

    /// The span slot whose heap contains `p` and that heap's published `brk` (lock-free).
    #[inline]
    pub(crate) fn span_of(&self, p: *const u8) -> Option<(usize, usize)> {
        let i = self.slot_of(p as usize)?;
        Some((i, self.acct.span_hi.get(i)?.load(Ordering::Acquire)))
    }

    /// The arena whose heaps contain `p` (lock-free), or `None` for a pointer in no heap.
    #[inline]
    pub(crate) fn arena_of_ptr(&self, p: *const u8) -> Option<usize> {
        self.arena_of(p)
    }

    /// Allocates up to `n` blocks of `size` bytes from arena `arena` under one acquisition
    /// of its lock and hands each to `push`; returns how many, and whether the lock was
    /// contended.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub(crate) fn refill(
        &'static self,
        arena: usize,
        size: usize,
        n: usize,
        mut push: impl FnMut(*mut u8),
    ) -> (usize, bool) {
        let acct = &self.acct;
        let a = self.arenas.get(arena).unwrap_or(&self.arenas[0]);
        a.register();
        let (_g, contended) = LockGuard::new_contended(&a.lock);
        // SAFETY: the arena's lock is held, so this is the only reference to its `inner`.
        let inner = unsafe { &mut *a.inner.get() };
        let (mallocs, _) = inner.engine_calls();
        let got = {
            let mut got = 0;
            while got < n {
                let Some(p) = inner.alloc(&self.settings, acct, size, |h| h.malloc(size)) else {
                    break;
                };
                push(p.as_ptr());
                got += 1;
                // The heap that served keeps serving the batch, without the search and
                // the accounting of `alloc` per block (accounted once below).
                let i = inner.served;
                let Some(h) = inner.heap(i) else { continue };
                while got < n {
                    let Some(p) = h.malloc(size) else { break };
                    push(p.as_ptr());
                    got += 1;
                }
                inner.grew(i, acct);
            }
            got
        };
        // The engine's calls of the refill (failed ones included) are no program calls.
        let refill = inner.engine_calls().0 - mallocs;
        inner.cache_calls.0 += refill;
        (got, contended)
    }

    /// Frees every block `next` yields, each into its own arena; consecutive blocks of one
    /// arena go under one acquisition of its lock (one lock is held at a time).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub(crate) fn drain(&'static self, mut next: impl FnMut() -> Option<*mut u8>) {
        let mut pending = next();
        while let Some(first) = pending {
            let arena = self.arena_of(first).unwrap_or(0);
            pending = self.drain_arena(arena, first, &mut next);
        }
    }

    /// Frees `first` and the following blocks of `next` that lie in arena `arena` under
    /// one acquisition of its lock; returns the first block of another arena.
    fn drain_arena(
        &'static self,
        arena: usize,
        first: *mut u8,
        next: &mut impl FnMut() -> Option<*mut u8>,
    ) -> Option<*mut u8> {
        self.with_arena(arena, |inner| {
            let (_, frees) = inner.engine_calls();
            let mut last = usize::MAX;
            let mut item = Some(first);
            let mut other = None;
            while let Some(p) = item.take() {
                // Blocks of a batch mostly share a heap: try the last one first.
                let hit = inner
                    .heaps
                    .get(last)
                    .and_then(Option::as_ref)
                    .is_some_and(|h| h.contains(p));
                match if hit { Some(last) } else { inner.find(p) } {
                    Some(i) => {
                        last = i;
                        // SAFETY: `p` is a block of heap `i` that was cached (live for the
                        // engine) and is released exactly once here.
                        unsafe { inner.free_into(i, p) };
                    }
                    None => match self.arena_of(p) {
                        Some(a) if a != arena => {
                            other = Some(p);
                            break;
                        }
                        _ => (self.settings.hook())(&HeapError::new(
                            ErrorKind::InvalidPointer,
                            p as usize,
                            0,
                        )),
                    },
                }
                item = next();
            }
            // The engine's frees of the flush are no program calls.
            let flush = inner.engine_calls().1 - frees;
            inner.cache_calls.1 += flush;
            inner.maybe_trim(self.trim_threshold());
            other
        })
    }

    /// Keeps the counters of an exiting thread's (flushed) cache.
    pub(crate) fn retire(&self, s: &tcache::CacheSums) {
        for (r, v) in self
            .acct
            .retired
            .iter()
            .zip([s.mallocs, s.frees, s.callocs, s.reallocs, s.aligned])
        {
            r.fetch_add(v, Ordering::Relaxed);
        }
    }

    /// The counters of exited threads' caches.
    pub(crate) fn retired(&self) -> tcache::CacheSums {
        let r = |i: usize| {
            self.acct
                .retired
                .get(i)
                .map_or(0, |a| a.load(Ordering::Relaxed))
        };
        tcache::CacheSums {
            mallocs: r(0),
            frees: r(1),
            callocs: r(2),
            reallocs: r(3),
            aligned: r(4),
            ..Default::default()
        }
    }

    /// Reports a double free of `p` (a block sitting in a thread cache) to the hook.
    #[cold]
    pub(crate) fn report_double_free(&'static self, p: *mut u8) {
        // SAFETY: `p` passed the cache's checks: the payload of a heap block, whose header
        // is the word before it.
        let size = unsafe { crate::tcache::block_size_of(p) };
        self.report_misuse(ErrorKind::DoubleFree, p, size);
    }

    /// Reports misuse of kind `kind` at `p` to the hook (for the thread caches).
    #[cold]
    pub(crate) fn report_misuse(&'static self, kind: ErrorKind, p: *mut u8, info: usize) {
        let hook = self.settings.hook();
        hook(&HeapError::new(kind, p as usize, info));
    }

    /// The lock guarding arena 0's heaps (for faces that must order their own locks with
    /// it; the other arenas' locks have the same `fork` rank and are never held together).
    pub fn lock(&self) -> &FutexLock {
        &self.arenas[0].lock
    }

    /// Runs `f` on arena `a` (arena 0 if `a` is out of range) with its lock held.
    #[inline]
    fn with_arena<R>(&'static self, a: usize, f: impl FnOnce(&mut Inner) -> R) -> R {
        let arena = self.arenas.get(a).unwrap_or(&self.arenas[0]);
        arena.register();
        let _g = LockGuard::new(&arena.lock);
        // SAFETY: the arena's lock is held, so this is the only reference to its `inner`.
        let inner = unsafe { &mut *arena.inner.get() };
        f(inner)
    }

    /// The arena of the calling thread's cache (0 without one): where its requests that
    /// the cache does not serve go.
    #[inline]
    fn my_arena(&'static self) -> usize {
        tcache::current_arena(self)
    }

    /// Replaces the configuration. Only possible before it is first used (the first heap
    /// is built from it, or a report of misuse reads its hook); returns whether it was
    /// applied. It takes no lock (and so does not register one for `fork`, which may
    /// allocate): a face may call it from its own initialisation.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn configure(&self, config: Config) -> bool {
        self.settings.replace(config)
    }

    /// The configured policy.
    pub fn policy(&'static self) -> PolicyKind {
        self.settings.policy()
    }

    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn large_alloc(&self, size: usize, align: usize) -> *mut u8 {
        // Memory short: the cached mappings go back to the OS before giving up.
        match large_cache::or_release(|| large::alloc(size, align)) {
            Some(p) => {
                harden::note_large_allocated(p.as_ptr());
                // SAFETY: `p` is a live large block we just mapped.
                self.acct
                    .large_mapped(unsafe { large::mapped_size(p.as_ptr()) });
                p.as_ptr()
            }
            None => ptr::null_mut(),
        }
    }

    /// Allocates `size` bytes, 16-byte aligned; null when out of memory or impossible.
    /// `malloc(0)` gives a unique minimum block.
    #[inline]
    pub fn malloc(&'static self, size: usize) -> *mut u8 {
        match tcache::malloc_fast::<false>(self, size) {
            Some(p) => p,
            None => self.malloc_slow(size),
        }
    }

    /// [`Global::malloc`] past the thread cache's fast path.
    #[inline(never)]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn malloc_slow(&'static self, size: usize) -> *mut u8 {
        if size >= self.mmap_threshold() {
            if let Some(p) = large_cache::alloc(size) {
                harden::note_large_allocated(p.as_ptr());
                // SAFETY: `p` is a live large block we just took from the cache.
                self.acct
                    .large_mapped(unsafe { large::mapped_size(p.as_ptr()) });
                return p.as_ptr();
            }
            return self.large_or_heap(size, ALIGN, |h| h.malloc(size));
        }
        if self.thread_cache() {
            if let Some(p) = tcache::malloc(self, size, false) {
                return p;
            }
        }
        let acct = &self.acct;
        let a = self.my_arena();
        if size >= LARGE_THRESHOLD {
            return match self.with_arena(a, |i| {
                i.alloc_large(&self.settings, acct, size, |h| h.malloc(size))
            }) {
                Some(p) => p.as_ptr(),
                None => self.large_alloc(size, ALIGN),
            };
        }
        self.with_arena(a, |i| {
            i.alloc(&self.settings, acct, size, |h| h.malloc(size))
        })
        .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    /// A request for a mapping of its own (`alloc` is the heap engine's call for the same
    /// request); when no mapping can be had, even after the large cache went back to the
    /// OS, a free block of the existing heaps serves it if one fits, as glibc's bins do.
    /// The heaps never shrink, so their free memory is otherwise out of reach of large
    /// requests.
    fn large_or_heap(
        &'static self,
        size: usize,
        align: usize,
        alloc: impl FnMut(&mut AnyHeap<OsSource>) -> Option<NonNull<u8>>,
    ) -> *mut u8 {
        let p = self.large_alloc(size, align);
        if !p.is_null() {
            return p;
        }
        self.heap_fallback(size, align, alloc)
    }

    /// [`Global::large_or_heap`] once the mapping failed.
    #[cold]
    fn heap_fallback(
        &'static self,
        size: usize,
        align: usize,
        alloc: impl FnMut(&mut AnyHeap<OsSource>) -> Option<NonNull<u8>>,
    ) -> *mut u8 {
        let Some(need) = size.checked_add(if align > ALIGN { align } else { 0 }) else {
            return ptr::null_mut();
        };
        let (acct, a) = (&self.acct, self.my_arena());
        self.with_arena(a, |i| i.alloc_existing(acct, need, alloc))
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    /// Allocates `n * size` zeroed bytes; null on overflow or lack of memory.
    #[inline]
    pub fn calloc(&'static self, n: usize, size: usize) -> *mut u8 {
        let Some(total) = n.checked_mul(size) else {
            return ptr::null_mut();
        };
        if let Some(p) = tcache::malloc_fast::<true>(self, total) {
            // SAFETY: `p` is a fresh cached block of a cached size: its usable bytes are
            // `cached_usable(total)` (all of them cleared, as glibc clears a whole chunk).
            unsafe { ptr::write_bytes(p, 0, tcache::cached_usable(total)) };
            return p;
        }
        self.calloc_slow(n, size, total)
    }

    /// [`Global::calloc`] past the thread cache's fast path (`total = n * size`).
    #[inline(never)]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn calloc_slow(&'static self, n: usize, size: usize, total: usize) -> *mut u8 {
        if total >= self.mmap_threshold() {
            // Fresh mappings are zero; the engine's `calloc` clears a heap block.
            return self.large_or_heap(total, ALIGN, |h| h.calloc(n, size));
        }
        if self.thread_cache() {
            if let Some(p) = tcache::malloc(self, total, true) {
                // SAFETY: as in `calloc`: a fresh cached block of `cached_usable(total)`
                // usable bytes.
                unsafe { ptr::write_bytes(p, 0, tcache::cached_usable(total)) };
                return p;
            }
        }
        let acct = &self.acct;
        let a = self.my_arena();
        if total >= LARGE_THRESHOLD {
            return match self.with_arena(a, |i| {
                i.alloc_large(&self.settings, acct, total, |h| h.calloc(n, size))
            }) {
                Some(p) => p.as_ptr(),
                None => self.large_alloc(total, ALIGN), // fresh mappings are zero
            };
        }
        self.with_arena(a, |i| {
            i.alloc(&self.settings, acct, total, |h| h.calloc(n, size))
        })
        .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    /// Allocates `size` bytes aligned to `align`; null if `align` is not a power of two or
    /// memory is short.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn aligned_alloc(&'static self, align: usize, size: usize) -> *mut u8 {
        if !align.is_power_of_two() || align > large::MAX_LARGE {
            return ptr::null_mut();
        }
        if align <= ALIGN {
            return self.malloc(size);
        }
        if self.thread_cache() && align <= tcache::MAX_CACHED_ALIGN {
            if let Some(p) = tcache::aligned(self, align, size) {
                return p;
            }
        }
        match size.checked_add(align) {
            Some(t) if t < LARGE_THRESHOLD.min(self.mmap_threshold()) => {
                let acct = &self.acct;
                let a = self.my_arena();
                self.with_arena(a, |i| {
                    i.alloc(&self.settings, acct, t, |h| h.aligned_alloc(align, size))
                })
                .map_or(ptr::null_mut(), NonNull::as_ptr)
            }
            _ => self.large_or_heap(size, align, |h| h.aligned_alloc(align, size)),
        }
    }

    /// Allocates `size` zeroed bytes aligned to `align`; null if `align` is not a power of
    /// two or memory is short. A size that takes a mapping of its own gets fresh (zero)
    /// pages, not cleared again: untouched pages stay out of the resident set.
    pub fn aligned_calloc(&'static self, align: usize, size: usize) -> *mut u8 {
        if align <= ALIGN {
            return self.calloc(1, size);
        }
        if !align.is_power_of_two() || align > large::MAX_LARGE {
            return ptr::null_mut();
        }
        match size.checked_add(align) {
            Some(t) if t < LARGE_THRESHOLD.min(self.mmap_threshold()) => {
                let p = self.aligned_alloc(align, size);
                if !p.is_null() {
                    // SAFETY: `p` is a fresh block of this allocator; every usable byte
                    // is cleared, as `calloc` clears them.
                    unsafe { ptr::write_bytes(p, 0, self.usable_size(p)) };
                }
                p
            }
            // A fresh mapping is zero; a heap block is cleared.
            _ => self.large_or_heap(size, align, |h| {
                let p = h.aligned_alloc(align, size)?;
                // SAFETY: `p` is a fresh block of `h`; its usable bytes are cleared.
                unsafe { ptr::write_bytes(p.as_ptr(), 0, h.usable_size(p.as_ptr())) };
                Some(p)
            }),
        }
    }

    /// Releases `p` (null does nothing). A pointer that is neither a heap block nor a large
    /// block goes to the corruption hook.
    ///
    /// # Safety
    /// `p` must be null or a live block of this allocator.
    #[inline]
    pub unsafe fn free(&'static self, p: *mut u8) {
        // SAFETY: forwarded caller contract (a null `p` is no heap block: not cached).
        if !unsafe { tcache::free_fast(self, p) } {
            // SAFETY: forwarded caller contract.
            unsafe { self.free_slow(p) }
        }
    }

    /// [`Global::free`] past the thread cache's fast path.
    ///
    /// # Safety
    /// As [`Global::free`].
    #[inline(never)]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn free_slow(&'static self, p: *mut u8) {
        if p.is_null() {
            return;
        }
        // Caches on: the cache takes the block (or reports it freed twice). Turned off after
        // some were set up: a block may still sit in one (freed), a double free the engine
        // must not take.
        let cache = self.cache.load(Ordering::Relaxed);
        // SAFETY: forwarded caller contract; `p` is non-null.
        let taken = unsafe {
            if cache & CACHE_ON != 0 {
                tcache::free(self, p)
            } else {
                cache & CACHE_USED != 0 && tcache::free_cached(self, p)
            }
        };
        if taken {
            return;
        }
        let a = self.arena_of(p).unwrap_or(0);
        let hook = self.with_arena(a, |inner| match inner.find(p) {
            Some(i) => {
                // SAFETY: forwarded caller contract; `p` lies in heap `i`.
                unsafe { inner.free_into(i, p) };
                inner.maybe_trim(self.trim_threshold());
                None
            }
            None => Some(self.settings.hook()),
        });
        if let Some(hook) = hook {
            // SAFETY: a pointer no heap contains must be a large block (caller contract);
            // `free` claims it (checks its header, under its lock) first.
            match unsafe { large_cache::free(p, |len| self.acct.cache_budget(len)) } {
                Some(len) => {
                    // No glibc-style dynamic threshold (raising the threshold to the
                    // size of freed large blocks): heaps never give address space back,
                    // which breaks recovery under RLIMIT_AS (behaviour b15); the large
                    // cache keeps freed mappings instead. See the README's performance
                    // notes.
                    self.acct.large_unmapped(len)
                }
                None => match harden::was_large_freed(p) {
                    Some(len) => hook(&HeapError::new(ErrorKind::DoubleFree, p as usize, len)),
                    None => hook(&HeapError::new(ErrorKind::InvalidPointer, p as usize, 0)),
                },
            }
        }
    }

    /// Resizes the block at `p` to at least `size` bytes (`size > 0`), keeping the first
    /// `min(old, size)` bytes; null on failure, with `p` untouched. `realloc(null, n)` is
    /// `malloc(n)`. Heap blocks are resized in place when the engine can; large blocks with
    /// `mremap`.
    ///
    /// # Safety
    /// `p` must be null or a live block of this allocator; after success only the returned
    /// pointer may be used.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn realloc(&'static self, p: *mut u8, size: usize) -> *mut u8 {
        if p.is_null() {
            return self.malloc(size);
        }
        // SAFETY: forwarded caller contract; `p` is non-null.
        if let Some(q) = unsafe { tcache::realloc_fast(self, p, size) } {
            return q;
        }
        let acct = &self.acct;
        let cached = self.caches_used();
        let threshold = self.mmap_threshold();
        let a = self.arena_of(p).unwrap_or(0);
        let r = self.with_arena(a, |inner| {
            let Some(i) = inner.find(p) else {
                return Resize::NotHeap(self.settings.hook());
            };
            let hook = self.settings.hook();
            let Some(h) = inner.heap(i) else {
                return Resize::Fail;
            };
            if cached && cached_block(h, p) {
                hook(&HeapError::new(ErrorKind::UseAfterFree, p as usize, 0));
                return Resize::Fail;
            }
            // SAFETY: forwarded caller contract; `p` lies in heap `i`.
            unsafe {
                if size >= LARGE_THRESHOLD.min(threshold) {
                    let u = h.usable_size(p);
                    return match u {
                        0 => Resize::Fail,
                        u if u >= size => Resize::Done(p),
                        usable => Resize::Move { usable, size },
                    };
                }
                // The default policy runs the engine's `realloc` in its two halves, whose
                // copies for this policy sit with the hot code (`realloc` itself is generic
                // over the policy, and its copy for the default policy cannot be placed
                // apart; see `heapwise_core::any`), and a block that grows gets headroom
                // (an eighth, at most `REALLOC_HEADROOM`), so that the next small growths
                // are served in place by `tcache::realloc_fast`. The other policies run
                // their own `realloc`, so that `HEAPWISE_POLICY` shows each one's own cost.
                let (resized, new_size) = match NonNull::new(p) {
                    Some(q) if cached => {
                        let usable = h.usable_size(p);
                        if usable == 0 {
                            return Resize::Fail; // reported by the engine
                        }
                        let want = if size > usable {
                            size.saturating_add((size / 8).min(REALLOC_HEADROOM))
                                .min(LARGE_THRESHOLD - 1)
                                .max(size)
                        } else {
                            size
                        };
                        let r = match h.realloc_in_place(q, want) {
                            // Untouched by `realloc_in_place`: a new block in this heap.
                            None => h.realloc_move(q, want),
                            r => r,
                        };
                        (r, want)
                    }
                    _ => (h.realloc(p, size), size),
                };
                if let Some(q) = resized {
                    inner.grew(i, acct);
                    inner.freed_into(i);
                    return Resize::Done(q.as_ptr());
                }
                match h.usable_size(p) {
                    0 => Resize::Fail,
                    usable => Resize::Move {
                        usable,
                        size: new_size,
                    },
                }
            }
        });
        match r {
            Resize::Done(q) => q,
            Resize::Fail => ptr::null_mut(),
            // SAFETY: forwarded caller contract.
            Resize::Move { usable, size } => unsafe { self.move_block(p, true, usable, size) },
            // SAFETY: forwarded caller contract.
            Resize::NotHeap(hook) => unsafe { self.realloc_large(p, size, hook) },
        }
    }

    /// Allocates `size` bytes elsewhere, copies, frees `p` (a heap block when `from_heap`,
    /// else a large one): one `realloc` in the statistics ([`Global::count_move`]).
    ///
    /// # Safety
    /// `p` must be a live block with `usable` usable bytes.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn move_block(
        &'static self,
        p: *mut u8,
        from_heap: bool,
        usable: usize,
        size: usize,
    ) -> *mut u8 {
        let q = self.malloc(size);
        if !q.is_null() {
            // SAFETY: both blocks are live and distinct; `min(usable, size)` bytes are
            // inside each.
            unsafe {
                ptr::copy_nonoverlapping(p, q, usable.min(size));
                self.free(p);
            }
            self.count_move(from_heap, q);
        }
        q
    }

    /// A `realloc` call moved its block (from a heap block when `from_heap`) to `q` with a
    /// `malloc` and a `free` through this `Global`: [`Global::stats`] counts it as one
    /// `realloc`, not as those calls.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub(crate) fn count_move(&self, from_heap: bool, q: *const u8) {
        let moves = &self.acct.moves;
        moves[0].fetch_add(1, Ordering::Relaxed);
        if self.in_heap(q) {
            moves[1].fetch_add(1, Ordering::Relaxed);
        }
        if from_heap {
            moves[2].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// # Safety
    /// `p` must be a live large block of this allocator.
    unsafe fn realloc_large(
        &'static self,
        p: *mut u8,
        size: usize,
        hook: CorruptionHook,
    ) -> *mut u8 {
        // SAFETY: forwarded caller contract (16 readable bytes before any block).
        let usable = unsafe { large::usable_size(p) };
        if usable == 0 {
            let e = match harden::was_large_freed(p) {
                Some(len) => HeapError::new(ErrorKind::UseAfterFree, p as usize, len),
                None => HeapError::new(ErrorKind::InvalidPointer, p as usize, 0),
            };
            hook(&e);
            return ptr::null_mut();
        }
        if size >= LARGE_THRESHOLD / 2 {
            // SAFETY: `p` is a live large block (a refused `mremap` leaves it untouched);
            // memory short, the cached mappings go back first.
            if let Some(q) = unsafe { self.remap_large(p, size) } {
                return q;
            }
            // `mremap` refuses a block carved from cached ranges of two kernel mappings
            // (see `large_cache`): copy it instead.
            if size > large::MAX_LARGE {
                return ptr::null_mut();
            }
        }
        // SAFETY: `p` is a live large block with `usable` bytes.
        let q = unsafe { self.move_block(p, false, usable, size) };
        if q.is_null() && size < usable {
            // A shrink that found no block to move to: the mapping shrinks in place
            // instead (a shrink never fails for lack of memory).
            // SAFETY: `p` is still the live large block (the move failed).
            return unsafe { self.remap_large(p, size) }.unwrap_or(ptr::null_mut());
        }
        q
    }

    /// Resizes the live large block at `p` to `size` bytes with `mremap` (the large cache
    /// given back first when the OS refuses), with its accounting.
    ///
    /// # Safety
    /// `p` must be a live large block; after success only the returned pointer may be used.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    unsafe fn remap_large(&'static self, p: *mut u8, size: usize) -> Option<*mut u8> {
        // SAFETY: forwarded caller contract; a refused `mremap` leaves the block untouched.
        let (q, old, new) = match unsafe { large::realloc_or_why(p, size) } {
            Ok(r) => r,
            // Refused for lack of memory: the cached mappings go back, then once more.
            // SAFETY: as above.
            Err(true) if large_cache::release() > 0 => unsafe { large::realloc(p, size) }?,
            Err(_) => return None,
        };
        harden::note_large_freed(p, old);
        harden::note_large_allocated(q.as_ptr());
        self.acct.large_remapped(old, new);
        Some(q.as_ptr())
    }

    /// Usable bytes of the block at `p` (0 for null or a pointer that is no block).
    ///
    /// # Safety
    /// `p` must be null or a live block of this allocator.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn usable_size(&'static self, p: *const u8) -> usize {
        if p.is_null() {
            return 0;
        }
        // SAFETY: forwarded caller contract (`p` non-null).
        if let Some(u) = unsafe { tcache::usable_size_fast(self, p) } {
            return u;
        }
        let cached = self.caches_used();
        let a = self.arena_of(p).unwrap_or(0);
        let r = self.with_arena(a, |inner| match inner.find(p) {
            Some(i) => {
                let hook = self.settings.hook();
                let h = inner.heap(i)?;
                if cached && cached_block(h, p) {
                    hook(&HeapError::new(ErrorKind::UseAfterFree, p as usize, 0));
                    return Some(Ok(0));
                }
                // SAFETY: forwarded caller contract; `p` lies in heap `i`.
                Some(Ok(unsafe { h.usable_size(p) }))
            }
            None => Some(Err(self.settings.hook())),
        });
        match r {
            Some(Ok(u)) => u,
            Some(Err(hook)) => {
                // SAFETY: forwarded caller contract (the header is read without faulting).
                let u = unsafe { large::usable_size(p) };
                if u == 0 {
                    let e = match harden::was_large_freed(p) {
                        Some(len) => HeapError::new(ErrorKind::UseAfterFree, p as usize, len),
                        None => HeapError::new(ErrorKind::InvalidPointer, p as usize, 0),
                    };
                    hook(&e);
                }
                u
            }
            None => 0,
        }
    }

    /// Runs the engine's heap checker on every heap, after checking the calling thread's
    /// cache ([`tcache::check_current`]) and the batches on the central lists
    /// ([`tcache::check_central`]), and returning the calling thread's cached blocks to the
    /// engine.
    pub fn check(&'static self) -> Result<(), HeapError> {
        tcache::check_current(self)?;
        tcache::check_central(self)?;
        tcache::flush_current();
        tcache::drain_remote(self);
        for a in 0..ARENAS {
            self.with_arena(a, |inner| {
                for h in inner.live() {
                    h.check()?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Returns the memory of free blocks' interior pages to the OS (`MADV_DONTNEED`) and
    /// unmaps the cached large mappings; the heaps keep their size (their address space).
    /// Returns the bytes released. (`malloc_trim`; the heaps also trim themselves, with
    /// hysteresis: free ranges of the trim threshold or more are given back, see
    /// [`Global::set_trim_threshold`].) The caches of threads that ended without retiring
    /// them go back to their owners first ([`tcache::reclaim_all_exited`]).
    pub fn trim(&'static self) -> usize {
        tcache::flush_current();
        tcache::reclaim_all_exited();
        tcache::drain_central(self);
        tcache::drain_remote(self);
        let mut released = large_cache::release();
        for a in 0..ARENAS {
            released += self.with_arena(a, |inner| {
                inner.freed = 0;
                inner.discard_free(sys::page_size())
            });
        }
        released
    }

    /// Adds `bytes` to the requested-bytes counter (faces that know request sizes call it
    /// on every successful allocation).
    #[inline]
    pub fn note_requested(&self, bytes: usize) {
        self.acct.requested_tracked.store(1, Ordering::Relaxed);
        let now = self.acct.requested.fetch_add(bytes, Ordering::Relaxed) + bytes;
        raise_peak(&self.acct.peak_requested, now);
    }

    /// Subtracts `bytes` from the requested-bytes counter (on free).
    #[inline]
    pub fn note_released(&self, bytes: usize) {
        self.acct.requested.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// A guarded large block (`HEAPWISE_HARDEN=full`, [`crate::guard`]) of `bytes`
    /// reachable mapped bytes was mapped: it counts as a large block (footprint, large-block
    /// counts), as the mapping of an ordinary one does.
    pub fn guarded_mapped(&self, bytes: usize) {
        self.acct.large_mapped(bytes);
    }

    /// The guarded large block [`Global::guarded_mapped`] counted with `bytes` was released.
    pub fn guarded_unmapped(&self, bytes: usize) {
        self.acct.large_unmapped(bytes);
    }

    /// The high-water mark of the footprint (heap bytes plus large bytes; the large cache
    /// never raises it), without a walk.
    pub fn peak_footprint(&self) -> usize {
        self.acct.peak_footprint.load(Ordering::Relaxed)
    }

    /// Live large blocks and the bytes mapped for them, without a walk.
    pub fn large_live(&self) -> (usize, usize) {
        (
            self.acct.large_blocks.load(Ordering::Relaxed),
            self.acct.large_bytes.load(Ordering::Relaxed),
        )
    }

    /// Arena `a`'s heaps (`malloc_info`): their number and summed statistics, or `None` for an arena
    /// without heaps, and `free_block(size)` called for each free block (walks the arena
    /// with its lock held: O(blocks); `free_block` must not call the allocator). The blocks
    /// the thread caches hold count as allocated, as glibc counts its tcache's chunks,
    /// except the calling thread's own, which go back to the heaps first.
    pub fn arena_info(
        &'static self,
        a: usize,
        mut free_block: impl FnMut(usize),
    ) -> Option<(usize, Stats)> {
        if a >= ARENAS {
            return None;
        }
        tcache::flush_current();
        self.with_arena(a, |inner| {
            if inner.count == 0 {
                return None;
            }
            let mut sum = Stats::default();
            for h in inner.live_mut() {
                h.flush_quarantine();
            }
            for h in inner.live() {
                sum.merge(&h.stats());
                h.blocks()
                    .filter(|b| !b.allocated)
                    .for_each(|b| free_block(b.size));
            }
            Some((inner.count, sum))
        })
    }

    /// A snapshot of the statistics (walks every heap: O(blocks)).
    pub fn stats(&'static self) -> GlobalStats {
        let a = &self.acct;
        let policy = self.policy();
        let (mut heaps, mut sbrk_heaps, mut heap) = (0, 0, Stats::default());
        let mut cache_calls = (0, 0);
        for a in 0..ARENAS {
            self.with_arena(a, |inner| {
                // Statistics describe the program's blocks: quarantined ones are released
                // first.
                for h in inner.live_mut() {
                    h.flush_quarantine();
                }
                for h in inner.live() {
                    heap.merge(&h.stats());
                    if matches!(h.source(), OsSource::Brk(_)) {
                        sbrk_heaps += 1;
                    }
                }
                heaps += inner.count;
                // Read in the same lock hold as the heaps' counters: exact.
                cache_calls.0 += inner.cache_calls.0;
                cache_calls.1 += inner.cache_calls.1;
            });
        }
        // The heaps' calls less the caches' refills and flushes (each arena's pair read
        // under its lock) are the program's calls the engine served; the caches' hits are
        // the others. Each is a count of calls that returned, so every call that returned
        // before this snapshot began is in it, whatever the caches do meanwhile (a refill
        // moves no call count). The clamp keeps the cumulative counts monotone where
        // counters are lost: a `fork` child drops the other threads' caches.
        let c = &mut heap.counters;
        c.mallocs = c.mallocs.saturating_sub(cache_calls.0);
        c.frees = c.frees.saturating_sub(cache_calls.1);
        tcache::sum(self).apply(&mut heap);
        let c = &mut heap.counters;
        let moved = |i: usize| a.moves[i].load(Ordering::Relaxed);
        c.reallocs += moved(0);
        c.mallocs = c.mallocs.saturating_sub(moved(1));
        c.frees = c.frees.saturating_sub(moved(2));
        for (reported, count) in a.reported.iter().zip([&mut c.mallocs, &mut c.frees]) {
            *count = reported.fetch_max(*count, Ordering::Relaxed).max(*count);
        }
        let large_bytes = a.large_bytes.load(Ordering::Relaxed);
        let large_cached_bytes = large_cache::cached_bytes();
        let footprint_bytes =
            a.heap_bytes.load(Ordering::Relaxed) + large_bytes + large_cached_bytes;
        GlobalStats {
            policy,
            heaps,
            sbrk_heaps,
            heap,
            large_allocs: a.large_allocs.load(Ordering::Relaxed),
            large_frees: a.large_frees.load(Ordering::Relaxed),
            large_reallocs: a.large_reallocs.load(Ordering::Relaxed),
            large_blocks: a.large_blocks.load(Ordering::Relaxed),
            large_bytes,
            peak_large_bytes: a.peak_large_bytes.load(Ordering::Relaxed),
            large_cached_bytes,
            footprint_bytes,
            // Kept monotone: a footprint seen here (the cache is cut back only after a
            // growth, so for a moment it may stand above the peak) stays the peak.
            peak_footprint_bytes: {
                raise_peak(&a.peak_footprint, footprint_bytes);
                a.peak_footprint.load(Ordering::Relaxed)
            },
            requested_bytes: a.requested.load(Ordering::Relaxed),
            peak_requested_bytes: a.peak_requested.load(Ordering::Relaxed),
            requested_tracked: a.requested_tracked.load(Ordering::Relaxed) != 0,
        }
    }
}
