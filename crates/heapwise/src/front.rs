//! The API boundary of the OS faces: every `malloc`-family call of `libheapwise.so` and
//! every [`crate::Heapwise`] call goes through here on its way to a [`Global`]. Usually
//! that is all: one load of a cached flag and a predictable branch. The flag turns on
//! optional layers, chosen once before the first block:
//!
//! * **valgrind** (detected with `RUNNING_ON_VALGRIND`): every block handed out is
//!   announced to memcheck (`MALLOCLIKE_BLOCK` with the requested size; calloc blocks as
//!   defined), every free with `FREELIKE_BLOCK` *before* the allocator touches the block;
//!   `realloc` always moves (allocate, copy the requested bytes, free), as memcheck's own
//!   does, so definedness of the kept bytes is preserved; the allocator's memory (headers,
//!   free blocks, slack after the requested size, large mappings) is kept `NOACCESS` to the
//!   program, and the allocator's own work runs with error reporting off for the thread
//!   ([`valgrind::Quiet`]). The thread cache is off; the quarantine stays (it delays reuse,
//!   which helps memcheck name freed blocks).
//! * **canaries** (`HEAPWISE_HARDEN=full`): each heap block gets a trailer after the
//!   requested size ([`crate::canary`]), checked at `free`, `realloc` and
//!   `malloc_usable_size`, which returns the requested size.
//! * **guard pages** (`HEAPWISE_HARDEN=full`): requests of [`LARGE_THRESHOLD`] bytes or
//!   more get a guarded mapping ([`crate::guard`]).
//!
//! * **perturb** (glibc's `M_PERTURB`, `MALLOC_PERTURB_`; [`set_perturb`]): a new block's
//!   requested bytes are filled with `!byte` (not `calloc`'s), a freed heap block's usable
//!   bytes past its first two words (where the thread cache and the free lists keep their
//!   links) with `byte`, and a block that grows gets `!byte` in its new bytes. It changes
//!   no block's format, so unlike the others it can be turned on and off at any time; it
//!   takes effect alone (`HEAPWISE_HARDEN=full` fills freed blocks with its own junk, and
//!   memcheck tracks definedness itself).
//!
//! Under valgrind canaries and guard pages are off (memcheck does better).
//!
//! ```
//! use heapwise::{front, Config, Global};
//!
//! static G: Global = Global::new(Config::DEFAULT);
//! let layers = front::configure(&G, true); // HEAPWISE_HARDEN=full
//! let p = front::malloc(&G, 33);
//! if layers & front::CANARY != 0 {
//!     // The requested size, not the engine's 40 usable bytes.
//!     // SAFETY: `p` is a live block of `G`.
//!     assert_eq!(unsafe { front::usable_size(&G, p) }, 33);
//! }
//! // SAFETY: `p` is a live block of `G`, freed once.
//! unsafe { front::free(&G, p) };
//! ```
//!
//! Invariants: the layers other than perturb never change once a block exists (the preload
//! face sets them during initialisation, the Rust face at its first allocation); a block
//! carries a trailer exactly when one of them is on; guarded blocks never reach the
//! [`Global`]; nothing here allocates through another allocator.

use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use heapwise_core::block::{ALIGN, ALLOC, FLAGS, MIN_BLOCK, QUARANTINED, WORD};
use heapwise_core::ErrorKind;

use crate::canary;
use crate::fork;
use crate::global::Global;
use crate::large::{self, LARGE_THRESHOLD};
use crate::valgrind::{self, Quiet};
use crate::{guard, harden};

/// Layer bit: blocks are announced to valgrind.
pub const VALGRIND: u8 = 1;
/// Layer bit: canaries after the requested size of heap blocks.
pub const CANARY: u8 = 2;
/// Layer bit: guard pages around large blocks.
pub const GUARD: u8 = 4;
/// Layer bit: new and freed blocks are filled with the perturb byte ([`set_perturb`]).
pub const PERTURB: u8 = 8;
/// Not decided yet (the Rust face decides at its first allocation), or being decided by the
/// thread that holds [`CONFIGURING`].
const UNSET: u8 = 0x80;

static LAYERS: AtomicU8 = AtomicU8::new(UNSET);

