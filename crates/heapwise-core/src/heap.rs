//! The heap: `Heap<Source, Policy>`, the malloc package of the seed over one contiguous,
//! `brk`-grown region.
//!
//! The heap owns allocation (`malloc`, `calloc`, `aligned_alloc`), release (`free`),
//! resizing (`realloc`, `reallocarray`), **splitting** (a free block larger than the request
//! by at least [`MIN_BLOCK`] is split and the remainder stays free), **coalescing** (a freed
//! block is merged with free neighbours through the boundary tags: the four cases
//! allocated/free × allocated/free; or, for deferred policies, all runs at once when a search
//! fails), and **growth** (the heap is extended at the top by `max(shortfall, chunk)`, after
//! merging a free last block). The policy decides where free blocks are recorded and which one
//! a request gets. Where growing costs nothing ([`Source::free_room`], a `FixedArena`), the
//! policy may also send a request to the top rather than split a poorly fitting free block
//! ([`Policy::prefer_growth`]).
//!
//! Invariants (checked by [`Heap::check`]):
//! * blocks tile `[first, epilogue)` exactly; every payload is 16-byte aligned;
//! * a free block's footer equals its header; the `PREV_ALLOC` bit of every block (and of the
//!   epilogue) says whether the block before it is allocated;
//! * under immediate coalescing, no two free blocks are adjacent;
//! * every free block is recorded by the policy; the counters match a walk.
//!
//! The heap takes `&mut self`, never allocates, never panics on a request, and reports
//! corruption through its [`CorruptionHook`].
//!
//! Slab hook: for a policy with [`Policy::SLAB_MAX`] `> 0` (`compact-slab`), small requests
//! go to the slab layer ([`crate::policy::slab`]) first, and `free` / `realloc` /
//! `usable_size` ask it whether a pointer is a slab object before the engine's own checks.
//! Every hook sits behind `if P::SLAB_MAX != 0`, a constant, so other policies compile
//! exactly as without it.

use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::block::{
    block_size_for, empty_heap_bytes, layout, Block, ALIGN, ALLOC, FLAGS, MAX_BLOCK, MIN_BLOCK,
    PREV_ALLOC, PROLOGUE, QUARANTINED, WORD,
};
use crate::error::{ignore_corruption, CorruptionHook, ErrorKind, HeapError};
use crate::integrity::Integrity;
use crate::policy::slab::{SlabLookup, SlabObject};
use crate::policy::{HeapView, Policy};
use crate::quarantine::{Quarantine, JUNK};
use crate::section;
use crate::source::Source;

/// Default growth chunk: the heap grows by at least this many bytes (the textbook's
/// `CHUNKSIZE`).
pub const DEFAULT_CHUNK: usize = 4096;

/// Operation counters kept by the heap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `malloc` calls.
    pub mallocs: u64,
    /// `free` calls with a non-null pointer.
    pub frees: u64,
    /// `realloc` / `reallocarray` calls with a non-null pointer.
    pub reallocs: u64,
    /// `calloc` calls.
    pub callocs: u64,
    /// `aligned_alloc` calls.
    pub aligned: u64,
    /// Requests that returned null for lack of memory or an impossible size.
    pub failures: u64,
    /// Misuse or corruption reports sent to the hook.
    pub errors: u64,
    /// Successful heap extensions (`sbrk` calls).
    pub extensions: u64,
    /// Allocated blocks now (a live slab object counts as one block; slab blocks and the
    /// slab control block themselves do not count).
    pub alloc_blocks: usize,
    /// Bytes of allocated blocks now (block sizes, headers included; a slab object counts
    /// its class size).
    pub alloc_bytes: usize,
    /// Highest `alloc_bytes` seen.
    pub peak_alloc_bytes: usize,
}

impl Counters {
    const ZERO: Counters = Counters {
        mallocs: 0,
        frees: 0,
        reallocs: 0,
        callocs: 0,
        aligned: 0,
        failures: 0,
        errors: 0,
        extensions: 0,
        alloc_blocks: 0,
        alloc_bytes: 0,
        peak_alloc_bytes: 0,
    };
}

/// A heap over memory source `S`, organised by policy `P`.
///
/// ```
/// use core::mem::MaybeUninit;
/// use heapwise_core::{FixedArena, Heap, ExplicitLifoFirst};
///
/// let mut mem = [MaybeUninit::<u8>::uninit(); 8192];
/// let mut heap: Heap<_, ExplicitLifoFirst> = Heap::new(FixedArena::new(&mut mem));
/// let a = heap.malloc(40).unwrap();
/// let b = heap.calloc(10, 8).unwrap();
/// // SAFETY: `b` is a live block of 80 zeroed bytes.
/// assert!(unsafe { core::slice::from_raw_parts(b.as_ptr(), 80) }.iter().all(|&x| x == 0));
/// let a = unsafe { heap.realloc(a.as_ptr(), 400) }.unwrap();
/// unsafe {
///     heap.free(a.as_ptr());
///     heap.free(b.as_ptr());
/// }
/// heap.check().unwrap();
/// assert_eq!(heap.stats().free_blocks, 1); // everything coalesced back
/// ```
pub struct Heap<S: Source, P: Policy> {
    pub(crate) source: S,
    /// Heap start (and the policy's metadata area); null until the first request.
    pub(crate) meta: *mut u8,
    /// The first block after the prologue.
    pub(crate) first: *mut u8,
    /// Addresses derived from the source's `brk`, refreshed by [`Heap::set_top`] after
    /// `init` and every successful `sbrk` (the checker verifies they are current).
    top: Top,
    chunk: usize,
    hook: CorruptionHook,
    /// Old `brk` of the last extension made by the current request (null if none): bytes from
    /// here up are fresh from the source.
    pub(crate) fresh_from: *mut u8,
    pub(crate) counters: Counters,
    /// Recently freed blocks kept allocated (off unless [`Heap::set_quarantine`] was called).
    quarantine: Quarantine,
    /// How much safe unlinking checks ([`Heap::set_integrity`]).
    integrity: Integrity,
    _policy: PhantomData<fn() -> P>,
}

/// An allocated block accepted by [`Heap::validate`], with the two header words it read:
/// valid until the heap next changes.
#[derive(Clone, Copy)]
pub(crate) struct LiveBlock {
    /// The block.
    pub(crate) b: Block,
    /// Its size.
    pub(crate) size: usize,
    /// Its header word.
    pub(crate) h: usize,
    /// The next block's header word.
    pub(crate) nh: usize,
}

/// The addresses the hot paths derive from the heap's top, computed once per `brk` change
/// ([`Top::of`]) instead of per call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Top {
    /// The epilogue header (`brk - WORD`); null until the first request.
    epi: *mut u8,
    /// The payload addresses [`Heap::validate`] lets through to the header checks:
    /// `pay_lo + k * ALIGN` for `k <= pay_steps`, up to `pay_hi` (payloads 16-byte aligned,
    /// from the first block's up to that of a minimum block ending at the epilogue).
    /// `pay_lo` is 0 while the heap has no room for a block, so that nothing passes.
    pay_lo: usize,
    /// See `pay_lo`.
    pay_steps: usize,
    /// See `pay_lo`; for a payload `p` in the window, `pay_hi - p` is the room between its
    /// block and the epilogue less [`MIN_BLOCK`].
    pay_hi: usize,
    /// The epilogue's address less [`MIN_BLOCK`] (wrapping; 0 until the first request): for
    /// a block `b`, `blk_hi - b` is the room between `b` and the epilogue less `MIN_BLOCK`
    /// ([`Heap::free_block_ok`]).
    blk_hi: usize,
}

impl Top {
    /// Before the first request: nothing passes `validate`.
    const NONE: Top = Top {
        epi: ptr::null_mut(),
        pay_lo: 0,
        pay_steps: 0,
        pay_hi: 0,
        blk_hi: 0,
    };

    /// The addresses of a heap whose first block's header is at `first` and whose
    /// epilogue header is at `epi`.
    fn of(first: *mut u8, epi: *mut u8) -> Top {
        let lo = first as usize + WORD;
        // A payload must be 16-byte aligned in `[lo, hi]`, `hi` the payload of a minimum
        // block that ends at the epilogue; a heap without room for a block accepts nothing.
        // (`lo` and `hi` are both 16-byte aligned: first block and epilogue headers sit one
        // word below a 16-byte boundary.)
        let (pay_lo, pay_steps, pay_hi) = match (epi as usize + WORD).checked_sub(MIN_BLOCK) {
            Some(hi) if hi >= lo => (lo, (hi - lo) / ALIGN, hi),
            _ => (0, 0, 0),
        };
        Top {
            epi,
            pay_lo,
            pay_steps,
            pay_hi,
            blk_hi: (epi as usize).wrapping_sub(MIN_BLOCK),
        }
    }
}

// SAFETY: the heap exclusively owns the memory its source hands out; its raw pointers point
// only into that memory, so moving the heap to another thread moves the ownership with it.
unsafe impl<S: Source + Send, P: Policy> Send for Heap<S, P> {}

impl<S: Source, P: Policy> Heap<S, P> {
    /// A heap over `source`. Nothing is written until the first request. The growth chunk
    /// starts at the policy's [`Policy::CHUNK`] ([`DEFAULT_CHUNK`] for every policy but
    /// `compact`).
    pub const fn new(source: S) -> Self {
        Heap {
            source,
            meta: ptr::null_mut(),
            first: ptr::null_mut(),
            top: Top::NONE,
            chunk: P::CHUNK,
            hook: ignore_corruption,
            fresh_from: ptr::null_mut(),
            counters: Counters::ZERO,
            quarantine: Quarantine::OFF,
            integrity: Integrity::Basic,
            _policy: PhantomData,
        }
    }

    /// Sets the level of the integrity checks ([`Integrity`]; [`Integrity::Basic`] by
    /// default), as a builder.
    pub const fn with_integrity(mut self, level: Integrity) -> Self {
        self.integrity = level;
        self
    }

