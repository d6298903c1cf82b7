//! Choosing a policy at run time: [`PolicyKind`] names every policy of the engine, and
//! [`AnyHeap`] is a heap whose policy is picked from a name (the lab's `--policy`, the
//! preload library's `HEAPWISE_POLICY`), dispatching each call with one `match`.
//!
//! Invariant: [`PolicyKind::ALL`] lists every variant once, and each variant's
//! [`PolicyKind::name`] is the string [`PolicyKind::from_name`] accepts for it.

use core::ptr::NonNull;

use crate::error::{CorruptionHook, HeapError};
use crate::heap::{Blocks, Counters, Heap, HeapLayout};
use crate::policy::compact::Compact;
use crate::policy::compact_slab::CompactSlab;
use crate::policy::explicit::{AddressOrdered, Explicit, Lifo};
use crate::policy::implicit::{Deferred, Immediate, Implicit};
use crate::policy::segregated::Segregated;
use crate::policy::{BestFit, FirstFit, NextFit};
use crate::source::Source;
use crate::stats::Stats;

/// The list of policies, the default one marked `#[default]`: the list in order for
/// [`policies_body!`], and the others apart (for `dispatch_hot!`).
macro_rules! policies {
    (
        $( $b:ident => $bty:ty, $bname:literal, $bdoc:literal; )*
        #[default] $d:ident => $dty:ty, $dname:literal, $ddoc:literal;
        $( $a:ident => $aty:ty, $aname:literal, $adoc:literal; )*
    ) => {
        policies_body! {
            [ $( $b => $bty, $bname, $bdoc; )* $d => $dty, $dname, $ddoc; $( $a => $aty, $aname, $adoc; )* ]
            $d $dty [ $( $b )* $( $a )* ]
        }
    };
}

macro_rules! policies_body {
    (
        [ $( $variant:ident => $ty:ty, $name:literal, $doc:literal; )* ]
        $default:ident $default_ty:ty [ $( $other:ident )* ]
    ) => {
        /// Every policy of the engine, selectable at run time.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum PolicyKind {
            $( #[doc = $doc] $variant, )*
        }

        /// The default policy's type (the variant marked `#[default]`).
        type DefaultPolicy = $default_ty;

        impl PolicyKind {
            /// The default policy (the variant marked `#[default]` in the list below).
            pub const DEFAULT: PolicyKind = PolicyKind::$default;

            /// Every policy, slowest first (the default, `segregated`, is third from last).
            pub const ALL: &'static [PolicyKind] = &[$(PolicyKind::$variant),*];

            /// The policy's name (e.g. `implicit-first`, `segregated`).
            pub const fn name(self) -> &'static str {
                match self { $(PolicyKind::$variant => $name,)* }
            }

            /// A one-line description.
            pub const fn describe(self) -> &'static str {
                match self { $(PolicyKind::$variant => $doc,)* }
            }

            /// The policy of that name.
            pub fn from_name(name: &str) -> Option<PolicyKind> {
                match name { $($name => Some(PolicyKind::$variant),)* _ => None }
            }
        }

        /// A heap whose policy was chosen at run time.
        pub enum AnyHeap<S: Source> {
            $( #[doc = $doc] $variant(Heap<S, $ty>), )*
        }

        macro_rules! dispatch {
            ($self:expr, $h:ident => $e:expr) => {
                match $self { $(AnyHeap::$variant($h) => $e,)* }
            };
        }

        /// As `dispatch!`, for the methods on the allocation paths: the default policy
        /// through `$default_call` (a function of `default_policy`), every other policy's
        /// call `$e` in a cold function (`$none` is what the cold function gives for the
        /// default policy, which never reaches it). The OS faces
        /// place these methods with their other hot code (`link_section =
        /// ".text.hot.heapwise"`), and every page of code a process executes maps its 64 KiB
        /// neighbourhood into its resident set (see `heapwise-preload`'s `build.rs`), so the
        /// hot code must not carry the policies that `HEAPWISE_POLICY` may select but a
        /// process rarely runs.
        macro_rules! dispatch_hot {
            ($self:expr, $h:ident => $default_call:expr, $e:expr, $none:expr) => {
                match $self {
                    AnyHeap::$default($h) => $default_call,
                    other => cold(move || match other {
                        $(AnyHeap::$other($h) => $e,)*
                        AnyHeap::$default(_) => $none,
                    }),
                }
            };
        }

        impl<S: Source> AnyHeap<S> {
            /// A heap with policy `kind` over `source`.
            #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
            pub fn new(kind: PolicyKind, source: S) -> Self {
                match kind { $(PolicyKind::$variant => AnyHeap::$variant(Heap::new(source)),)* }
            }

            /// The policy of this heap.
            pub fn kind(&self) -> PolicyKind {
                match self { $(AnyHeap::$variant(_) => PolicyKind::$variant,)* }
            }
        }

        $(
            impl<S: Source> IntoAny<S> for Heap<S, $ty> {
                fn into_any(self) -> AnyHeap<S> { AnyHeap::$variant(self) }
            }
        )*
    };
}

