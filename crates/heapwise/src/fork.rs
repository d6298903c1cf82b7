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
//! It also owns [`SetupClaim`], the claim on a once-per-process set-up by process id, which
//! a `fork` child takes over when its parent forked while another thread was at the set-up.
//!
//! The registry itself is guarded by a lock, `REGISTRY`, that sits between the outer locks
//! (ranks below [`RANK_HEAP`]) and the heap locks in that order: prepare takes the outer
//! locks, then `REGISTRY`, then the heap locks, and notes which it took; the parent and
//! child handlers release exactly those, in the reverse order. A registration therefore
//! either completes before prepare reaches the heap locks (and its lock is held across
//! `fork`) or waits until `fork` is over, so no lock is used between prepare and the
//! parent handler without being held by `fork`, and no lock is released that prepare did
//! not take. (Without that, a thread that registered an arena's lock while another thread
//! forked could have its lock released under it by the parent handler, and the child could
//! see that arena half-updated.) A thread may register while it holds an outer lock (the
//! preload's recorder lock is held around every call of the malloc family): prepare waits
//! for that lock before it takes `REGISTRY`, so the two never wait for each other.
//!
//! # Invariants
//! * At most [`MAX_LOCKS`] locks and [`MAX_HOOKS`] hooks; a lock or hook is registered at
//!   most once; a slot, once filled, never changes; a slot below the count is complete.
//! * The slots and counts change only with `REGISTRY` held.
//! * [`register`] is called with no lock of rank [`RANK_HEAP`] or more held; outer locks
//!   are registered before the threads that use them can race a `fork` (at start-up).
//! * Prepare takes `FORKING` first, then the outer locks by increasing rank (and slot), then
//!   `REGISTRY`, then the heap locks the same way, and records each lock it took in
//!   `TAKEN` (`REGISTRY` too, in its own bit); it skips a lock the calling thread holds
//!   already (a signal handler that interrupted the allocator and forks, see `prepare`).
//!   The parent and child handlers release exactly the recorded locks and `FORKING`, in
//!   the reverse order. `FORKING` makes one `fork` at a time use `TAKEN`:
//!   glibc runs the handlers of concurrent `fork`s from several threads at once (it does
//!   not hold its own lock while it calls them), and a second prepare that cleared `TAKEN`
//!   while the first held its locks left them held for ever (every thread then waited in
//!   the next prepare or allocation).
//! * A caller of [`register`] returns only once its lock is in the registry (or the
//!   registry is full), so a lock is never used before it is held across `fork` (once the
//!   handlers are installed, at the process's first registration).

use core::ops::Range;
use core::ptr;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU8, AtomicUsize, Ordering};

use heapwise_core::RawLock;

use crate::lock::{FutexLock, LockGuard};

/// How many locks can be registered.
pub const MAX_LOCKS: usize = 16;
/// How many child hooks can be registered.
pub const MAX_HOOKS: usize = 4;
/// Ranks run from 0 (outermost) to `MAX_RANK`.
pub const MAX_RANK: usize = 7;

/// Rank of a heap lock (the innermost lock of the faces).
pub const RANK_HEAP: usize = 4;

/// Guards the registry (the slots, ranks, hooks and their counts); held across `fork`
/// after the outer locks and before the heap locks.
static REGISTRY: FutexLock = FutexLock::new();
/// The locks prepare took (bit `i`: slot `i`; [`REGISTRY_BIT`]: `REGISTRY`), for the parent or
/// child handler.
static TAKEN: AtomicU32 = AtomicU32::new(0);
/// Held from prepare to the parent or child handler: one `fork` at a time owns `TAKEN`.
static FORKING: FutexLock = FutexLock::new();
/// The bit of `TAKEN` that records `REGISTRY` (above every slot's).
const REGISTRY_BIT: u32 = 1 << 31;
const _: () = assert!(MAX_LOCKS < 32);
/// The registered locks' addresses (0: empty).
static SLOTS: [AtomicUsize; MAX_LOCKS] = [const { AtomicUsize::new(0) }; MAX_LOCKS];
static RANKS: [AtomicUsize; MAX_LOCKS] = [const { AtomicUsize::new(0) }; MAX_LOCKS];
static COUNT: AtomicUsize = AtomicUsize::new(0);
static HOOKS: [AtomicUsize; MAX_HOOKS] = [const { AtomicUsize::new(0) }; MAX_HOOKS];
static HOOK_COUNT: AtomicUsize = AtomicUsize::new(0);