    /// Sets the level of the integrity checks: [`Integrity::Basic`] (the default: the freed
    /// pointer is validated, and a free block being unlinked must have a sane header, a
    /// footer equal to its header and links pointing back) or [`Integrity::Full`] (also
    /// every block address and link read from heap memory is checked before it is
    /// followed). See [`crate::integrity`] for the complete table.
    pub fn set_integrity(&mut self, level: Integrity) {
        self.integrity = level;
    }

    /// The level of the integrity checks.
    pub fn integrity(&self) -> Integrity {
        self.integrity
    }

    /// Sets the growth chunk (rounded up to 16; 0 means "grow by exactly the shortfall").
    pub const fn with_chunk(mut self, chunk: usize) -> Self {
        // Saturating: a chunk near `usize::MAX` becomes the largest multiple of 16 (growth
        // then asks for the request alone once the source refuses the chunk).
        self.chunk = chunk.saturating_add(ALIGN - 1) & !(ALIGN - 1);
        self
    }

    /// The growth chunk.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Sets the hook called on detected corruption or misuse.
    pub fn set_corruption_hook(&mut self, hook: CorruptionHook) {
        self.hook = hook;
    }

    /// Turns the quarantine on (`blocks > 0`) or off (`blocks == 0`, the default of every
    /// heap): up to `blocks` (at most [`crate::QUARANTINE_MAX`]) recently freed blocks of at
    /// most `max_bytes` bytes in total stay allocated, marked
    /// [`QUARANTINED`], so that a double free, a `realloc` or a
    /// `usable_size` of them is reported even after later allocations. With `junk`, a freed
    /// payload is filled with [`crate::quarantine::JUNK`] and checked when the block leaves the
    /// quarantine ([`ErrorKind::WriteAfterFree`]; such a block is never reused: it stays
    /// allocated and marked, [`Quarantine::kept`]). Quarantined blocks count as allocated in
    /// [`Heap::counters`] and [`Heap::stats`] until they leave.
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// use heapwise_core::{FixedArena, Heap, Segregated};
    /// let mut mem = [MaybeUninit::<u8>::uninit(); 8192];
    /// let mut heap: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    /// heap.set_quarantine(16, 4096, false);
    /// let p = heap.malloc(40).unwrap().as_ptr();
    /// // SAFETY: `p` came from this heap's malloc and is freed once here.
    /// unsafe { heap.free(p) };
    /// let q = heap.malloc(40).unwrap().as_ptr();
    /// assert_ne!(p, q); // p is still in quarantine
    /// // SAFETY: a deliberate double free: the quarantine still holds `p`, so the heap
    /// // finds `p` marked quarantined, reports the double free and refuses it.
    /// unsafe { heap.free(p) }; // a double free: reported, refused
    /// assert_eq!(heap.counters().errors, 1);
    /// ```
    #[inline(always)]
    pub fn set_quarantine(&mut self, blocks: usize, max_bytes: usize, junk: bool) {
        section::placed!(never, P, {
            // Blocks held now were quarantined under the current fill mode: release them
            // under it before the mode changes (a block never junk-filled would otherwise be
            // checked for junk, reported as written after free and leaked).
            if (junk && blocks != 0) != self.quarantine.junk() {
                self.flush_quarantine();
            }
            self.quarantine.configure(blocks, max_bytes, junk);
            while let Some(a) = self.quarantine.pop_over() {
                // SAFETY: `a` came from the quarantine, which only holds blocks of this heap.
                unsafe { self.evict(a) };
            }
        })
    }

    /// The quarantine's state.
    pub fn quarantine(&self) -> &Quarantine {
        &self.quarantine
    }

    /// Releases every quarantined block into the free lists.
    pub fn flush_quarantine(&mut self) {
        while let Some(a) = self.quarantine.pop_oldest() {
            // SAFETY: as in `set_quarantine`.
            unsafe { self.evict(a) };
        }
    }

