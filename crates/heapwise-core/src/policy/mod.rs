//! Free-block organisation and placement: the [`Policy`] trait and the fit strategies.
//!
//! The heap ([`crate::Heap`]) owns the block format, splitting, coalescing and growth; a
//! policy owns only the answer to two of the seed's design questions:
//!
//! 1. **free-block organisation** — where free blocks are recorded
//!    ([`Policy::insert`], [`Policy::remove`]): nowhere (the implicit list, where the heap
//!    itself is the list), one doubly linked list, or segregated lists per size class;
//! 2. **placement** — which free block serves a request ([`Policy::find`]): first fit,
//!    next fit, best fit ([`Fit`]) or the segregated best / good fit.
//!
//! A policy keeps its state (list heads, a rover, a bitmap) in the first
//! [`Policy::META_BYTES`] bytes of the heap itself, as the seed's constraint 3 asks ("any
//! non-scalar data structure of the allocator lives in the heap"), so peak utilisation
//! counts it.
//!
//! Invariants every policy keeps, and the heap checker verifies through
//! [`Policy::LISTS`], [`Policy::list_head`], [`Policy::list_accepts`],
//! [`Policy::list_nonempty_bit`] and [`Policy::bitmap_spare_bits`]: every free block known to
//! the heap is in exactly one list (for list policies), lists are consistent both ways, a
//! class bitmap bit is set iff its list is non-empty, and no bitmap bit names a list that
//! does not exist.

use core::ptr::NonNull;

use crate::block::Block;

pub mod compact;
pub mod compact_slab;
pub mod explicit;
pub mod implicit;
pub(crate) mod list;
pub mod segregated;
pub mod slab;

/// What a policy sees of the heap: its metadata area and the current bounds of the block
/// sequence.
#[derive(Clone, Copy, Debug)]
pub struct HeapView {
    /// Start of the policy's metadata area (`META_BYTES` bytes, word-aligned).
    pub meta: NonNull<u8>,
    /// The first block after the prologue.
    pub first: Block,
    /// The epilogue header (size 0, allocated).
    pub epilogue: Block,
    /// The heap runs at [`crate::Integrity::Full`]: a search checks every block it reaches
    /// through a link or a size read from heap memory before it reads it
    /// ([`HeapView::may_read`], [`HeapView::size_ok`]).
    pub checked: bool,
}

impl HeapView {
    /// Whether a search may read the block `b`, reached through a link read from heap
    /// memory: always at [`crate::Integrity::Basic`]; at `Full`, when `b` is a plausible
    /// block header inside the heap. A search that meets an implausible block returns it
    /// as found, unread: the heap's checks of the found block report it and refuse it.
    #[inline(always)]
    pub fn may_read(&self, b: Block) -> bool {
        !self.checked || header_addr_ok(b.addr(), self.first.addr(), self.epilogue.addr())
    }

    /// Whether `size`, read from the header of block `b` in a walk of the block sequence,
    /// may be followed to the next block: always at `Basic`; at `Full`, when it is a
    /// multiple of 16 that stays below the epilogue.
    #[inline(always)]
    pub fn size_ok(&self, b: Block, size: usize) -> bool {
        !self.checked
            || (size % crate::block::ALIGN == 0
                && size <= self.epilogue.addr().saturating_sub(b.addr()))
    }
}

/// Whether `a` may be the header address of a block of at least
/// [`crate::block::MIN_BLOCK`] bytes inside `[lo, hi)`: word-aligned 8 (or 12) bytes below
/// a 16-byte boundary.
#[inline(always)]
pub(crate) fn header_addr_ok(a: usize, lo: usize, hi: usize) -> bool {
    use crate::block::{ALIGN, MIN_BLOCK, WORD};
    a >= lo && a % ALIGN == ALIGN - WORD && a < hi && hi - a >= MIN_BLOCK
}

/// The placement strategy of the implicit and explicit lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitKind {
    /// The first free block that fits, searching from the beginning.
    First,
    /// The first free block that fits, searching from where the last search stopped.
    Next,
    /// The smallest free block that fits (stops early on an exact fit).
    Best,
}

/// A placement strategy, chosen at compile time.
pub trait Fit {
    /// Which strategy.
    const KIND: FitKind;
    /// Its name in policy names (`first`, `next`, `best`).
    const NAME: &'static str;
}

/// First fit.
#[derive(Debug)]
pub enum FirstFit {}
/// Next fit.
#[derive(Debug)]
pub enum NextFit {}
/// Best fit.
#[derive(Debug)]
pub enum BestFit {}

impl Fit for FirstFit {
    const KIND: FitKind = FitKind::First;
    const NAME: &'static str = "first";
}
impl Fit for NextFit {
    const KIND: FitKind = FitKind::Next;
    const NAME: &'static str = "next";
}
impl Fit for BestFit {
    const KIND: FitKind = FitKind::Best;
    const NAME: &'static str = "best";
}

