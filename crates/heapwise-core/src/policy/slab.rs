//! The slab layer: header-free small objects for policies with [`Policy::SLAB_MAX`] `> 0`
//! (the `compact-slab` policy, [`crate::policy::compact_slab`]).
//!
//! A request of at most `SLAB_MAX` bytes whose size class (the request rounded up to 16,
//! at least 16) is smaller than the engine block it would otherwise get is served from a
//! **slab**: one ordinary allocated engine block carved into equal, header-free objects of
//! that class. An object costs exactly its class size; the engine block would cost the size
//! plus its header word, rounded up to 16 and at least [`MIN_BLOCK`] (a 16-byte request
//! takes a 32-byte block, a 128-byte request a 144-byte block). Requests whose block would
//! not be larger than their class (e.g. 72 bytes: an 80-byte block, class 80) stay engine
//! blocks: a slab would only add its own overhead.
//!
//! # Layout
//!
//! ```text
//!  slab (an allocated engine block)
//!  +--------+------------------------------------+------+------+-----+--------+-----+
//!  | header | slab header (SLAB_HEADER = 32)     | obj 0| obj 1| ... | obj n-1| pad |
//!  | (W)    | bitmap u64 | info | next | prev    |      |      |     |        |     |
//!  +--------+------------------------------------+------+------+-----+--------+-----+
//!           ^ slab address (the block's payload, 16-byte aligned; objects too)
//!
//!  info = SLAB_MAGIC << 16 | capacity << 8 | class index     (class = 16 * (index + 1))
//!
//!  slab control block (SCB, an allocated engine block; its payload address is the last
//!  word of the policy's metadata area, 0 while no slab exists; the bytes before that word
//!  hold one demand nibble per class, see below)
//!  +--------+-----+-----+------+-----------+------+-------------+-----------------+
//!  | header | len | cap | ncls | SCB_MAGIC | hint | heads[ncls] | directory[cap]  |
//!  +--------+-----+-----+------+-----------+------+-------------+-----------------+
//!   heads[i]     = first partial slab of class i | growth tag (low 4 bits)
//!   directory[j] = slab addresses, sorted ascending; len of them are in use
//!   hint         = directory index of the slab the last lookup found (tried first)
//! ```
//!
//! * Bit `k` of the **bitmap** is set iff object `k` is live; bits at and above the slab's
//!   capacity are zero. The live-object count is the bitmap's population count.
//! * A slab with a free object is on its class's **partial list** (doubly linked through
//!   the `next` / `prev` words, heads in the SCB); a full slab is on no list. Objects are
//!   taken lowest-address first from the first partial slab.
//! * An **empty slab goes back to the engine** at once (released and coalesced like any
//!   freed block); when the last slab goes, the SCB goes too, so an empty heap is one free
//!   block again.
//! * The **directory** is how `free`, `realloc` and `usable_size` tell a slab object from
//!   an engine payload **without trusting payload bytes** (the word before an object is the
//!   previous object's data, which can fake any header): a binary search finds the last
//!   slab at or below the pointer; the pointer is an object iff it lies in that slab's object
//!   area, on an object boundary, with its bitmap bit set. A pointer into a slab that is not
//!   a live object is reported ([`ErrorKind::InvalidPointer`], or [`ErrorKind::DoubleFree`] /
//!   [`ErrorKind::UseAfterFree`] for a free slot) and refused, like the engine's own checks.
//!   The SCB's own payload is refused as an invalid pointer.
//! * **Capacity** grows geometrically per class: a class's first slab holds [`MIN_CAP`]
//!   objects, each new one twice as many as the last (the growth tag in the class head
//!   records how far it got), up to [`MAX_CAP`] objects and [`SLAB_BYTES`] bytes of objects,
//!   so a class used a few times costs a few objects' worth of room while a busy class gets
//!   slabs whose overhead (header word, slab header, 8 bytes of padding) is 1-5 %. Room left
//!   in the engine block (when the block found was larger than asked) becomes more objects.
//! * The heap's counters count objects (class-size bytes each), not slab blocks, and the
//!   SCB is not counted: [`crate::Heap::counters`] and [`crate::Heap::stats`] describe the
//!   program's allocations, and [`crate::Stats::slab_overhead_bytes`] the slabs' own bytes.
//! * With the quarantine on, new small requests get engine blocks (which the quarantine can
//!   hold); objects already in slabs are freed at once.
//!
//! # Which requests, and where slabs go
//!
//! Measured on the CS:APP traces (`cargo run --release -p heapwise-core --example util`):
//!
//! * **Demand.** A class gets its first slab only once [`DEMAND`] of its requests are live
//!   in engine blocks (a nibble per class in the metadata, counted up when an engine block
//!   serves such a request and down when a block of that size is freed). A slab pins its
//!   block for as long as one object lives: `realloc2-bal` keeps one or two 16-byte
//!   requests alive next to a block that grows by `realloc`, and a slab there would box the
//!   block in for good (98.8 % → 81.7 %), while engine blocks move out of its way.
//! * **Regions.** Slabs of the smallest classes (below [`LOW_CLASS`]) take the low end of a
//!   free block, all other slabs the high end; a low slab that finds no free block opens a
//!   region of `heap / REGION_DIV` bytes (clamped to `[REGION_MIN, REGION_MAX]`) whose rest
//!   the following slabs fill from both ends. Small-class and large-class slabs then grow
//!   towards each other instead of alternating, and when the large ones are freed (the
//!   112-byte requests of `binary2-bal`, the 448-byte ones of `binary-bal`) they coalesce
//!   into long runs for what comes next (69.8 % → 92.3 % on `binary2-bal`).
//! * **Fitting holes.** A new slab of a larger class shrinks to a free block smaller than
//!   the slab it wanted, if that block holds [`FIT_MIN`] objects, instead of cutting into a
//!   larger one: the leftover ends of those runs become slabs too (92.3 % → 97.3 %).
//!
//! # Costs
//!
//! `free` / `realloc` / `usable_size` of any pointer pay a binary search of the directory
//! (branch-free; the slab the previous lookup found is tried first) while slabs exist, and
//! the engine's `free` a demand-count update; creating or releasing a slab moves directory entries (O(slabs)); the
//! SCB is reallocated (copied) when it needs room. Everything is bounded, allocation-free
//! and panic-free; corrupted slab state is reported as [`ErrorKind::CorruptSlab`] and the
//! operation refused.

