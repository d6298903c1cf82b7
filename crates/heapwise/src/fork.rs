//! Fork safety: `pthread_atfork` handlers that take every registered allocator lock before
//! `fork`, release them in the parent afterwards, and reset them in the child (where the
//! threads that might have held them do not exist), so that a child of a multi-threaded
//! parent can allocate.
//!
//! Each lock is registered with a *rank*: the prepare handler takes locks by increasing rank
//! (the order in which the faces nest them: outer locks have lower ranks), whatever the
//! order of registration; the handlers are installed once per process, at the first
//! registration. Faces may also register a child hook, run in the child after the locks are
//! reset (e.g. to stop writing a trace the parent owns).
//!
//! Invariants: at most [`MAX_LOCKS`] locks and [`MAX_HOOKS`] hooks; a slot, once filled,
//! never changes; prepare takes locks by increasing rank and the parent/child handlers
//! release them in exactly the reverse order.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

use heapwise_core::RawLock;

use crate::lock::FutexLock;

/// How many locks can be registered.
pub const MAX_LOCKS: usize = 16;
/// How many child hooks can be registered.
pub const MAX_HOOKS: usize = 4;
/// Ranks run from 0 (outermost) to `MAX_RANK`.
pub const MAX_RANK: usize = 7;

/// Rank of a heap lock (the innermost lock of the faces).
pub const RANK_HEAP: usize = 4;

static SLOTS: [AtomicPtr<FutexLock>; MAX_LOCKS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_LOCKS];
static RANKS: [AtomicUsize; MAX_LOCKS] = [const { AtomicUsize::new(0) }; MAX_LOCKS];
static COUNT: AtomicUsize = AtomicUsize::new(0);
static HOOKS: [AtomicUsize; MAX_HOOKS] = [const { AtomicUsize::new(0) }; MAX_HOOKS];
static HOOK_COUNT: AtomicUsize = AtomicUsize::new(0);
/// 0: handlers not installed, 1: being installed, 2: installed, 3: installation failed.
static HANDLERS: AtomicU8 = AtomicU8::new(0);

/// Registers `lock` to be held across `fork`, taken after every lock of lower `rank`.
/// Returns `false` if the registry is full. Must not be called with any allocator lock held
/// (installing the handlers may allocate).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn register(lock: &'static FutexLock, rank: usize) -> bool {
    install_handlers();
    let i = COUNT.fetch_add(1, Ordering::AcqRel);
    match (SLOTS.get(i), RANKS.get(i)) {
        (Some(s), Some(r)) => {
            r.store(rank.min(MAX_RANK), Ordering::Release);
            s.store(
                lock as *const FutexLock as *mut FutexLock,
                Ordering::Release,
            );
            true
        }
        _ => {
            COUNT.fetch_sub(1, Ordering::AcqRel);
            false
        }
    }
}

/// Registers `hook` to run in the child after `fork`, once the locks are reset. Returns
/// `false` if the registry is full.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn register_child_hook(hook: extern "C" fn()) -> bool {
    install_handlers();
    let i = HOOK_COUNT.fetch_add(1, Ordering::AcqRel);
    match HOOKS.get(i) {
        Some(h) => {
            h.store(hook as usize, Ordering::Release);
            true
        }
        None => {
            HOOK_COUNT.fetch_sub(1, Ordering::AcqRel);
            false
        }
    }
}

/// Whether the `pthread_atfork` handlers are installed.
pub fn handlers_installed() -> bool {
    HANDLERS.load(Ordering::Acquire) == 2
}

fn install_handlers() {
    if HANDLERS
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return; // installed, failed, or being installed (maybe by a recursive malloc)
    }
    let r = atfork(prepare, parent, child);
    HANDLERS.store(if r == 0 { 2 } else { 3 }, Ordering::Release);
}

/// `pthread_atfork(prepare, parent, child)`. With glibc, the function glibc's own
/// `pthread_atfork` (a stub in `libc_nonshared.a`) calls: `__register_atfork`, with this
/// object's `__dso_handle` (so that the handlers go away if the object is unloaded), called
/// directly, so that the stub, linked at the far end of the code, is not executed (each
/// executed page of the code maps its 64 KiB neighbourhood: peak RSS, see
/// `heapwise-preload`'s `build.rs`).
#[cfg(target_env = "gnu")]
fn atfork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> i32 {
    extern "C" {
        /// glibc (GLIBC_2.3.2): what `pthread_atfork` calls.
        fn __register_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
            dso_handle: *mut core::ffi::c_void,
        ) -> i32;
        /// The object's handle, defined by the C runtime's `crtbegin` in every executable
        /// and shared object.
        static __dso_handle: u8;
    }
    // SAFETY: the three handlers are plain functions that never unwind; `__dso_handle` is
    // this object's handle (only its address is used).
    unsafe {
        __register_atfork(
            Some(prepare),
            Some(parent),
            Some(child),
            (&raw const __dso_handle).cast_mut().cast(),
        )
    }
}

/// `pthread_atfork(prepare, parent, child)` (C libraries other than glibc).
#[cfg(not(target_env = "gnu"))]
fn atfork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> i32 {
    // SAFETY: the three handlers are plain functions that never unwind.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) }
}

/// Calls `f` on every registered lock, by increasing rank (and slot), or exactly the
/// reverse.
fn each(mut f: impl FnMut(&'static FutexLock), reverse: bool) {
    let n = COUNT.load(Ordering::Acquire).min(MAX_LOCKS);
    let total = (MAX_RANK + 1) * n;
    for k in 0..total {
        let k = if reverse { total - 1 - k } else { k };
        let (rank, i) = (k / n.max(1), k % n.max(1));
        if RANKS.get(i).map(|r| r.load(Ordering::Acquire)) != Some(rank) {
            continue;
        }
        let p = SLOTS
            .get(i)
            .map_or(ptr::null_mut(), |s| s.load(Ordering::Acquire));
        // SAFETY: slots hold only `&'static FutexLock`s (or null while being filled).
        if let Some(l) = unsafe { p.as_ref() } {
            f(l)
        }
    }
}

extern "C" fn prepare() {
    each(|l| l.lock(), false);
}

extern "C" fn parent() {
    // SAFETY: `prepare` took every registered lock in this thread.
    each(|l| unsafe { l.unlock() }, true);
}

extern "C" fn child() {
    // SAFETY: the child has one thread, the one that called fork, which took every
    // registered lock in `prepare`; no other thread exists to hold or wait for them.
    each(|l| unsafe { l.force_unlock() }, true);
    let n = HOOK_COUNT.load(Ordering::Acquire).min(MAX_HOOKS);
    for h in HOOKS.iter().take(n) {
        let f = h.load(Ordering::Acquire);
        if f != 0 {
            // SAFETY: non-zero hook slots hold `extern "C" fn()` pointers stored by
            // `register_child_hook`.
            let f: extern "C" fn() = unsafe { core::mem::transmute::<usize, extern "C" fn()>(f) };
            f();
        }
    }
}