policies! {
    ImplicitFirst => Implicit<FirstFit, Immediate>, "implicit-first",
        "implicit free list, first fit, immediate coalescing (the seed's textbook allocator)";
    ImplicitNext => Implicit<NextFit, Immediate>, "implicit-next",
        "implicit free list, next fit, immediate coalescing";
    ImplicitBest => Implicit<BestFit, Immediate>, "implicit-best",
        "implicit free list, best fit, immediate coalescing";
    ImplicitFirstDeferred => Implicit<FirstFit, Deferred>, "implicit-first-deferred",
        "implicit free list, first fit, coalescing deferred until a search fails";
    ImplicitNextDeferred => Implicit<NextFit, Deferred>, "implicit-next-deferred",
        "implicit free list, next fit, coalescing deferred until a search fails";
    ImplicitBestDeferred => Implicit<BestFit, Deferred>, "implicit-best-deferred",
        "implicit free list, best fit, coalescing deferred until a search fails";
    ExplicitLifoFirst => Explicit<Lifo, FirstFit>, "explicit-lifo-first",
        "explicit doubly linked free list, LIFO order, first fit";
    ExplicitLifoNext => Explicit<Lifo, NextFit>, "explicit-lifo-next",
        "explicit doubly linked free list, LIFO order, next fit";
    ExplicitLifoBest => Explicit<Lifo, BestFit>, "explicit-lifo-best",
        "explicit doubly linked free list, LIFO order, best fit";
    ExplicitAddrFirst => Explicit<AddressOrdered, FirstFit>, "explicit-addr-first",
        "explicit doubly linked free list, address order, first fit";
    ExplicitAddrNext => Explicit<AddressOrdered, NextFit>, "explicit-addr-next",
        "explicit doubly linked free list, address order, next fit";
    ExplicitAddrBest => Explicit<AddressOrdered, BestFit>, "explicit-addr-best",
        "explicit doubly linked free list, address order, best fit";
    #[default] Segregated => Segregated, "segregated",
        "segregated free lists per size class with a class bitmap, best fit below 4 KiB, good fit above (the default)";
    Compact => Compact, "compact",
        "best fit over size-sorted segregated lists, small and large blocks kept apart, exact growth (utilisation first)";
    CompactSlab => CompactSlab, "compact-slab",
        "compact plus header-free slabs for requests up to 512 bytes (best utilisation)";
}

/// The default policy's entry points, placed with the hot code (see `dispatch_hot!`): the
/// engine's `malloc` and `free` are inlined into them, and what they call out of line
/// carries the same placement (for every policy: a generic function cannot be placed for
/// one policy only, which is why `realloc` and `aligned_alloc`, whose out-of-line copies
/// for the thirteen other policies are large, do not).
mod default_policy {
    use core::ptr::NonNull;

    use super::DefaultPolicy;
    use crate::heap::Heap;
    use crate::source::Source;