    /// The memory source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The memory source, mutably (e.g. to extend a [`crate::FixedArena`]).
    ///
    /// # Safety
    /// The caller must not move `brk` or otherwise break the source's contract.
    pub unsafe fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Operation counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &'static str {
        P::NAME
    }

    /// Whether the heap has been initialised (by a first request).
    pub fn is_initialised(&self) -> bool {
        !self.meta.is_null()
    }

    /// Whether `p` points into the block area of this heap (for routing frees between
    /// heaps). Says nothing about whether `p` is a live payload.
    pub fn contains(&self, p: *const u8) -> bool {
        if self.meta.is_null() {
            return false;
        }
        let a = p as usize;
        a >= self.first as usize && a < self.source.brk().as_ptr() as usize
    }

    // ---------------------------------------------------------------- internals

    #[inline]
    pub(crate) fn view(&self) -> HeapView {
        // SAFETY: only called on an initialised heap: `meta` and `first` are non-null, and
        // `brk` is the top of an initialised heap.
        unsafe {
            HeapView {
                meta: NonNull::new_unchecked(self.meta),
                first: Block::from_header(NonNull::new_unchecked(self.first)),
                epilogue: Block::from_header(NonNull::new_unchecked(self.top.epi)),
                checked: self.integrity == Integrity::Full,
            }
        }
    }

    /// The epilogue header address of the source's current `brk`.
    ///
    /// # Safety
    /// The heap must be initialised.
    unsafe fn epilogue_of_brk(&self) -> *mut u8 {
        // SAFETY: forwarded caller contract: `brk` is the top of a heap.
        unsafe { layout::epilogue(self.source.brk()) }.as_ptr()
    }

    /// Records the source's new `brk` (after `init` and every successful `sbrk`): the
    /// epilogue address of [`Heap::view`] and the payload window of [`Heap::validate`].
    #[inline]
    fn set_top(&mut self) {
        // SAFETY: called once the heap is initialised.
        self.top = Top::of(self.first, unsafe { self.epilogue_of_brk() });
    }

    /// Whether the addresses derived from the top ([`Heap::set_top`]) match the source's
    /// current `brk` (for the heap checker).
    pub(crate) fn top_is_current(&self) -> bool {
        // SAFETY: only asked of an initialised heap (the checker returns early otherwise).
        self.meta.is_null() || self.top == Top::of(self.first, unsafe { self.epilogue_of_brk() })
    }

    #[inline(always)]
    pub(crate) fn init(&mut self) -> bool {
        section::placed!(cold, P, {
            let Some(start) = self.source.sbrk(empty_heap_bytes(P::META_BYTES)) else {
                return false;
            };
            // SAFETY: the source just gave us `empty_heap_bytes` writable bytes at `start`.
            unsafe {
                let epi = layout::write_empty_heap(start, P::META_BYTES);
                self.meta = start.as_ptr();
                self.first = epi.as_ptr();
                self.set_top();
                P::init(&self.view());
            }
            true
        })
    }

    #[cold]
    pub(crate) fn report(&mut self, kind: ErrorKind, addr: usize, info: usize) {
        self.counters.errors += 1;
        (self.hook)(&HeapError::new(kind, addr, info));
    }

    #[cold]
    fn fail<T>(&mut self) -> Option<T> {
        self.counters.failures += 1;
        None
    }

    /// A free block of at least `asize` bytes, removed from the policy's records. Its header
    /// holds its size and `PREV_ALLOC` bit; its footer may be stale.
    #[inline(always)]
    pub(crate) unsafe fn take(&mut self, asize: usize) -> Option<(Block, usize)> {
        section::placed!(hint, P, {
            if self.meta.is_null() && !self.init() {
                return self.fail();
            }
            // SAFETY: the heap is initialised and consistent.
            unsafe {
                match self.find_recorded(asize) {
                    Some(found) => found,
                    None => self.take_slow(asize),
                }
            }
        })
    }

    /// Asks the policy for a free block of at least `asize` bytes; checks it and removes it
    /// from the records. `None`: the policy has none, or it has only a poor fit
    /// ([`Policy::prefer_growth`]) and the source has free room to grow into instead;
    /// `Some(None)`: it had one, but the block failed its checks (reported).
    ///
    /// # Safety
    /// The heap must be initialised and consistent.
    #[inline(always)]
    unsafe fn find_recorded(&mut self, asize: usize) -> Option<Option<(Block, usize)>> {
        section::placed!(hint, P, {
            let v = self.view();
            // SAFETY: `find` returns a recorded free block of this heap.
            unsafe {
                let (b, hint) = P::find_with_hint(&v, asize)?;
                let Some(s) = self.free_block_ok(b) else {
                    return Some(None);
                };
                // A poor fit while growing is free: leave `b` recorded and grow instead (the
                // room covers `asize`, so the growth in `extend` cannot be refused). The policy
                // is asked first, the fit alone, then with the heap's figures: its tests are
                // cheaper than the source's room.
                if P::may_prefer_growth(asize, s) {
                    let heap = self.source.heap_size();
                    let free = heap.saturating_sub(self.counters.alloc_bytes);
                    if P::prefer_growth(asize, s, free, heap) && self.source.free_room() >= asize {
                        return None;
                    }
                }
                P::remove_found(&v, b, s, hint);
                Some(Some((b, s)))
            }
        })
    }

    #[inline(always)]
    unsafe fn take_slow(&mut self, asize: usize) -> Option<(Block, usize)> {
        section::placed!(cold, P, {
            // SAFETY: the heap is initialised and consistent.
            unsafe {
                if !P::IMMEDIATE_COALESCE && self.coalesce_all() {
                    if let Some(found) = self.find_recorded(asize) {
                        return found;
                    }
                }
                self.extend(asize)
            }
        })
    }

    /// Asks the source for `need` more bytes (preferring `want >= need`); returns the old
    /// `brk` and how much was added.
    #[inline(always)]
    fn grow(&mut self, need: usize, want: usize) -> Option<(NonNull<u8>, usize)> {
        section::placed!(hint, P, {
            let want = want.max(need);
            if let Some(old) = self.source.sbrk(want) {
                self.set_top();
                return Some((old, want));
            }
            if want != need {
                if let Some(old) = self.source.sbrk(need) {
                    self.set_top();
                    return Some((old, need));
                }
            }
            None
        })
    }

    /// Extends the heap so that its last block is free and at least `asize` bytes, and takes
    /// that block (removed from the records, header written, no footer).
    #[inline(always)]
    unsafe fn extend(&mut self, asize: usize) -> Option<(Block, usize)> {
        section::placed!(cold, P, {
            let v = self.view();
            // SAFETY: the heap is initialised; the epilogue's PREV_ALLOC bit tells whether the
            // last block is free, and then its footer gives its start.
            unsafe {
                let epi = v.epilogue;
                let (start, have) = if epi.prev_alloc() {
                    (epi, 0)
                } else {
                    self.prev_free(epi)?
                };
                if have >= asize {
                    P::remove(&v, start, have);
                    return Some((start, have));
                }
                let need = asize - have;
                let want = P::grow_bytes(&v, asize, need, self.chunk) & !(ALIGN - 1);
                let Some((old, added)) = self.grow(need, want) else {
                    return self.out_of_memory(asize);
                };
                debug_assert_eq!(old.as_ptr(), epi.payload().as_ptr());
                if have > 0 {
                    P::remove(&v, start, have);
                }
                let size = have + added;
                start.set_header(size | (start.header() & PREV_ALLOC));
                start.offset(size).set_header(ALLOC);
                self.fresh_from = old.as_ptr();
                self.counters.extensions += 1;
                Some((start, size))
            }
        })
    }

    /// The source refused to grow for a block of `asize` bytes: the quarantine's blocks
    /// (free memory held back only to catch misuse) are released first and the request is
    /// tried once more; then it fails.
    ///
    /// # Safety
    /// The heap must be initialised and consistent (nothing taken from the records).
    #[cold]
    unsafe fn out_of_memory(&mut self, asize: usize) -> Option<(Block, usize)> {
        if self.quarantine.is_empty() {
            return self.fail();
        }
        self.flush_quarantine();
        // SAFETY: forwarded caller contract; the quarantine is empty now, so a second
        // refusal fails.
        unsafe {
            if !P::IMMEDIATE_COALESCE {
                self.coalesce_all();
            }
            match self.find_recorded(asize) {
                Some(found) => found,
                None => self.extend(asize),
            }
        }
    }

    /// Allocates `asize` bytes from the free block `b` of `bsize` bytes (taken from the
    /// records), splitting off the remainder when it can be a block of its own. The
    /// allocation takes the low end of `b` and the remainder stays free above it, unless
    /// `high` is set: then the remainder stays free at the low end and the allocation takes
    /// the high end (the policy's [`Policy::place_high`] choice).
    #[inline]
    pub(crate) unsafe fn place(
        &mut self,
        b: Block,
        bsize: usize,
        asize: usize,
        high: bool,
    ) -> NonNull<u8> {
        // SAFETY: `b` is a free block of `bsize >= asize` bytes owned by the heap.
        unsafe {
            let pa = b.header() & PREV_ALLOC != 0;
            if high && bsize - asize >= MIN_BLOCK {
                let rsize = bsize - asize;
                b.write_free(rsize, pa);
                P::insert(&self.view(), b, rsize);
                let a = b.offset(rsize);
                a.write_alloc(asize, false);
                Self::mark_prev(a.offset(asize), true);
                self.note_alloc(asize);
                return a.payload();
            }
            let used = if bsize - asize >= MIN_BLOCK {
                b.write_alloc(asize, pa);
                let r = b.offset(asize);
                r.write_free(bsize - asize, true);
                P::insert(&self.view(), r, bsize - asize);
                asize
            } else {
                b.write_alloc(bsize, pa);
                Self::mark_prev(b.offset(bsize), true);
                bsize
            };
            self.note_alloc(used);
            b.payload()
        }
    }

    /// Sets the `PREV_ALLOC` bit of `b`, the block right after one that was just allocated
    /// or freed. Under immediate coalescing `b` is allocated or the epilogue (the block
    /// before it was free before being allocated, or was merged with every free neighbour
    /// when freed, and no two free blocks are adjacent), so only its header is rewritten;
    /// under deferred coalescing a free `b` gets its footer updated too.
    ///
    /// # Safety
    /// `b` must be a block header (or the epilogue) of a heap the caller owns.
    #[inline]
    unsafe fn mark_prev(b: Block, on: bool) {
        // SAFETY: forwarded caller contract; the state of `b` is as described above.
        unsafe {
            if P::IMMEDIATE_COALESCE {
                b.set_prev_alloc_of_allocated(on);
            } else {
                b.set_prev_alloc(on);
            }
        }
    }

    #[inline]
    pub(crate) fn note_alloc(&mut self, bytes: usize) {
        let c = &mut self.counters;
        c.alloc_blocks += 1;
        c.alloc_bytes += bytes;
        if c.alloc_bytes > c.peak_alloc_bytes {
            c.peak_alloc_bytes = c.alloc_bytes;
        }
    }

    #[inline]
    fn resize_note(&mut self, old: usize, new: usize) {
        let c = &mut self.counters;
        c.alloc_bytes = c.alloc_bytes - old + new;
        if c.alloc_bytes > c.peak_alloc_bytes {
            c.peak_alloc_bytes = c.alloc_bytes;
        }
    }

    /// Block `b`, allocated with `bsize` bytes, was made `total >= asize` bytes in place (a
    /// free successor or the heap's growth absorbed, or moved into its free predecessor):
    /// trims it to `asize` and counts its final size. The peak is updated only after the
    /// trim: the untrimmed `total` (the whole free successor, a growth chunk) was never
    /// allocated to the program, and counting it made `peak_alloc_bytes` (and the
    /// `ArenaAlloc` high-water mark built on it) jump by up to a whole free block on an
    /// ordinary in-place `realloc`.
    ///
    /// # Safety
    /// `b` must be an allocated block of `total` bytes whose counted size is `bsize`.
    #[inline(always)]
    unsafe fn grown_to(&mut self, b: Block, bsize: usize, total: usize, asize: usize) {
        self.counters.alloc_bytes = self.counters.alloc_bytes - bsize + total;
        // SAFETY: forwarded caller contract; `asize <= total`.
        unsafe { self.shrink(b, total, asize) };
        let c = &mut self.counters;
        if c.alloc_bytes > c.peak_alloc_bytes {
            c.peak_alloc_bytes = c.alloc_bytes;
        }
    }

    /// Block `b`, allocated with `bsize` bytes, absorbs its free successor `next` of
    /// `nsize` bytes, `bsize + nsize >= asize`: `next` leaves its free list and the block,
    /// trimmed to `asize`, is counted with its new size ([`Heap::grown_to`]).
    ///
    /// # Safety
    /// `b` must be an allocated block of `bsize` bytes of a consistent heap and `next` its
    /// free successor (checked) of `nsize` bytes, with `bsize + nsize >= asize`.
    #[inline(always)]
    unsafe fn absorb_successor(
        &mut self,
        b: Block,
        bsize: usize,
        next: Block,
        nsize: usize,
        asize: usize,
    ) {
        let v = self.view();
        let total = bsize + nsize;
        // SAFETY: forwarded caller contract: `next` is a free block on its list, directly
        // after `b`; the block after it is `total` bytes past `b`.
        unsafe {
            P::remove(&v, next, nsize);
            P::absorbed(&v, next, b);
            b.write_alloc(total, b.prev_alloc());
            Self::mark_prev(b.offset(total), true);
            self.grown_to(b, bsize, total, asize);
        }
    }

    /// Turns block `b` of `size` bytes (allocated, or a split-off tail marked allocated)
    /// into a free block, coalescing it with free neighbours under immediate coalescing.
    /// Returns `false` when a corrupted neighbour was reported and the block stays allocated.
    ///
    /// # Safety
    /// `b` must be a block of this heap whose header is intact and says allocated, with
    /// `size` its size.
    #[inline(always)]
    pub(crate) unsafe fn release(&mut self, b: Block, size: usize) -> bool {
        // SAFETY: `b` is a block of the heap with a correct header, followed by the next
        // block's header `size` bytes later.
        unsafe {
            let (pa, nh) = (b.prev_alloc(), b.offset(size).header());
            self.release_known(b, size, pa, nh)
        }
    }

    /// [`Heap::release`] for a caller that has read the block's `PREV_ALLOC` bit (`pa`) and
    /// the next block's header word (`nh`) already ([`Heap::validate`] does), so that they
    /// are not read again.
    ///
    /// # Safety
    /// As [`Heap::release`], and `pa` and `nh` must be what the heap holds now: the
    /// `PREV_ALLOC` bit of `b`'s header and the header word at `b + size`.
    #[inline(always)]
    unsafe fn release_known(&mut self, b: Block, size: usize, mut pa: bool, nh: usize) -> bool {
        let v = self.view();
        // SAFETY: `b` is a block of the heap with a correct header; its neighbours are
        // reached through its size and (if free) the previous block's footer.
        unsafe {
            let mut start = b;
            let mut total = size;
            let next = b.offset(size);
            // A next block that says free is checked before anything is written: it is
            // merged under immediate coalescing, and under deferred coalescing its footer is
            // rewritten with its `PREV_ALLOC` bit below. A corrupted one (an overflow that
            // cleared the epilogue's allocated bit, say) leaves the block allocated
            // (reported, refused) instead of a write through its size.
            let ns = if nh & ALLOC == 0 {
                let Some(ns) = self.free_block_ok(next) else {
                    return false;
                };
                ns
            } else {
                0
            };
            if P::IMMEDIATE_COALESCE {
                // Both neighbours are checked before anything is unlinked.
                let pv = if pa {
                    None
                } else {
                    let Some(pv) = self.prev_free(b) else {
                        return false;
                    };
                    Some(pv)
                };
                if ns != 0 {
                    P::remove(&v, next, ns);
                    P::absorbed(&v, next, b);
                    total += ns;
                }
                if let Some((prev, ps)) = pv {
                    P::remove(&v, prev, ps);
                    P::absorbed(&v, b, prev);
                    // `b`'s header, now inside the free block, says allocated: cleared, so
                    // that a stale pointer to `b` never passes for a live block.
                    b.set_header(0);
                    start = prev;
                    total += ps;
                    pa = prev.prev_alloc();
                }
            }
            start.write_free(total, pa);
            Self::mark_prev(start.offset(total), false);
            P::insert(&v, start, total);
        }
        true
    }

    /// Releases the allocated block `l` and takes it off the counters; `false` when a
    /// corrupted neighbour (reported) kept it allocated and counted.
    ///
    /// # Safety
    /// `l` must describe an allocated block of the heap as it is now: its header word and
    /// the next block's header word, intact (from [`Heap::validate`] with no heap
    /// operation since, or read by [`Heap::retire_block`]).
    #[inline]
    unsafe fn retire(&mut self, l: LiveBlock) -> bool {
        // The block count goes down before the release and back up if a corrupted
        // neighbour keeps the block allocated: updated apart, the two counters cost two
        // instructions (together, the compiler makes them one vector update of six).
        self.counters.alloc_blocks -= 1;
        // SAFETY: forwarded caller contract: `l`'s header words are still current.
        let released = unsafe { self.release_known(l.b, l.size, l.h & PREV_ALLOC != 0, l.nh) };
        if released {
            self.counters.alloc_bytes -= l.size;
        } else {
            self.counters.alloc_blocks += 1;
        }
        released
    }

    /// Releases allocated block `b` of `size` bytes and takes it off the counters; `false`
    /// when a corrupted neighbour (reported) kept it allocated and counted.
    ///
    /// # Safety
    /// `b` must be an allocated block of `size` bytes whose header and the next block's
    /// header are intact (validated, or written by the heap).
    #[inline(always)]
    unsafe fn retire_block(&mut self, b: Block, size: usize) -> bool {
        section::placed!(hint, P, {
            // SAFETY: forwarded caller contract: both header words are intact and readable.
            unsafe {
                let (h, nh) = (b.header(), b.offset(size).header());
                self.retire(LiveBlock { b, size, h, nh })
            }
        })
    }

    /// Merges every run of adjacent free blocks (deferred coalescing). Returns whether
    /// anything was merged.
    #[cold]
    unsafe fn coalesce_all(&mut self) -> bool {
        let v = self.view();
        let end = v.epilogue.addr();
        // Whether block `b` of `size` bytes (from its header) is a block to walk or merge: it
        // starts below the epilogue and ends at it at the latest. The walk ends at the
        // epilogue's address, not at its size-0 header: an overflow that cleared the
        // epilogue's allocated bit must not make it a free block to merge, nor its size a
        // step past the heap (at every level; `Full` also checks the alignment).
        let inside = |b: Block, size: usize| {
            size != 0 && b.addr() < end && size <= end - b.addr() && v.size_ok(b, size)
        };
        let mut merged = false;
        // SAFETY: walks the tiled block sequence from the first block to the epilogue; every
        // header read lies below the epilogue (`inside` of the block before it).
        unsafe {
            let mut b = v.first;
            while b.addr() < end {
                let h = b.header();
                let size = h & !FLAGS;
                // A corrupted size ends the walk (the block is reported when it is taken or
                // freed).
                if !inside(b, size) {
                    break;
                }
                if h & ALLOC != 0 {
                    b = b.offset(size);
                    continue;
                }
                let mut total = size;
                let mut n = b.offset(size);
                while n.addr() < end {
                    let nh = n.header();
                    let ns = nh & !FLAGS;
                    if nh & ALLOC != 0 || !inside(n, ns) {
                        break;
                    }
                    P::remove(&v, n, ns);
                    P::absorbed(&v, n, b);
                    total += ns;
                    n = n.offset(ns);
                }
                if total != size {
                    P::remove(&v, b, size);
                    b.write_free(total, h & PREV_ALLOC != 0);
                    P::insert(&v, b, total);
                    merged = true;
                }
                b = n;
            }
        }
        merged
    }

    /// Deferred coalescing, for one block: merges the run of free blocks that follows free
    /// block `b` (`size` bytes, in its list) into it and returns its new size. `None` if a
    /// successor fails its check (reported; nothing is merged past it).
    #[cold]
    unsafe fn merge_successors(&mut self, b: Block, size: usize) -> Option<usize> {
        let v = self.view();
        let mut total = size;
        // SAFETY: `b` is a checked free block of the heap; each successor is reached
        // through a checked size, and the epilogue (allocated, size 0) ends the run.
        unsafe {
            loop {
                let n = b.offset(total);
                let nh = n.header();
                if nh & ALLOC != 0 || nh & !FLAGS == 0 {
                    break;
                }
                let ns = self.free_block_ok(n)?;
                P::remove(&v, n, ns);
                P::absorbed(&v, n, b);
                total += ns;
            }
            if total != size {
                P::remove(&v, b, size);
                b.write_free(total, b.prev_alloc());
                P::insert(&v, b, total);
            }
        }
        Some(total)
    }

    /// Checks that `p` is the payload of an allocated block of this heap; reports and
    /// returns `None` otherwise.
    ///
    /// `freed` is the kind reported for a block that was freed already (free or in the
    /// quarantine): [`ErrorKind::DoubleFree`] from `free`, [`ErrorKind::UseAfterFree`] from
    /// `realloc` and `usable_size`.
    ///
    /// The fast path tests every condition of [`Heap::validate_rejected`] with three
    /// predictable branches (the pointer against the cached payload window, then the header,
    /// then the next block's `PREV_ALLOC` bit); a failing pointer goes to the slow path,
    /// which names the problem and reports it. The slow path never accepts a pointer, so the
    /// words read here stay valid for the caller ([`LiveBlock`]).
    #[inline(always)]
    fn validate(&mut self, p: NonNull<u8>, freed: ErrorKind) -> Option<LiveBlock> {
        section::placed!(hint, P, {
            let a = p.as_ptr() as usize;
            // `p` must be `pay_lo + k * ALIGN` with `k <= pay_steps` (see `set_top`): rotating
            // the offset moves misaligned low bits to the top, so one comparison tests both.
            // Before the first request and while the heap has no room for a block, `pay_lo` is
            // 0 and `pay_steps` 0: every non-null pointer fails.
            if a.wrapping_sub(self.top.pay_lo)
                .rotate_right(ALIGN.trailing_zeros())
                > self.top.pay_steps
            {
                self.validate_rejected(p, freed);
                return None;
            }
            // SAFETY: `p` passed the window test, which nothing passes before the heap has room
            // for a block, so the heap is initialised, and `first + WORD <= p` with at least
            // `MIN_BLOCK - WORD` bytes before the epilogue: the word before `p` is a readable
            // word of the block area. A size that passes the test keeps `b + size` at
            // or below the epilogue, so the next header is readable too. The block is reached
            // with the heap's own provenance.
            unsafe {
                let b = Block::from_payload(layout::rebase(NonNull::new_unchecked(self.meta), a));
                let h = b.header();
                let size = h & !FLAGS;
                // Allocated, not quarantined, no reserved bit; `MIN_BLOCK <= size <= room`, the
                // room between the block and the epilogue (`pay_hi - a` is `room - MIN_BLOCK`).
                if (h & (FLAGS & !PREV_ALLOC) != ALLOC)
                    | (size.wrapping_sub(MIN_BLOCK) > self.top.pay_hi - a)
                {
                    self.validate_rejected(p, freed);
                    return None;
                }
                let nh = b.offset(size).header();
                if nh & PREV_ALLOC == 0 {
                    self.validate_rejected(p, freed);
                    return None;
                }
                Some(LiveBlock { b, size, h, nh })
            }
        })
    }

    /// [`Heap::validate`]'s slow path: the same tests one at a time, reporting the first
    /// that fails. Every pointer the fast path refuses fails one of them (the fast path
    /// tests the same conditions, and a pointer in the last `MIN_BLOCK - ALIGN` bytes
    /// before the epilogue has no room for a block); should none fail, the pointer is
    /// reported as invalid all the same.
    #[cold]
    #[inline(never)]
    fn validate_rejected(&mut self, p: NonNull<u8>, freed: ErrorKind) {
        let a = p.as_ptr() as usize;
        if self.meta.is_null() {
            self.report(ErrorKind::InvalidPointer, a, 0);
            return;
        }
        if a % ALIGN != 0 {
            self.report(ErrorKind::InvalidPointer, a, 0);
            return;
        }
        let epi = self.view().epilogue.addr();
        if a < self.first as usize + WORD || a >= epi {
            self.report(ErrorKind::InvalidPointer, a, 0);
            return;
        }
        // SAFETY: `first + WORD <= p < epilogue`, so the word before `p` lies inside the
        // block area of the heap and is readable; we reach it with the heap's own provenance.
        unsafe {
            let b = Block::from_payload(layout::rebase(NonNull::new_unchecked(self.meta), a));
            let h = b.header();
            let size = h & !FLAGS;
            let sane = size >= MIN_BLOCK && size % ALIGN == 0 && size <= epi - b.addr();
            if h & ALLOC == 0 {
                let kind = if sane && b.footer(size) == h {
                    freed
                } else {
                    ErrorKind::InvalidPointer
                };
                self.report(kind, a, if sane { size } else { 0 });
                return;
            }
            if h & QUARANTINED != 0 && sane && self.quarantine.enabled() {
                self.report(freed, a, size);
                return;
            }
            if !sane || h & FLAGS & !(ALLOC | PREV_ALLOC) != 0 {
                self.report(ErrorKind::CorruptHeader, a, 0);
                return;
            }
            if !b.offset(size).prev_alloc() {
                // The next block's header was overwritten (an overflow out of this block).
                self.report(ErrorKind::CorruptHeader, a + size, 0);
                return;
            }
        }
        // Unreachable: the fast path refused `p`, so one of the tests above failed.
        self.report(ErrorKind::InvalidPointer, a, 0);
    }

    /// Whether `a` may be the header address of a block of at least [`MIN_BLOCK`] bytes
    /// inside `[lo, hi)`: word-aligned 8 (or 12) bytes below a 16-byte boundary.
    #[inline]
    fn block_addr_ok(a: usize, lo: usize, hi: usize) -> bool {
        crate::policy::header_addr_ok(a, lo, hi)
    }

    /// The size of the free block `b` (reached through a list, a neighbour's header or a
    /// footer) if it is intact, checked at the heap's [`Integrity`] level: a header that
    /// says free with a size inside the heap, a footer equal to the header, and (for list
    /// policies) links whose targets point back at `b` ("safe unlinking"); at
    /// [`Integrity::Full`] also every address (the block's, its links') checked to be a
    /// plausible block header inside the heap before it is read. Otherwise reports
    /// [`ErrorKind::CorruptFreeBlock`] and returns `None`, so that no corrupted size or link
    /// is ever written through.
    #[inline(always)]
    fn free_block_ok(&mut self, b: Block) -> Option<usize> {
        if self.integrity != Integrity::Basic {
            return self.free_block_full(b);
        }
        // SAFETY: at `Basic`, `b` is trusted to be a block header of the heap (it comes from
        // a list or from a neighbour's validated size or footer); its footer is read only
        // once its size is known to keep it below the epilogue; its links are free blocks
        // of the same list by the list invariant (an address overwritten by the program is
        // followed, the documented limit of this level).
        unsafe {
            let h = b.header();
            let size = h & !FLAGS;
            // `MIN_BLOCK <= size <= epilogue - b`: `blk_hi - b` is the room between `b` and
            // the epilogue less `MIN_BLOCK`, which wraps when `b` has no room for a block (the
            // epilogue itself, reached as the "free" successor of the last block once an
            // overflow cleared its allocated bit): such a `b` fails apart, or any size would
            // pass and the footer be read past the heap. The footer read stays inside.
            let room = self.top.blk_hi.wrapping_sub(b.addr());
            if (size.wrapping_sub(MIN_BLOCK) > room) | (b.addr() > self.top.blk_hi) {
                self.free_block_rejected(b);
                return None;
            }
            let mut bad = (b.footer(size) != h) | (h & ALLOC != 0);
            if P::LISTS > 0 {
                if let Some(n) = b.link_next() {
                    bad |= !links_to(n.link_prev(), b);
                }
                if let Some(p) = b.link_prev() {
                    bad |= !links_to(p.link_next(), b);
                }
            }
            if bad {
                self.free_block_rejected(b);
                return None;
            }
            Some(size)
        }
    }

    /// The slow path of [`Heap::free_block_ok`] at [`Integrity::Basic`]: `b` failed a
    /// test; the full check names the culprit and reports it.
    #[cold]
    #[inline(never)]
    fn free_block_rejected(&mut self, b: Block) {
        if self.free_block_full(b).is_some() {
            // Unreachable: the full check repeats every test of the basic one.
            self.report(ErrorKind::CorruptFreeBlock, b.addr().wrapping_add(WORD), 0);
        }
    }

    /// [`Heap::free_block_ok`] at [`Integrity::Full`]: every address is checked with
    /// [`Heap::block_addr_ok`] before it is read. Kept out of line, so that the basic
    /// check inlined into every caller stays small.
    #[inline(always)]
    fn free_block_full(&mut self, b: Block) -> Option<usize> {
        section::placed!(never, P, {
            let v = self.view();
            let (lo, hi) = (v.first.addr(), v.epilogue.addr());
            let a = b.addr();
            // SAFETY: every word read lies at an address checked first to be a possible block
            // header inside `[first, epilogue)` (and so readable heap memory), or inside the
            // block `[a, a + size)` whose size was checked to stay below the epilogue.
            let size = unsafe {
                'ok: {
                    if !Self::block_addr_ok(a, lo, hi) {
                        break 'ok Err(a);
                    }
                    let h = b.header();
                    let size = h & !FLAGS;
                    if h & ALLOC != 0 || size < MIN_BLOCK || size % ALIGN != 0 || size > hi - a {
                        break 'ok Err(a);
                    }
                    if b.footer(size) != h {
                        break 'ok Err(a);
                    }
                    if P::LISTS > 0 {
                        // A neighbour whose link does not point back is the one reported.
                        if let Some(n) = b.link_next() {
                            if !Self::block_addr_ok(n.addr(), lo, hi) {
                                break 'ok Err(a);
                            }
                            if n.link_prev() != Some(b) {
                                break 'ok Err(n.addr());
                            }
                        }
                        if let Some(p) = b.link_prev() {
                            if !Self::block_addr_ok(p.addr(), lo, hi) {
                                break 'ok Err(a);
                            }
                            if p.link_next() != Some(b) {
                                break 'ok Err(p.addr());
                            }
                        }
                    }
                    Ok(size)
                }
            };
            match size {
                Ok(s) => Some(s),
                Err(culprit) => {
                    self.report(ErrorKind::CorruptFreeBlock, culprit.wrapping_add(WORD), 0);
                    None
                }
            }
        })
    }

    /// The free block before `b` (whose `PREV_ALLOC` bit is clear), found through its
    /// footer and checked with [`Heap::free_block_ok`]; `None` (reported) if corrupted.
    #[inline(always)]
    fn prev_free(&mut self, b: Block) -> Option<(Block, usize)> {
        let lo = self.first as usize;
        // SAFETY: `b` is a block header above `first`, so the word below it is inside the
        // heap (the prologue's footer at worst).
        let f = unsafe { b.prev_footer() } & !FLAGS;
        if (f < MIN_BLOCK) | (f > b.addr() - lo) {
            return self.prev_footer_rejected(b);
        }
        // SAFETY: the footer's size keeps the previous block's address at or above `first`.
        let prev = unsafe { b.prev() };
        let s = self.free_block_ok(prev)?;
        Some((prev, s))
    }

    #[cold]
    #[inline(never)]
    fn prev_footer_rejected<T>(&mut self, b: Block) -> Option<T> {
        self.report(ErrorKind::CorruptFreeBlock, b.addr() + WORD, 0);
        None
    }

    /// Puts the validated allocated block `b` of `size` bytes into the quarantine, evicting
    /// the oldest blocks over the limits.
    ///
    /// # Safety
    /// `b` must be a validated allocated block of this heap, not quarantined.
    #[inline(always)]
    unsafe fn enter_quarantine(&mut self, b: Block, size: usize) {
        section::placed!(never, P, {
            // SAFETY: `b` is an allocated block of `size` bytes: its header and payload
            // `[b + WORD, b + size)` belong to the heap.
            unsafe {
                b.set_header(b.header() | QUARANTINED);
                if self.quarantine.junk() {
                    ptr::write_bytes(b.payload().as_ptr(), JUNK, Block::usable(size));
                }
            }
            if let Some(a) = self.quarantine.push(b.addr(), size) {
                // SAFETY: `a` came from the quarantine: a quarantined block of this heap.
                unsafe { self.evict(a) };
            }
            while let Some(a) = self.quarantine.pop_over() {
                // SAFETY: as above.
                unsafe { self.evict(a) };
            }
        })
    }

    /// Takes the block at header address `a` out of the quarantine: checks that its header
    /// is still that of a quarantined block (and, with junk fill, that its payload is
    /// untouched), then releases it.
    ///
    /// # Safety
    /// `a` must be the header address of a block this heap quarantined.
    #[inline(always)]
    unsafe fn evict(&mut self, a: usize) {
        section::placed!(never, P, {
            let hi = self.view().epilogue.addr();
            // SAFETY: the heap is initialised (it quarantined a block); `a` is a block header
            // inside it, reached with the heap's provenance.
            unsafe {
                let b = Block::from_header(layout::rebase(NonNull::new_unchecked(self.meta), a));
                let h = b.header();
                let size = h & !FLAGS;
                if h & (ALLOC | QUARANTINED) != ALLOC | QUARANTINED
                    || size < MIN_BLOCK
                    || size % ALIGN != 0
                    || size > hi - a
                {
                    self.report(ErrorKind::CorruptHeader, a + WORD, 0);
                    return;
                }
                self.quarantine.evicted(size);
                if self.quarantine.junk() {
                    let pay =
                        core::slice::from_raw_parts(b.payload().as_ptr(), Block::usable(size));
                    if pay.iter().any(|&x| x != JUNK) {
                        // The block stays allocated and marked, out of use for good (the
                        // program may still write through its pointer), and is counted as
                        // kept so that the heap's marked blocks still add up.
                        self.quarantine.keep(size);
                        self.report(ErrorKind::WriteAfterFree, a + WORD, size);
                        return;
                    }
                }
                b.set_header(h & !QUARANTINED);
                let _ = self.retire_block(b, size);
            }
        })
    }

    #[inline(always)]
    pub(crate) unsafe fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        section::placed!(hint, P, {
            // Slab hook: compiled away for policies without slabs (`SLAB_MAX == 0`).
            if P::SLAB_MAX != 0 && size <= P::SLAB_MAX {
                if let Some(p) = self.slab_alloc(size) {
                    return Some(p);
                }
            }
            let Some(asize) = block_size_for(size) else {
                return self.fail();
            };
            // SAFETY: forwarded: the heap is consistent.
            unsafe { self.alloc_block(asize) }
        })
    }

    /// Allocates a block of `asize` bytes (a block size: [`block_size_for`] of the request)
    /// from a free block or the top of the heap; the payload, or `None`.
    ///
    /// # Safety
    /// The heap must be consistent.
    #[inline(always)]
    unsafe fn alloc_block(&mut self, asize: usize) -> Option<NonNull<u8>> {
        // SAFETY: `take` returns a free block of at least `asize` bytes.
        unsafe {
            let (b, bsize) = self.take(asize)?;
            let high = P::place_high(&self.view(), b, asize, bsize);
            Some(self.place(b, bsize, asize, high))
        }
    }

    /// Shrinks allocated block `b` from `bsize` to `asize` bytes, freeing the tail when it
    /// can be a block.
    #[inline(always)]
    unsafe fn shrink(&mut self, b: Block, bsize: usize, asize: usize) {
        let rsize = bsize - asize;
        if rsize < MIN_BLOCK {
            return;
        }
        // SAFETY: `b` is allocated with `bsize` bytes; the tail `[b + asize, b + bsize)` is
        // turned into a block of its own, marked allocated with an allocated predecessor, and
        // released.
        unsafe {
            let pa = b.prev_alloc();
            b.write_alloc(asize, pa);
            let r = b.offset(asize);
            r.set_header(rsize | ALLOC | PREV_ALLOC);
            if !self.release(r, rsize) {
                // A damaged neighbour (reported) refused the tail: it stays part of the
                // block, whose size is as before (the tail's header word, beyond the bytes
                // the program asked to keep, is cleared so that it is no block header).
                r.set_header(0);
                b.write_alloc(bsize, pa);
                return;
            }
        }
        // Fewer allocated bytes: the peak stays.
        self.counters.alloc_bytes -= rsize;
    }

    /// Tries to make block `b` (allocated, `bsize` bytes) at least `asize` bytes without
    /// moving its payload, or (with `SLIDE`) by moving it down into a free predecessor.
    /// Returns the payload.
    ///
    /// Inlined into its callers, [`Heap::realloc`], [`Heap::realloc_in_place`] (both with
    /// `SLIDE`) and [`Heap::resize_fixed`], so that no copy of it for each policy sits with
    /// the hot code (the OS faces run it inlined into the default policy's
    /// `realloc_in_place`).
    ///
    /// Under immediate coalescing the common cases are decided first, in few tests: the
    /// shrink, the growth into a free successor that suffices, and the refusal (the block
    /// is to move) when neither the top of the heap nor a large enough free predecessor is
    /// in reach. The rest (the growth at the top, the slide or move into the predecessor)
    /// goes to [`Heap::grow_in_place`], which starts over and checks the successor again.
    /// (Arena benchmark: 53,642,280 → 53,443,438 instructions. Run out of line, through
    /// [`section::never4`], the rest cost 0.08 M instructions fewer still, but the
    /// benchmark ran 2–3 % slower in wall-clock time, in every one of seven interleaved
    /// runs.)
    #[inline(always)]
    unsafe fn resize_in_place<const SLIDE: bool>(
        &mut self,
        b: Block,
        bsize: usize,
        asize: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: `b` is an allocated block of the heap; neighbours are reached through
        // sizes and footers of a consistent heap.
        unsafe {
            if asize <= bsize {
                if P::realloc_trim(bsize, asize) {
                    self.shrink(b, bsize, asize);
                }
                return Some(b.payload());
            }
            if !P::IMMEDIATE_COALESCE {
                return self.grow_in_place::<SLIDE>(b, bsize, asize);
            }
            let next = b.offset(bsize);
            let mut nsize = 0;
            if next.header() & ALLOC == 0 {
                nsize = self.free_block_ok(next)?;
                if bsize + nsize >= asize {
                    self.absorb_successor(b, bsize, next, nsize, asize);
                    return Some(b.payload());
                }
            }
            let avail = bsize + nsize;
            // Neither the top (`after` the successor) nor a free predecessor large enough
            // (by the size in its footer, as in `grow_in_place`): `grow_in_place` would
            // refuse.
            if next.offset(nsize).as_ptr() != self.top.epi
                && !(SLIDE && !b.prev_alloc() && b.prev_footer() & !FLAGS >= asize - avail)
            {
                return None;
            }
            self.grow_in_place::<SLIDE>(b, bsize, asize)
        }
    }

    /// The growing part of [`Heap::resize_in_place`] (`asize > bsize`), every case: into
    /// the free successor, at the top of the heap, or (with `SLIDE`) down into the free
    /// predecessor.
    ///
    /// # Safety
    /// `b` must be an allocated block of `bsize < asize` bytes of a consistent heap.
    #[inline(always)]
    unsafe fn grow_in_place<const SLIDE: bool>(
        &mut self,
        b: Block,
        bsize: usize,
        asize: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: `b` is an allocated block of the heap; neighbours are reached through
        // sizes and footers of a consistent heap.
        unsafe {
            let v = self.view();
            let next = b.offset(bsize);
            let nh = next.header();
            let next_free = nh & ALLOC == 0;
            let mut nsize = if next_free {
                self.free_block_ok(next)?
            } else {
                0
            };
            if !P::IMMEDIATE_COALESCE && next_free && bsize + nsize < asize {
                // Deferred coalescing leaves runs of free blocks: the whole run after the
                // block is what growing in place can absorb.
                nsize = self.merge_successors(next, nsize)?;
            }
            let avail = bsize + nsize;
            if avail >= asize {
                // (The successor is free: `bsize < asize`.)
                self.absorb_successor(b, bsize, next, nsize, asize);
                return Some(b.payload());
            }
            let after = next.offset(nsize);
            if SLIDE && after == v.epilogue && !b.prev_alloc() && P::IMMEDIATE_COALESCE {
                // A policy may prefer sliding a block at the top down into its free
                // predecessor over growing the heap.
                let (prev, psize) = self.prev_free(b)?;
                let region = psize + avail;
                let want = P::realloc_move_down(psize, bsize, asize);
                if want != 0 && region >= asize {
                    let mut n = want.clamp(asize, region) & !(ALIGN - 1);
                    if region - n < MIN_BLOCK {
                        n = region;
                    }
                    let ppa = prev.prev_alloc();
                    P::remove(&v, prev, psize);
                    if next_free {
                        P::remove(&v, next, nsize);
                        P::absorbed(&v, next, b);
                    }
                    P::absorbed(&v, b, prev);
                    // The block's new start is below its old one (`n > avail`), so the
                    // headers written below lie outside the source range of the copy.
                    let nb = prev.offset(region - n);
                    // `b`'s header, now inside the moved block, is cleared (before the
                    // copy, which may write the program's bytes over it): a stale pointer
                    // to `b` must never pass for a live block.
                    b.set_header(0);
                    ptr::copy(
                        b.payload().as_ptr(),
                        nb.payload().as_ptr(),
                        Block::usable(bsize),
                    );
                    if n == region {
                        nb.write_alloc(n, ppa);
                    } else {
                        prev.write_free(region - n, ppa);
                        P::insert(&v, prev, region - n);
                        nb.write_alloc(n, false);
                    }
                    Self::mark_prev(nb.offset(n), true);
                    self.resize_note(bsize, n);
                    return Some(nb.payload());
                }
            }
            // The block (with a free successor) ends at the top: grow the heap. A refusal
            // falls through to the free predecessor below.
            let grown = if after == v.epilogue {
                let need = asize - avail;
                self.grow(need, need.max(self.chunk))
                    .map(|(_, added)| added)
            } else {
                None
            };
            if let Some(added) = grown {
                self.counters.extensions += 1;
                let total = avail + added;
                if next_free {
                    P::remove(&v, next, nsize);
                    P::absorbed(&v, next, b);
                }
                b.write_alloc(total, b.prev_alloc());
                // The new epilogue.
                b.offset(total).set_header(ALLOC | PREV_ALLOC);
                self.grown_to(b, bsize, total, asize);
                return Some(b.payload());
            }
            // The free predecessor's size from its footer decides before the block is
            // checked: only a predecessor that will be used is (a corrupted one that is not
            // is reported when the block is released after its move).
            if SLIDE
                && P::IMMEDIATE_COALESCE
                && !b.prev_alloc()
                && b.prev_footer() & !FLAGS >= asize - avail
            {
                let (prev, psize) = self.prev_free(b)?;
                if psize + avail >= asize {
                    let ppa = prev.prev_alloc();
                    P::remove(&v, prev, psize);
                    if next_free {
                        P::remove(&v, next, nsize);
                        P::absorbed(&v, next, b);
                    }
                    P::absorbed(&v, b, prev);
                    let total = psize + avail;
                    prev.write_alloc(total, ppa);
                    // As for the slide above: `b`'s old header is cleared before the copy.
                    b.set_header(0);
                    ptr::copy(
                        b.payload().as_ptr(),
                        prev.payload().as_ptr(),
                        Block::usable(bsize),
                    );
                    Self::mark_prev(prev.offset(total), true);
                    self.grown_to(prev, bsize, total, asize);
                    return Some(prev.payload());
                }
            }
            None
        }
    }

    // ---------------------------------------------------------------- the malloc package

    /// Allocates a block of at least `size` bytes, 16-byte aligned, contents uninitialised.
    /// `malloc(0)` returns a unique minimum block. `None` when the heap cannot grow or the
    /// size is impossible.
    #[inline(always)]
    pub fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        section::placed!(hint, P, {
            self.counters.mallocs += 1;
            // SAFETY: `alloc` upholds the heap invariants.
            unsafe { self.alloc(size) }
        })
    }

    /// Releases the block whose payload is `ptr`; `free(null)` does nothing. A pointer that
    /// is not a live payload of this heap is reported to the corruption hook and ignored.
    ///
    /// # Safety
    /// `ptr` must be null or a pointer previously returned by this heap and not freed since
    /// (misuse is detected on a best-effort basis only).
    #[inline(always)]
    pub unsafe fn free(&mut self, ptr: *mut u8) {
        section::placed!(hint, P, {
            let Some(p) = NonNull::new(ptr) else { return };
            self.counters.frees += 1;
            if P::SLAB_MAX != 0 {
                // Slab hook: a slab object is freed by the slab layer; compiled away otherwise.
                match self.slab_lookup(p, ErrorKind::DoubleFree) {
                    SlabLookup::Engine => {}
                    SlabLookup::Refused => return,
                    SlabLookup::Object(o) => {
                        // SAFETY: `o` is a live object just validated by the lookup.
                        unsafe { self.slab_free(o) };
                        return;
                    }
                }
            }
            let Some(l) = self.validate(p, ErrorKind::DoubleFree) else {
                return;
            };
            if P::SLAB_MAX != 0 {
                // Slab hook: the slab layer's demand count (compiled away without slabs).
                self.slab_engine_freed(l.size);
            }
            if self.quarantine.enabled() {
                // SAFETY: `l.b` is a validated allocated block of `l.size` bytes.
                unsafe { self.enter_quarantine(l.b, l.size) };
                return;
            }
            // SAFETY: `l` was just validated.
            let _ = unsafe { self.retire(l) };
        })
    }

    /// Allocates zeroed room for `n` objects of `size` bytes; `None` on overflow of
    /// `n * size` or lack of memory. Every usable byte is zero ([`Heap::usable_size`]: the
    /// block's slack past `n * size` too, as glibc's `calloc`). Memory fresh from a
    /// zero-filling source is not cleared again.
    #[inline(always)]
    pub fn calloc(&mut self, n: usize, size: usize) -> Option<NonNull<u8>> {
        section::placed!(never, P, {
            self.counters.callocs += 1;
            let Some(total) = n.checked_mul(size) else {
                return self.fail();
            };
            self.fresh_from = ptr::null_mut();
            // SAFETY: `alloc` upholds the heap invariants.
            let p = unsafe { self.alloc(total)? };
            // Every usable byte is cleared, the slack past `total` too (glibc clears a
            // whole chunk: a program may use the bytes `usable_size` gives it). Without
            // slabs `p` is a block whose header was just written: its size is read, not
            // validated again.
            let usable = if P::SLAB_MAX == 0 {
                // SAFETY: `p` is the payload of the block just allocated.
                unsafe { Block::usable(Block::from_payload(p).size()) }
            } else {
                // SAFETY: `p` is the live block (or slab object) just allocated.
                unsafe { self.usable_size(p.as_ptr()) }.max(total)
            };
            let start = p.as_ptr() as usize;
            let fresh = self.fresh_from as usize;
            let dirty = if !self.fresh_from.is_null() && self.source.fresh_is_zeroed() {
                fresh.saturating_sub(start).min(usable)
            } else {
                usable
            };
            // SAFETY: `[p, p + usable)` is the payload of the block just allocated; bytes
            // from `fresh_from` up came untouched from a zero-filling source in this request.
            unsafe { ptr::write_bytes(p.as_ptr(), 0, dirty) };
            Some(p)
        })
    }

    /// Changes the size of the block at `ptr` to at least `size` bytes, keeping the first
    /// `min(old, size)` bytes. `realloc(null, n)` is `malloc(n)`; `realloc(p, 0)` frees `p`
    /// and returns `None`. Shrinks in place, grows in place into a free successor or at the
    /// top of the heap, or into a free predecessor (moving the payload down); otherwise
    /// allocates, copies and frees. On failure the old block is untouched.
    ///
    /// # Safety
    /// As [`Heap::free`] for `ptr`.
    pub unsafe fn realloc(&mut self, ptr: *mut u8, size: usize) -> Option<NonNull<u8>> {
        let Some(p) = NonNull::new(ptr) else {
            return self.malloc(size);
        };
        if size == 0 {
            // SAFETY: forwarded caller contract.
            unsafe { self.free(ptr) };
            return None;
        }
        self.counters.reallocs += 1;
        // SAFETY: forwarded caller contract.
        let (b, bsize, asize) = match unsafe { self.realloc_target(p, size, slab_realloc(size)) } {
            Ok(t) => t,
            Err(done) => return done,
        };
        let errors = self.counters.errors;
        // SAFETY: `b` is a validated allocated block of `bsize` bytes.
        unsafe {
            if let Some(q) = self.resize_in_place::<true>(b, bsize, asize) {
                return Some(q);
            }
            // A damaged neighbour reported while growing in place refuses the request (the
            // block stays as it was): a move would hand out a new block, and the release of
            // this one, refused for the same damage, would leave it allocated.
            if self.counters.errors != errors {
                return None;
            }
            self.move_block_apart(b, bsize, asize, size)
        }
    }

    /// What [`Heap::realloc`] and its two halves start with: the slab hook (a slab object
    /// is `slab`'s to resize, called right after [`Heap::slab_lookup`] returned it, with no
    /// heap operation in between), then the block's validation and its new block size.
    /// `Ok((block, its size, the new block size))`, or `Err(result)` when the request is
    /// settled here (a slab object, a bad pointer, a size too large).
    ///
    /// # Safety
    /// As [`Heap::free`] for `p`.
    #[inline(always)]
    unsafe fn realloc_target(
        &mut self,
        p: NonNull<u8>,
        size: usize,
        slab: impl FnOnce(&mut Self, SlabObject) -> Option<NonNull<u8>>,
    ) -> Result<(Block, usize, usize), Option<NonNull<u8>>> {
        if P::SLAB_MAX != 0 {
            // Slab hook: compiled away for policies without slabs.
            match self.slab_lookup(p, ErrorKind::UseAfterFree) {
                SlabLookup::Engine => {}
                SlabLookup::Refused => return Err(None),
                SlabLookup::Object(o) => return Err(slab(self, o)),
            }
        }
        let Some(LiveBlock { b, size: bsize, .. }) = self.validate(p, ErrorKind::UseAfterFree)
        else {
            return Err(None);
        };
        match block_size_for(size) {
            Some(asize) => Ok((b, bsize, asize)),
            None => Err(self.fail()),
        }
    }

    /// [`Heap::move_block`] out of line, for [`Heap::realloc`]: the move is a `malloc`, a
    /// copy and a `free`, and inlined into `realloc` it made the function's frame and
    /// register pressure those of all three for every call, the in-place cases too (and
    /// the policy's search stayed out of line). Apart, with the default policy's
    /// `find_with_hint` inlined into it, the arena benchmark ran 54,293,717 → 53,930,706
    /// instructions, and 53,762,887 → 53,642,280 with its five inputs passed as arguments
    /// ([`section::never4`]) rather than captured. ([`Heap::realloc_move`], a move and
    /// nothing else, inlines it.)
    ///
    /// # Safety
    /// As [`Heap::move_block`].
    #[inline(always)]
    unsafe fn move_block_apart(
        &mut self,
        b: Block,
        bsize: usize,
        asize: usize,
        size: usize,
    ) -> Option<NonNull<u8>> {
        section::never4::<P, _, _, _, _, _>(
            self,
            b,
            bsize,
            (asize, size),
            #[inline(always)]
            |h: &mut Self, b, bsize, (asize, size)| {
                // SAFETY: forwarded caller contract: `b` is a validated allocated block
                // of `bsize` bytes of this heap (`h`).
                unsafe { h.move_block(b, bsize, asize, size) }
            },
        )
    }

    /// The move of [`Heap::realloc`]: a new block for `size` bytes (`asize` as a block),
    /// the first `min(old, size)` bytes copied, block `b` retired.
    ///
    /// # Safety
    /// `b` must be a validated allocated block of `bsize` bytes.
    #[inline(always)]
    unsafe fn move_block(
        &mut self,
        b: Block,
        bsize: usize,
        asize: usize,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: `b` is allocated (caller contract); the new block is another block of
        // the heap, so the two payloads do not overlap.
        unsafe {
            // The block size is known: without slabs, the new block comes straight from
            // the engine.
            let q = if P::SLAB_MAX != 0 {
                self.alloc(size)?
            } else {
                self.alloc_block(asize)?
            };
            ptr::copy_nonoverlapping(
                b.payload().as_ptr(),
                q.as_ptr(),
                Block::usable(bsize).min(size),
            );
            // The old block is freed as `free` frees it: through the quarantine when it is
            // on, so that a use of the old pointer after the move is still caught.
            if self.quarantine.enabled() {
                self.enter_quarantine(b, bsize);
                return Some(q);
            }
            if self.retire_block(b, bsize) {
                return Some(q);
            }
            // A damaged free neighbour (reported) refused the old block's release: the
            // move is refused too, the old block kept as it was and the new one freed,
            // rather than hand the new one out and leave the old one allocated and leaked.
            if P::SLAB_MAX != 0 {
                // (`q` may be a slab object.)
                self.free(q.as_ptr());
            } else {
                // `q` is the block just taken (at least `asize` bytes: its header says how
                // many). No call of the generic `free`, whose copies for every policy would
                // join the hot code group.
                let qb = Block::from_payload(q);
                let _ = self.retire_block(qb, qb.size());
            }
            None
        }
    }

    /// Resizes the block at `ptr` to at least `size` bytes without allocating another
    /// block: shrinks it in place, grows it into a free successor or at the top of the
    /// heap, or moves its payload down into a free predecessor (so the result may differ
    /// from `ptr`; the first `min(old, size)` bytes are kept). `None` when none of these
    /// fits, or when `ptr` is not a live block (reported through the hook), with the block
    /// untouched: the caller then moves it, with [`Heap::realloc_move`] or by allocating,
    /// copying and freeing itself. The OS faces call the two halves rather than
    /// [`Heap::realloc`] for the default policy, whose copies of them they can place with
    /// their hot code (`realloc` is generic over the policy).
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// use heapwise_core::{FixedArena, Heap, Segregated};
    ///
    /// let mut mem = [MaybeUninit::<u8>::uninit(); 4096];
    /// let mut heap: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    /// let p = heap.malloc(100).unwrap();
    /// // SAFETY: `p` is a live block of this heap; it is the last block, so it grows in place.
    /// let q = unsafe { heap.realloc_in_place(p, 1000) }.unwrap();
    /// assert_eq!(p, q);
    /// assert!(heap.check().is_ok());
    /// ```
    ///
    /// # Safety
    /// As [`Heap::free`] for `ptr`.
    #[inline]
    pub unsafe fn realloc_in_place(
        &mut self,
        ptr: NonNull<u8>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        unsafe { self.resize_at::<true>(ptr, size) }
    }

    /// Resizes the block at `ptr` to at least `size` bytes without moving its payload:
    /// shrinks it in place, or grows it into a free successor or at the top of the heap.
    /// `None` when neither fits, or when `ptr` is not a live block (reported through the
    /// hook), with the block untouched. For a block whose alignment must be kept (an
    /// over-aligned one), which [`Heap::realloc_in_place`] may move down into a free
    /// predecessor.
    ///
    /// # Safety
    /// As [`Heap::free`] for `ptr`.
    pub(crate) unsafe fn resize_fixed(
        &mut self,
        ptr: NonNull<u8>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // (No `section::placed!`: only the `no_std` face calls it, never a hot path.)
        // SAFETY: forwarded caller contract.
        unsafe { self.resize_at::<false>(ptr, size) }
    }

    /// [`Heap::realloc_in_place`] (`SLIDE`) and [`Heap::resize_fixed`]: counts the
    /// `realloc`, validates the block and resizes it without allocating another block.
    ///
    /// # Safety
    /// As [`Heap::free`] for `ptr`.
    #[inline(always)]
    unsafe fn resize_at<const SLIDE: bool>(
        &mut self,
        ptr: NonNull<u8>,
        size: usize,
    ) -> Option<NonNull<u8>> {
        self.counters.reallocs += 1;
        // An object stays where it is while its slab class holds `size` bytes.
        // SAFETY: forwarded caller contract.
        match unsafe { self.realloc_target(ptr, size, |_, o| (size <= o.class).then_some(ptr)) } {
            // SAFETY: `b` is a validated allocated block of `bsize` bytes.
            Ok((b, bsize, asize)) => unsafe { self.resize_in_place::<SLIDE>(b, bsize, asize) },
            Err(done) => done,
        }
    }

    /// The second half of [`Heap::realloc`], for a caller that tried
    /// [`Heap::realloc_in_place`] first and got `None`: allocates a block of at least `size`
    /// bytes in this heap, copies the first `min(old, size)` bytes and frees the block at
    /// `ptr`. `None` when the heap has no room (the block untouched). It counts no
    /// operation: the `realloc` was counted by [`Heap::realloc_in_place`].
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// use heapwise_core::{FixedArena, Heap, Segregated};
    ///
    /// let mut mem = [MaybeUninit::<u8>::uninit(); 4096];
    /// let mut heap: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    /// let p = heap.malloc(100).unwrap();
    /// let _fence = heap.malloc(16).unwrap(); // `p` cannot grow in place
    /// // SAFETY: `p` is a live block of this heap, 100 bytes long.
    /// unsafe { p.as_ptr().write_bytes(7, 100) };
    /// // SAFETY: as above.
    /// let q = unsafe { heap.realloc_in_place(p, 1000) }
    ///     .or_else(|| unsafe { heap.realloc_move(p, 1000) })
    ///     .unwrap();
    /// assert_ne!(p, q);
    /// // SAFETY: `q` is live and its first 100 bytes were copied from `p`.
    /// assert_eq!(unsafe { *q.as_ptr().add(99) }, 7);
    /// assert!(heap.check().is_ok());
    /// ```
    ///
    /// # Safety
    /// As [`Heap::free`] for `ptr`.
    #[inline]
    pub unsafe fn realloc_move(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: forwarded caller contract.
        match unsafe { self.realloc_target(ptr, size, slab_realloc(size)) } {
            // SAFETY: `b` is a validated allocated block of `bsize` bytes.
            Ok((b, bsize, asize)) => unsafe { self.move_block(b, bsize, asize, size) },
            Err(done) => done,
        }
    }

    /// `realloc(ptr, n * size)`, failing (with the old block intact) when `n * size`
    /// overflows.
    ///
    /// # Safety
    /// As [`Heap::realloc`].
    pub unsafe fn reallocarray(
        &mut self,
        ptr: *mut u8,
        n: usize,
        size: usize,
    ) -> Option<NonNull<u8>> {
        let Some(total) = n.checked_mul(size) else {
            return self.fail();
        };
        // SAFETY: forwarded caller contract.
        unsafe { self.realloc(ptr, total) }
    }

    /// Allocates `size` bytes aligned to `align`, any power of two. Alignments up to 16 are
    /// a plain `malloc`; larger ones carve the aligned block out of a larger free block, and
    /// the leading gap becomes a free block. `None` if `align` is not a power of two.
    #[inline(always)]
    pub fn aligned_alloc(&mut self, align: usize, size: usize) -> Option<NonNull<u8>> {
        section::placed!(never, P, {
            self.counters.aligned += 1;
            if !align.is_power_of_two() {
                return self.fail();
            }
            if align <= ALIGN {
                // SAFETY: `alloc` upholds the heap invariants.
                return unsafe { self.alloc(size) };
            }
            let Some(asize) = block_size_for(size) else {
                return self.fail();
            };
            let Some(req) = asize
                .checked_add(align)
                .and_then(|r| r.checked_add(MIN_BLOCK))
            else {
                return self.fail();
            };
            if req > MAX_BLOCK {
                return self.fail();
            }
            // SAFETY: `take` returns a free block of at least `req` bytes; the aligned payload
            // and `asize` bytes after it lie inside it because `req` reserves `align + MIN_BLOCK`
            // bytes of slack.
            unsafe {
                let (b, bsize) = self.take(req)?;
                let pay = b.payload();
                let mut gap =
                    layout::align_up(pay, align).as_ptr() as usize - pay.as_ptr() as usize;
                if gap != 0 && gap < MIN_BLOCK {
                    gap += align;
                }
                if gap == 0 {
                    return Some(self.place(b, bsize, asize, false));
                }
                let ab = b.offset(gap);
                ab.set_header(bsize - gap);
                b.write_free(gap, b.prev_alloc());
                P::insert(&self.view(), b, gap);
                Some(self.place(ab, bsize - gap, asize, false))
            }
        })
    }

    /// Usable bytes of the block at `ptr` (at least what was requested); 0 for null. A
    /// pointer that is not a live payload is reported and gives 0.
    ///
    /// # Safety
    /// As [`Heap::free`] for `ptr`.
    #[inline(always)]
    pub unsafe fn usable_size(&mut self, ptr: *const u8) -> usize {
        section::placed!(never, P, {
            let Some(p) = NonNull::new(ptr as *mut u8) else {
                return 0;
            };
            if P::SLAB_MAX != 0 {
                // Slab hook: compiled away for policies without slabs.
                match self.slab_lookup(p, ErrorKind::UseAfterFree) {
                    SlabLookup::Engine => {}
                    SlabLookup::Refused => return 0,
                    SlabLookup::Object(o) => return o.class,
                }
            }
            match self.validate(p, ErrorKind::UseAfterFree) {
                Some(l) => Block::usable(l.size),
                None => 0,
            }
        })
    }

    // ---------------------------------------------------------------- inspection

    /// The fixed parts of the heap, or `None` before the first request.
    pub fn layout(&self) -> Option<HeapLayout> {
        if self.meta.is_null() {
            return None;
        }
        Some(HeapLayout {
            start: self.meta as usize,
            meta_bytes: P::META_BYTES,
            first_block: self.first as usize,
            end: self.source.brk().as_ptr() as usize,
        })
    }

    /// Iterates over the blocks from the first block to the epilogue (prologue and
    /// epilogue excluded), in address order.
    pub fn blocks(&self) -> Blocks<'_> {
        if self.meta.is_null() {
            return Blocks {
                cur: ptr::null_mut(),
                end: 0,
                _heap: PhantomData,
            };
        }
        Blocks {
            cur: self.first,
            end: self.view().epilogue.addr(),
            _heap: PhantomData,
        }
    }
}

