//! Block format: the header word, the boundary-tag footer, the free-list links, and every
//! piece of pointer arithmetic on the heap's layout.
//!
//! This module is the **only** place that computes addresses from block sizes. Everything
//! else in the engine works with [`Block`] handles and the accessors below.
//!
//! # Layout
//!
//! `W` is the machine word (`size_of::<usize>()`: 8 on 64-bit, 4 on 32-bit). Every block
//! size is a multiple of [`ALIGN`] (16), and every block starts `W` bytes before a 16-byte
//! boundary, so that every payload is 16-byte aligned on every target.
//!
//! ```text
//!  allocated block                          free block
//!
//!  block ->+----------------------+--+--+  block ->+----------------------+--+--+
//!          | size (multiple of 16)|PA| A|          | size (multiple of 16)|PA| 0|  header
//!  payload>+----------------------+--+--+          +----------------------+--+--+
//! (16-byte |                            |          | next free (link)           |  payload+0
//!  aligned)|  payload: size - W bytes   |          | prev free (link)           |  payload+W
//!          |  usable by the application |          |                            |
//!          |  (no footer: the next      |          |  unused                    |
//!          |  block's PA bit says we    |          |                            |
//!          |  are allocated)            |          +----------------------------+
//!          |                            |          | size                 |PA| 0|  footer
//!  next  ->+----------------------------+  next  ->+----------------------------+
//!
//!   A  (bit 0) = this block is allocated
//!   PA (bit 1) = the previous block (at lower addresses) is allocated
//!   Q  (bit 2) = an allocated block held in the quarantine (freed by the program)
//!   bit 3 is reserved and always zero in a well-formed header
//! ```
//!
//! * The **header** is one word: the block size with the two flag bits in its low bits.
//! * A **free** block repeats its header in a **footer** (its last word), the boundary tag
//!   that lets the next block find its start when coalescing. Allocated blocks have no footer:
//!   the `PA` bit of the following block records that the previous block is in use, so the
//!   whole block minus the header is payload.
//! * The free-list **links** (used by the explicit and segregated policies) live in the first
//!   two words of a free block's payload.
//! * The **minimum block** ([`MIN_BLOCK`]) holds a header, two links and a footer, rounded up
//!   to 16: 32 bytes on 64-bit targets, 16 bytes on 32-bit targets.
//!
//! # The heap as a sequence of blocks
//!
//! ```text
//!  start                                                                      brk
//!  |meta (policy state)|pad|prologue hdr|prologue ftr| block | block | ... |epilogue hdr|
//!                          '--- allocated, size 16 ---'                     size 0, A=1
//! ```
//!
//! The **prologue** is an allocated 16-byte block (header and footer), so that the first real
//! block always has an allocated predecessor; the **epilogue** is a lone header of size 0,
//! marked allocated, that terminates the implicit list. Extending the heap turns the old
//! epilogue header into the header of the new block and writes a new epilogue at the new top.

use core::mem::size_of;
use core::ptr::NonNull;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::Relaxed;

/// The machine word: header, footer and link size.
pub const WORD: usize = size_of::<usize>();

/// Payload alignment and block-size granularity, on every target.
pub const ALIGN: usize = 16;

/// Smallest block: header + two links + footer, rounded up to [`ALIGN`].
pub const MIN_BLOCK: usize = round_up_const(4 * WORD, ALIGN);

/// Size of the prologue block.
pub const PROLOGUE: usize = ALIGN;

/// Largest block size the engine will ever create. Keeping sizes below `isize::MAX / 2`
/// means no size computation in the engine can overflow.
pub const MAX_BLOCK: usize = (isize::MAX as usize / 2) & !(ALIGN - 1);

/// Bit 0 of a header: this block is allocated.
pub const ALLOC: usize = 0b01;
/// Bit 1 of a header: the previous block is allocated.
pub const PREV_ALLOC: usize = 0b10;
/// Bit 2 of an allocated block's header: the block was freed and sits in the heap's
/// quarantine ([`crate::quarantine`]); it stays allocated for the free lists, but any use of
/// its payload pointer is misuse.
pub const QUARANTINED: usize = 0b100;
/// Bit 3 of a header: scratch mark used only while the heap checker runs.
pub(crate) const MARK: usize = 0b1000;
/// The flag bits of a header.
pub const FLAGS: usize = ALIGN - 1;