/// Who decides the layers ([`configure`]): one thread of the process; a `fork` child
/// whose parent forked meanwhile decides them itself.
static CONFIGURING: fork::SetupClaim = fork::SetupClaim::new();

/// glibc's `perturb_byte`: the value of the last `M_PERTURB` (0: off).
static PERTURB_VALUE: AtomicI32 = AtomicI32::new(0);

/// glibc's `M_PERTURB`: with `value != 0`, every new block's requested bytes are filled with
/// `value ^ 0xff` (low byte; not `calloc`'s) and every freed heap block's usable bytes, past
/// its first two words, with `value`'s low byte; 0 turns it off. Decides the other layers
/// first if nobody did. Returns the layer bits in force.
///
/// ```
/// use heapwise::{front, Config, Global};
///
/// static G: Global = Global::new(Config::DEFAULT);
/// let layers = front::set_perturb(&G, 0xa5);
/// assert_ne!(layers & front::PERTURB, 0);
/// let p = front::malloc(&G, 100);
/// if layers == front::PERTURB {
///     // SAFETY: `p` is a live block of 100 bytes.
///     assert!(unsafe { core::slice::from_raw_parts(p, 100) }.iter().all(|&b| b == 0x5a));
/// }
/// // SAFETY: `p` is a live block of `G`, freed once.
/// unsafe { front::free(&G, p) };
/// assert_eq!(front::set_perturb(&G, 0) & front::PERTURB, 0);
/// ```
pub fn set_perturb(g: &'static Global, value: i32) -> u8 {
    resolve(g, LAYERS.load(Ordering::Acquire));
    PERTURB_VALUE.store(value, Ordering::Relaxed);
    if value != 0 {
        LAYERS.fetch_or(PERTURB, Ordering::AcqRel) | PERTURB
    } else {
        LAYERS.fetch_and(!PERTURB, Ordering::AcqRel) & !PERTURB
    }
}

/// The perturb byte's fills: `(for new bytes, for freed bytes)`.
fn perturb_bytes() -> (u8, u8) {
    let v = PERTURB_VALUE.load(Ordering::Relaxed);
    ((v ^ 0xff) as u8, v as u8)
}

/// Chooses the layers before the first block: valgrind when running under it, otherwise
/// canaries and guard pages when `full`. Turns `g`'s thread cache off under valgrind.
/// Returns the layer bits in force: the layers are chosen once per process, so a later call
/// (or one after the Rust face's first allocation chose them) changes nothing.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn configure(g: &'static Global, full: bool) -> u8 {
    // UNSET until the thread holding the claim stores the bits; others wait, so no block
    // is made before the secret and the thread cache are settled. In a `fork` child whose
    // parent forked while one of its threads was deciding, the claim is the parent's
    // (that thread does not exist here): the caller takes it over.
    loop {
        let now = LAYERS.load(Ordering::Acquire);
        if now & UNSET == 0 {
            return now;
        }
        if CONFIGURING.try_claim() {
            break;
        }
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
    }
    let vg = valgrind::running();
    let f = if vg {
        VALGRIND
    } else if full {
        CANARY | GUARD
    } else {
        0
    };
    if f != 0 {
        canary::set_secret(canary::fresh_secret());
    }
    if vg {
        g.set_thread_cache(false);
        harden::hide_from_valgrind();
        // The allocator's state holds pointers that may equal a payload (the heaps' first
        // block, the last extension, quarantine entries): hidden from the leak check (and
        // from the program). Every access runs inside a [`Quiet`]; the lock stays open for
        // the `fork` handlers.
        valgrind::make_noaccess((g as *const Global).cast(), core::mem::size_of::<Global>());
        valgrind::make_defined(
            (g.lock() as *const crate::FutexLock).cast(),
            core::mem::size_of::<crate::FutexLock>(),
        );
    }
    LAYERS.store(f, Ordering::Release);
    f
}

/// Error reporting off for this thread while the value lives, when running under valgrind
/// (for faces that touch the [`Global`] outside this module: statistics, checks, trims).
#[inline]
pub fn quiet_under_valgrind() -> Option<Quiet> {
    quiet(LAYERS.load(Ordering::Relaxed))
}

/// [`Global::note_requested`] (the Rust face's accounting) through the layers.
#[inline]
pub fn note_requested(g: &'static Global, n: usize) {
    let _q = quiet_under_valgrind();
    g.note_requested(n);
}

