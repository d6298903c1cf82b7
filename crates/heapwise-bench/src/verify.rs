//! Integrity checks on the blocks the allocators hand out, so that no allocator can win by
//! cheating: every block gets a tag byte written into its first and last byte, checked when
//! the block is freed or resized; every returned pointer is checked for alignment and for
//! lying inside the arena.
//!
//! Invariant: a live [`Slot`] either is empty (its allocation failed) or names a block of
//! `size` bytes whose first byte is `tag` and last byte `!tag`.

use std::fmt;

/// A live block of a workload.
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    /// Payload (null if the allocation failed).
    pub ptr: *mut u8,
    /// Requested size.
    pub size: u32,
    /// Requested alignment.
    pub align: u8,
    /// The tag written into the block.
    pub tag: u8,
}

/// What the checks found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Blocks whose tags were verified (at free, at realloc, and at the end of a run).
    pub checks: u64,
    /// Pointers and tags that were wrong.
    pub corruptions: u64,
    /// The first problem seen.
    pub first: Option<String>,
}

impl Integrity {
    #[cold]
    fn bad(&mut self, what: fmt::Arguments<'_>) {
        self.corruptions += 1;
        if self.first.is_none() {
            self.first = Some(what.to_string());
        }
    }

    /// Checks that `p` (non-null) is aligned to `align` and that `[p, p + size)` lies in
    /// `[base, base + len)`.
    #[inline]
    pub fn check_ptr(
        &mut self,
        p: *mut u8,
        size: usize,
        align: usize,
        base: *const u8,
        len: usize,
    ) {
        let (a, b) = (p as usize, base as usize);
        if a & (align - 1) != 0 || a < b || a + size > b + len {
            self.bad(format_args!(
                "block {a:#x}+{size} (align {align}) misaligned or outside the arena"
            ));
        }
    }

    /// Writes the tags of a fresh block.
    ///
    /// # Safety
    /// `s.ptr` must be a block of at least `s.size > 0` writable bytes.
    #[inline]
    pub unsafe fn stamp(s: &Slot) {
        // SAFETY: caller contract: `[ptr, ptr + size)` is writable.
        unsafe {
            s.ptr.write(s.tag);
            s.ptr.add(s.size as usize - 1).write(!s.tag);
        }
    }

    /// Verifies the tags of a live block.
    ///
    /// # Safety
    /// As [`Integrity::stamp`], readable.
    #[inline]
    pub unsafe fn verify(&mut self, s: &Slot) {
        self.checks += 1;
        // SAFETY: caller contract: `[ptr, ptr + size)` is readable.
        let (first, last) = unsafe { (s.ptr.read(), s.ptr.add(s.size as usize - 1).read()) };
        if first != s.tag || last != !s.tag {
            self.bad(format_args!(
                "block {:p}+{}: tags {first:#04x}/{last:#04x}, expected {:#04x}/{:#04x}",
                s.ptr, s.size, s.tag, !s.tag
            ));
        }
    }

    /// Verifies that a realloc from `old` to the block `new` kept the bytes it must keep:
    /// the first byte, and the old last byte when the block grew.
    ///
    /// # Safety
    /// `new.ptr` must be a block of at least `new.size > 0` readable bytes.
    #[inline]
    pub unsafe fn verify_moved(&mut self, old: &Slot, new: *mut u8, new_size: usize) {
        self.checks += 1;
        // SAFETY: caller contract; `old.size - 1 < new_size` when read.
        let ok = unsafe {
            new.read() == old.tag
                && (new_size < old.size as usize
                    || new.add(old.size as usize - 1).read() == !old.tag)
        };
        if !ok {
            self.bad(format_args!(
                "realloc {:p}+{} -> {new:p}+{new_size} lost the block's contents",
                old.ptr, old.size
            ));
        }
    }
}
