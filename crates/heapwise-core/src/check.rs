//! The heap checker: walks the whole heap and every free list, and names the first block
//! that breaks an invariant and which one.
//!
//! Checked, in order:
//! 1. the prologue (allocated, 16 bytes, header equals footer);
//! 2. every block: size a multiple of 16 and at least the minimum, inside the heap (blocks
//!    tile `[first, epilogue)` exactly), payload 16-byte aligned, no reserved bit set,
//!    `PREV_ALLOC` equal to the previous block's state, footer equal to header when free,
//!    no two adjacent free blocks under immediate coalescing;
//! 3. the epilogue (size 0, allocated, at `brk - W`; the addresses the heap derives from its
//!    top for `validate` are those of the current `brk`, checked before the walk that ends
//!    there);
//! 4. for list policies: every list entry is a free block of this heap in the right class,
//!    links agree both ways, no entry appears twice (a scratch mark bit in the header, cleared
//!    before returning, and written only into entries that look like free blocks: sane size,
//!    footer equal to header, successor's `PREV_ALLOC` clear, so that a link into an
//!    allocated payload never marks the program's data), every free block of the walk is in
//!    a list, the class bitmap matches (and has no bit set beyond the last list);
//! 5. for policies with slabs ([`crate::policy::slab`]): the slab control block, the sorted
//!    directory, every slab header and the partial lists;
//! 6. the counters (allocated blocks and bytes, slab objects counted as objects) match the
//!    walk, and the blocks marked quarantined are as many, and as large, as the quarantine
//!    holds plus the blocks it kept out of use after a write after free.
//!
//! The checker is O(heap) and meant for tests, debugging and the lab, not the fast path.

use crate::block::{
    layout, Block, ALIGN, ALLOC, FLAGS, MARK, MIN_BLOCK, PREV_ALLOC, PROLOGUE, QUARANTINED, WORD,
};
use crate::error::{ErrorKind, HeapError};
use crate::heap::Heap;
use crate::policy::Policy;
use crate::source::Source;

impl<S: Source, P: Policy> Heap<S, P> {
    /// Verifies every invariant of the heap; returns the first violation found.
    ///
    /// Takes `&self`, but briefly sets (and always clears again) a scratch bit in free
    /// blocks' headers while it checks list membership.
    pub fn check(&self) -> Result<(), HeapError> {
        if self.meta.is_null() {
            return Ok(());
        }
        let v = self.view();
        let err = |kind, b: Block, info| Err(HeapError::new(kind, b.addr(), info));
        // SAFETY: the walk reads only words inside `[start, brk)`: every size is checked to
        // keep the next header below the epilogue before it is followed.
        unsafe {
            // 1. prologue
            let pro = layout::prologue(v.meta, P::META_BYTES);
            let ph = pro.header();
            if ph != PROLOGUE | ALLOC | PREV_ALLOC || pro.footer(PROLOGUE) != ph {
                return err(ErrorKind::BadPrologue, pro, ph);
            }
            // 3. (first) the epilogue the walk ends at is that of the current `brk`
            if !self.top_is_current() {
                return err(ErrorKind::BadEpilogue, v.epilogue, 0);
            }
            // 2. blocks
            let end = v.epilogue.addr();
            let mut b = v.first;
            let mut prev_alloc = true;
            let (mut free_blocks, mut alloc_blocks, mut alloc_bytes) = (0usize, 0usize, 0usize);
            let (mut held, mut held_bytes) = (0usize, 0usize);
            while b.addr() < end {
                let h = b.header();
                let size = h & !FLAGS;
                if size < MIN_BLOCK || size % ALIGN != 0 || size > end - b.addr() {
                    return err(ErrorKind::BadTiling, b, size);
                }
                if b.payload().as_ptr() as usize % ALIGN != 0 {
                    return err(ErrorKind::Misaligned, b, size);
                }
                let q = if h & ALLOC != 0 { QUARANTINED } else { 0 };
                if h & FLAGS & !(ALLOC | PREV_ALLOC | q) != 0 {
                    return err(ErrorKind::CorruptHeader, b, size);
                }
                if (h & PREV_ALLOC != 0) != prev_alloc {
                    return err(ErrorKind::BadPrevAlloc, b, size);
                }
                let alloc = h & ALLOC != 0;
                if alloc {
                    alloc_blocks += 1;
                    alloc_bytes += size;
                    if h & QUARANTINED != 0 {
                        held += 1;
                        held_bytes += size;
                    }
                } else {
                    if b.footer(size) != h {
                        return err(ErrorKind::FooterMismatch, b, size);
                    }
                    if P::IMMEDIATE_COALESCE && !prev_alloc {
                        return err(ErrorKind::Uncoalesced, b, size);
                    }
                    free_blocks += 1;
                }
                prev_alloc = alloc;
                b = b.offset(size);
            }
            // 3. epilogue
            let eh = v.epilogue.header();
            if b != v.epilogue || eh & !PREV_ALLOC != ALLOC {
                return err(ErrorKind::BadEpilogue, v.epilogue, eh);
            }
            if (eh & PREV_ALLOC != 0) != prev_alloc {
                return err(ErrorKind::BadPrevAlloc, v.epilogue, 0);
            }
            // 4. lists
            if P::LISTS > 0 {
                let found = self.check_lists(free_blocks);
                // Clear the marks, and find free blocks that no list holds.
                let mut missing = None;
                let mut b = v.first;
                while b.addr() < end {
                    let h = b.header();
                    if h & ALLOC == 0 {
                        if h & MARK == 0 {
                            missing.get_or_insert(b);
                        }
                        b.set_header(h & !MARK);
                    }
                    b = b.offset(h & !FLAGS);
                }
                found?;
                if let Some(m) = missing {
                    return err(ErrorKind::NotInList, m, m.size());
                }
            }
            // 5. slabs (policies with a slab layer only; compiled away otherwise): the slab
            // layer is checked, and slab blocks count as their live objects.
            if P::SLAB_MAX != 0 {
                self.check_slabs(&mut alloc_blocks, &mut alloc_bytes)?;
            }
            // 6. counters, and the quarantine: exactly its blocks carry the mark
            let c = &self.counters;
            if c.alloc_blocks != alloc_blocks || c.alloc_bytes != alloc_bytes {
                return Err(HeapError::new(
                    ErrorKind::BadCounters,
                    self.meta as usize,
                    alloc_bytes,
                ));
            }
            let q = self.quarantine();
            if held != q.len() + q.kept() || held_bytes != q.bytes() + q.kept_bytes() {
                return Err(HeapError::new(
                    ErrorKind::BadCounters,
                    self.meta as usize,
                    held,
                ));
            }
        }
        Ok(())
    }