use core::ptr::{self, NonNull};

use crate::block::{block_size_for, layout, Block, ALIGN, ALLOC, FLAGS, MIN_BLOCK, WORD};
use crate::error::{ErrorKind, HeapError};
use crate::heap::Heap;
use crate::policy::Policy;
use crate::source::Source;
use crate::stats::Stats;

/// Bytes at the start of a slab's payload before its first object.
pub const SLAB_HEADER: usize = 32;
/// Most objects in one slab (one bitmap word).
pub const MAX_CAP: usize = 64;
/// Objects in the first slab of a class.
pub const MIN_CAP: usize = 2;
/// Most object bytes in one slab (capacity is also capped by this).
pub const SLAB_BYTES: usize = 4096;
/// Largest [`Policy::SLAB_MAX`] the layer supports (64 classes of 16 bytes).
pub const SLAB_MAX_LIMIT: usize = 1024;
/// Magic value in bits 16.. of a slab's info word.
pub const SLAB_MAGIC: usize = 0x5AB;
/// Magic value in word 3 of the slab control block.
pub const SCB_MAGIC: usize = 0x5CB0_5CB0;

/// Slabs of classes below this go to the low end of free blocks, the others to the high end,
/// so that slabs of small and large classes grow towards each other inside a region instead
/// of alternating (freed large-class slabs then coalesce into long runs).
pub const LOW_CLASS: usize = 33;
/// A low slab that finds no free block opens a region of `heap / REGION_DIV` bytes, clamped
/// to `[REGION_MIN, REGION_MAX]`.
pub const REGION_DIV: usize = 8;
/// Smallest region opened by a low slab.
pub const REGION_MIN: usize = 1024;
/// Largest region opened by a low slab.
pub const REGION_MAX: usize = 64 * 1024;

/// A new slab of a large class shrinks to fit a free block that holds at least this many
/// objects rather than take room from a larger one.
pub const FIT_MIN: usize = 1;

/// A class gets its first slab once this many of its requests are live in engine blocks
/// (approximately: counted up when one is served, down when an engine block of the size
/// those requests get is freed). Classes with few live objects keep engine blocks, which
/// move and coalesce freely: a slab holding one or two long-lived objects would pin its
/// block (next to a block that wants to grow, say).
pub const DEMAND: usize = 8;

/// Bytes at the end of a slab policy's metadata area that belong to the slab layer for
/// `slab_max`: one demand nibble per class, then the SCB address (the last word).
pub const fn meta_bytes(slab_max: usize) -> usize {
    let nibbles = (slab_max / ALIGN).div_ceil(2);
    nibbles.div_ceil(WORD) * WORD + WORD
}

/// Words of the SCB before the class heads.
const SCB_WORDS: usize = 5;
/// SCB word holding the directory index of the slab the last lookup found.
const HINT: usize = 4 * WORD;
/// Directory entries of a new SCB.
const INITIAL_DIR: usize = 8;
/// Low bits of a class head holding the growth tag.
const TAG: usize = ALIGN - 1;
/// Offsets in a slab header.
const INFO: usize = 8;
const NEXT: usize = 8 + WORD;
const PREV: usize = 8 + 2 * WORD;

const _: () = assert!(PREV + WORD <= SLAB_HEADER && SLAB_HEADER % ALIGN == 0);
// Demand counts are nibbles; growth tags fit below ALIGN.
const _: () = assert!(DEMAND <= 15 && MAX_CAP <= 64 && MIN_CAP >= 1);

/// A live slab object found by [`Heap::slab_lookup`], with the SCB and slab as validated
/// then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlabObject {
    /// The slab's address (its block's payload).
    pub(crate) slab: usize,
    /// Object index in the slab.
    pub(crate) idx: usize,
    /// Class size in bytes (the object's usable size).
    pub(crate) class: usize,
    scb: Scb,
    sl: Slab,
}

/// What [`Heap::slab_lookup`] made of a pointer.
pub(crate) enum SlabLookup {
    /// Not in a slab: the engine's own checks decide.
    Engine,
    /// In a slab but not a live object, or slab state corrupted: reported, refuse.
    Refused,
    /// A live slab object.
    Object(SlabObject),
}

