//! The `no_std` face: [`ArenaAlloc`], a lock-wrapped [`GlobalAlloc`] over fixed memory
//! regions, for kernels, firmware and wasm.
//!
//! * Memory: a [`StaticArena`] given at compile time (usable in a `static`), and up to
//!   [`MAX_REGIONS`] regions claimed later with [`ArenaAlloc::claim`]; the last region can be
//!   grown in place with [`ArenaAlloc::extend`] when the memory after it becomes available.
//!   Each region is one engine [`Heap`]; a free goes to the region that contains the pointer.
//! * Locking: any [`RawLock`]; [`SpinLock`] needs no OS ([`SingleCoreLock`] on targets
//!   without a compare-and-swap). Code that allocates from interrupt handlers should
//!   supply a lock that masks interrupts.
//! * Out of memory: an optional handler, called *without* the lock held, that may claim more
//!   memory and ask for a retry; it is never re-entered (a failure while it runs is null).
//! * Statistics: capacity, bytes in use, free bytes and the high-water mark.
//!
//! ```
//! use heapwise_core::{ArenaAlloc, StaticArena};
//! use core::alloc::{GlobalAlloc, Layout};
//!
//! static ARENA: StaticArena<65536> = StaticArena::new();
//! // In a real program: #[global_allocator]
//! static HEAP: ArenaAlloc = ArenaAlloc::new(&ARENA);
//!
//! let layout = Layout::from_size_align(100, 8).unwrap();
//! let p = unsafe { HEAP.alloc(layout) };
//! assert!(!p.is_null());
//! unsafe { HEAP.dealloc(p, layout) };
//! assert!(HEAP.stats().high_water > 0);
//! HEAP.check().unwrap();
//! ```
//!
//! As the program's allocator (`#[global_allocator]`; this example is a program with `std`,
//! so its whole run, start-up included, allocates from the arena):
//!
//! ```
//! extern crate alloc;
//! use alloc::{string::String, vec::Vec};
//! use heapwise_core::{ArenaAlloc, StaticArena};
//!
//! // 16-byte aligned by its type: no `#[repr(align)]` wrapper or padding needed.
//! static ARENA: StaticArena<{ 1 << 20 }> = StaticArena::new();
//! #[global_allocator]
//! static HEAP: ArenaAlloc = ArenaAlloc::new(&ARENA);
//!
//! fn main() {
//!     let v: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
//!     assert_eq!(v[999], "999");
//!     let s = HEAP.stats();
//!     assert_eq!(s.capacity, 1 << 20);
//!     assert!(s.used > 1000 * 16 && s.used + s.free == s.capacity);
//!     drop(v);
//!     assert!(HEAP.stats().used < s.used);
//!     HEAP.check().unwrap();
//! }
//! ```
//!
//! In a `#![no_std]` binary the same two `static`s serve the `alloc` crate. The lock is the
//! one decision to make: the default [`SpinLock`] suits code that never allocates from an
//! interrupt handler (a handler that interrupts a holder would spin forever); otherwise name
//! a [`RawLock`] that masks interrupts, or an RTOS mutex, as `ArenaAlloc<Segregated, L>`.
//! On a target without a compare-and-swap (`thumbv6m-none-eabi`) the `single-core` feature
//! makes [`SingleCoreLock`] the default. A firmware sketch (the entry point, the panic
//! handler and the linking come from the board's crates):
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//!
//! extern crate alloc;
//! use alloc::vec::Vec;
//! use heapwise_core::{ArenaAlloc, StaticArena};
//!
//! static ARENA: StaticArena<{ 64 * 1024 }> = StaticArena::new();
//! #[global_allocator]
//! static HEAP: ArenaAlloc = ArenaAlloc::new(&ARENA);
//!
//! #[cortex_m_rt::entry]
//! fn main() -> ! {
//!     let mut samples: Vec<u16> = Vec::with_capacity(256);
//!     samples.push(0);
//!     loop {}
//! }
//!
//! #[panic_handler]
//! fn panic(_: &core::panic::PanicInfo) -> ! {
//!     loop {}
//! }
//! ```
//!
//! Invariants: the inner state is only touched with the lock held; every region's memory is
//! exclusively owned by its heap for `'static`.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::block::ALIGN;
use crate::error::{CorruptionHook, ErrorKind, HeapError};
use crate::heap::Heap;
use crate::policy::segregated::Segregated;
use crate::policy::Policy;
use crate::source::{overlap, wraps, FixedArena};