/// Reads the header word at `h` with an atomic (`Relaxed`) load, for readers that do not
/// hold the heap's lock: the thread caches of the `heapwise` crate check a freed block's
/// header and its successor's, and read the size of the blocks they hold, while another
/// thread may be changing those words under the lock (a successor being split, merged or
/// allocated; the `PREV_ALLOC` bit of a held block). [`Block::set_header`] stores
/// atomically too, so these reads race with nothing; on every target both are the plain
/// load and store instructions. (The engine's own reads, under the lock, need not be
/// atomic: the only writes they could meet are made under the same lock.)
///
/// # Safety
/// `h` must be a readable, word-aligned word; for a meaningful value, a header word.
#[inline(always)]
pub unsafe fn load_header(h: *const u8) -> usize {
    // SAFETY: guaranteed by the caller: readable and aligned for `usize` (= `AtomicUsize`).
    unsafe { AtomicUsize::from_ptr(h as *mut usize).load(Relaxed) }
}

const fn round_up_const(n: usize, a: usize) -> usize {
    (n + a - 1) & !(a - 1)
}

/// Block size needed for a request of `size` payload bytes: header added, rounded up to
/// [`ALIGN`], at least [`MIN_BLOCK`]. `None` when the result would exceed [`MAX_BLOCK`].
#[inline]
pub const fn block_size_for(size: usize) -> Option<usize> {
    if size > MAX_BLOCK - WORD - ALIGN {
        return None;
    }
    let s = round_up_const(size + WORD, ALIGN);
    Some(if s < MIN_BLOCK { MIN_BLOCK } else { s })
}

/// Offset from the start of the heap to the first header (the prologue's), given the bytes
/// reserved for policy metadata (a multiple of [`ALIGN`]).
#[inline]
pub const fn prologue_offset(meta_bytes: usize) -> usize {
    meta_bytes + ALIGN - WORD
}

/// Bytes an empty heap occupies: metadata, padding, prologue and epilogue.
#[inline]
pub const fn empty_heap_bytes(meta_bytes: usize) -> usize {
    prologue_offset(meta_bytes) + PROLOGUE + WORD
}

/// A handle to a block: a pointer to its header word.
///
/// A `Block` is only a pointer; creating one is safe, and every accessor that reads or
/// writes memory is `unsafe` with the requirement that the handle points at a live block
/// header inside a heap the caller owns.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(transparent)]
pub struct Block(NonNull<u8>);

impl Block {
    /// Wraps a pointer to a header.
    #[inline]
    pub const fn from_header(p: NonNull<u8>) -> Self {
        Block(p)
    }

    /// The block whose payload starts at `payload` (no check that it is one).
    ///
    /// # Safety
    /// `payload` must be at least `WORD` bytes past the start of the allocation it points
    /// into (true for every payload this engine hands out).
    #[inline]
    pub unsafe fn from_payload(payload: NonNull<u8>) -> Self {
        // SAFETY: the caller guarantees a header word precedes `payload` in the same
        // allocation, so the subtraction stays in bounds and cannot produce null.
        Block(unsafe { NonNull::new_unchecked(payload.as_ptr().sub(WORD)) })
    }

    /// Pointer to the header word.
    #[inline]
    pub const fn as_ptr(self) -> *mut u8 {
        self.0.as_ptr()
    }

    /// Address of the header, for comparisons and diagnostics.
    #[inline]
    pub fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// Pointer to the payload (16-byte aligned for every block but the prologue).
    #[inline]
    pub fn payload(self) -> NonNull<u8> {
        // SAFETY: a block is at least one header word long, so header + WORD is within (or
        // one past) the block and is non-null.
        unsafe { NonNull::new_unchecked(self.0.as_ptr().wrapping_add(WORD)) }
    }

    /// Address one past the end of the block, given its size.
    #[inline]
    pub fn end_addr(self, size: usize) -> usize {
        self.addr().wrapping_add(size)
    }

    /// Reads the header word.
    ///
    /// # Safety
    /// `self` must point at a readable, aligned header word of a heap the caller owns.
    #[inline]
    pub unsafe fn header(self) -> usize {
        // SAFETY: guaranteed by the caller: the header word is readable and word-aligned.
        unsafe { (self.0.as_ptr() as *const usize).read() }
    }