    /// [`Heap::malloc`] of the default policy.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) fn malloc<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        h.malloc(size)
    }

    /// [`Heap::calloc`] of the default policy.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) fn calloc<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        n: usize,
        size: usize,
    ) -> Option<NonNull<u8>> {
        h.calloc(n, size)
    }

    /// [`Heap::aligned_alloc`] of the default policy.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) fn aligned_alloc<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        align: usize,
        size: usize,
    ) -> Option<NonNull<u8>> {
        h.aligned_alloc(align, size)
    }

    /// [`Heap::free`] of the default policy.
    ///
    /// # Safety
    /// As [`Heap::free`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) unsafe fn free<S: Source>(h: &mut Heap<S, DefaultPolicy>, ptr: *mut u8) {
        // SAFETY: forwarded caller contract.
        unsafe { h.free(ptr) }
    }

    /// [`Heap::realloc`] of the default policy.
    ///
    /// # Safety
    /// As [`Heap::realloc`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) unsafe fn realloc<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        ptr: *mut u8,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { h.realloc(ptr, size) }
    }

    /// [`Heap::realloc_in_place`] of the default policy.
    ///
    /// # Safety
    /// As [`Heap::realloc_in_place`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) unsafe fn realloc_in_place<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        ptr: NonNull<u8>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { h.realloc_in_place(ptr, size) }
    }

    /// [`Heap::realloc_move`] of the default policy.
    ///
    /// # Safety
    /// As [`Heap::realloc_move`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) unsafe fn realloc_move<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        ptr: NonNull<u8>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { h.realloc_move(ptr, size) }
    }

    /// [`Heap::usable_size`] of the default policy.
    ///
    /// # Safety
    /// As [`Heap::usable_size`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    #[inline(never)]
    pub(super) unsafe fn usable_size<S: Source>(
        h: &mut Heap<S, DefaultPolicy>,
        ptr: *const u8,
    ) -> usize {
        // SAFETY: forwarded caller contract.
        unsafe { h.usable_size(ptr) }
    }
}

/// Runs `f` out of line, as cold code: the other policies' calls through [`AnyHeap`]'s
/// methods on the allocation paths (`dispatch_hot!`, in `policies_body!`).
#[cold]
#[inline(never)]
fn cold<R>(f: impl FnOnce() -> R) -> R {
    f()
}

impl core::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

impl<S: Source> AnyHeap<S> {
    /// See [`Heap::with_integrity`].
    pub fn with_integrity(self, level: crate::Integrity) -> Self {
        dispatch!(self, h => h.with_integrity(level).into_any())
    }

    /// See [`Heap::set_integrity`].
    pub fn set_integrity(&mut self, level: crate::Integrity) {
        dispatch!(self, h => h.set_integrity(level))
    }

    /// See [`Heap::integrity`].
    pub fn integrity(&self) -> crate::Integrity {
        dispatch!(self, h => h.integrity())
    }

