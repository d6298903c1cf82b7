//! [`OnceKey`]: a `pthread` key created once per process together with its owner's set-up
//! (a `fork` hook to register, a check of the key), safe across `fork`. The set-up is
//! claimed by process ([`fork::SetupClaim`]): a `fork` child whose parent forked while one
//! of its threads was at it takes it over, reusing the key if that thread had created it.
//!
//! # Invariants
//! * `key` holds a created key once `made` is set; a process never creates a second one
//!   (a child reuses its parent's).
//! * `state` leaves `PENDING` once per process, for `READY` or `UNUSABLE`, after the key
//!   and the owner's set-up are done; the key is handed out only while it is `READY`.
//! * The set-up runs in one thread of the process at a time (the claim's holder); the
//!   others, and the holder re-entered through an allocation, are told to come back later
//!   and never wait.

use core::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use crate::fork::SetupClaim;

const PENDING: u8 = 0;
const READY: u8 = 1;
const UNUSABLE: u8 = 2;

/// Why [`OnceKey::get`] gave no key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Another thread of the process (or the caller, re-entered) is setting the key up.
    Later,
    /// The key could not be created, or its owner's set-up refused it: never usable.
    Never,
}

/// A `pthread` key created once per process (see the module documentation).
pub(crate) struct OnceKey {
    key: AtomicUsize,
    made: AtomicBool,
    state: AtomicU8,
    claim: SetupClaim,
}

impl OnceKey {
    /// Not created.
    pub(crate) const fn new() -> Self {
        OnceKey {
            key: AtomicUsize::new(0),
            made: AtomicBool::new(false),
            state: AtomicU8::new(PENDING),
            claim: SetupClaim::new(),
        }
    }

    /// The key, once set up: one load (and a second for the key itself). Used by the thread
    /// slot's `pthread`-key variant (its fast path), built where the TLS one is not.
    #[cfg(not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux",
        not(heapwise_slot_key)
    )))]
    #[inline(always)]
    pub(crate) fn ready(&self) -> Option<usize> {
        (self.state.load(Ordering::Acquire) == READY).then(|| self.key.load(Ordering::Relaxed))
    }

    /// The key, set up at the process's first call: created with `destructor`, then
    /// `finish(key)` runs (once per process), whose `false` makes the key unusable for good.
    pub(crate) fn get(
        &self,
        destructor: Option<unsafe extern "C" fn(*mut libc::c_void)>,
        finish: impl FnOnce(usize) -> bool,
    ) -> Result<usize, Retry> {
        match self.state.load(Ordering::Acquire) {
            READY => return Ok(self.key.load(Ordering::Relaxed)),
            UNUSABLE => return Err(Retry::Never),
            _ => {}
        }
        if !self.claim.try_claim() {
            return Err(Retry::Later);
        }
        let made = self.made.load(Ordering::Acquire) || {
            let mut key: libc::pthread_key_t = 0;
            // SAFETY: `key` is a valid out-pointer; the destructor, if any, is the owner's
            // (it must not unwind).
            let ok = unsafe { libc::pthread_key_create(&mut key, destructor) } == 0;
            if ok {
                self.key.store(key as usize, Ordering::Release);
                self.made.store(true, Ordering::Release);
            }
            ok
        };
        let key = self.key.load(Ordering::Acquire);
        let ok = made && finish(key);
        self.state
            .store(if ok { READY } else { UNUSABLE }, Ordering::Release);
        if ok {
            Ok(key)
        } else {
            Err(Retry::Never)
        }
    }

    /// Puts the key in the state a parent leaves when it forks while one of its threads is
    /// at the set-up (for tests, in a child process that plays a fresh one): pending, the key
    /// created or not (`made`), the claim held by this process.
    #[cfg(test)]
    pub(crate) fn play_unfinished_setup(&self, made: bool) {
        self.state.store(PENDING, Ordering::Release);
        self.made.store(made, Ordering::Release);
        self.claim.reset();
        assert!(self.claim.try_claim(), "a fresh process's claim is free");
    }
}