/// How many regions an [`ArenaAlloc`] can hold.
pub const MAX_REGIONS: usize = 8;

/// A raw mutual-exclusion lock.
///
/// # Safety
/// `lock` must not return while another holder has not called `unlock`.
pub unsafe trait RawLock {
    /// An unlocked lock (usable in `static` initialisers).
    const INIT: Self;
    /// Acquires the lock, waiting as needed.
    fn lock(&self);
    /// Releases the lock.
    ///
    /// # Safety
    /// The caller must hold the lock.
    unsafe fn unlock(&self);
}

/// A test-and-test-and-set spin lock; needs nothing from an OS.
///
/// It needs an atomic compare-and-swap. On targets without one (Cortex-M0/M0+ as
/// `thumbv6m-none-eabi`, `riscv32imc`), `SpinLock` is [`SingleCoreLock`] instead, with the
/// `single-core` feature (the crate does not build there without it).
#[cfg(target_has_atomic = "8")]
pub struct SpinLock(AtomicBool);

// SAFETY: the compare-exchange from `false` to `true` succeeds for one holder at a time.
#[cfg(target_has_atomic = "8")]
unsafe impl RawLock for SpinLock {
    const INIT: Self = SpinLock(AtomicBool::new(false));
    #[inline]
    fn lock(&self) {
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            while self.0.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }
    #[inline]
    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The default lock on targets without an atomic compare-and-swap, with the `single-core`
/// feature (an explicit opt-in: [`SingleCoreLock`] is sound on one core only).
#[cfg(all(not(target_has_atomic = "8"), feature = "single-core"))]
pub type SpinLock = SingleCoreLock;

#[cfg(all(not(target_has_atomic = "8"), not(feature = "single-core")))]
compile_error!(
    "heapwise-core: this target has no atomic compare-and-swap, so there is no spin lock; \
     enable the `single-core` feature (the default lock is then `SingleCoreLock`, sound on \
     one core only; name another RawLock for interrupts or several cores)"
);

/// A lock for a single core without a compare-and-swap (`thumbv6m-none-eabi`, `riscv32imc`;
/// the default there with the `single-core` feature): on one core, a critical section can
/// only be entered again by an interrupt handler that preempts the holder, and waiting there
/// would never end, so finding the lock held **panics** ("allocation while the arena is
/// locked"; in [`ArenaAlloc`]'s `GlobalAlloc` methods, out of which nothing may unwind, the
/// panic aborts). Where the target has a compare-and-swap it takes the flag with an atomic swap,
/// so a second core or thread that finds it held panics too, and is never let in; without
/// one it is an atomic load and store, sound on one core only (what the `single-core`
/// feature asserts).
/// Code that allocates from interrupt handlers or preemptive threads, or runs on several
/// cores (RP2040), must supply its own [`RawLock`] — one that masks interrupts, an RTOS
/// mutex, or a hardware spinlock:
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use heapwise_core::{ArenaAlloc, RawLock, Segregated, StaticArena};
///
/// /// The sketch of an interrupt-masking lock (a real one saves and masks the interrupt
/// /// state in `lock` and restores it in `unlock`, e.g. with the `critical-section` crate).
/// struct IrqLock(AtomicBool);
/// // SAFETY: one core, interrupts masked while held: one holder at a time.
/// unsafe impl RawLock for IrqLock {
///     const INIT: Self = IrqLock(AtomicBool::new(false));
///     fn lock(&self) {
///         // mask interrupts here
///         self.0.store(true, Ordering::Relaxed);
///     }
///     unsafe fn unlock(&self) {
///         self.0.store(false, Ordering::Relaxed);
///         // restore interrupts here
///     }
/// }
///
/// static ARENA: StaticArena<4096> = StaticArena::new();
/// static HEAP: ArenaAlloc<Segregated, IrqLock> = ArenaAlloc::new(&ARENA);
/// # use core::alloc::{GlobalAlloc, Layout};
/// # let l = Layout::from_size_align(64, 8).unwrap();
/// # let p = unsafe { HEAP.alloc(l) };
/// # assert!(!p.is_null());
/// # unsafe { HEAP.dealloc(p, l) };
/// ```
pub struct SingleCoreLock(AtomicBool);

// SAFETY: with a compare-and-swap, the flag is taken with an atomic swap: exactly one caller
// sees it clear, every other one (nested, preempting, or on another core) panics instead of
// entering. Without one (the `single-core` feature asserts one core), critical sections
// that do not nest are mutually exclusive: one that preempts the holder finds the flag set
// and panics; one that preempts `lock` between its load and its store runs to completion
// before the preempted `lock` resumes. The compiler fence keeps the critical section's
// accesses after the store.
unsafe impl RawLock for SingleCoreLock {
    const INIT: Self = SingleCoreLock(AtomicBool::new(false));
    #[inline]
    fn lock(&self) {
        #[cfg(target_has_atomic = "8")]
        let held = self.0.swap(true, Ordering::Acquire);
        #[cfg(not(target_has_atomic = "8"))]
        let held = self.0.load(Ordering::Acquire);
        if held {
            panic!("heapwise: allocation while the arena is locked (an interrupt handler or a second core): supply a RawLock");
        }
        #[cfg(not(target_has_atomic = "8"))]
        self.0.store(true, Ordering::Relaxed);
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
    }
    #[inline]
    unsafe fn unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// `N` bytes of 16-byte-aligned memory for a `static` arena.
#[repr(C, align(16))]
pub struct StaticArena<const N: usize> {
    mem: UnsafeCell<[MaybeUninit<u8>; N]>,
    taken: AtomicBool,
}

// SAFETY: the memory is handed to exactly one allocator (the `taken` flag) and then only
// touched under that allocator's lock.
unsafe impl<const N: usize> Sync for StaticArena<N> {}

impl<const N: usize> StaticArena<N> {
    /// A new, unused arena.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        StaticArena {
            mem: UnsafeCell::new([MaybeUninit::uninit(); N]),
            taken: AtomicBool::new(false),
        }
    }
}