/// A free-list organisation plus a placement strategy.
///
/// All methods are called by [`crate::Heap`] with a valid [`HeapView`]; they never allocate
/// and never panic.
///
/// # Safety
/// Implementations must only touch their metadata area and the link words of free blocks
/// handed to them, and [`find`](Policy::find) must return only free blocks of the heap whose
/// size is at least the requested size.
pub unsafe trait Policy {
    /// The policy's name, as used by `HEAPWISE_POLICY` and the lab.
    const NAME: &'static str;
    /// Bytes reserved at the start of the heap for the policy's state (multiple of 16).
    const META_BYTES: usize;
    /// Whether the heap coalesces a block with its free neighbours as soon as it is freed.
    /// When `false` (deferred coalescing), the heap coalesces the whole heap when a search
    /// fails, before growing it.
    const IMMEDIATE_COALESCE: bool = true;
    /// Number of free lists the policy keeps (0 for the implicit list).
    const LISTS: usize = 0;
    /// The growth chunk a new heap starts with (see [`crate::Heap::with_chunk`]).
    const CHUNK: usize = crate::heap::DEFAULT_CHUNK;
    /// Largest request (in bytes, at most [`slab::SLAB_MAX_LIMIT`]) the heap serves from
    /// **slabs**: header-free objects of one size class carved out of one engine block (see
    /// [`slab`]). 0 (the default) turns the slab layer off: every `SLAB_MAX != 0` test in
    /// the heap is a constant, so a policy without slabs compiles exactly as before. A
    /// policy with slabs must leave the last [`slab::meta_bytes`]`(SLAB_MAX)` bytes of its
    /// metadata area ([`Policy::META_BYTES`]) to the slab layer, zeroed by [`Policy::init`].
    const SLAB_MAX: usize = 0;
    /// Whether this policy's instances of the engine's hot functions go into the hot code
    /// group (`link_section = ".text.hot.heapwise"`, see `section.rs`): set by the policy
    /// the OS faces run by default ([`Segregated`](crate::Segregated)), so that the group
    /// holds the code a process runs and not the other policies' copies of it. A placement
    /// hint only: behaviour does not depend on it.
    const HOT_SECTION: bool = false;

    /// How many bytes to ask the source for when a request of block size `asize` finds no
    /// free block and the heap must grow by at least `need` bytes; `chunk` is the heap's
    /// current growth chunk. The heap asks for at least `need` (rounded down to 16) whatever
    /// this returns, and falls back to exactly `need` if the source refuses more. Default:
    /// `max(need, chunk)`.
    #[inline]
    fn grow_bytes(_v: &HeapView, _asize: usize, need: usize, chunk: usize) -> usize {
        need.max(chunk)
    }

    /// `realloc` of a block of `bsize` bytes at the top of the heap that needs `asize`
    /// bytes and does not fit with its free successor: the size of the block to slide down
    /// into its free predecessor of `psize` bytes instead of growing the heap, or 0 to grow
    /// the heap. The block is copied to the top end of the predecessor-plus-block region, so
    /// it stays at the top; the heap clamps the size to `[asize, psize + bsize]` and gives
    /// the block the whole region when less than a minimum block would stay free below.
    /// Default: 0 (grow the heap).
    #[inline]
    fn realloc_move_down(_psize: usize, _bsize: usize, _asize: usize) -> usize {
        0
    }

    /// `realloc` to `asize` bytes of a block of `bsize >= asize` bytes: whether to free the
    /// tail (when it can be a block) or keep it in the block as room to grow. Default: free it.
    #[inline]
    fn realloc_trim(_bsize: usize, _asize: usize) -> bool {
        true
    }

    /// A necessary condition of [`prefer_growth`](Policy::prefer_growth) that looks only
    /// at the fit: when it is `false`, the heap takes the block without working out the
    /// heap's free bytes and size for `prefer_growth`. Default: `true` (always ask
    /// `prefer_growth`).
    #[inline]
    fn may_prefer_growth(_asize: usize, _bsize: usize) -> bool {
        true
    }

    /// Whether a request of block size `asize` should grow the heap instead of taking the
    /// free block of `bsize >= asize` bytes that [`find`](Policy::find) chose; `free` is the
    /// heap's bytes outside allocated blocks (free blocks and fixed overhead) and `heap` its
    /// size. Asked for every request that takes a recorded block (`malloc`, `calloc`,
    /// `aligned_alloc`, `realloc`'s moves) whose fit passes
    /// [`may_prefer_growth`](Policy::may_prefer_growth), and followed only when the source
    /// has at least `asize` bytes of [`Source::free_room`] (growing costs nothing; the heap
    /// looks at the room after a yes, so the answer must not depend on when it is asked).
    /// The chosen block stays recorded, and the request is served at the top as if no
    /// block had fitted. Default: never.
    ///
    /// [`Source::free_room`]: crate::Source::free_room
    #[inline]
    fn prefer_growth(_asize: usize, _bsize: usize, _free: usize, _heap: usize) -> bool {
        false
    }

