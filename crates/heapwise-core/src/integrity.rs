//! How much the heap checks the blocks it touches: the [`Integrity`] level of a heap
//! ([`crate::Heap::set_integrity`]).
//!
//! Two things are checked on the fast paths: the pointer a program hands to `free`,
//! `realloc` or `usable_size` (**validation**), and every free block the heap is about to
//! unlink from a list or merge with (**safe unlinking**). Validation is the same at both
//! levels; the levels differ in how far safe unlinking trusts the addresses it follows.
//!
//! | check | [`Basic`](Integrity::Basic) | [`Full`](Integrity::Full) |
//! |---|:---:|:---:|
//! | freed pointer: 16-byte aligned, inside the block area | ✓ | ✓ |
//! | freed pointer: its header says allocated, not quarantined, no reserved bit, a size that stays inside the heap (else double free / invalid pointer / corrupt header) | ✓ | ✓ |
//! | freed pointer: the next block's `PREV_ALLOC` bit is set (an overflow out of the block) | ✓ | ✓ |
//! | unlinked free block: header says free, size at least the minimum and inside the heap | ✓ | ✓ |
//! | unlinked free block: footer equal to header (boundary tags agree) | ✓ | ✓ |
//! | unlinked free block: its list neighbours' links point back at it | ✓ | ✓ |
//! | unlinked free block and both its links: plausible block addresses inside the heap, checked **before** they are read | – | ✓ |
//!
//! So at `Basic` a corrupted free block is reported whenever the corruption shows in the
//! block's own words or its neighbours' links (the checks glibc's `unlink` makes), but a
//! link overwritten with a wild address is followed (read) before the mismatch is seen, as
//! in glibc: the read may fault. At `Full` no address taken from heap memory is read before
//! it has been checked to be a possible block header of this heap, so every such corruption
//! is reported and refused. `Basic` is the default of every heap (the `no_std` face, the lab,
//! the benchmarks); the preload library and the hosted allocator run at `Full`.
//!
//! Every detected problem goes to the heap's corruption hook from a `#[cold]` path; the fast
//! paths test all of their conditions with one predictable branch per group of reads.

/// The level of the heap's integrity checks (see the [module docs](self)).
///
/// ```
/// use core::mem::MaybeUninit;
/// use heapwise_core::{FixedArena, Heap, Integrity, Segregated};
///
/// let mut mem = [MaybeUninit::<u8>::uninit(); 8192];
/// let mut heap: Heap<_, Segregated> =
///     Heap::new(FixedArena::new(&mut mem)).with_integrity(Integrity::Full);
/// assert_eq!(heap.integrity(), Integrity::Full);
/// heap.set_integrity(Integrity::Basic);
/// assert_eq!(heap.integrity(), Integrity::default());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// Cheap, glibc-like checks: the freed pointer is a plausible allocated block; a free
    /// block being unlinked has a sane header, a footer equal to its header and links that
    /// point back. The default.
    #[default]
    Basic,
    /// Everything in `Basic`, and every address read from heap memory (a free block reached
    /// through a list, its `next` and `prev` links) is checked to be a plausible block
    /// header inside the heap before it is followed.
    Full,
}

impl Integrity {
    /// The level's name (`basic`, `full`).
    pub const fn name(self) -> &'static str {
        match self {
            Integrity::Basic => "basic",
            Integrity::Full => "full",
        }
    }

    /// The level of that name.
    pub fn from_name(name: &str) -> Option<Integrity> {
        match name {
            "basic" => Some(Integrity::Basic),
            "full" => Some(Integrity::Full),
            _ => None,
        }
    }
}