    /// See [`Heap::with_chunk`].
    pub fn with_chunk(self, chunk: usize) -> Self {
        dispatch!(self, h => h.with_chunk(chunk).into_any())
    }
    /// See [`Heap::set_corruption_hook`].
    pub fn set_corruption_hook(&mut self, hook: CorruptionHook) {
        dispatch!(self, h => h.set_corruption_hook(hook))
    }
    /// See [`Heap::set_quarantine`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn set_quarantine(&mut self, blocks: usize, max_bytes: usize, junk: bool) {
        dispatch!(self, h => h.set_quarantine(blocks, max_bytes, junk))
    }
    /// See [`Heap::quarantine`].
    pub fn quarantine(&self) -> &crate::Quarantine {
        dispatch!(self, h => h.quarantine())
    }
    /// See [`Heap::flush_quarantine`].
    pub fn flush_quarantine(&mut self) {
        dispatch!(self, h => h.flush_quarantine())
    }
    /// See [`Heap::malloc`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        dispatch_hot!(
            self,
            h => default_policy::malloc(h, size),
            h.malloc(size),
            None
        )
    }
    /// See [`Heap::calloc`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn calloc(&mut self, n: usize, size: usize) -> Option<NonNull<u8>> {
        dispatch_hot!(
            self,
            h => default_policy::calloc(h, n, size),
            h.calloc(n, size),
            None
        )
    }
    /// See [`Heap::aligned_alloc`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn aligned_alloc(&mut self, align: usize, size: usize) -> Option<NonNull<u8>> {
        dispatch_hot!(
            self,
            h => default_policy::aligned_alloc(h, align, size),
            h.aligned_alloc(align, size),
            None
        )
    }
    /// See [`Heap::free`].
    ///
    /// # Safety
    /// As [`Heap::free`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn free(&mut self, ptr: *mut u8) {
        dispatch_hot!(
            self,
            // SAFETY: forwarded caller contract.
            h => unsafe { default_policy::free(h, ptr) },
            // SAFETY: forwarded caller contract.
            unsafe { h.free(ptr) },
            ()
        )
    }
    /// See [`Heap::realloc`].
    ///
    /// # Safety
    /// As [`Heap::realloc`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Option<NonNull<u8>> {
        dispatch_hot!(
            self,
            // SAFETY: forwarded caller contract.
            h => unsafe { default_policy::realloc(h, ptr, size) },
            // SAFETY: forwarded caller contract.
            unsafe { h.realloc(ptr, size) },
            None
        )
    }
    /// See [`Heap::realloc_in_place`].
    ///
    /// # Safety
    /// As [`Heap::realloc_in_place`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn realloc_in_place(
        &mut self,
        ptr: NonNull<u8>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        dispatch_hot!(
            self,
            // SAFETY: forwarded caller contract.
            h => unsafe { default_policy::realloc_in_place(h, ptr, size) },
            // SAFETY: forwarded caller contract.
            unsafe { h.realloc_in_place(ptr, size) },
            None
        )
    }
    /// See [`Heap::realloc_move`].
    ///
    /// # Safety
    /// As [`Heap::realloc_move`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn realloc_move(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        dispatch_hot!(
            self,
            // SAFETY: forwarded caller contract.
            h => unsafe { default_policy::realloc_move(h, ptr, size) },
            // SAFETY: forwarded caller contract.
            unsafe { h.realloc_move(ptr, size) },
            None
        )
    }
    /// See [`Heap::reallocarray`].
    ///
    /// # Safety
    /// As [`Heap::reallocarray`].
    pub unsafe fn reallocarray(
        &mut self,
        ptr: *mut u8,
        n: usize,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        dispatch!(self, h => unsafe { h.reallocarray(ptr, n, size) })
    }
    /// See [`Heap::usable_size`].
    ///
    /// # Safety
    /// As [`Heap::usable_size`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn usable_size(&mut self, ptr: *const u8) -> usize {
        dispatch_hot!(
            self,
            // SAFETY: forwarded caller contract.
            h => unsafe { default_policy::usable_size(h, ptr) },
            // SAFETY: forwarded caller contract.
            unsafe { h.usable_size(ptr) },
            0
        )
    }
    /// See [`Heap::check`].
    pub fn check(&self) -> Result<(), HeapError> {
        dispatch!(self, h => h.check())
    }
    /// See [`Heap::stats`].
    pub fn stats(&self) -> Stats {
        dispatch!(self, h => h.stats())
    }
    /// See [`Heap::counters`].
    pub fn counters(&self) -> &Counters {
        dispatch!(self, h => h.counters())
    }
    /// See [`Heap::layout`].
    pub fn layout(&self) -> Option<HeapLayout> {
        dispatch!(self, h => h.layout())
    }
    /// See [`Heap::blocks`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn blocks(&self) -> Blocks<'_> {
        dispatch!(self, h => h.blocks())
    }
    /// See [`Heap::contains`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn contains(&self, p: *const u8) -> bool {
        dispatch!(self, h => h.contains(p))
    }
    /// See [`Heap::source`].
    pub fn source(&self) -> &S {
        dispatch!(self, h => h.source())
    }
    /// See [`Heap::largest_free_block`].
    pub fn largest_free_block(&self) -> usize {
        dispatch!(self, h => h.largest_free_block())
    }
}

/// Conversion of a concrete heap into [`AnyHeap`].
pub trait IntoAny<S: Source> {
    /// Wraps the heap.
    fn into_any(self) -> AnyHeap<S>;
}