    /// Writes the header word, with an atomic (`Relaxed`) store: see [`load_header`].
    ///
    /// # Safety
    /// As [`Block::header`], and the word must be writable.
    #[inline]
    pub unsafe fn set_header(self, word: usize) {
        // SAFETY: guaranteed by the caller: the header word is writable and word-aligned
        // (the alignment of `AtomicUsize` is that of `usize`); every concurrent access to
        // a header word is atomic (`load_header`).
        unsafe { AtomicUsize::from_ptr(self.0.as_ptr() as *mut usize).store(word, Relaxed) }
    }

    /// The block size from the header.
    ///
    /// # Safety
    /// As [`Block::header`].
    #[inline]
    pub unsafe fn size(self) -> usize {
        // SAFETY: forwarded caller contract.
        unsafe { self.header() & !FLAGS }
    }

    /// Whether the header says allocated.
    ///
    /// # Safety
    /// As [`Block::header`].
    #[inline]
    pub unsafe fn is_alloc(self) -> bool {
        // SAFETY: forwarded caller contract.
        unsafe { self.header() & ALLOC != 0 }
    }

    /// Whether the header says the previous block is allocated.
    ///
    /// # Safety
    /// As [`Block::header`].
    #[inline]
    pub unsafe fn prev_alloc(self) -> bool {
        // SAFETY: forwarded caller contract.
        unsafe { self.header() & PREV_ALLOC != 0 }
    }

    /// Sets or clears the `PREV_ALLOC` bit of a block known to be allocated (or the
    /// epilogue): only the header changes, with no test of the block's own state.
    ///
    /// # Safety
    /// As [`Block::set_header`]; the block must not be free (a free block's footer would
    /// no longer equal its header).
    #[inline]
    pub unsafe fn set_prev_alloc_of_allocated(self, on: bool) {
        // SAFETY: forwarded caller contract.
        unsafe {
            let h = self.header();
            self.set_header(if on { h | PREV_ALLOC } else { h & !PREV_ALLOC });
        }
    }

    /// Sets or clears the `PREV_ALLOC` bit, keeping the rest of the header. A free block's
    /// footer is updated too, so that footer and header stay equal.
    ///
    /// # Safety
    /// As [`Block::set_header`]; a free block must have its true size in its header.
    #[inline]
    pub unsafe fn set_prev_alloc(self, on: bool) {
        // SAFETY: forwarded caller contract; a free block of size `s > 0` has its footer at
        // `self + s - WORD`, inside the block.
        unsafe {
            let h = self.header();
            let h = if on { h | PREV_ALLOC } else { h & !PREV_ALLOC };
            self.set_header(h);
            let size = h & !FLAGS;
            if h & ALLOC == 0 && size != 0 {
                (self.0.as_ptr().add(size - WORD) as *mut usize).write(h);
            }
        }
    }

    /// The block that follows this one in address order.
    ///
    /// # Safety
    /// `self` must be a live, non-epilogue block whose header holds its true size.
    #[inline]
    pub unsafe fn next(self) -> Block {
        // SAFETY: a live block of size `s` is followed by another block header (or the
        // epilogue) exactly `s` bytes later, inside the same heap.
        unsafe { Block(NonNull::new_unchecked(self.0.as_ptr().add(self.size()))) }
    }

    /// The block `size` bytes after this one's header (for use while a header is being
    /// rewritten and does not yet hold the size).
    ///
    /// # Safety
    /// `self + size` must lie within the heap.
    #[inline]
    pub unsafe fn offset(self, size: usize) -> Block {
        // SAFETY: the caller guarantees the result is inside the heap.
        unsafe { Block(NonNull::new_unchecked(self.0.as_ptr().add(size))) }
    }

    /// The previous block, found through its footer.
    ///
    /// # Safety
    /// `self` must be a live block whose `PREV_ALLOC` bit is clear (so the previous block is
    /// free and has a valid footer just below this header).
    #[inline]
    pub unsafe fn prev(self) -> Block {
        // SAFETY: the previous block is free, so its footer (one word below our header)
        // holds its size, and its header is that many bytes below ours.
        unsafe {
            let footer = (self.0.as_ptr() as *const usize).sub(1).read();
            Block(NonNull::new_unchecked(self.0.as_ptr().sub(footer & !FLAGS)))
        }
    }

