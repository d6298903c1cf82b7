//! [`FutexLock`]: a mutual-exclusion lock on a Linux futex that never allocates, usable in
//! `static`s, with the `force_unlock` a forked child needs.
//!
//! The word holds 0 (unlocked), 1 (locked, nobody waiting) or 2 (locked, maybe waiters);
//! the uncontended lock and unlock are one atomic operation each, and only contended paths
//! make a `futex(2)` call (U. Drepper, "Futexes are tricky", mutex 2).
//!
//! Beside the word, the lock records its holder ([`crate::sys::thread_id`]), written by the
//! holder just after it takes the word and cleared just before it releases it, so that a
//! thread that must give up everything it holds (an abort from the corruption hook, which
//! runs with an arena's lock held, see [`crate::fork::release_held_by_me`]) can tell its
//! own locks.
//!
//! Invariants: only the holder stores 0; a thread sleeps only while the word is 2, so an
//! unlock that sees 2 wakes one sleeper; `owner` is the holder's id or 0, and only the
//! holder writes it. System calls preserve `errno`.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use heapwise_core::RawLock;

use crate::sys::ErrnoGuard;

/// A futex-based lock.
///
/// ```
/// use heapwise::FutexLock;
/// use heapwise_core::RawLock;
///
/// static L: FutexLock = FutexLock::new();
/// L.lock();
/// assert!(!L.try_lock());
/// // SAFETY: this thread holds the lock (taken by `lock` above).
/// unsafe { L.unlock() };
/// assert!(L.try_lock());
/// // SAFETY: this thread holds the lock (taken by `try_lock` above).
/// unsafe { L.unlock() };
/// ```
#[derive(Debug)]
pub struct FutexLock {
    word: AtomicU32,
    /// The holder's [`crate::sys::thread_id`] (0: free, or taken a moment ago).
    owner: AtomicUsize,
}

const SPINS: u32 = 100;

impl FutexLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        FutexLock {
            word: AtomicU32::new(0),
            owner: AtomicUsize::new(0),
        }
    }

    /// Takes the word if it is free; `true` on success.
    #[inline]
    fn try_word(&self) -> bool {
        self.word
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Records the calling thread as the holder (it has just taken the word).
    #[inline]
    fn own(&self) {
        self.owner.store(crate::sys::thread_id(), Ordering::Relaxed);
    }

    /// Takes the lock if it is free; `true` on success.
    #[inline]
    pub fn try_lock(&self) -> bool {
        let ok = self.try_word();
        if ok {
            self.own();
        }
        ok
    }

    /// Whether the lock is held by someone.
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    /// Whether the calling thread holds the lock.
    pub fn held_by_me(&self) -> bool {
        self.is_locked() && self.owner.load(Ordering::Relaxed) == crate::sys::thread_id()
    }

    /// Makes the lock free whoever held it. For the child of `fork`, where the holder (a
    /// thread of the parent) does not exist.
    ///
    /// # Safety
    /// No thread of this process may hold or be waiting for the lock.
    pub unsafe fn force_unlock(&self) {
        self.owner.store(0, Ordering::Relaxed);
        self.word.store(0, Ordering::Release);
    }

    #[cold]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn lock_slow(&self) {
        for _ in 0..SPINS {
            core::hint::spin_loop();
            if self.word.load(Ordering::Relaxed) == 0 && self.try_word() {
                return;
            }
        }
        let _e = ErrnoGuard::new();
        while self.word.swap(2, Ordering::Acquire) != 0 {
            // SAFETY: FUTEX_WAIT reads the word atomically and sleeps only while it is 2;
            // the pointer is to a live AtomicU32.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.word.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    2u32,
                    core::ptr::null::<libc::timespec>(),
                );
            }
        }
    }

    #[cold]
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    fn wake(&self) {
        let _e = ErrnoGuard::new();
        // SAFETY: FUTEX_WAKE on a live AtomicU32 has no memory effects.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.word.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1u32,
            );
        }
    }
}

impl Default for FutexLock {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: the word goes from 0 to non-zero only through a successful compare-exchange or
// swap that observed 0, so one holder at a time.
unsafe impl RawLock for FutexLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = FutexLock::new();

    #[inline]
    fn lock(&self) {
        if !self.try_word() {
            self.lock_slow();
        }
        self.own();
    }

    #[inline]
    unsafe fn unlock(&self) {
        self.owner.store(0, Ordering::Relaxed);
        if self.word.swap(0, Ordering::Release) == 2 {
            self.wake();
        }
    }
}

/// Holds a [`FutexLock`] until dropped.
pub struct LockGuard<'a>(&'a FutexLock);

impl<'a> LockGuard<'a> {
    /// Takes `lock` and says whether it had to wait for it (another thread held it: the
    /// lock is contended).
    #[inline]
    pub fn new_contended(lock: &'a FutexLock) -> (Self, bool) {
        if lock.try_lock() {
            return (LockGuard(lock), false);
        }
        lock.lock();
        (LockGuard(lock), true)
    }

    /// Takes `lock`.
    #[inline]
    pub fn new(lock: &'a FutexLock) -> Self {
        lock.lock();
        LockGuard(lock)
    }
}

impl Drop for LockGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: a guard exists only while its lock is held by this thread.
        unsafe { self.0.unlock() }
    }
}