/// [`Global::note_released`] through the layers.
#[inline]
pub fn note_released(g: &'static Global, n: usize) {
    let _q = quiet_under_valgrind();
    g.note_released(n);
}

/// The layer bits in force (deciding them as the Rust face does if nobody did).
pub fn layers(g: &'static Global) -> u8 {
    resolve(g, LAYERS.load(Ordering::Relaxed))
}

#[inline]
fn resolve(g: &'static Global, f: u8) -> u8 {
    if f & UNSET != 0 {
        configure(g, false)
    } else {
        f
    }
}

#[inline]
fn quiet(f: u8) -> Option<Quiet> {
    if f & VALGRIND != 0 && f & UNSET == 0 {
        Some(Quiet::new())
    } else {
        None
    }
}

/// `malloc(n)` through the layers.
#[inline]
pub fn malloc(g: &'static Global, n: usize) -> *mut u8 {
    let f = LAYERS.load(Ordering::Relaxed);
    if f == 0 {
        return g.malloc(n);
    }
    layered_alloc(g, f, n, ALIGN, false)
}

/// `calloc(k, n)` through the layers.
#[inline]
pub fn calloc(g: &'static Global, k: usize, n: usize) -> *mut u8 {
    let f = LAYERS.load(Ordering::Relaxed);
    if f == 0 {
        return g.calloc(k, n);
    }
    match k.checked_mul(n) {
        Some(t) => layered_alloc(g, f, t, ALIGN, true),
        None => ptr::null_mut(),
    }
}

/// `aligned_alloc(align, n)` (any power of two) through the layers.
#[inline]
pub fn aligned_alloc(g: &'static Global, align: usize, n: usize) -> *mut u8 {
    aligned(g, align, n, false)
}

/// Zeroed `n` bytes aligned to `align` (any power of two) through the layers.
#[inline]
pub fn aligned_calloc(g: &'static Global, align: usize, n: usize) -> *mut u8 {
    aligned(g, align, n, true)
}

#[inline]
fn aligned(g: &'static Global, align: usize, n: usize, zero: bool) -> *mut u8 {
    let f = LAYERS.load(Ordering::Relaxed);
    if f == 0 {
        return if zero {
            g.aligned_calloc(align, n)
        } else {
            g.aligned_alloc(align, n)
        };
    }
    if !align.is_power_of_two() || align > large::MAX_LARGE {
        return ptr::null_mut();
    }
    layered_alloc(g, f, n, align, zero)
}

/// `free(p)` through the layers.
///
/// # Safety
/// `p` must be null or a live block handed out through this module for `g`.
#[inline]
pub unsafe fn free(g: &'static Global, p: *mut u8) {
    let f = LAYERS.load(Ordering::Relaxed);
    if f == 0 {
        // SAFETY: forwarded caller contract.
        return unsafe { g.free(p) };
    }
    // SAFETY: forwarded caller contract.
    unsafe { layered_free(g, f, p) }
}

/// `realloc(p, n)` (`n > 0`) through the layers.
///
/// # Safety
/// As [`Global::realloc`], for blocks handed out through this module.
#[inline]
pub unsafe fn realloc(g: &'static Global, p: *mut u8, n: usize) -> *mut u8 {
    let f = LAYERS.load(Ordering::Relaxed);
    if f == 0 {
        // SAFETY: forwarded caller contract.
        return unsafe { g.realloc(p, n) };
    }
    // SAFETY: forwarded caller contract.
    unsafe { layered_realloc(g, f, p, n) }
}

/// `malloc_usable_size(p)` through the layers (the requested size when a layer is on).
///
/// # Safety
/// As [`Global::usable_size`], for blocks handed out through this module.
#[inline]
pub unsafe fn usable_size(g: &'static Global, p: *const u8) -> usize {
    let f = LAYERS.load(Ordering::Relaxed);
    if f == 0 {
        // SAFETY: forwarded caller contract.
        return unsafe { g.usable_size(p) };
    }
    // SAFETY: forwarded caller contract.
    unsafe { layered_usable(g, f, p) }
}