    /// The word just below this header: the previous block's footer when that block is
    /// free (when it is allocated, the last word of its payload).
    ///
    /// # Safety
    /// `self` must be a block header above the start of the heap (the prologue's footer is
    /// the lowest such word).
    #[inline]
    pub unsafe fn prev_footer(self) -> usize {
        // SAFETY: the word below a block header above the heap's start is heap memory.
        unsafe { (self.0.as_ptr() as *const usize).sub(1).read() }
    }

    /// Reads the footer word of a block of `size` bytes.
    ///
    /// # Safety
    /// `self` must be a block of `size` bytes inside the heap.
    #[inline]
    pub unsafe fn footer(self, size: usize) -> usize {
        // SAFETY: the footer is the last word of the block, inside the heap.
        unsafe { (self.0.as_ptr().add(size - WORD) as *const usize).read() }
    }

    /// Writes header and footer of a free block of `size` bytes.
    ///
    /// # Safety
    /// `[self, self + size)` must be a range of the heap owned by the caller, `size` a
    /// multiple of `ALIGN` and at least `MIN_BLOCK`.
    #[inline]
    pub unsafe fn write_free(self, size: usize, prev_alloc: bool) {
        let word = size | if prev_alloc { PREV_ALLOC } else { 0 };
        // SAFETY: both words lie inside `[self, self + size)`, owned by the caller.
        unsafe {
            self.set_header(word);
            (self.0.as_ptr().add(size - WORD) as *mut usize).write(word);
        }
    }

    /// Writes the header of an allocated block of `size` bytes (no footer).
    ///
    /// # Safety
    /// As [`Block::set_header`].
    #[inline]
    pub unsafe fn write_alloc(self, size: usize, prev_alloc: bool) {
        // SAFETY: forwarded caller contract.
        unsafe { self.set_header(size | ALLOC | if prev_alloc { PREV_ALLOC } else { 0 }) }
    }

    /// The free-list link to the next free block (payload word 0).
    ///
    /// # Safety
    /// `self` must be a free block of at least `MIN_BLOCK` bytes.
    #[inline]
    pub unsafe fn link_next(self) -> Option<Block> {
        // SAFETY: a free block's first payload word is its `next` link.
        unsafe { NonNull::new((self.0.as_ptr().add(WORD) as *const *mut u8).read()).map(Block) }
    }

    /// The free-list link to the previous free block (payload word 1).
    ///
    /// # Safety
    /// As [`Block::link_next`].
    #[inline]
    pub unsafe fn link_prev(self) -> Option<Block> {
        // SAFETY: a free block's second payload word is its `prev` link.
        unsafe { NonNull::new((self.0.as_ptr().add(2 * WORD) as *const *mut u8).read()).map(Block) }
    }

    /// Sets the `next` link.
    ///
    /// # Safety
    /// As [`Block::link_next`].
    #[inline]
    pub unsafe fn set_link_next(self, b: Option<Block>) {
        let p = b.map_or(core::ptr::null_mut(), Block::as_ptr);
        // SAFETY: a free block's first payload word is its `next` link.
        unsafe { (self.0.as_ptr().add(WORD) as *mut *mut u8).write(p) }
    }

    /// Sets the `prev` link.
    ///
    /// # Safety
    /// As [`Block::link_next`].
    #[inline]
    pub unsafe fn set_link_prev(self, b: Option<Block>) {
        let p = b.map_or(core::ptr::null_mut(), Block::as_ptr);
        // SAFETY: a free block's second payload word is its `prev` link.
        unsafe { (self.0.as_ptr().add(2 * WORD) as *mut *mut u8).write(p) }
    }

    /// The usable payload bytes of an allocated block of `size` bytes.
    #[inline]
    pub const fn usable(size: usize) -> usize {
        size - WORD
    }
}

/// Pointer arithmetic on the heap as a whole: where its fixed parts sit.
pub mod layout {
    use super::*;

    /// Pointer `n` bytes after `p`.
    ///
    /// # Safety
    /// The result must lie within (or one past) the allocation `p` points into.
    #[inline]
    pub unsafe fn add(p: NonNull<u8>, n: usize) -> NonNull<u8> {
        // SAFETY: the caller keeps the result in bounds of a non-null allocation.
        unsafe { NonNull::new_unchecked(p.as_ptr().add(n)) }
    }

    /// Pointer `n` bytes before `p`.
    ///
    /// # Safety
    /// The result must lie within the allocation `p` points into.
    #[inline]
    pub unsafe fn sub(p: NonNull<u8>, n: usize) -> NonNull<u8> {
        // SAFETY: the caller keeps the result in bounds of a non-null allocation.
        unsafe { NonNull::new_unchecked(p.as_ptr().sub(n)) }
    }