/// The slab part of [`Heap::realloc`] (and of [`Heap::realloc_move`]) for
/// [`Heap::realloc_target`]: the object moves unless its class holds `size` bytes.
#[inline(always)]
fn slab_realloc<S: Source, P: Policy>(
    size: usize,
) -> impl FnOnce(&mut Heap<S, P>, SlabObject) -> Option<NonNull<u8>> {
    move |h, o| {
        // SAFETY: `realloc_target` passes an object `slab_lookup` has just returned, with no
        // heap operation since.
        unsafe { h.slab_realloc(o, size) }
    }
}

/// Where the fixed parts of a heap sit (addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapLayout {
    /// Heap start (= start of the policy metadata).
    pub start: usize,
    /// Bytes of policy metadata at the start.
    pub meta_bytes: usize,
    /// Header address of the first block (after padding and prologue).
    pub first_block: usize,
    /// The heap's `brk` (the epilogue header is the last word before it).
    pub end: usize,
}

impl HeapLayout {
    /// Bytes before the first block: metadata, alignment padding and prologue.
    pub fn prefix_bytes(&self) -> usize {
        self.first_block - self.start
    }
}

/// One block, as seen by [`Heap::blocks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Header address.
    pub addr: usize,
    /// Block size in bytes (header included).
    pub size: usize,
    /// Allocated or free.
    pub allocated: bool,
}