/// The slab control block, as validated.
#[derive(Clone, Copy, Debug)]
struct Scb {
    at: usize,
    size: usize,
    len: usize,
    cap: usize,
    ncls: usize,
}

/// A slab, as validated.
#[derive(Clone, Copy, Debug)]
struct Slab {
    at: usize,
    size: usize,
    ci: usize,
    class: usize,
    cap: usize,
    bits: u64,
}

/// Bitmap of a full slab of `cap` objects.
#[inline]
const fn full(cap: usize) -> u64 {
    if cap >= 64 {
        !0
    } else {
        (1u64 << cap) - 1
    }
}

/// The size class of a request: rounded up to 16, at least 16.
#[inline]
pub const fn class_of(size: usize) -> usize {
    let s = if size == 0 { 1 } else { size };
    (s + ALIGN - 1) & !(ALIGN - 1)
}

/// Whether a request of `size` bytes (at most `slab_max`) is served from a slab: its class
/// is smaller than the engine block it would get.
#[inline]
pub const fn uses_slab(size: usize, slab_max: usize) -> bool {
    if size > slab_max {
        return false;
    }
    match block_size_for(size) {
        Some(b) => class_of(size) < b,
        None => false,
    }
}

/// Largest capacity of a slab of `class`-byte objects.
#[inline]
const fn cap_max(class: usize) -> usize {
    let c = SLAB_BYTES / class;
    if c > MAX_CAP {
        MAX_CAP
    } else if c == 0 {
        1
    } else {
        c
    }
}

fn err(kind: ErrorKind, addr: usize, info: usize) -> HeapError {
    HeapError::new(kind, addr, info)
}

impl<S: Source, P: Policy> Heap<S, P> {
    // ------------------------------------------------------------ raw access

    /// A word pointer to heap address `a`, with the heap's provenance.
    ///
    /// # Safety
    /// The heap must be initialised; `a` must be a word-aligned address inside it.
    #[inline]
    unsafe fn w(&self, a: usize) -> *mut usize {
        // SAFETY: `meta` is non-null (initialised heap); `a` is inside the heap.
        layout::rebase(unsafe { NonNull::new_unchecked(self.meta) }, a)
            .as_ptr()
            .cast()
    }

    /// The metadata word holding the SCB address.
    ///
    /// # Safety
    /// The heap must be initialised.
    #[inline]
    unsafe fn scb_word(&self) -> *mut usize {
        // SAFETY: the last metadata word belongs to the slab layer (`Policy::SLAB_MAX`).
        unsafe { layout::meta_word(NonNull::new_unchecked(self.meta), P::META_BYTES / WORD - 1) }
    }

    /// The demand nibble of class `ci`: byte address and shift.
    #[inline]
    fn demand_at(&self, ci: usize) -> (*mut u8, u32) {
        let off = P::META_BYTES - meta_bytes(P::SLAB_MAX) + ci / 2;
        // SAFETY: the slab layer's part of the metadata holds one nibble per class.
        let p = unsafe { self.meta.add(off) };
        (p, (ci as u32 & 1) * 4)
    }

    /// Live requests of class `ci` in engine blocks (approximately; saturates at 15).
    #[inline]
    fn demand(&self, ci: usize) -> usize {
        let (p, sh) = self.demand_at(ci);
        // SAFETY: initialised metadata byte.
        (unsafe { p.read() } >> sh & 15) as usize
    }

    #[inline]
    fn set_demand(&self, ci: usize, d: usize) {
        let (p, sh) = self.demand_at(ci);
        // SAFETY: initialised metadata byte.
        unsafe { p.write(p.read() & !(15 << sh) | ((d.min(15) as u8) << sh)) }
    }

    /// Told that an engine block of `size` bytes was freed: one request less of the class
    /// whose requests get blocks of that size and would fit a smaller slab object.
    #[inline]
    pub(crate) fn slab_engine_freed(&mut self, size: usize) {
        // Blocks of 16 bytes (32-bit targets) serve only requests whose class is 16 too.
        let class = size.wrapping_sub(ALIGN);
        if size >= 2 * ALIGN && class <= P::SLAB_MAX && !self.meta.is_null() {
            let ci = class / ALIGN - 1;
            let d = self.demand(ci);
            if d > 0 {
                self.set_demand(ci, d - 1);
            }
        }
    }

    /// `[first, epilogue)`.
    #[inline]
    fn span(&self) -> (usize, usize) {
        let v = self.view();
        (v.first.addr(), v.epilogue.addr())
    }

    /// The size of the allocated engine block whose payload is at `e`, if `e` is a
    /// plausible payload address and the header there says allocated with a sane size.
    #[inline]
    fn block_at(&self, e: usize) -> Option<usize> {
        let (lo, hi) = self.span();
        if e % ALIGN != 0 || e < lo + WORD || e >= hi {
            return None;
        }
        // SAFETY: `lo + WORD <= e < hi`, so the word below `e` is inside the block area.
        let h = unsafe { self.w(e - WORD).read() };
        let size = h & !FLAGS;
        if h & ALLOC == 0 || size < MIN_BLOCK || size % ALIGN != 0 || size > hi - (e - WORD) {
            return None;
        }
        Some(size)
    }