/// [`HANDLERS`]: not installed.
const NONE: u8 = 0;
/// [`HANDLERS`]: being installed.
const INSTALLING: u8 = 1;
/// [`HANDLERS`]: installed.
const INSTALLED: u8 = 2;
/// [`HANDLERS`]: installation failed.
const FAILED: u8 = 3;
/// The state of the `pthread_atfork` handlers.
static HANDLERS: AtomicU8 = AtomicU8::new(NONE);

/// Registers `lock` to be held across `fork`, taken after every lock of lower `rank`.
/// Returns `true` once the lock is registered (also when it already was), `false` if the
/// registry is full. Must not be called with a lock of rank [`RANK_HEAP`] or more held
/// (the registry may be held by a `fork` in another thread, which then waits for those
/// locks); outer locks (lower ranks) may be held, and should be registered at start-up.
/// Installing the handlers may allocate.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn register(lock: &'static FutexLock, rank: usize) -> bool {
    let lock = (lock as *const FutexLock).expose_provenance();
    add_once(&SLOTS, &COUNT, lock, |i| {
        if let Some(r) = RANKS.get(i) {
            r.store(rank.min(MAX_RANK), Ordering::Relaxed);
        }
    })
}

/// Registers `hook` to run in the child after `fork`, once the locks are reset. Returns
/// `true` once the hook is registered (also when it already was), `false` if the registry
/// is full. The same rule as [`register`]: no heap lock may be held.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn register_child_hook(hook: extern "C" fn()) -> bool {
    add_once(&HOOKS, &HOOK_COUNT, hook as usize, |_| {})
}

/// Installs the handlers if needed, then, with `REGISTRY` held, adds `value` to the first
/// `count` entries of `slots` unless it is there: `fill(i)` completes entry `i` before the
/// count covers it. `true` if `value` is (now) in `slots`, `false` if they are full.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn add_once(
    slots: &[AtomicUsize],
    count: &AtomicUsize,
    value: usize,
    fill: impl FnOnce(usize),
) -> bool {
    install_handlers();
    let _g = LockGuard::new(&REGISTRY);
    let n = count.load(Ordering::Relaxed).min(slots.len());
    if slots
        .iter()
        .take(n)
        .any(|s| s.load(Ordering::Relaxed) == value)
    {
        return true;
    }
    match slots.get(n) {
        Some(s) => {
            fill(n);
            s.store(value, Ordering::Relaxed);
            count.store(n + 1, Ordering::Release);
            true
        }
        None => false,
    }
}

/// The registration of a lock registered at its first use (an arena's, the large-block
/// cache's): [`Registration::ensure`] registers it unless that is done, and returns once
/// it is, also when other threads ensure it at the same time ([`register`] is
/// idempotent), so no thread takes the lock before `fork` holds it.
#[derive(Debug)]
pub struct Registration(AtomicU8);

/// [`Registration`]: the lock is not registered yet.
const UNREGISTERED: u8 = 0;
/// [`Registration`]: the lock is registered.
const REGISTERED: u8 = 1;
/// [`Registration`]: the registry was full (the lock is never held across `fork`).
const REGISTRY_FULL: u8 = 2;

impl Registration {
    /// Not registered yet.
    pub const fn new() -> Self {
        Registration(AtomicU8::new(UNREGISTERED))
    }

    /// Registers `lock` with `rank` unless that is done ([`register`]'s rule: no heap
    /// lock held); `true` once it is registered, `false` if the registry was full.
    #[inline]
    pub fn ensure(&self, lock: &'static FutexLock, rank: usize) -> bool {
        match self.0.load(Ordering::Acquire) {
            REGISTERED => true,
            REGISTRY_FULL => false,
            _ => {
                let ok = register(lock, rank);
                let state = if ok { REGISTERED } else { REGISTRY_FULL };
                self.0.store(state, Ordering::Release);
                ok
            }
        }
    }