#[cold]
#[inline(never)]
fn layered_alloc(g: &'static Global, f: u8, n: usize, align: usize, zero: bool) -> *mut u8 {
    let f = resolve(g, f);
    let raw = |size: usize| {
        if zero {
            g.aligned_calloc(align, size)
        } else if align <= ALIGN {
            g.malloc(size)
        } else {
            g.aligned_alloc(align, size)
        }
    };
    if f & !PERTURB == 0 {
        let p = raw(n);
        if f == PERTURB && !zero && !p.is_null() {
            // SAFETY: `p` is a fresh live block of at least `n` bytes.
            unsafe { ptr::write_bytes(p, perturb_bytes().0, n) };
        }
        return p;
    }
    if f & GUARD != 0 && n >= LARGE_THRESHOLD {
        return match guard::alloc(n, align) {
            Some((p, bytes)) => {
                g.guarded_mapped(bytes);
                p.as_ptr()
            }
            None => ptr::null_mut(),
        };
    }
    let canaries = f & CANARY != 0;
    let Some(total) = n.checked_add(canary::extra(canaries)) else {
        return ptr::null_mut();
    };
    let q = quiet(f);
    let p = raw(total);
    if p.is_null() {
        return p;
    }
    // SAFETY: `p` is a fresh live block of `g` (no thread cache in these modes).
    let u = unsafe { g.usable_size(p) };
    // SAFETY: `[p, p + u)` are the block's usable bytes and `n + extra <= u`.
    unsafe { canary::write(p, n, u, canaries) };
    if f & VALGRIND != 0 {
        hide_surroundings(g, p, n, u);
        drop(q);
        valgrind::malloclike(p, n, zero);
        valgrind::hg_clean_memory(p, n);
    }
    p
}

/// Under valgrind: the block's bytes after the requested size, its header and, when the
/// next block is free (never handed out yet, or released and coalesced since), that whole
/// block become `NOACCESS` (for a large block: its whole mapping); [`valgrind::malloclike`]
/// then opens `[p, p + n)`. Headers are only trusted when they agree with the engine's
/// usable size `u`.
fn hide_surroundings(g: &'static Global, p: *mut u8, n: usize, u: usize) {
    valgrind::make_noaccess(p.wrapping_add(n), u - n);
    if g.in_heap(p) {
        if peek_usable(g, p) != Some(u) {
            return;
        }
        valgrind::make_noaccess(p.wrapping_sub(WORD), WORD);
        let next = p.wrapping_add(u);
        if !g.in_heap(next.wrapping_add(WORD - 1)) {
            return;
        }
        // SAFETY: the next header lies in `[start, brk)` of a heap (mapped); volatile as in
        // `peek_usable`.
        let h = unsafe { ptr::read_volatile(next as *const usize) };
        let size = h & !FLAGS;
        if h & ALLOC != 0 {
            if size == 0 {
                valgrind::make_noaccess(next, WORD); // the epilogue
            }
            return;
        }
        if size >= MIN_BLOCK && g.in_heap(next.wrapping_add(size - 1)) {
            // SAFETY: `[next, next + size)` lies in the heap; the footer is its last word.
            let footer = unsafe { ptr::read_volatile(next.add(size - WORD) as *const usize) };
            if footer == h {
                valgrind::make_noaccess(next, size);
            }
        }
    // SAFETY: `p` is a live large block: its 16 header bytes are mapped.
    } else if let Some((offset, len)) = unsafe { large::header(p) } {
        valgrind::make_noaccess(p.wrapping_sub(offset), len);
    }
}

/// Whether `p` looks like a live block of `g` (no report, no lock; a hint, the engine has
/// the last word): heap blocks by their header, large blocks by theirs (read without
/// faulting). Returns the usable size the header implies.
fn peek_usable(g: &'static Global, p: *const u8) -> Option<usize> {
    let a = p as usize;
    if a % ALIGN != 0 || a < 2 * WORD {
        return None;
    }
    if g.in_heap(p) {
        if !g.in_heap(p.wrapping_sub(WORD)) {
            return None;
        }
        // SAFETY: the word before `p` lies in `[start, brk)` of a heap, which stays mapped;
        // a volatile read because the engine may update its `PREV_ALLOC` bit meanwhile.
        let h = unsafe { ptr::read_volatile((p as *const usize).sub(1)) };
        let size = h & !FLAGS;
        let live = h & ALLOC != 0 && h & QUARANTINED == 0 && size >= MIN_BLOCK;
        return (live && g.in_heap(p.wrapping_add(size - WORD - 1))).then(|| size - WORD);
    }
    // SAFETY: `header` reads the words before a pointer it does not know without faulting.
    unsafe { large::header(p) }.map(|(offset, len)| len - offset)
}

