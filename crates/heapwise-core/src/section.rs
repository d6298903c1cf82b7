//! Code sections: whether the copy of a generic engine function that runs sits in the hot
//! code group or with the rest of the code.
//!
//! The OS faces gather the code every process runs (start-up, the default policy's
//! allocation paths, exit) into one group at the front of the library's code, the link
//! section `.text.hot.heapwise` (`heapwise-preload`'s `build.rs` links it first), because
//! every page of code a process executes maps its 64 KiB fault-around window into the
//! process's resident set. A `link_section` on a generic function places *every* instance
//! of it, and the library instantiates the engine for all fifteen policies that
//! `HEAPWISE_POLICY` may select: the group carried ~40 KiB of other policies' copies of
//! [`Heap`](crate::Heap)'s hot functions, which a process running the default policy
//! never executes.
//!
//! A hot generic function of the engine that is kept out of line therefore runs its body,
//! an always-inlined closure, through one of the helpers below ([`never`] for
//! `#[inline(never)]` and the engine's larger paths, [`cold`] for `#[cold]` ones, [`hint`]
//! for the small `#[inline]` ones), written `section::placed!(never, P, { body })`; a
//! body whose inputs are more than two words takes them as arguments instead, through
//! [`never4`] (`Heap::realloc`'s out-of-line move), so that they travel in registers. Each helper has two copies: one in the group,
//! taken when the policy's [`Policy::HOT_SECTION`] is set (the default policy), and one
//! elsewhere. The choice is a constant, and the compiler instantiates only the copy a
//! policy takes (items are collected from the branches an associated constant leaves
//! reachable), so each policy's instance of the function exists once, in the right place.
//! With the glibc aliases also out of it, the group went from 101 to 77 KiB (x86-64).
//!
//! The small `#[inline]` functions of the fast paths (`take`, `find_recorded`, `alloc`,
//! `malloc`, `free`, `grow`, `validate`, `retire_block`) run their bodies through [`hint`],
//! an `#[inline]` helper: the compiler still decides whether to inline them, and a copy it
//! keeps out of line is in the group for the default policy only. Until session 17 they
//! carried the `link_section` themselves, so that every policy's out-of-line copy sat in the
//! group: 33 copies of `take` alone, 11 KiB, and ~23 KiB in all. With the functions session
//! 17 added to the group they pushed its end past the library's first 128 KiB of file, and
//! each such 64 KiB beyond it is one more window (or page-cache folio) of code mapped into
//! every process. Through [`hint`] (and with the default policy's own `find_with_hint`,
//! `fit` and `remove_found` in the group) the arena benchmark's default policy runs 181.9
//! instructions per operation, against 185.5 before.
//!
//! Invariants: every helper calls its closure exactly once and returns what it returns
//! (only where the code lives changes, never what it does); the closure is
//! `#[inline(always)]` ([`placed!`] marks it; a caller of [`never4`] marks its own), and so
//! is the function whose body it is:
//! otherwise that body, or a stub calling the helper, could stay a function of its own,
//! outside the group (a trace of the functions a program runs shows it;
//! `steps-session9.md`).

use crate::policy::Policy;

/// `placed!(helper, P, { body })`: runs `body` (the rest of a function's body; `return`
/// and `?` leave it with the function's result) as an always-inlined closure through
/// [`never`], [`cold`] or [`hint`] for policy `P`.
macro_rules! placed {
    ($helper:ident, $p:ty, $body:block) => {
        $crate::section::$helper::<$p, _>(
            #[inline(always)]
            move || $body,
        )
    };
}
pub(crate) use placed;

/// Runs `f` out of line (`#[inline(never)]`), in the hot code group if `P` is the
/// default policy: for the engine's larger paths.
#[inline(always)]
pub(crate) fn never<P: Policy, R>(f: impl FnOnce() -> R) -> R {
    if P::HOT_SECTION {
        never_hot(f)
    } else {
        never_other(f)
    }
}

/// [`never`] for a body that takes its inputs as four arguments rather than capturing
/// them: `f` captures nothing, so the call passes `a`..`d` in registers, where a closure
/// capturing more than two words is passed as a pointer to a copy on the caller's stack
/// (stored there, loaded back in the callee: ten instructions per call for five words).
#[inline(always)]
pub(crate) fn never4<P: Policy, A, B, C, D, R>(
    a: A,
    b: B,
    c: C,
    d: D,
    f: impl FnOnce(A, B, C, D) -> R,
) -> R {
    if P::HOT_SECTION {
        never4_hot(a, b, c, d, f)
    } else {
        never4_other(a, b, c, d, f)
    }
}

/// Runs `f` as a cold call (`#[cold]`), in the hot code group if `P` is the default
/// policy: for the start-up and growth paths every process runs once or rarely.
#[inline(always)]
pub(crate) fn cold<P: Policy, R>(f: impl FnOnce() -> R) -> R {
    if P::HOT_SECTION {
        cold_hot(f)
    } else {
        cold_other(f)
    }
}

/// Runs `f` with an inlining hint (`#[inline]`): where the compiler keeps a copy out of
/// line, it is in the hot code group if `P` is the default policy. For the small
/// `#[inline]` functions of the fast paths that other policies call out of line from many
/// places (`take`: 33 such copies, 11 KiB, sat in the group when the function itself carried
/// the `link_section`).
#[inline(always)]
pub(crate) fn hint<P: Policy, R>(f: impl FnOnce() -> R) -> R {
    if P::HOT_SECTION {
        hint_hot(f)
    } else {
        hint_other(f)
    }
}

#[inline]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn hint_hot<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[inline]
fn hint_other<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn never_hot<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[inline(never)]
fn never_other<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn never4_hot<A, B, C, D, R>(a: A, b: B, c: C, d: D, f: impl FnOnce(A, B, C, D) -> R) -> R {
    f(a, b, c, d)
}

#[inline(never)]
fn never4_other<A, B, C, D, R>(a: A, b: B, c: C, d: D, f: impl FnOnce(A, B, C, D) -> R) -> R {
    f(a, b, c, d)
}

#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn cold_hot<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cold]
fn cold_other<R>(f: impl FnOnce() -> R) -> R {
    f()
}
