//! [`Config`]: how a [`crate::Global`] builds its heaps, and `Settings`, the one copy of it
//! that every arena of a `Global` reads.
//!
//! A `Global` keeps one `Config` for all its arenas, so that the arenas a process never uses
//! stay untouched: a copy per arena put a function pointer (the corruption hook) in each
//! arena's part of the static, which the dynamic loader relocates, and `configure` wrote to
//! each, so every process had three more dirty pages of the library's data (12 KiB).
//!
//! Invariants: the configuration is written only while `Settings` is open, by one writer
//! at a time (the state is `WRITING` meanwhile); it is frozen (never written again) before
//! any reader sees it, and every heap is built from it frozen; the policy is also kept in
//! an atomic, which `Settings::policy` and `Settings::is_default_policy` (whether the
//! thread caches serve it) read without freezing.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, Ordering};

use heapwise_core::{CorruptionHook, PolicyKind};

use crate::diag;
use crate::harden::Harden;

/// How a [`crate::Global`] builds its heaps.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The heaps' policy.
    pub policy: PolicyKind,
    /// Put the first heap at the program break (only when heapwise is the process malloc).
    pub use_sbrk: bool,
    /// The heaps' growth chunk.
    pub chunk: usize,
    /// Called on detected misuse or corruption (double free, invalid pointer, ...).
    pub hook: CorruptionHook,
    /// Misuse detection beyond the engine's checks (the quarantine; see [`crate::harden`]).
    pub harden: Harden,
}

impl Config {
    /// Segregated fits, reserved regions only, 64 KiB growth chunk, abort on corruption.
    pub const DEFAULT: Config = Config {
        policy: PolicyKind::DEFAULT,
        use_sbrk: false,
        chunk: 64 * 1024,
        hook: diag::abort_on_corruption,
        harden: Harden::DEFAULT,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

/// [`Settings`]: the configuration may still be replaced.
const OPEN: u8 = 0;
/// [`Settings`]: a [`Settings::replace`] is writing it.
const WRITING: u8 = 1;
/// [`Settings`]: read by a heap or a report; never written again.
const FROZEN: u8 = 2;

/// The configuration of a [`crate::Global`]: replaceable until it is first used, then
/// frozen.
pub(crate) struct Settings {
    config: UnsafeCell<Config>,
    /// [`OPEN`], [`WRITING`] or [`FROZEN`].
    state: AtomicU8,
    /// `config.policy as u8`, readable at any time.
    policy: AtomicU8,
}

// SAFETY: `config` is written only by the one thread that moved `state` from OPEN to
// WRITING, and read only after `state` is FROZEN, which it never leaves (module invariants);
// the other fields are atomics.
unsafe impl Sync for Settings {}

impl Settings {
    pub(crate) const fn new(config: Config) -> Self {
        Settings {
            config: UnsafeCell::new(config),
            state: AtomicU8::new(OPEN),
            policy: AtomicU8::new(config.policy as u8),
        }
    }

    /// Replaces the configuration unless it is frozen (or another thread is replacing it);
    /// returns whether it did.
    pub(crate) fn replace(&self, config: Config) -> bool {
        if self
            .state
            .compare_exchange(OPEN, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: the state is WRITING and this thread set it: no other thread writes or
        // reads `config` until it is OPEN again (`frozen` waits while it is WRITING).
        unsafe { *self.config.get() = config };
        self.policy.store(config.policy as u8, Ordering::Relaxed);
        self.state.store(OPEN, Ordering::Release);
        true
    }

    /// The configuration, frozen from now on (a heap is about to be built from it, or a
    /// report needs its hook).
    #[inline]
    pub(crate) fn frozen(&self) -> &Config {
        loop {
            match self.state.load(Ordering::Acquire) {
                FROZEN => break,
                OPEN => {
                    if self
                        .state
                        .compare_exchange(OPEN, FROZEN, Ordering::Acquire, Ordering::Acquire)
                        .is_ok()
                    {
                        break;
                    }
                }
                _ => core::hint::spin_loop(),
            }
        }
        // SAFETY: the state is FROZEN (seen with Acquire, after the last writer's Release),
        // which it never leaves: `config` is never written again.
        unsafe { &*self.config.get() }
    }

    /// The corruption hook (freezes the configuration).
    #[inline]
    pub(crate) fn hook(&self) -> CorruptionHook {
        self.frozen().hook
    }

    /// Whether the configured policy is the default one (the one the thread caches serve),
    /// without freezing the configuration: one load, for the calls of a thread of a seed
    /// policy, which ask on every call.
    #[inline]
    pub(crate) fn is_default_policy(&self) -> bool {
        self.policy.load(Ordering::Relaxed) == PolicyKind::DEFAULT as u8
    }

    /// The configured policy, without freezing the configuration.
    pub(crate) fn policy(&self) -> PolicyKind {
        let v = self.policy.load(Ordering::Relaxed);
        PolicyKind::ALL
            .iter()
            .copied()
            .find(|&k| k as u8 == v)
            .unwrap_or(PolicyKind::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaced_while_open_then_frozen_by_its_first_reader() {
        let s = Settings::new(Config::DEFAULT);
        let explicit = Config {
            policy: PolicyKind::ExplicitAddrFirst,
            ..Config::DEFAULT
        };
        assert!(s.replace(explicit));
        assert_eq!(s.policy(), PolicyKind::ExplicitAddrFirst);
        assert!(!s.is_default_policy());
        assert!(s.replace(Config::DEFAULT), "open until read");
        assert_eq!(s.policy(), PolicyKind::DEFAULT, "policy() does not freeze");
        assert!(s.is_default_policy());
        assert!(s.replace(explicit));
        assert_eq!(s.frozen().policy, PolicyKind::ExplicitAddrFirst);
        assert!(!s.replace(Config::DEFAULT), "frozen once read");
        assert_eq!(s.frozen().policy, PolicyKind::ExplicitAddrFirst);
        assert_eq!(s.policy(), PolicyKind::ExplicitAddrFirst);
    }

    #[test]
    fn every_policy_reads_back() {
        for &k in PolicyKind::ALL {
            let s = Settings::new(Config {
                policy: k,
                ..Config::DEFAULT
            });
            assert_eq!(s.policy(), k);
        }
    }
}