/// Sets a flag (a [`StaticArena`] taken, the OOM handler running); whether it was set
/// already. Atomic where the target has a swap; elsewhere (no compare-and-swap: single-core
/// parts, in practice) a load and a store, under the allocator's lock for an arena, which
/// orders the allocators that share that lock only — give each arena to one allocator
/// there.
fn take(taken: &AtomicBool) -> bool {
    #[cfg(target_has_atomic = "8")]
    {
        taken.swap(true, Ordering::AcqRel)
    }
    #[cfg(not(target_has_atomic = "8"))]
    {
        let was = taken.load(Ordering::Acquire);
        taken.store(true, Ordering::Release);
        was
    }
}

/// Called when an allocation fails, without the lock held. Return `true` to retry (after
/// claiming more memory, say). Retries are not bounded: a handler that returns `true`
/// without adding memory that can serve the request is called again, for ever (note that
/// [`ArenaAlloc::extend`] returns `true` whenever it takes the bytes, whether or not they
/// are enough).
///
/// The handler is never re-entered: an allocation that fails while it runs (its own, or
/// another thread's) returns null at once instead of calling it again, so that a handler
/// that allocates (formats a message, say) cannot recurse without bound.
///
/// It must not unwind: a panic in it, called from a `GlobalAlloc` method (out of which
/// unwinding is undefined behaviour), aborts.
pub type OomHandler<P, L> = fn(&ArenaAlloc<P, L>, Layout) -> bool;

/// Memory statistics of an [`ArenaAlloc`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArenaStats {
    /// Bytes of all regions.
    pub capacity: usize,
    /// Bytes of allocated blocks (headers and padding included). Under a policy with slabs
    /// ([`CompactSlab`](crate::CompactSlab)) a slab object counts its class size, as the
    /// engine's counters count it, and a slab's own bytes (its block's header and slab
    /// header, its free objects, the slab directory) are not in `used`.
    pub used: usize,
    /// `capacity - used`: bytes not in allocated blocks (free blocks, heap metadata and
    /// memory not yet reached by any heap's `brk`), and under a policy with slabs the slabs'
    /// own bytes, which no request of another size can take.
    pub free: usize,
    /// The highest `used` seen.
    pub high_water: usize,
    /// Regions in use.
    pub regions: usize,
}