    /// Whether `x` may be a slab address whose header words can be read and written.
    #[inline]
    fn link_ok(&self, x: usize) -> bool {
        let (lo, hi) = self.span();
        x % ALIGN == 0 && x >= lo + WORD && x < hi && hi - x >= SLAB_HEADER
    }

    /// The SCB, validated; `Ok(None)` when no slab exists.
    fn scb(&self) -> Result<Option<Scb>, HeapError> {
        if self.meta.is_null() {
            return Ok(None);
        }
        // SAFETY: initialised heap.
        let at = unsafe { self.scb_word().read() };
        if at == 0 {
            return Ok(None);
        }
        let bad = err(ErrorKind::CorruptSlab, at, 0);
        let size = self.block_at(at).ok_or(bad)?;
        // SAFETY: the SCB's header words are read only once they are checked to fit in its
        // block's payload; the heads and the directory are bounded by the block size too.
        unsafe {
            if (size - WORD) / WORD < SCB_WORDS {
                return Err(bad);
            }
            let len = self.w(at).read();
            let cap = self.w(at + WORD).read();
            let ncls = self.w(at + 2 * WORD).read();
            let magic = self.w(at + 3 * WORD).read();
            if magic != SCB_MAGIC
                || ncls > P::SLAB_MAX / ALIGN
                || len > cap
                || cap > (size - WORD) / WORD
                || SCB_WORDS + ncls + cap > (size - WORD) / WORD
            {
                return Err(bad);
            }
            Ok(Some(Scb {
                at,
                size,
                len,
                cap,
                ncls,
            }))
        }
    }

    /// The head word of class `ci` (`ci < s.ncls`).
    #[inline]
    fn head(&self, s: &Scb, ci: usize) -> *mut usize {
        // SAFETY: `ci < ncls`, and the SCB's words fit in its block (validated).
        unsafe { self.w(s.at + (SCB_WORDS + ci) * WORD) }
    }

    /// Directory entry `i` (`i < s.cap`).
    #[inline]
    fn entry(&self, s: &Scb, i: usize) -> *mut usize {
        // SAFETY: `i < cap`, and the SCB's words fit in its block (validated).
        unsafe { self.w(s.at + (SCB_WORDS + s.ncls + i) * WORD) }
    }

    /// The index of the last directory entry `<= a`.
    #[inline]
    fn dir_floor(&self, s: &Scb, a: usize) -> Option<usize> {
        // Branch-free binary search: `base` is the last entry `<= a` seen so far, or 0.
        let (mut base, mut n) = (0, s.len);
        if n == 0 {
            return None;
        }
        while n > 1 {
            let half = n / 2;
            // SAFETY: `base + half < base + n <= len <= cap`: a directory word of the
            // validated SCB.
            let e = unsafe { self.entry(s, base + half).read() };
            // Arithmetic rather than a branch (the comparison is unpredictable): the sign
            // bit of `a - e`, computed without overflow, is 1 iff `e > a`.
            let gt = ((a as u128).wrapping_sub(e as u128) >> 127) as usize;
            base += half & gt.wrapping_sub(1);
            n -= half;
        }
        // SAFETY: `base < len`.
        (unsafe { self.entry(s, base).read() } <= a).then_some(base)
    }

    /// The slab at address `e`, validated against the SCB.
    fn slab_at(&self, s: &Scb, e: usize) -> Result<Slab, HeapError> {
        let bad = err(ErrorKind::CorruptSlab, e, 0);
        let size = self.block_at(e).ok_or(bad)?;
        if size - WORD < SLAB_HEADER {
            return Err(bad);
        }
        // SAFETY: the slab header lies inside the block's payload (checked above); `e` is
        // 16-byte aligned, so the bitmap is aligned for a `u64`.
        let (bits, info) = unsafe { ((self.w(e) as *const u64).read(), self.w(e + INFO).read()) };
        let ci = info & 0xff;
        let cap = (info >> 8) & 0xff;
        let class = (ci + 1) * ALIGN;
        if info >> 16 != SLAB_MAGIC
            || ci >= s.ncls
            || cap == 0
            || cap > MAX_CAP
            || SLAB_HEADER + cap * class > size - WORD
            || bits & !full(cap) != 0
        {
            return Err(bad);
        }
        Ok(Slab {
            at: e,
            size,
            ci,
            class,
            cap,
            bits,
        })
    }

    #[cold]
    fn report_err(&mut self, e: HeapError) {
        self.report(e.kind, e.addr, e.info);
    }

    // ------------------------------------------------------------ engine blocks