impl BlockInfo {
    /// Payload address.
    pub fn payload(&self) -> usize {
        self.addr + WORD
    }
    /// Usable payload bytes of an allocated block.
    pub fn usable(&self) -> usize {
        self.size - WORD
    }
}

/// Iterator over a heap's blocks.
pub struct Blocks<'a> {
    cur: *mut u8,
    end: usize,
    _heap: PhantomData<&'a ()>,
}

impl Iterator for Blocks<'_> {
    type Item = BlockInfo;
    fn next(&mut self) -> Option<BlockInfo> {
        let b = Block::from_header(NonNull::new(self.cur)?);
        if b.addr() >= self.end {
            return None;
        }
        // SAFETY: `cur` is a block start below the epilogue of a heap borrowed for `'a`; a
        // size that is zero, unaligned or runs past the epilogue stops the walk.
        unsafe {
            let h = b.header();
            let size = h & !FLAGS;
            if size == 0 || size % ALIGN != 0 || size > self.end - b.addr() {
                self.cur = ptr::null_mut();
                return None;
            }
            self.cur = b.offset(size).as_ptr();
            Some(BlockInfo {
                addr: b.addr(),
                size,
                allocated: h & ALLOC != 0,
            })
        }
    }
}

/// Whether the link `l` points at block `b`, as one comparison of addresses (a null link
/// is no block's address).
#[inline(always)]
fn links_to(l: Option<Block>, b: Block) -> bool {
    l.map_or(ptr::null_mut(), Block::as_ptr) == b.as_ptr()
}

const _: () = assert!(PROLOGUE == ALIGN);