struct Inner<P: Policy> {
    regions: [Option<Heap<FixedArena<'static>, P>>; MAX_REGIONS],
    pending: Option<(&'static AtomicBool, *mut u8, usize)>,
    hook: Option<CorruptionHook>,
    used: usize,
    high_water: usize,
}

/// A thread-safe global allocator over fixed memory, with policy `P` and lock `L`.
pub struct ArenaAlloc<P: Policy = Segregated, L: RawLock = SpinLock> {
    lock: L,
    oom: UnsafeCell<Option<OomHandler<P, L>>>,
    /// Set while the OOM handler runs ([`OomHandler`]: it is not re-entered).
    in_oom: AtomicBool,
    inner: UnsafeCell<Inner<P>>,
}

// SAFETY: all access to `inner` and `oom` happens with `lock` held.
unsafe impl<P: Policy, L: RawLock + Sync> Sync for ArenaAlloc<P, L> {}
// SAFETY: the allocator owns its regions; moving it moves that ownership.
unsafe impl<P: Policy, L: RawLock + Send> Send for ArenaAlloc<P, L> {}

/// Clears a flag when dropped (the OOM handler's, also if the handler unwinds).
struct Clear<'a>(&'a AtomicBool);
impl Drop for Clear<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Turns a panic that would unwind out of a [`GlobalAlloc`] method into an abort (dropped
/// while a panic unwinds, it panics again, and a panic during unwinding aborts, in `no_std`
/// too): unwinding out of a global allocator is undefined behaviour. What can panic there
/// is the lock (a [`SingleCoreLock`] that finds itself held), the out-of-memory handler and
/// the corruption hook. Forgotten on the way out, it costs the normal path nothing.
struct NoUnwind;
impl Drop for NoUnwind {
    fn drop(&mut self) {
        panic!("heapwise: a panic cannot unwind out of the allocator (abort)");
    }
}

/// Runs `f` under a [`NoUnwind`].
#[inline(always)]
fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    let g = NoUnwind;
    let r = f();
    core::mem::forget(g);
    r
}

struct Guard<'a, L: RawLock>(&'a L);
impl<L: RawLock> Drop for Guard<'_, L> {
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its lock is held.
        unsafe { self.0.unlock() }
    }
}

impl<P: Policy, L: RawLock> ArenaAlloc<P, L> {
    /// An allocator over a static arena (taken on first use; an arena already taken by
    /// another allocator is ignored).
    pub const fn new<const N: usize>(arena: &'static StaticArena<N>) -> Self {
        let mut a = Self::empty();
        a.inner.get_mut().pending = Some((&arena.taken, arena.mem.get() as *mut u8, N));
        a
    }