    /// An allocated engine block of at least `asize` bytes for the slab layer's own use,
    /// placed as the policy places any block; the counters are left as they were (slab
    /// blocks and the SCB are not program allocations).
    fn engine_block(&mut self, asize: usize, low: Option<bool>) -> Option<(usize, usize)> {
        let c = self.counters;
        // SAFETY: `take` returns a free block of at least `asize` bytes, removed from the
        // policy's records, which `place` turns into an allocated block.
        unsafe {
            let mut req = asize;
            if low == Some(true) && P::find(&self.view(), asize).is_none() {
                // No free block fits: open a region whose low end takes this slab and whose
                // rest takes the slabs to come (small classes low, large ones high).
                let v = self.view();
                let heap = v.epilogue.addr() - v.first.addr();
                req = asize.max((heap / REGION_DIV).clamp(REGION_MIN, REGION_MAX) & !(ALIGN - 1));
            }
            let Some((b, bsize)) = self.take(req) else {
                self.counters.failures = c.failures;
                return None;
            };
            let high = match low {
                Some(low) => !low,
                None => P::place_high(&self.view(), b, asize, bsize),
            };
            let pay = self.place(b, bsize, asize, high);
            self.counters.alloc_blocks = c.alloc_blocks;
            self.counters.alloc_bytes = c.alloc_bytes;
            self.counters.peak_alloc_bytes = c.peak_alloc_bytes;
            let blk = Block::from_payload(pay);
            Some((pay.as_ptr() as usize, blk.size()))
        }
    }

    /// Releases the slab layer's engine block at payload `e` of `size` bytes (coalescing).
    fn release_block(&mut self, e: usize, size: usize) {
        // SAFETY: `e` is the payload of an allocated block of `size` bytes (validated by the
        // caller), reached with the heap's provenance.
        unsafe {
            let b = Block::from_payload(NonNull::new_unchecked(self.w(e).cast()));
            let _ = self.release(b, size);
        }
    }

    // ------------------------------------------------------------ directory

    /// An SCB with room for one more slab and a head for class `ci`: `s` itself, or a new,
    /// larger copy (the old one is released).
    fn scb_reserve(&mut self, s: Option<Scb>, ci: usize) -> Option<Scb> {
        let (len, cap, ncls) = s.map_or((0, 0, 0), |s| (s.len, s.cap, s.ncls));
        if let Some(s) = s {
            if ci < ncls && len < cap {
                return Some(s);
            }
        }
        let max_cls = P::SLAB_MAX / ALIGN;
        let new_ncls = ncls.max(((ci + 4) & !3).min(max_cls)).max(ci + 1);
        let want = if len < cap {
            cap
        } else {
            (cap * 2).max(INITIAL_DIR)
        };
        let asize = block_size_for((SCB_WORDS + new_ncls + want) * WORD)?;
        let (at, size) = self.engine_block(asize, None)?;
        let new_cap = (size - WORD) / WORD - SCB_WORDS - new_ncls;
        // SAFETY: the new block holds `SCB_WORDS + new_ncls + new_cap` words; the old SCB
        // (validated) holds `ncls` heads and `len` entries.
        unsafe {
            self.w(at).write(len);
            self.w(at + WORD).write(new_cap);
            self.w(at + 2 * WORD).write(new_ncls);
            self.w(at + 3 * WORD).write(SCB_MAGIC);
            self.w(at + HINT).write(0);
            let n = Scb {
                at,
                size,
                len,
                cap: new_cap,
                ncls: new_ncls,
            };
            for i in 0..new_ncls {
                let h = match s {
                    Some(s) if i < s.ncls => self.head(&s, i).read(),
                    _ => 0,
                };
                self.head(&n, i).write(h);
            }
            if let Some(s) = s {
                ptr::copy_nonoverlapping(self.entry(&s, 0), self.entry(&n, 0), len);
            }
            self.scb_word().write(at);
            if let Some(s) = s {
                self.release_block(s.at, s.size);
            }
            Some(n)
        }
    }

    /// Inserts slab `e` into the directory (which has room), keeping it sorted.
    fn dir_insert(&mut self, s: &mut Scb, e: usize) {
        let pos = self.dir_floor(s, e).map_or(0, |i| i + 1);
        // SAFETY: `len < cap`: entries `pos..len` move up by one inside the directory.
        unsafe {
            let p = self.entry(s, pos);
            ptr::copy(p, p.add(1), s.len - pos);
            p.write(e);
            s.len += 1;
            self.w(s.at).write(s.len);
        }
    }

    /// Removes slab `e` from the directory; `false` if it is not there.
    fn dir_remove(&mut self, s: &mut Scb, e: usize) -> bool {
        let Some(pos) = self.dir_floor(s, e) else {
            return false;
        };
        // SAFETY: `pos < len`; entries `pos + 1..len` move down by one.
        unsafe {
            let p = self.entry(s, pos);
            if p.read() != e {
                return false;
            }
            ptr::copy(p.add(1), p, s.len - pos - 1);
            s.len -= 1;
            self.w(s.at).write(s.len);
        }
        true
    }

    // ------------------------------------------------------------ partial lists

    /// Takes slab `sl` off its class's partial list; `false` (reported) if its links are
    /// corrupted.
    fn partial_unlink(&mut self, s: &Scb, sl: &Slab) -> bool {
        let e = sl.at;
        // SAFETY: `e` and every link followed are checked with `link_ok` first, so all
        // header words touched lie inside the heap.
        unsafe {
            let next = self.w(e + NEXT).read();
            let prev = self.w(e + PREV).read();
            let head = self.head(s, sl.ci);
            let ok = (next == 0 || (self.link_ok(next) && self.w(next + PREV).read() == e))
                && if prev == 0 {
                    head.read() & !TAG == e
                } else {
                    self.link_ok(prev) && self.w(prev + NEXT).read() == e
                };
            if !ok {
                self.report(ErrorKind::CorruptSlab, e, sl.class);
                return false;
            }
            if prev == 0 {
                head.write(next | (head.read() & TAG));
            } else {
                self.w(prev + NEXT).write(next);
            }
            if next != 0 {
                self.w(next + PREV).write(prev);
            }
        }
        true
    }