    /// Whether the lock is registered.
    #[inline]
    pub fn is_done(&self) -> bool {
        self.0.load(Ordering::Acquire) == REGISTERED
    }
}

impl Default for Registration {
    fn default() -> Self {
        Self::new()
    }
}

/// The claim on a once-per-process set-up that other threads wait for or retry later
/// rather than run twice (the front's layers, the thread caches' `pthread` key): the id
/// of the process one of whose threads took it (0: nobody). A `fork` child inherits the
/// claim with its parent's memory but not the thread that held it, which goes on in the
/// parent only: a claim of another process is a set-up left unfinished here, and
/// [`SetupClaim::try_claim`] hands it to the caller. (A claim kept as a plain "being set up"
/// state left the child waiting for ever, or without the set-up, when its parent forked
/// while another thread was at it: programs that fork at once from several threads.) A
/// set-up taken over this way runs again from the start: it must tell what its parent's
/// thread had finished, or not mind doing it twice. The claim stays once the set-up is
/// done: callers look for its result first.
#[derive(Debug)]
pub struct SetupClaim(AtomicI32);

impl SetupClaim {
    /// Not claimed.
    pub const fn new() -> Self {
        SetupClaim(AtomicI32::new(0))
    }

    /// Whether the caller now runs the set-up: no thread of this process claimed it before
    /// (nobody did, or the claim is a parent process's). `false` while, or after, a thread
    /// of this process runs it (or the calling thread, re-entered). One `getpid` call; no
    /// allocation.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn try_claim(&self) -> bool {
        // SAFETY: `getpid` has no preconditions and cannot fail.
        let me = unsafe { libc::getpid() };
        let held = self.0.load(Ordering::Acquire);
        held != me
            && self
                .0
                .compare_exchange(held, me, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Forgets the claim (for tests that play a fresh process in a `fork` child).
    #[cfg(test)]
    pub(crate) fn reset(&self) {
        self.0.store(0, Ordering::Release);
    }
}

impl Default for SetupClaim {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the `pthread_atfork` handlers are installed.
pub fn handlers_installed() -> bool {
    HANDLERS.load(Ordering::Acquire) == INSTALLED
}

/// Installs the handlers once per process. While another thread (or this one, re-entered
/// through an allocation made by `pthread_atfork`) installs them, returns at once: the
/// registration goes on, and a `fork` in that short window, the process's very first
/// registration (normally its first allocation, before it has threads), runs without them.
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn install_handlers() {
    if HANDLERS
        .compare_exchange(NONE, INSTALLING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        let r = atfork(prepare, parent, child);
        HANDLERS.store(if r == 0 { INSTALLED } else { FAILED }, Ordering::Release);
    }
}

/// `pthread_atfork(prepare, parent, child)`. With glibc, the function glibc's own
/// `pthread_atfork` (a stub in `libc_nonshared.a`) calls: `__register_atfork`, with this
/// object's `__dso_handle` (so that the handlers go away if the object is unloaded), called
/// directly, so that the stub, linked at the far end of the code, is not executed (each
/// executed page of the code maps its 64 KiB neighbourhood: peak RSS, see
/// `heapwise-preload`'s `build.rs`).
#[cfg(target_env = "gnu")]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
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
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn atfork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) -> i32 {
    // SAFETY: the three handlers are plain functions that never unwind.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) }
}

/// Ranks of the outer locks (taken before `REGISTRY`).
const OUTER: Range<usize> = 0..RANK_HEAP;
/// Ranks of the heap locks (taken after `REGISTRY`).
const INNER: Range<usize> = RANK_HEAP..MAX_RANK + 1;

/// The lock in slot `i` (a slot below the count).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn slot(i: usize) -> Option<&'static FutexLock> {
    let p: *const FutexLock =
        ptr::with_exposed_provenance(SLOTS.get(i).map_or(0, |s| s.load(Ordering::Acquire)));
    // SAFETY: filled slots hold the addresses of `&'static FutexLock`s (0 otherwise).
    unsafe { p.as_ref() }
}