    /// Placement within the chosen block: whether an allocation of block size `asize`
    /// carved from the free block `b` of `bsize` bytes (already removed from the records,
    /// header intact) takes the block's high end (the free remainder stays at the low end)
    /// instead of its low end. Asked for `malloc`, `calloc` and `realloc`'s moves, not for
    /// `aligned_alloc`; ignored when the remainder could not be a block of its own.
    /// Default: the low end.
    ///
    /// # Safety
    /// `b` must be a block of the heap of `bsize` bytes.
    #[inline]
    unsafe fn place_high(_v: &HeapView, _b: Block, _asize: usize, _bsize: usize) -> bool {
        false
    }

    /// Initialises the metadata area of a new heap.
    ///
    /// # Safety
    /// `v.meta` must point at `META_BYTES` writable bytes.
    unsafe fn init(v: &HeapView);

    /// Records a free block of `size` bytes (its header and footer are already written).
    ///
    /// # Safety
    /// `b` must be a free block of the heap of `size` bytes that is in no list.
    unsafe fn insert(v: &HeapView, b: Block, size: usize);

    /// Forgets a free block of `size` bytes that is about to be allocated or merged.
    ///
    /// # Safety
    /// `b` must be a free block of `size` bytes previously passed to `insert`.
    unsafe fn remove(v: &HeapView, b: Block, size: usize);

    /// Told that block `b` (free or just freed) was merged into the block `into` that
    /// precedes it, so `b` is no longer a block start. Lists already had `b` removed; this is
    /// for policies that keep a pointer to a block (the implicit next-fit rover).
    ///
    /// # Safety
    /// `into` must be a block start of the heap.
    #[inline]
    unsafe fn absorbed(_v: &HeapView, _b: Block, _into: Block) {}

    /// A recorded free block of at least `asize` bytes, or `None`. The block stays recorded;
    /// the heap calls [`remove`](Policy::remove) before using it.
    ///
    /// # Safety
    /// The heap and the policy's state must be consistent.
    unsafe fn find(v: &HeapView, asize: usize) -> Option<Block>;

    /// [`find`](Policy::find), with a **hint** for
    /// [`remove_found`](Policy::remove_found): what the search learnt about where the block
    /// is recorded (for segregated lists: its class, when it heads its list), so that
    /// removing it does not work it out again. The heap uses this pair on its allocation
    /// path. Default: `find`, hint 0.
    ///
    /// # Safety
    /// As [`find`](Policy::find).
    #[inline]
    unsafe fn find_with_hint(v: &HeapView, asize: usize) -> Option<(Block, usize)> {
        // SAFETY: forwarded caller contract.
        unsafe { Self::find(v, asize) }.map(|b| (b, 0))
    }

    /// [`remove`](Policy::remove) for a block that
    /// [`find_with_hint`](Policy::find_with_hint) returned with `hint`, with no record
    /// changed since. Default: `remove`.
    ///
    /// # Safety
    /// `b` must be the block of `size` bytes `find_with_hint` returned with `hint`, and the
    /// policy's records must not have changed since.
    #[inline]
    unsafe fn remove_found(v: &HeapView, b: Block, size: usize, _hint: usize) {
        // SAFETY: forwarded caller contract.
        unsafe { Self::remove(v, b, size) }
    }

    /// Head of free list `i` (`i < LISTS`).
    ///
    /// # Safety
    /// The metadata area must be initialised.
    #[inline]
    unsafe fn list_head(_v: &HeapView, _i: usize) -> Option<Block> {
        None
    }

    /// Whether a free block of `size` bytes belongs in list `i`.
    #[inline]
    fn list_accepts(_i: usize, _size: usize) -> bool {
        true
    }

    /// The bitmap bit that says list `i` is non-empty, for policies that keep one.
    ///
    /// # Safety
    /// The metadata area must be initialised.
    #[inline]
    unsafe fn list_nonempty_bit(_v: &HeapView, _i: usize) -> Option<bool> {
        None
    }

    /// The bits set in the policy's bitmap words that name no list (bits at and above
    /// [`LISTS`](Policy::LISTS) in its last word), for the heap checker: always 0 in a
    /// consistent heap (a search would take such a bit for a list). Default: 0, for policies
    /// without a bitmap or whose bitmap has no spare bits.
    ///
    /// # Safety
    /// The metadata area must be initialised.
    #[inline]
    unsafe fn bitmap_spare_bits(_v: &HeapView) -> usize {
        0
    }
}