    /// Puts slab `sl` at the front of its class's partial list.
    fn partial_push(&mut self, s: &Scb, sl: &Slab) {
        // SAFETY: `sl.at` is a validated slab; the old head is written only if `link_ok`.
        unsafe {
            let head = self.head(s, sl.ci);
            let h = head.read();
            let old = h & !TAG;
            self.w(sl.at + NEXT)
                .write(if self.link_ok(old) { old } else { 0 });
            self.w(sl.at + PREV).write(0);
            if self.link_ok(old) {
                self.w(old + PREV).write(sl.at);
            }
            head.write(sl.at | (h & TAG));
        }
    }

    // ------------------------------------------------------------ malloc / free

    /// Serves a request of `size` bytes from a slab, when the policy has slabs and the
    /// request's class is smaller than its engine block; `None` sends it to the engine.
    pub(crate) fn slab_alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        if !uses_slab(size, P::SLAB_MAX) || self.quarantine().enabled() {
            return None;
        }
        if self.meta.is_null() && !self.init() {
            return None;
        }
        let class = class_of(size);
        let ci = class / ALIGN - 1;
        let s = match self.scb() {
            Ok(s) => s,
            Err(e) => {
                self.report_err(e);
                return None;
            }
        };
        let mut tag = 0;
        if let Some(s) = s {
            if ci < s.ncls {
                // SAFETY: `ci < ncls`.
                let hw = unsafe { self.head(&s, ci).read() };
                let h = hw & !TAG;
                tag = hw & TAG;
                if h != 0 {
                    return match self.slab_at(&s, h) {
                        Ok(sl) if sl.ci == ci && sl.bits != full(sl.cap) => self.carve(&s, &sl),
                        _ => {
                            self.report(ErrorKind::CorruptSlab, h, class);
                            None
                        }
                    };
                }
            }
        }
        if tag == 0 {
            // The class has had no slab since the SCB was made: it gets one only once
            // DEMAND of its requests are live in engine blocks.
            let d = self.demand(ci);
            if d < DEMAND {
                self.set_demand(ci, d + 1);
                return None;
            }
        }
        let (s, sl) = self.new_slab(s, ci, class)?;
        self.carve(&s, &sl)
    }

    /// Takes the lowest free object of slab `sl` (the head of its partial list, not full),
    /// taking the slab off the list when it fills up.
    fn carve(&mut self, s: &Scb, sl: &Slab) -> Option<NonNull<u8>> {
        let m = full(sl.cap);
        let idx = (!sl.bits & m).trailing_zeros() as usize;
        let bits = sl.bits | 1 << idx;
        // SAFETY: `sl` is a validated slab: its header words and its `cap` objects lie
        // inside its block; the next slab's `prev` word is written only if `link_ok`.
        unsafe {
            if bits == m {
                let next = self.w(sl.at + NEXT).read();
                if next != 0 && !self.link_ok(next) {
                    self.report(ErrorKind::CorruptSlab, sl.at, sl.class);
                    return None;
                }
                let head = self.head(s, sl.ci);
                head.write(next | (head.read() & TAG));
                if next != 0 {
                    self.w(next + PREV).write(0);
                }
            }
            (self.w(sl.at) as *mut u64).write(bits);
            self.note_alloc(sl.class);
            // A slab object is never known to be fresh: `calloc` clears it all.
            self.fresh_from = ptr::null_mut();
            Some(NonNull::new_unchecked(
                self.w(sl.at + SLAB_HEADER + idx * sl.class).cast(),
            ))
        }
    }

    /// A new, empty slab of class `ci` at the front of its partial list, in the directory.
    fn new_slab(&mut self, s: Option<Scb>, ci: usize, class: usize) -> Option<(Scb, Slab)> {
        let tag = match s {
            // SAFETY: `ci < ncls`.
            Some(s) if ci < s.ncls => (unsafe { self.head(&s, ci).read() }) & TAG,
            _ => 0,
        };
        let want = cap_max(class).min(MIN_CAP << tag);
        let mut asize = block_size_for(SLAB_HEADER + want * class)?;
        let low = class < LOW_CLASS;
        if !low {
            // Fit the slab to a hole smaller than the slab wanted, if one holds FIT_MIN objects.
            let min = block_size_for(SLAB_HEADER + FIT_MIN.min(want) * class)?;
            // SAFETY: the heap is initialised and consistent; `find` returns a free block.
            if let Some(b) = unsafe { P::find(&self.view(), min) } {
                // SAFETY: a recorded free block has its size in its header.
                let bs = unsafe { b.size() };
                if bs < asize {
                    asize = bs;
                }
            }
        }
        let (e, size) = self.engine_block(asize, Some(low))?;
        let Some(mut s) = self.scb_reserve(s, ci) else {
            self.release_block(e, size);
            return None;
        };
        let cap = MAX_CAP.min((size - WORD - SLAB_HEADER) / class);
        let next_tag = if MIN_CAP << tag >= cap_max(class) {
            tag
        } else {
            tag + 1
        };
        // SAFETY: the new block's payload holds the slab header; the old head is a slab
        // whose `prev` word is written only if `link_ok`.
        unsafe {
            let head = self.head(&s, ci);
            let old = head.read() & !TAG;
            (self.w(e) as *mut u64).write(0);
            self.w(e + INFO).write(SLAB_MAGIC << 16 | cap << 8 | ci);
            let old = if self.link_ok(old) { old } else { 0 };
            self.w(e + NEXT).write(old);
            self.w(e + PREV).write(0);
            if old != 0 {
                self.w(old + PREV).write(e);
            }
            head.write(e | next_tag);
        }
        self.dir_insert(&mut s, e);
        let sl = Slab {
            at: e,
            size,
            ci,
            class,
            cap,
            bits: 0,
        };
        Some((s, sl))
    }

    /// Whether `p` is a slab object: see the module documentation. Reports what it refuses.
    pub(crate) fn slab_lookup(&mut self, p: NonNull<u8>, freed: ErrorKind) -> SlabLookup {
        let s = match self.scb() {
            Ok(Some(s)) => s,
            Ok(None) => return SlabLookup::Engine,
            Err(e) => {
                self.report_err(e);
                return SlabLookup::Refused;
            }
        };
        let a = p.as_ptr() as usize;
        if a == s.at {
            self.report(ErrorKind::InvalidPointer, a, 0);
            return SlabLookup::Refused;
        }
        // The slab of the last lookup first (frees come in runs), then a binary search.
        // SAFETY: the hint word is part of the validated SCB; entries read are below `len`.
        let i = unsafe {
            let hint = self.w(s.at + HINT).read();
            if hint < s.len
                && self.entry(&s, hint).read() <= a
                && (hint + 1 == s.len || self.entry(&s, hint + 1).read() > a)
            {
                hint
            } else {
                let Some(i) = self.dir_floor(&s, a) else {
                    return SlabLookup::Engine;
                };
                self.w(s.at + HINT).write(i);
                i
            }
        };
        // SAFETY: `i < len <= cap`.
        let e = unsafe { self.entry(&s, i).read() };
        // Past the end of that slab (its block's size, read first): not a slab object.
        if let Some(size) = self.block_at(e) {
            if a >= e - WORD + size {
                return SlabLookup::Engine;
            }
        }
        let sl = match self.slab_at(&s, e) {
            Ok(sl) => sl,
            Err(er) => {
                self.report_err(er);
                return SlabLookup::Refused;
            }
        };
        let objs = e + SLAB_HEADER;
        let off = a.wrapping_sub(objs);
        let idx = off / sl.class;
        if a < objs || off % sl.class != 0 || idx >= sl.cap {
            self.report(ErrorKind::InvalidPointer, a, 0);
            return SlabLookup::Refused;
        }
        if sl.bits & 1 << idx == 0 {
            self.report(freed, a, sl.class);
            return SlabLookup::Refused;
        }
        SlabLookup::Object(SlabObject {
            slab: e,
            idx,
            class: sl.class,
            scb: s,
            sl,
        })
    }

    /// Frees slab object `o`; an emptied slab goes back to the engine, and the SCB with the
    /// last slab.
    ///
    /// # Safety
    /// `o` must come from [`Heap::slab_lookup`] with no heap operation since.
    pub(crate) unsafe fn slab_free(&mut self, o: SlabObject) {
        let (mut s, sl) = (o.scb, o.sl);
        let bit = 1u64 << o.idx;
        if sl.bits & bit == 0 || o.idx >= sl.cap {
            return self.report(ErrorKind::DoubleFree, o.slab, sl.class);
        }
        let was_full = sl.bits == full(sl.cap);
        let bits = sl.bits & !bit;
        if bits == 0 {
            if !was_full && !self.partial_unlink(&s, &sl) {
                return;
            }
            if !self.dir_remove(&mut s, sl.at) {
                return self.report(ErrorKind::CorruptSlab, sl.at, sl.class);
            }
            self.release_block(sl.at, sl.size);
            if s.len == 0 {
                // SAFETY: initialised heap.
                unsafe { self.scb_word().write(0) };
                self.release_block(s.at, s.size);
            }
        } else {
            // SAFETY: validated slab: its bitmap is its first payload word.
            unsafe { (self.w(sl.at) as *mut u64).write(bits) };
            if was_full {
                self.partial_push(&s, &sl);
            }
        }
        self.counters.alloc_blocks -= 1;
        self.counters.alloc_bytes -= sl.class;
    }

    /// `realloc` of slab object `o` to `size > 0` bytes: kept when it fits its class,
    /// otherwise moved (allocate, copy, free); on failure the object is untouched.
    ///
    /// # Safety
    /// `o` must come from [`Heap::slab_lookup`] with no heap operation since.
    pub(crate) unsafe fn slab_realloc(
        &mut self,
        o: SlabObject,
        size: usize,
    ) -> Option<NonNull<u8>> {
        // SAFETY: `o` is a live object of this heap: `class` bytes at its address.
        unsafe {
            let p = self.w(o.slab + SLAB_HEADER + o.idx * o.class) as *mut u8;
            if size <= o.class {
                return Some(NonNull::new_unchecked(p));
            }
            let q = self.alloc(size)?;
            ptr::copy_nonoverlapping(p, q.as_ptr(), o.class);
            // The allocation may have changed the SCB and the slab: look the object up again.
            match self.slab_lookup(NonNull::new_unchecked(p), ErrorKind::UseAfterFree) {
                SlabLookup::Object(o) => self.slab_free(o),
                SlabLookup::Engine => self.report(ErrorKind::CorruptSlab, o.slab, o.class),
                SlabLookup::Refused => {}
            }
            Some(q)
        }
    }

    // ------------------------------------------------------------ checker and stats

    /// The heap checker's slab part: the SCB and every slab are allocated blocks of the walk
    /// (directory sorted, each entry a block start), every slab header is sane and not
    /// empty, every non-full slab is on its class's partial list and every list entry is a
    /// non-full slab of that class with consistent links. Turns the walk's engine-block
    /// totals into the counters' terms (objects, not slabs; no SCB).
    pub(crate) fn check_slabs(
        &self,
        alloc_blocks: &mut usize,
        alloc_bytes: &mut usize,
    ) -> Result<(), HeapError> {
        let Some(s) = self.scb()? else {
            return Ok(());
        };
        let (mut seen_scb, mut j, mut nonfull) = (false, 0usize, 0usize);
        let (mut blocks, mut bytes) = (*alloc_blocks, *alloc_bytes);
        for b in self.blocks() {
            if !b.allocated {
                continue;
            }
            let x = b.payload();
            // SAFETY: `j < len <= cap` when the entry is read.
            let entry = j < s.len && unsafe { self.entry(&s, j).read() } == x;
            if x == s.at {
                seen_scb = true;
                blocks -= 1;
                bytes -= b.size;
            } else if entry {
                let sl = self.slab_at(&s, x)?;
                if sl.bits == 0 {
                    return Err(err(ErrorKind::CorruptSlab, x, sl.class));
                }
                if sl.bits != full(sl.cap) {
                    nonfull += 1;
                }
                let n = sl.bits.count_ones() as usize;
                blocks = blocks - 1 + n;
                bytes = bytes - b.size + n * sl.class;
                j += 1;
            }
        }
        if !seen_scb {
            return Err(err(ErrorKind::CorruptSlab, s.at, 0));
        }
        if j != s.len {
            // SAFETY: `j < len`.
            let e = unsafe { self.entry(&s, j).read() };
            return Err(err(ErrorKind::CorruptSlab, e, 0));
        }
        let mut listed = 0usize;
        for ci in 0..s.ncls {
            // SAFETY: `ci < ncls`.
            let mut cur = unsafe { self.head(&s, ci).read() } & !TAG;
            let mut prev = 0;
            while cur != 0 {
                let i = self.dir_floor(&s, cur);
                // SAFETY: `i < len`.
                if i.is_none_or(|i| unsafe { self.entry(&s, i).read() } != cur) {
                    return Err(err(ErrorKind::ListEntryNotFree, cur, ci));
                }
                let sl = self.slab_at(&s, cur)?;
                if sl.ci != ci {
                    return Err(err(ErrorKind::WrongClass, cur, sl.class));
                }
                if sl.bits == full(sl.cap) {
                    return Err(err(ErrorKind::ListEntryNotFree, cur, ci));
                }
                listed += 1;
                if listed > nonfull {
                    return Err(err(ErrorKind::InListTwice, cur, ci));
                }
                // SAFETY: `cur` is a validated slab.
                unsafe {
                    if self.w(cur + PREV).read() != prev {
                        return Err(err(ErrorKind::BadLink, cur, ci));
                    }
                    prev = cur;
                    cur = self.w(cur + NEXT).read();
                }
            }
        }
        if listed != nonfull {
            return Err(err(ErrorKind::NotInList, s.at, nonfull - listed));
        }
        *alloc_blocks = blocks;
        *alloc_bytes = bytes;
        Ok(())
    }

    /// Moves slab blocks and the SCB out of the allocated figures of `st` (a walk's
    /// engine-block view): their live objects count as allocated blocks of their class size,
    /// the rest as [`Stats::slab_overhead_bytes`]. Leaves `st` alone if the slab state is
    /// corrupted (the checker reports it).
    pub(crate) fn slab_stats(&self, st: &mut Stats) {
        let Ok(Some(s)) = self.scb() else {
            return;
        };
        let (mut blocks, mut bytes, mut usable, mut over) = (1usize, s.size, s.size - WORD, s.size);
        let (mut objs, mut obj_bytes) = (0usize, 0usize);
        for i in 0..s.len {
            // SAFETY: `i < len`.
            let e = unsafe { self.entry(&s, i).read() };
            let Ok(sl) = self.slab_at(&s, e) else {
                return;
            };
            let n = sl.bits.count_ones() as usize;
            blocks += 1;
            bytes += sl.size;
            usable += sl.size - WORD;
            over += sl.size - n * sl.class;
            objs += n;
            obj_bytes += n * sl.class;
        }
        if blocks > st.allocated_blocks || bytes > st.allocated_bytes {
            return;
        }
        st.allocated_blocks = st.allocated_blocks - blocks + objs;
        st.allocated_bytes = st.allocated_bytes - bytes + obj_bytes;
        st.usable_bytes = st.usable_bytes - usable + obj_bytes;
        st.slab_overhead_bytes = over;
    }
}