    /// An allocator with no memory yet: [`claim`](Self::claim) some before allocating.
    pub const fn empty() -> Self {
        ArenaAlloc {
            lock: L::INIT,
            oom: UnsafeCell::new(None),
            in_oom: AtomicBool::new(false),
            inner: UnsafeCell::new(Inner {
                regions: [None, None, None, None, None, None, None, None],
                pending: None,
                hook: None,
                used: 0,
                high_water: 0,
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner<P>) -> R) -> R {
        self.lock.lock();
        let _g = Guard(&self.lock);
        // SAFETY: the lock is held, so this is the only reference to `inner`.
        let inner = unsafe { &mut *self.inner.get() };
        if let Some((taken, p, n)) = inner.pending.take() {
            if !take(taken) {
                // SAFETY: the static arena is 16-aligned, `N` bytes, and now ours alone.
                unsafe { inner.add(p, n) };
            }
        }
        f(inner)
    }

    /// Adds the region `[mem, mem + len)`. Returns `false` if [`MAX_REGIONS`] are in use, or
    /// if the region ends before its first 16-byte-aligned address (a heap must start
    /// aligned; such a region could not be [extended](Self::extend) either), or if it
    /// shares a byte with a region already held or passes the top of the address space
    /// (both break the safety contract below; they are cheap to detect, and two heaps over
    /// the same bytes would hand them out twice). A region
    /// smaller than an empty heap (the policy's metadata and boundary blocks, about 2.6 KiB
    /// for [`Segregated`]) is taken, and serves nothing until it is extended. Check the
    /// result before an [`extend`](Self::extend): after a refused claim, `extend` would
    /// grow the region added before.
    ///
    /// # Safety
    /// The region must be valid for reads and writes and used by nothing else, forever.
    pub unsafe fn claim(&self, mem: *mut u8, len: usize) -> bool {
        // SAFETY: forwarded caller contract.
        self.with(|i| unsafe { i.add(mem, len) })
    }

    /// Adds a `'static` slice as a region. Returns `false` as [`claim`](Self::claim) does.
    pub fn claim_slice(&self, mem: &'static mut [MaybeUninit<u8>]) -> bool {
        let len = mem.len();
        // SAFETY: an exclusive `'static` borrow is memory nobody else uses, forever.
        unsafe { self.claim(mem.as_mut_ptr() as *mut u8, len) }
    }

    /// Grows the most recently added region by `additional` bytes at its end. Returns
    /// `false`, changing nothing, when there is no region, or when the bytes added would
    /// share one with another region (one claimed later at a lower address) or pass the top
    /// of the address space: both break the safety contract below, and are refused because
    /// they are cheap to detect.
    ///
    /// # Safety
    /// The `additional` bytes right after that region's end must be valid for reads and
    /// writes and used by nothing else, forever.
    pub unsafe fn extend(&self, additional: usize) -> bool {
        self.with(|i| {
            let Some(last) = i.regions.iter().rposition(Option::is_some) else {
                return false;
            };
            let (start, len) = i.regions[last]
                .as_ref()
                .map_or((0, 0), |h| h.source().given());
            if i.overlaps_region((start.wrapping_add(len), additional)) {
                return false;
            }
            // The arena refuses bytes past the top of the address space itself.
            i.regions[last].as_mut().is_some_and(|h| {
                // SAFETY: forwarded caller contract (the bytes added are nobody else's: no
                // region holds them, checked above); extending the arena does not move
                // `brk`.
                unsafe { h.source_mut().extend(additional) }
            })
        })
    }

    /// Sets the out-of-memory handler.
    pub fn set_oom_handler(&self, h: OomHandler<P, L>) {
        self.lock.lock();
        let _g = Guard(&self.lock);
        // SAFETY: the lock is held.
        unsafe { *self.oom.get() = Some(h) };
    }

    /// Sets the hook called on detected corruption (e.g. a double free, a `realloc` or
    /// `dealloc` of a freed pointer or of one outside every region) in every region; the
    /// call that found it is refused (`realloc` returns null, `dealloc` does nothing). It
    /// runs with the allocator's lock held (unlike the OOM handler): it must not call this
    /// allocator at all — no allocation, [`stats`](Self::stats), [`check`](Self::check),
    /// [`claim`](Self::claim), [`extend`](Self::extend) or `Debug` formatting (a
    /// [`SpinLock`] would wait for ever, a [`SingleCoreLock`] panics); report through a
    /// fixed buffer, or abort. A panic in it (or in the lock) aborts: nothing unwinds out of
    /// the `GlobalAlloc` methods.
    pub fn set_corruption_hook(&self, hook: CorruptionHook) {
        self.with(|i| {
            i.hook = Some(hook);
            for h in i.regions.iter_mut().flatten() {
                h.set_corruption_hook(hook);
            }
        })
    }

    /// Memory statistics.
    pub fn stats(&self) -> ArenaStats {
        self.with(|i| {
            let mut s = ArenaStats {
                used: i.used,
                high_water: i.high_water,
                ..Default::default()
            };
            for h in i.regions.iter().flatten() {
                s.capacity += h.source().capacity();
                s.regions += 1;
            }
            s.free = s.capacity - s.used;
            s
        })
    }

    /// Runs the heap checker on every region.
    pub fn check(&self) -> Result<(), HeapError> {
        self.with(|i| i.regions.iter().flatten().try_for_each(|h| h.check()))
    }

    fn alloc_inner(&self, layout: Layout, zero: bool) -> *mut u8 {
        loop {
            let p = self.with(|i| i.alloc(layout, zero));
            if !p.is_null() {
                return p;
            }
            self.lock.lock();
            // SAFETY: the lock is held while we read the handler.
            let handler = unsafe { *self.oom.get() };
            // SAFETY: we hold the lock.
            unsafe { self.lock.unlock() };
            let Some(h) = handler else {
                return ptr::null_mut();
            };
            // A failure while the handler runs (a nested one, or another thread's) fails.
            if take(&self.in_oom) {
                return ptr::null_mut();
            }
            let retry = {
                let _running = Clear(&self.in_oom);
                h(self, layout)
            };
            if !retry {
                return ptr::null_mut();
            }
        }
    }
}

impl<P: Policy> Inner<P> {
    unsafe fn add(&mut self, mem: *mut u8, len: usize) -> bool {
        let Some(slot) = self.regions.iter().position(Option::is_none) else {
            return false;
        };
        // The heap starts at the first aligned address of the region. A region that ends
        // before it is refused: clamping the padding to `len` would leave an unaligned,
        // empty heap that `extend` then grows into misaligned blocks.
        let pad = mem.align_offset(ALIGN);
        if pad > len {
            return false;
        }
        // Two heaps over the same bytes would hand them out twice: a region that shares a
        // byte with one held already (or wraps, which no valid memory does) is refused.
        let given = ((mem as usize).wrapping_add(pad), len - pad);
        if wraps(given.0, given.1) || self.overlaps_region(given) {
            return false;
        }
        // SAFETY: the caller gives us `[mem, mem + len)`; `mem + pad` is 16-byte aligned and
        // `pad <= len`, so `[mem + pad, mem + len)` stays inside it.
        let mut h = Heap::new(unsafe { FixedArena::from_raw(mem.add(pad), len - pad) });
        if let Some(hook) = self.hook {
            h.set_corruption_hook(hook);
        }
        self.regions[slot] = Some(h);
        true
    }

    /// Whether the bytes `[start, start + len)` share one with a region held.
    fn overlaps_region(&self, range: (usize, usize)) -> bool {
        self.regions
            .iter()
            .flatten()
            .any(|h| overlap(h.source().given(), range))
    }

    fn used_now(&mut self) {
        self.used = self
            .regions
            .iter()
            .flatten()
            .map(|h| h.counters().alloc_bytes)
            .sum();
        self.high_water = self.high_water.max(self.used);
    }

    fn alloc(&mut self, layout: Layout, zero: bool) -> *mut u8 {
        for h in self.regions.iter_mut().flatten() {
            let p = if layout.align() <= ALIGN {
                if zero {
                    h.calloc(1, layout.size())
                } else {
                    h.malloc(layout.size())
                }
            } else {
                let p = h.aligned_alloc(layout.align(), layout.size());
                if let (Some(p), true) = (p, zero) {
                    // SAFETY: `p` is a fresh block of at least `size` bytes.
                    unsafe { ptr::write_bytes(p.as_ptr(), 0, layout.size()) };
                }
                p
            };
            if let Some(p) = p {
                self.used_now();
                return p.as_ptr();
            }
        }
        ptr::null_mut()
    }

    fn owner(&mut self, p: *mut u8) -> Option<&mut Heap<FixedArena<'static>, P>> {
        self.regions.iter_mut().flatten().find(|h| h.contains(p))
    }

    /// `p` lies in no region: an invalid pointer, reported to the hook (the call that got it
    /// is refused).
    #[cold]
    fn report_foreign(&self, p: *mut u8) {
        if let Some(hook) = self.hook {
            hook(&HeapError::new(ErrorKind::InvalidPointer, p as usize, 0));
        }
    }
}

// SAFETY: every pointer returned is a block payload of at least `layout.size()` bytes,
// aligned to `max(16, layout.align())`, exclusively owned until deallocated.
// Nothing unwinds out of these methods ([`NoUnwind`]): a panic of the lock, the OOM handler
// or the corruption hook aborts.
unsafe impl<P: Policy, L: RawLock> GlobalAlloc for ArenaAlloc<P, L> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| self.alloc_inner(layout, false))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| self.alloc_inner(layout, true))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        no_unwind(|| self.dealloc_inner(ptr))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract.
        no_unwind(|| unsafe { self.realloc_inner(ptr, layout, new_size) })
    }
}