/// The usable size of `p` for the perturb fills, if it looks live ([`peek_usable`]).
/// Under the default policy, the size its header gives: every block has a header there, and
/// a block a thread cache holds (freed) still looks live, whose second `free` the engine
/// names a double free (asked for its size first, it would name a use after free). Under
/// the other policies, which have no thread cache, the engine's size: the word before a
/// header-free slab object (`compact-slab`) is the end of the object before it, which may
/// read as any header (a size taken from it filled the live objects after a freed one,
/// and the kept bytes of a growing one).
///
/// # Safety
/// As [`Global::usable_size`] for `p` (a pointer that only looks live is reported).
unsafe fn perturb_usable(g: &'static Global, p: *const u8) -> Option<usize> {
    let u = peek_usable(g, p)?;
    if g.caching_policy() {
        return Some(u);
    }
    // SAFETY: forwarded caller contract.
    match unsafe { g.usable_size(p) } {
        0 => None,
        u => Some(u),
    }
}

/// The usable size of `p`, letting the engine report it when it is no live block (a
/// freed one is a use after free there).
///
/// # Safety
/// As [`Global::usable_size`].
unsafe fn usable_or_report(g: &'static Global, p: *const u8) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { g.usable_size(p) }
}

/// The live guarded block at `p`, if it is one: its requested size.
fn guarded(g: &'static Global, f: u8, p: *const u8) -> Option<usize> {
    if f & GUARD == 0 || g.in_heap(p) {
        return None;
    }
    match guard::requested(p)? {
        Ok(n) => Some(n),
        Err(()) => {
            // The guard tag with a header that does not check out: an underflow.
            g.report_misuse(ErrorKind::CorruptHeader, p as *mut u8, 0);
            None
        }
    }
}

/// The requested size recorded in the trailer of the live block `p` (`u` usable bytes);
/// reports an overflow when canaries are on.
///
/// # Safety
/// `p` must be a live block with a trailer and `u` usable bytes.
unsafe fn requested(f: u8, p: *const u8, u: usize) -> usize {
    // SAFETY: forwarded caller contract.
    match unsafe { canary::check(p, u, f & CANARY != 0) } {
        Ok(n) => n,
        Err(o) if f & CANARY != 0 => canary::report_overflow(p, o),
        // Under valgrind: the word was overwritten (memcheck reported the write); keep
        // what the block can hold.
        Err(_) => u - canary::WORD,
    }
}

#[cold]
#[inline(never)]
unsafe fn layered_free(g: &'static Global, f: u8, p: *mut u8) {
    let f = resolve(g, f);
    if p.is_null() {
        return;
    }
    if f & !PERTURB == 0 {
        // Perturb alone: the bytes past the first two words of a heap block that looks
        // live (a freed one, or a foreign pointer, goes untouched to the engine, which
        // reports it; the two words hold a cached block's link and mark, checked there).
        if f == PERTURB && g.in_heap(p) {
            // SAFETY: forwarded caller contract.
            if let Some(u) = unsafe { perturb_usable(g, p) } {
                if u > 2 * WORD {
                    // SAFETY: `[p, p + u)` are the usable bytes of the block `p`, which the
                    // caller frees now (a pointer that only looks live is a misuse the
                    // engine reports, and aborts on, in the `free` right after).
                    unsafe { ptr::write_bytes(p.add(2 * WORD), perturb_bytes().1, u - 2 * WORD) };
                }
            }
        }
        // SAFETY: forwarded caller contract.
        return unsafe { g.free(p) };
    }
    if guarded(g, f, p).is_some() {
        // SAFETY: `p` is a guarded block (live, or released by a racing `free`).
        match unsafe { guard::free(p) } {
            Ok(bytes) => {
                g.guarded_unmapped(bytes);
                return;
            }
            Err(guard::FreeError::Overflow(o)) => canary::report_overflow(p, o),
            Err(guard::FreeError::Corrupt) => {
                g.report_misuse(ErrorKind::CorruptHeader, p, 0);
                return;
            }
            // Released meanwhile by another `free`: the engine's path names the double
            // free.
            Err(guard::FreeError::Gone) => {}
        }
    }
    if f & VALGRIND != 0 {
        valgrind::freelike(p);
    }
    let _q = quiet(f);
    if f & CANARY != 0 {
        // Only a block that looks live is checked here: a freed one goes straight to the
        // engine, which names the double free. The engine's size is the authority.
        if peek_usable(g, p).is_some() {
            // SAFETY: `p` looks like a live block of `g` (so the engine reports nothing).
            let u = unsafe { g.usable_size(p) };
            // SAFETY: `p` is a live block of `g` with `u` usable bytes and a trailer.
            if let Err(o) = unsafe { canary::check(p, u, true) } {
                canary::report_overflow(p, o);
            }
        }
    }
    // SAFETY: forwarded caller contract (a bad pointer is reported by the engine).
    unsafe { g.free(p) }
}