    /// A pointer to address `addr` carrying the provenance of `base` (the heap's own
    /// pointer). Pointers handed back by the application (to `free`, `realloc`) may only be
    /// valid for their payload; the engine reaches headers through its own provenance.
    #[inline]
    pub fn rebase(base: NonNull<u8>, addr: usize) -> NonNull<u8> {
        // SAFETY: `addr` is non-zero: it is compared against the heap's bounds, which lie
        // above address zero, before any use.
        unsafe { NonNull::new_unchecked(base.as_ptr().with_addr(addr)) }
    }

    /// `p` rounded up to a multiple of `align` (a power of two), keeping provenance.
    #[inline]
    pub fn align_up(p: NonNull<u8>, align: usize) -> NonNull<u8> {
        let off = p.as_ptr().align_offset(align);
        // SAFETY: callers only align pointers whose rounded value they have checked to lie
        // inside their region; wrapping_add keeps provenance and cannot yield null here.
        unsafe { NonNull::new_unchecked(p.as_ptr().wrapping_add(off)) }
    }

    /// The prologue block of a heap starting at `start` with `meta` metadata bytes.
    ///
    /// # Safety
    /// The heap must extend at least [`empty_heap_bytes`]`(meta)` bytes from `start`.
    #[inline]
    pub unsafe fn prologue(start: NonNull<u8>, meta: usize) -> Block {
        // SAFETY: the prologue header lies inside the heap by the caller's guarantee.
        Block(unsafe { add(start, prologue_offset(meta)) })
    }

    /// The epilogue header of a heap whose top is `brk`.
    ///
    /// # Safety
    /// `brk` must be the top of an initialised heap.
    #[inline]
    pub unsafe fn epilogue(brk: NonNull<u8>) -> Block {
        // SAFETY: an initialised heap ends with its one-word epilogue header.
        Block(unsafe { sub(brk, WORD) })
    }

    /// Writes the prologue (allocated, 16 bytes, header and footer) and an epilogue right
    /// after it.
    ///
    /// # Safety
    /// `[start, start + empty_heap_bytes(meta))` must be writable heap memory.
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub unsafe fn write_empty_heap(start: NonNull<u8>, meta: usize) -> Block {
        // SAFETY: all three words are inside the empty heap, by the caller's guarantee.
        unsafe {
            let pro = prologue(start, meta);
            let word = PROLOGUE | ALLOC | PREV_ALLOC;
            pro.set_header(word);
            (pro.as_ptr().add(PROLOGUE - WORD) as *mut usize).write(word);
            let epi = pro.offset(PROLOGUE);
            epi.set_header(ALLOC | PREV_ALLOC);
            epi
        }
    }

    /// Reads word `i` of the policy metadata area.
    ///
    /// # Safety
    /// `i` must be within the metadata area the policy reserved at `meta`.
    #[inline]
    pub unsafe fn meta_word(meta: NonNull<u8>, i: usize) -> *mut usize {
        // SAFETY: in bounds by the caller's guarantee; the area is word-aligned.
        unsafe { (meta.as_ptr() as *mut usize).add(i) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_and_respect_the_minimum() {
        assert_eq!(block_size_for(0), Some(MIN_BLOCK));
        assert_eq!(block_size_for(1), Some(MIN_BLOCK));
        assert_eq!(block_size_for(MIN_BLOCK - WORD), Some(MIN_BLOCK));
        assert_eq!(
            block_size_for(MIN_BLOCK - WORD + 1),
            Some(MIN_BLOCK + ALIGN)
        );
        assert_eq!(block_size_for(usize::MAX), None);
        assert_eq!(block_size_for(MAX_BLOCK), None);
        assert!(block_size_for(MAX_BLOCK - WORD - ALIGN).unwrap() <= MAX_BLOCK);
        for s in 0..1000 {
            let b = block_size_for(s).unwrap();
            assert_eq!(b % ALIGN, 0);
            assert!(b - WORD >= s);
            assert!(b >= MIN_BLOCK);
        }
    }

    #[test]
    fn the_first_payload_is_aligned() {
        for meta in [0, 16, 1024] {
            assert_eq!((prologue_offset(meta) + PROLOGUE + WORD) % ALIGN, 0);
        }
    }
}