impl<P: Policy, L: RawLock> ArenaAlloc<P, L> {
    /// [`GlobalAlloc::dealloc`].
    fn dealloc_inner(&self, ptr: *mut u8) {
        self.with(|i| {
            match i.owner(ptr) {
                // SAFETY: `ptr` was returned by this allocator (GlobalAlloc contract) and
                // lies in this region.
                Some(h) => unsafe { h.free(ptr) },
                None => i.report_foreign(ptr),
            }
            i.used_now();
        })
    }

    /// [`GlobalAlloc::realloc`].
    ///
    /// # Safety
    /// As [`GlobalAlloc::realloc`].
    unsafe fn realloc_inner(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // In its region first: a block of alignment 16 is resized by the engine (in place,
        // or moved within the region); an over-aligned one is resized without moving its
        // payload (a shrink, or growth into a free successor or at the top of the heap: it
        // keeps its alignment, and a shrink never fails for lack of memory), never slid
        // down into a free predecessor as the engine's `realloc` may (which would lose the
        // alignment): when that does not fit, the copy below grows it.
        let resized = self.with(|i| {
            let used_before = i.used;
            let mut transient = 0;
            let r = match i.owner(ptr) {
                None => {
                    i.report_foreign(ptr);
                    Err(())
                }
                Some(h) => {
                    // The heap's peak, restarted for the call (and restored after), catches
                    // the moment a moving realloc holds both blocks.
                    let (before, peak) = (h.counters.alloc_bytes, h.counters.peak_alloc_bytes);
                    let errors = h.counters.errors;
                    h.counters.peak_alloc_bytes = before;
                    let q = if layout.align() <= ALIGN {
                        // SAFETY: `ptr` is a live block of this region (GlobalAlloc
                        // contract; a misuse is reported); `new_size` is non-zero.
                        unsafe { h.realloc(ptr, new_size) }
                    } else {
                        // SAFETY: as above; a live block's pointer is non-null.
                        unsafe { h.resize_fixed(NonNull::new_unchecked(ptr), new_size) }
                    };
                    transient = h.counters.peak_alloc_bytes - before;
                    h.counters.peak_alloc_bytes = h.counters.peak_alloc_bytes.max(peak);
                    // A misuse the engine reported (a freed or foreign pointer) is refused,
                    // not worked around with a fresh block.
                    if h.counters.errors == errors {
                        Ok(q)
                    } else {
                        Err(())
                    }
                }
            };
            i.used_now();
            i.high_water = i.high_water.max(used_before + transient);
            r
        });
        match resized {
            Ok(Some(q)) => q.as_ptr(),
            // No room in its region.
            // SAFETY: forwarded caller contract.
            Ok(None) => unsafe { self.realloc_copy(ptr, layout, new_size) },
            Err(()) => ptr::null_mut(),
        }
    }
}

impl<P: Policy, L: RawLock> ArenaAlloc<P, L> {
    /// `realloc` by allocating (in any region), copying and freeing.
    ///
    /// # Safety
    /// As [`GlobalAlloc::realloc`].
    unsafe fn realloc_copy(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `new_size` with the old alignment is a valid layout (GlobalAlloc contract).
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let q = self.alloc_inner(new_layout, false);
        if !q.is_null() {
            // SAFETY: both blocks are live and at least `min(old, new)` bytes long.
            unsafe { ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size)) };
            self.dealloc_inner(ptr);
        }
        q
    }
}

impl<P: Policy, L: RawLock> core::fmt::Debug for ArenaAlloc<P, L> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ArenaAlloc")
            .field("stats", &self.stats())
            .finish()
    }
}
