//! Heap errors: what the heap checker and the misuse checks report, and the one hook through
//! which the engine reports detected corruption.
//!
//! The engine never panics and never prints. When an operation meets a state that cannot be
//! right (a double free, a pointer that is not a block, a header that was overwritten), it
//! builds a [`HeapError`] naming the kind and the address, calls the heap's
//! [`CorruptionHook`], and then refuses the operation (returns null / ignores the free). The
//! OS faces install a hook that prints one line through `write(2)` and aborts; `no_std`
//! users choose their own.

use core::fmt;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `free`/`realloc` of a block that is already free.
    DoubleFree,
    /// A pointer passed to `free`/`realloc`/`usable_size` that is not the payload of a block
    /// of this heap (outside it, misaligned, or pointing inside a block).
    InvalidPointer,
    /// A header whose size or flags cannot be right (overwritten by an overflow).
    CorruptHeader,
    /// A free block whose footer differs from its header.
    FooterMismatch,
    /// Two adjacent free blocks under immediate coalescing.
    Uncoalesced,
    /// A payload not aligned to 16 bytes.
    Misaligned,
    /// Blocks do not tile `[start, brk)` exactly (a block runs past the epilogue).
    BadTiling,
    /// The prologue block was overwritten.
    BadPrologue,
    /// The epilogue header was overwritten.
    BadEpilogue,
    /// A `PREV_ALLOC` bit disagrees with the previous block's state.
    BadPrevAlloc,
    /// A free block is in no free list.
    NotInList,
    /// A block appears twice in the free lists, or a list has a cycle.
    InListTwice,
    /// A list entry is not a free block of this heap.
    ListEntryNotFree,
    /// A free-list link whose reverse link does not point back.
    BadLink,
    /// A free block is filed in a size class it does not belong to.
    WrongClass,
    /// The class bitmap disagrees with the emptiness of a list.
    BadBitmap,
    /// The heap's counters disagree with a walk of the heap.
    BadCounters,
    /// `realloc`/`usable_size` of a block that was freed (free or in quarantine).
    UseAfterFree,
    /// A free block's list links (or its header/footer, seen through a list or a neighbour)
    /// were overwritten: caught before the link is followed.
    CorruptFreeBlock,
    /// A freed block's payload changed while it sat in the quarantine (junk fill).
    WriteAfterFree,
    /// A slab's header, the slab directory or a slab list was overwritten
    /// ([`crate::policy::slab`]).
    CorruptSlab,
}

impl ErrorKind {
    /// A short lowercase description, used in messages.
    pub const fn describe(self) -> &'static str {
        match self {
            ErrorKind::DoubleFree => "double free",
            ErrorKind::InvalidPointer => "invalid pointer",
            ErrorKind::CorruptHeader => "corrupted block header",
            ErrorKind::FooterMismatch => "footer differs from header",
            ErrorKind::Uncoalesced => "two adjacent free blocks",
            ErrorKind::Misaligned => "misaligned payload",
            ErrorKind::BadTiling => "blocks do not tile the heap",
            ErrorKind::BadPrologue => "prologue overwritten",
            ErrorKind::BadEpilogue => "epilogue overwritten",
            ErrorKind::BadPrevAlloc => "previous-allocated bit wrong",
            ErrorKind::NotInList => "free block in no free list",
            ErrorKind::InListTwice => "block twice in the free lists",
            ErrorKind::ListEntryNotFree => "free-list entry is not a free block",
            ErrorKind::BadLink => "free-list links disagree",
            ErrorKind::WrongClass => "free block in the wrong size class",
            ErrorKind::BadBitmap => "size-class bitmap disagrees with the lists",
            ErrorKind::BadCounters => "counters disagree with the heap",
            ErrorKind::UseAfterFree => "use after free",
            ErrorKind::CorruptFreeBlock => "corrupted free block (write after free or overflow)",
            ErrorKind::WriteAfterFree => "write after free",
            ErrorKind::CorruptSlab => "corrupted slab (header, directory or list)",
        }
    }
}

/// A detected heap error: its kind, the address of the block or pointer concerned, and a
/// kind-specific number (usually a block size; 0 when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The pointer or block address concerned.
    pub addr: usize,
    /// A block size or other detail (0 if none).
    pub info: usize,
}

impl HeapError {
    /// A new error.
    pub const fn new(kind: ErrorKind, addr: usize, info: usize) -> Self {
        HeapError { kind, addr, info }
    }
}

impl fmt::Display for HeapError {
    /// One line, e.g. `double free of 0x7f00001000 (block of 48 bytes)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {:#x}", self.kind.describe(), self.addr)?;
        if self.info != 0 {
            write!(f, " (block of {} bytes)", self.info)?;
        }
        Ok(())
    }
}

/// Called when an operation detects corruption or misuse, before the operation is refused.
/// The OS faces abort in it; the default does nothing (the operation is simply refused).
pub type CorruptionHook = fn(&HeapError);

/// The default hook: ignore (the operation that found the error is refused).
pub fn ignore_corruption(_: &HeapError) {}