#[cold]
#[inline(never)]
unsafe fn layered_realloc(g: &'static Global, f: u8, p: *mut u8, n: usize) -> *mut u8 {
    let f = resolve(g, f);
    if p.is_null() {
        return layered_alloc(g, f, n, ALIGN, false);
    }
    if f & !PERTURB == 0 {
        // Perturb alone: the bytes past the old usable size are new.
        let old = if f == PERTURB {
            // SAFETY: forwarded caller contract.
            unsafe { perturb_usable(g, p) }.unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        // SAFETY: forwarded caller contract.
        let q = unsafe { g.realloc(p, n) };
        if !q.is_null() && n > old {
            // SAFETY: `q` is a live block of at least `n` bytes.
            unsafe { ptr::write_bytes(q.add(old), perturb_bytes().0, n - old) };
        }
        return q;
    }
    let old = match guarded(g, f, p) {
        Some(k) => k,
        None => {
            let _q = quiet(f);
            // SAFETY: forwarded caller contract.
            let u = unsafe { usable_or_report(g, p) };
            if u == 0 {
                return ptr::null_mut();
            }
            // SAFETY: `p` is a live block with `u` usable bytes and a trailer.
            let k = unsafe { requested(f, p, u) };
            let fits = n
                .checked_add(canary::extra(true))
                .is_some_and(|t| t <= u && n < LARGE_THRESHOLD);
            if f & VALGRIND == 0 && fits {
                // Canaries only: resize in place by moving the trailer.
                // SAFETY: `[p, p + u)` are the usable bytes of the live block.
                unsafe { canary::write(p, n, u, true) };
                return p;
            }
            k
        }
    };
    let q = layered_alloc(g, f, n, ALIGN, false);
    if !q.is_null() {
        // (The `Global`'s state is the allocator's own: memcheck's reports are off for it.)
        let from_heap = {
            let _q = quiet(f);
            g.in_heap(p)
        };
        // SAFETY: both blocks are live and distinct; `p` holds `old` requested bytes and
        // `q` at least `n`. Under valgrind both ranges are addressable to the program, so
        // memcheck copies the definedness of the kept bytes with them.
        unsafe {
            ptr::copy_nonoverlapping(p, q, old.min(n));
            layered_free(g, f, p);
        }
        // One `realloc` in the statistics, not the `malloc` and `free` the layers made.
        let _q = quiet(f);
        g.count_move(from_heap, q);
    }
    q
}

#[cold]
#[inline(never)]
unsafe fn layered_usable(g: &'static Global, f: u8, p: *const u8) -> usize {
    let f = resolve(g, f);
    if p.is_null() {
        return 0;
    }
    if f & !PERTURB == 0 {
        // SAFETY: forwarded caller contract.
        return unsafe { g.usable_size(p) };
    }
    if let Some(n) = guarded(g, f, p) {
        return n;
    }
    let _q = quiet(f);
    // SAFETY: forwarded caller contract.
    let u = unsafe { usable_or_report(g, p) };
    if u == 0 {
        return 0;
    }
    // SAFETY: `p` is a live block with `u` usable bytes and a trailer.
    unsafe { requested(f, p, u) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global::Config;

    static G: Global = Global::new(Config::DEFAULT);

    /// A `fork` child whose parent forked while one of its threads was deciding the layers
    /// (at the process's first allocation) decides them itself. (The child waited for ever
    /// at its first allocation for a thread that does not exist in it.) Played in a child
    /// process (the layers are process-wide): its state is reset to a fresh process's, the
    /// claim taken as the deciding thread takes it, then it forks.
    #[test]
    fn a_fork_child_of_a_parent_deciding_the_layers_decides_them() {
        use crate::fork::testing::run_in_child;
        let outcome = run_in_child(120, || {
            LAYERS.store(UNSET, Ordering::Release);
            CONFIGURING.reset();
            assert!(CONFIGURING.try_claim(), "a fresh process's claim is free");
            match run_in_child(60, || {
                let f = configure(&G, false);
                if f & UNSET == 0 && layers(&G) == f {
                    0
                } else {
                    1
                }
            }) {
                Some(0) => 0,
                None => 2, // the child hung
                Some(_) => 3,
            }
        });
        assert_eq!(outcome, Some(0), "2: the child waited for ever");
    }

    #[test]
    fn full_mode_blocks_keep_their_requested_size() {
        if valgrind::running() {
            return;
        }
        // The only test of this binary that uses the layers (they are process-wide); it sets
        // the canaries' secret, which the other tests' blocks must not see change.
        let _secret = crate::canary::SECRET_USE
            .write()
            .unwrap_or_else(|e| e.into_inner());
        assert_eq!(configure(&G, true), CANARY | GUARD);
        assert_eq!(configure(&G, false), CANARY | GUARD, "chosen once");
        // SAFETY: every block is used within its requested size and freed once.
        unsafe {
            let calls = G.stats().heap.counters;
            let p = malloc(&G, 33);
            assert_eq!(usable_size(&G, p), 33);
            ptr::write_bytes(p, 1, 33);
            let q = realloc(&G, p, 20);
            assert_eq!(q, p, "shrinking moves only the trailer");
            assert_eq!(usable_size(&G, q), 20);
            let r = realloc(&G, q, 5000);
            assert_eq!(usable_size(&G, r), 5000);
            assert_eq!((*r, *r.add(19)), (1, 1));
            free(&G, r);
            // The moving `realloc` counts as one (the layers' `malloc` and `free` do not).
            let now = G.stats().heap.counters;
            assert_eq!(now.mallocs - calls.mallocs, 1, "malloc calls");
            assert_eq!(now.frees - calls.frees, 1, "free calls");
            assert_eq!(now.reallocs - calls.reallocs, 1, "moving realloc calls");

            let z = calloc(&G, 10, 4);
            assert_eq!(usable_size(&G, z), 40);
            assert!(core::slice::from_raw_parts(z, 40).iter().all(|&b| b == 0));
            free(&G, z);

            let a = aligned_alloc(&G, 256, 100);
            assert_eq!(a as usize % 256, 0);
            assert_eq!(usable_size(&G, a), 100);
            free(&G, a);

            let before = G.stats();
            let big = malloc(&G, 300_000);
            assert_eq!(guard::requested(big), Some(Ok(300_000)));
            // A guarded block is a large block of the footprint (before, it was left out
            // while its requested bytes counted: peak utilisation read 31368 %).
            let s = G.stats();
            assert_eq!(s.large_allocs, before.large_allocs + 1);
            assert_eq!(s.large_blocks, before.large_blocks + 1);
            let bytes = s.large_bytes - before.large_bytes;
            assert!(
                (300_000..300_000 + 4 * 4096).contains(&bytes),
                "{bytes} large bytes"
            );
            assert!(s.peak_footprint_bytes >= s.footprint_bytes);
            assert_eq!(usable_size(&G, big), 300_000);
            ptr::write_bytes(big, 2, 300_000);
            let big = realloc(&G, big, 600_000);
            assert_eq!(usable_size(&G, big), 600_000);
            assert_eq!(*big.add(299_999), 2);
            free(&G, big);
            assert!(harden::was_large_freed(big).is_some());
            let s = G.stats();
            assert_eq!(s.large_blocks, before.large_blocks);
            assert_eq!(s.large_bytes, before.large_bytes);
        }
        G.check().expect("heap checker");
    }
}