/// Whether the process has had one thread only so far (glibc's `__libc_single_threaded`,
/// glibc 2.32 and later; `false` where that is not known).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn single_threaded() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            /// glibc (GLIBC_2.32): non-zero until the process creates its first thread
            /// (and again in the child of a `fork`).
            static __libc_single_threaded: core::ffi::c_char;
        }
        // SAFETY: a byte of glibc's, always mapped; read once, volatile (other threads
        // may be created meanwhile: a stale non-zero is the state of an instant before).
        unsafe { ptr::read_volatile(&raw const __libc_single_threaded) != 0 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Whether `prepare` must leave `l` alone: the calling thread holds it already (see
/// [`prepare`]). `alone` ([`single_threaded`]): any holder is the calling thread, also one
/// interrupted between taking the lock and recording itself as its holder.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn held_by_caller(l: &FutexLock, alone: bool) -> bool {
    l.held_by_me() || (alone && l.is_locked())
}

/// Takes the registered locks of `ranks`, by increasing rank (and slot), and records them
/// in `TAKEN`; skips those the calling thread holds already ([`held_by_caller`]).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn take(ranks: Range<usize>, alone: bool) {
    let n = COUNT.load(Ordering::Acquire).min(MAX_LOCKS);
    for rank in ranks {
        for i in 0..n {
            if RANKS.get(i).map(|r| r.load(Ordering::Relaxed)) == Some(rank) {
                if let Some(l) = slot(i).filter(|l| !held_by_caller(l, alone)) {
                    l.lock();
                    TAKEN.fetch_or(1 << i, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Calls `f` on the locks of `ranks` that prepare took, in exactly the reverse order.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn release(ranks: Range<usize>, mut f: impl FnMut(&'static FutexLock)) {
    let taken = TAKEN.load(Ordering::Relaxed);
    for rank in ranks.rev() {
        for i in (0..MAX_LOCKS).rev() {
            if taken & (1 << i) != 0
                && RANKS.get(i).map(|r| r.load(Ordering::Relaxed)) == Some(rank)
            {
                if let Some(l) = slot(i) {
                    f(l)
                }
            }
        }
    }
}

/// Releases every registered lock the calling thread holds, and the registry's lock: for
/// an abort from the corruption hook, which runs with an arena's lock held. Without it a
/// `SIGABRT` handler that allocates (a backtrace, a crash reporter's `fork`) would wait for
/// ever on that lock instead of letting the process die. The structures those locks guard
/// are consistent: the engine reports a problem before it changes anything.
pub fn release_held_by_me() {
    let n = COUNT.load(Ordering::Acquire).min(MAX_LOCKS);
    for i in 0..n {
        if let Some(l) = slot(i).filter(|l| l.held_by_me()) {
            // SAFETY: the calling thread holds `l`; it aborts next and never uses it again.
            unsafe { l.unlock() };
        }
    }
    if REGISTRY.held_by_me() {
        // SAFETY: as above.
        unsafe { REGISTRY.unlock() };
    }
}

/// A lock the calling thread holds already is left as it is: the thread is a signal
/// handler's that interrupted the allocator (a single-threaded program may `fork` there:
/// `fork` is async-signal-safe, and glibc takes no allocator lock in a single-threaded
/// process), and waiting for it would wait for ever. The interrupted code, which resumes
/// in the parent and in the child (the same thread, the same holder), releases it; the
/// handler itself must not allocate meanwhile (as without `fork`). No other code of the
/// allocator calls `fork` with a lock held. In a process that has had one thread only,
/// every held lock is such a lock (its holder may have been interrupted before it recorded
/// itself); in a multi-threaded one, a handler that interrupted that very instant still
/// waits (POSIX no longer counts `fork` among the async-signal-safe functions there).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn prepare() {
    FORKING.lock();
    let alone = single_threaded();
    TAKEN.store(0, Ordering::Relaxed);
    take(OUTER, alone);
    if !held_by_caller(&REGISTRY, alone) {
        REGISTRY.lock();
        TAKEN.fetch_or(REGISTRY_BIT, Ordering::Relaxed);
    }
    take(INNER, alone);
}

/// Whether `prepare` took `REGISTRY` in this `fork`.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn registry_taken() -> bool {
    TAKEN.load(Ordering::Relaxed) & REGISTRY_BIT != 0
}

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn parent() {
    // SAFETY: `prepare` took, in this thread, the outer locks recorded in `TAKEN`, then
    // `REGISTRY`, then the recorded heap locks; they are released in the reverse order.
    release(INNER, |l| unsafe { l.unlock() });
    if registry_taken() {
        // SAFETY: as above.
        unsafe { REGISTRY.unlock() };
    }
    // SAFETY: as above.
    release(OUTER, |l| unsafe { l.unlock() });
    // SAFETY: `prepare` took it in this thread; `TAKEN` is no longer used.
    unsafe { FORKING.unlock() };
}

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn child() {
    // This handler runs, so the handlers are installed (also if the `fork` came between
    // the installation and its thread's note of it).
    HANDLERS.store(INSTALLED, Ordering::Release);
    // SAFETY: the child has one thread, the one that called fork, which took `REGISTRY` and
    // the locks recorded in `TAKEN` in `prepare`; no other thread exists to hold or wait
    // for them.
    release(INNER, |l| unsafe { l.force_unlock() });
    if registry_taken() {
        // SAFETY: as above.
        unsafe { REGISTRY.force_unlock() };
    }
    // SAFETY: as above.
    release(OUTER, |l| unsafe { l.force_unlock() });
    // SAFETY: as above (taken first by `prepare`).
    unsafe { FORKING.force_unlock() };
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

/// For tests: work in a `fork` child, bounded in time, so that a child that hangs fails its
/// test instead of hanging the suite.
#[cfg(test)]
pub(crate) mod testing {
    extern crate std;

    /// Serialises the tests that run the handlers (as the C library serialises forks): the
    /// unit tests that call them directly, and every `fork` of [`run_in_child`] (which
    /// runs them through the C library).
    pub(crate) static FORKING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Runs `f` in a `fork` child (a panic there is exit code 101) and returns its exit
    /// code, or `None` if it had not ended after `secs` seconds (it is then killed). The
    /// bound only turns a hang into a failure: no result depends on how long the child
    /// takes.
    pub(crate) fn run_in_child(secs: u32, f: impl FnOnce() -> i32) -> Option<i32> {
        let forking = FORKING.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the child runs `f` (libc calls, this crate, std's allocator: fork-safe
        // in glibc) and ends with `_exit`, never returning into the test harness.
        let pid = unsafe { libc::fork() };
        // (Released in the child too, where the calling thread is the one that held it.)
        drop(forking);
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        for _ in 0..secs.saturating_mul(100) {
            // SAFETY: polls our own child.
            if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                return Some(if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                });
            }
            // SAFETY: no preconditions.
            unsafe { libc::usleep(10_000) };
        }
        // SAFETY: our own child, still running: killed and reaped.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::sync::atomic::AtomicBool;
    use std::sync::Arc;
    use std::time::Duration;

    use super::testing::FORKING;

    /// A registration that comes while a `fork` is in progress (between the prepare and
    /// the parent handler) waits until it is over, and the parent handler leaves the lock
    /// registered meanwhile alone: a thread that registers a lock and takes it still holds
    /// it afterwards. (Before the registry lock, the registration went through, and the
    /// parent handler released the new lock under its holder.)
    #[test]
    fn a_registration_during_fork_waits_and_is_left_alone() {
        static L: FutexLock = FutexLock::new();
        let _f = FORKING.lock().unwrap();
        prepare();
        let done = Arc::new(AtomicBool::new(false));
        let t = {
            let done = done.clone();
            std::thread::spawn(move || {
                assert!(register(&L, RANK_HEAP));
                L.lock();
                done.store(true, Ordering::Release);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let early = done.load(Ordering::Acquire);
        parent();
        t.join().unwrap();
        assert!(
            !early,
            "the registration went through while the registry was held"
        );
        assert!(done.load(Ordering::Acquire));
        assert!(
            L.is_locked(),
            "the parent handler released a lock it did not take"
        );
        // SAFETY: the lock was taken by the joined thread and nobody else uses it.
        unsafe { L.unlock() };
    }

    /// A thread that holds an outer lock (as the preload's recorder lock is held around
    /// every `malloc`) can register a heap lock while another thread forks: prepare waits
    /// for the outer lock before it takes the registry, so neither waits for the other.
    /// (With the registry taken first, the two deadlocked: a `fork` test of the preload
    /// hung with `HEAPWISE_STATS=1`.)
    #[test]
    fn a_thread_holding_an_outer_lock_can_register_while_another_forks() {
        static OUTER: FutexLock = FutexLock::new();
        static HEAP: FutexLock = FutexLock::new();
        let _f = FORKING.lock().unwrap();
        assert!(register(&OUTER, 1));
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            OUTER.lock();
            held_tx.send(()).unwrap();
            // Let the other thread reach prepare (and wait there for `OUTER`).
            std::thread::sleep(Duration::from_millis(50));
            let ok = register(&HEAP, RANK_HEAP);
            // SAFETY: taken above by this thread.
            unsafe { OUTER.unlock() };
            ok
        });
        held_rx.recv().unwrap();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            prepare();
            let heap_held = HEAP.is_locked();
            parent();
            done_tx.send(heap_held).unwrap();
        });
        let heap_held = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("prepare and a registering thread deadlocked");
        assert!(t.join().unwrap());
        assert!(
            heap_held,
            "the heap lock registered before the registry was taken is held"
        );
        assert!(!HEAP.is_locked() && !OUTER.is_locked());
    }

    /// The handlers of a `fork` called by a thread that holds a registered lock (a signal
    /// handler that interrupted the allocator) leave that lock to its holder: prepare does
    /// not wait for it, and the parent handler does not release it. (Before, prepare waited
    /// for ever.) The other locks (the registry's here) are still taken and released.
    /// (One lock only: the registry holds [`MAX_LOCKS`], and this binary's other tests
    /// register theirs.)
    #[test]
    fn a_fork_by_the_holder_of_a_lock_leaves_it_held() {
        static MINE: FutexLock = FutexLock::new();
        let _f = FORKING.lock().unwrap();
        assert!(register(&MINE, RANK_HEAP));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            MINE.lock();
            prepare();
            let other_held = REGISTRY.held_by_me();
            parent();
            let mine_held = MINE.held_by_me();
            // SAFETY: taken above by this thread.
            unsafe { MINE.unlock() };
            done_tx.send((other_held, mine_held)).unwrap();
        });
        let (other_held, mine_held) = done_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("prepare waited for a lock its own thread holds");
        assert!(other_held, "prepare took the registry's lock");
        assert!(mine_held, "the parent handler released the holder's lock");
        assert!(!MINE.is_locked());
    }

    /// Registering the same lock or hook twice fills one slot. (Other tests of this binary
    /// register their own locks meanwhile, so the counts may grow between the two calls:
    /// what is checked is that the value sits in exactly one of the filled slots.)
    #[test]
    fn registration_is_idempotent() {
        static L: FutexLock = FutexLock::new();
        extern "C" fn hook() {}
        fn slots_holding(slots: &[AtomicUsize], count: &AtomicUsize, v: usize) -> usize {
            let n = count.load(Ordering::Acquire);
            slots
                .iter()
                .take(n)
                .filter(|s| s.load(Ordering::Relaxed) == v)
                .count()
        }
        let lp = &L as *const FutexLock as usize;
        assert!(register(&L, RANK_HEAP));
        assert_eq!(slots_holding(&SLOTS, &COUNT, lp), 1);
        assert!(register(&L, RANK_HEAP));
        assert_eq!(slots_holding(&SLOTS, &COUNT, lp), 1, "registered twice");
        let hp = hook as extern "C" fn() as usize;
        assert!(register_child_hook(hook));
        assert_eq!(slots_holding(&HOOKS, &HOOK_COUNT, hp), 1);
        assert!(register_child_hook(hook));
        assert_eq!(
            slots_holding(&HOOKS, &HOOK_COUNT, hp),
            1,
            "registered twice"
        );
        assert!(handlers_installed());
    }
}