    /// Walks every list, marking entries; the caller clears the marks.
    ///
    /// # Safety
    /// The block walk must have succeeded (the heap tiles correctly).
    unsafe fn check_lists(&self, free_blocks: usize) -> Result<(), HeapError> {
        let v = self.view();
        let lo = v.first.addr();
        let hi = v.epilogue.addr();
        let mut seen = 0usize;
        // SAFETY: initialised metadata.
        let spare = unsafe { P::bitmap_spare_bits(&v) };
        if spare != 0 {
            return Err(HeapError::new(
                ErrorKind::BadBitmap,
                v.meta.as_ptr() as usize,
                spare.trailing_zeros() as usize,
            ));
        }
        for i in 0..P::LISTS {
            // SAFETY: list heads live in initialised metadata.
            let head = unsafe { P::list_head(&v, i) };
            // SAFETY: initialised metadata.
            if let Some(bit) = unsafe { P::list_nonempty_bit(&v, i) } {
                if bit != head.is_some() {
                    return Err(HeapError::new(
                        ErrorKind::BadBitmap,
                        v.meta.as_ptr() as usize,
                        i,
                    ));
                }
            }
            let mut prev: Option<Block> = None;
            let mut cur = head;
            while let Some(b) = cur {
                let a = b.addr();
                if a < lo || a >= hi || (a + WORD) % ALIGN != 0 {
                    return Err(HeapError::new(ErrorKind::ListEntryNotFree, a, i));
                }
                // SAFETY: `b` is a block-aligned address inside the block area, so its
                // header word is readable; its footer and the header after it are read only
                // once its size is known to keep them at or below the epilogue.
                unsafe {
                    let h = b.header();
                    if h & ALLOC != 0 {
                        return Err(HeapError::new(ErrorKind::ListEntryNotFree, a, i));
                    }
                    if h & MARK != 0 {
                        return Err(HeapError::new(ErrorKind::InListTwice, a, i));
                    }
                    // The mark is written only into what is a free block by every local
                    // test (a sane size, a footer equal to the header, a successor that
                    // says its predecessor is free): an entry pointing into an allocated
                    // block's payload must not get a mark that the clearing walk, which
                    // visits real blocks only, would leave in the program's data.
                    let size = h & !FLAGS;
                    if size < MIN_BLOCK
                        || size % ALIGN != 0
                        || size > hi - a
                        || b.footer(size) != h
                        || b.offset(size).prev_alloc()
                    {
                        return Err(HeapError::new(ErrorKind::ListEntryNotFree, a, i));
                    }
                    b.set_header(h | MARK);
                    seen += 1;
                    if seen > free_blocks {
                        return Err(HeapError::new(ErrorKind::InListTwice, a, i));
                    }
                    if !P::list_accepts(i, size) {
                        return Err(HeapError::new(ErrorKind::WrongClass, a, size));
                    }
                    if b.link_prev() != prev {
                        return Err(HeapError::new(ErrorKind::BadLink, a, i));
                    }
                    prev = Some(b);
                    cur = b.link_next();
                }
            }
        }
        Ok(())
    }
}
