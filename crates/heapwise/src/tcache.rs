//! Per-thread caches of free small blocks: the lock-free fast path of [`Global::malloc`],
//! [`Global::calloc`] and [`Global::free`] (glibc's tcache idea over the boundary-tag engine).
//!
//! Each thread owns one [`Cache`], a record of a [`RecordPool`] (mapped memory, reused
//! after its thread ends) that the thread's slot ([`thread_slot`]: one initial-exec TLS
//! word) points to. Classes are 16 bytes apart, from [`MIN_BLOCK`] to
//! [`MAX_CACHED_BLOCK`] bytes of block size, and each class has **two** singly linked
//! stacks (mimalloc's free-list sharding): `malloc` pops from the class's *free* list,
//! `free` pushes on its *local* list. When the free list runs empty, the local list
//! becomes the free list only if it holds at least a *batch* of blocks; otherwise the
//! class is refilled with a batch from a central list or from the engine (one acquisition
//! of the [`Global`]'s lock). A batch is [`BATCH`] blocks for blocks up to 256 bytes and
//! [`BATCH_BYTES`] of blocks above (at least [`MIN_BATCH`]; per class in [`BATCHES`]);
//! refills from the engine start slow ([`RAMP_START`] blocks, doubling up to the batch), so
//! that a size a thread uses a few times does not leave a whole batch of it resident. A
//! local list over its class's cap ([`CAPS`]: thousands of blocks for the smallest classes,
//! two batches for the largest) gives a batch back the same way.
//!
//! Memory held (peak RSS): a thread's cache over [`THREAD_BYTES`] trims the local lists
//! of its other classes back to two batches (a *scavenge*, with hysteresis: the limit is
//! raised above what is left and restored on a refill once the cache has shrunk). Only a
//! class whose thread reuses its own frees (its local list became its free list once)
//! keeps more than two batches: a thread that only frees a class (the consumer of a
//! producer/consumer pair) passes them on in batches through the central list. Every
//! class may hold up to three batches (free list, local list) whatever the limit, so the
//! batch of the larger classes is bounded in bytes: with 16 blocks per batch, a program
//! using every class kept ~1.4 MiB in its cache (st-random: peak RSS ×1.40 glibc; ×1.28
//! with [`BATCH_BYTES`] = 4 KiB, `docs/performance/steps-session3.md`).
//!
//! The split is a hardening measure at no cost to the fast path: a freed block is not
//! handed out again before its thread has freed a batch of its class, so a double
//! free after many allocations of the same size (issue 6, case 2: `free(p); 100 × malloc;
//! free(p)`) still finds `p` marked as cached and is reported, where a plain LIFO cache
//! would have given `p` to the first of those allocations and taken the second `free` for
//! a legitimate one.
//!
//! # Invariants
//! * A cached block is, for the engine, an **allocated** block (header unchanged). Its
//!   payload holds the link to the next cached block in word 0 and the *cache mark*
//!   `KEY ^ payload address ^ link` in word 1 (`KEY` is a per-process random word; `mark`);
//!   a block handed out by the cache has word 1 cleared. So a `free` of a block whose word 1
//!   equals its mark is a double free ([`is_cached`]), in any thread's cache; and since the
//!   mark binds the link, a write after free over either word is seen before the link is
//!   followed (every walk of a list or chain checks each block's mark first: `link_of`),
//!   so the cache never follows a forged or corrupted link. Every write of a link goes
//!   through `set_link`, which writes the mark with it. The engine never sees cached
//!   blocks: they are flushed (mark cleared, engine `free`) before it does.
//! * A cache serves exactly one [`Global`], its *owner* (the first caching `Global` the
//!   thread used); other `Global`s take their slow path in that thread.
//! * A cache belongs to one arena of its owner (see [`crate::global`]): it refills from that
//!   arena, and its fast `free` takes blocks of that arena's first heap only. A small block
//!   of another arena (freed by another thread than the one that allocated it) goes into
//!   the cache's buffer for that arena and, [`REMOTE_BATCH`] at a time, to that arena's
//!   remote stack ([`crate::remote`]); a refill first takes its own arena's remote stack and
//!   sorts those blocks into its free lists. Blocks in buffers and on remote stacks keep
//!   their cache mark and are counted as cached.
//! * Caching happens only for the default segregated policy: the seed's policies run
//!   uncached, so that `HEAPWISE_POLICY` shows each policy's own cost.
//! * Thread exit returns the cache to its owner (a `pthread` key destructor, registered
//!   without allocating) and its record to the pool; afterwards the thread's slot holds
//!   `DEAD_MARK` and its calls go to the slow path.
//! * A thread whose cache is set up too late for that destructor (its first call comes from
//!   another key's destructor in glibc's last round of `PTHREAD_DESTRUCTOR_ITERATIONS`, or
//!   after them) still has its cache retired, by another thread: every registered cache
//!   holds its *life lock*, a robust mutex its thread locks at set-up and unlocks only when
//!   the cache is retired. The kernel marks a robust mutex whose owner ended *owner died*
//!   (it goes by the thread, not by its reusable `pthread_t` or TID), so a `trylock` that
//!   answers `EOWNERDEAD` proves the thread gone and hands its cache to the caller, who
//!   retires it as the destructor would have (`reclaim_exited`). Each cache set-up examines
//!   a few registry entries ([`RECLAIM_SCAN`], from where the last one stopped) and
//!   [`Global::trim`] all of them, so such caches are bounded by a fraction of the live ones
//!   instead of growing with every thread. The life lock is released (leaving the holder's
//!   robust list) under the registry lock, after the cache is unlinked and before its
//!   record goes back to the pool. Where the kernel keeps no robust list ([`robust_list_works`]:
//!   `qemu-user`) caches take no life lock and only their key's destructor retires them.
//! * Re-entrancy: while a cache is being set up the thread's slot holds `BUSY_MARK` and
//!   every call from the same thread takes the slow path.
//! * Fast paths: [`malloc_fast`] and [`free_fast`] (inlined into [`Global::malloc`],
//!   [`Global::calloc`] and [`Global::free`]) call nothing on a hit and keep every check
//!   of the slow halves [`malloc`] and [`free`] (cache mark before a link is followed,
//!   double-free mark, header and next-header checks); anything unusual (another heap than
//!   the first, a wrong mark, an empty class) falls through to the slow half, which
//!   reports it. The blocks a cache holds are not counted per operation: they follow from
//!   the hit counters and the blocks the slow paths moved in and out.
//! * The header checks read heap words without the arena's lock, while another thread may
//!   be rewriting them under it (the next block being split or allocated, the `PREV_ALLOC`
//!   bit of a cached block): they go through [`load_header`] (and `block_size_of`), atomic
//!   loads matched by the engine's atomic header stores, so there is no data race (CI runs
//!   this crate's tests under ThreadSanitizer).
//! * Aligned requests (`16 < align <=` [`MAX_CACHED_ALIGN`]) take the first block with an
//!   aligned payload among the first [`ALIGNED_SCAN`] of their class's free list
//!   ([`aligned`]; one block in `align / 16` qualifies on average), unlinking it from the
//!   middle of the list if need be; when none does, those blocks go back to the engine and
//!   the request to the engine's aligned path. The local lists are not searched (a
//!   just-freed block is still not handed out at once).
//! * Statistics: every cache keeps its counters in relaxed atomics written only by its
//!   thread (plain stores, no read-modify-write); [`sum`] adds them up for
//!   [`Global::stats`] through a registry of live caches (guarded by its own lock, reset in
//!   a `fork` child to the calling thread's cache, whose life lock the child takes anew).

use core::cell::{Cell, UnsafeCell};
use core::mem::MaybeUninit;
use core::ptr::{self, NonNull};
use core::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use heapwise_core::block::{
    block_size_for, load_header, ALIGN, ALLOC, FLAGS, MIN_BLOCK, PREV_ALLOC, WORD,
};

use heapwise_core::{ErrorKind, HeapError};

use crate::fork;
use crate::global::{Global, ARENAS};
use crate::lock::{FutexLock, LockGuard};
use crate::once_key::{OnceKey, Retry};
use crate::record_pool::RecordPool;
use crate::remote::REMOTE_BATCH;
use crate::thread_slot;

/// Largest block size (header included) kept in a thread cache: requests up to
/// `MAX_CACHED_BLOCK - 8` bytes are served from it.
pub const MAX_CACHED_BLOCK: usize = 1024;

/// Number of size classes.
pub const CLASSES: usize = (MAX_CACHED_BLOCK - MIN_BLOCK) / ALIGN + 1;

/// Blocks moved between a cache and the engine at a time (the most: see [`BATCHES`]).
pub const BATCH: usize = 16;

/// Block bytes one batch moves at most: classes of blocks over `BATCH_BYTES / BATCH`
/// bytes move fewer blocks at a time ([`BATCHES`]), down to [`MIN_BATCH`]. Every block a
/// batch brings in stays in the cache until its class's lists give it back, away from
/// the engine's coalescing: a smaller batch of large blocks costs a lock acquisition per
/// few KiB instead of per 16 blocks and keeps less memory per class (peak RSS).
pub const BATCH_BYTES: usize = 4096;

/// Fewest blocks a batch moves (and fewest frees of its class a just-freed block waits
/// for before it is handed out again).
pub const MIN_BATCH: usize = 4;

/// Blocks class `k` moves at a time: `BATCH_BYTES / block size` within
/// `[MIN_BATCH, BATCH]` (16 up to 256-byte blocks, 8 for 512, 4 for 1024).
pub const fn batch_for(k: usize) -> usize {
    let n = BATCH_BYTES / (MIN_BLOCK + k * ALIGN);
    if n > BATCH {
        BATCH
    } else if n < MIN_BATCH {
        MIN_BATCH
    } else {
        n
    }
}

/// Blocks the first refill of a class from the engine carves (the *slow start*): each
/// later engine refill of the class carves twice as many, up to its batch ([`BATCHES`]).
/// A program that uses a class for a few blocks (most sizes of most programs) then holds
/// two blocks of it instead of a whole batch, every block written (its header) and so
/// resident: a program allocating one block of each of 50 sizes touched ~200 KiB of heap
/// with whole batches from the start (`docs/performance/steps-session18.md`).
pub const RAMP_START: usize = 2;

/// [`batch_for`] of every class (one load on the slow paths).
pub const BATCHES: [u8; CLASSES] = {
    let mut b = [0u8; CLASSES];
    let mut k = 0;
    while k < CLASSES {
        b[k] = batch_for(k) as u8;
        k += 1;
    }
    b
};

/// Blocks class `k` moves at a time ([`BATCHES`]).
#[inline]
fn batch_of(k: usize) -> usize {
    BATCHES.get(k).map_or(MIN_BATCH, |&b| b as usize)
}

/// Fewest blocks the local list of a class of at most 256-byte blocks may keep before it
/// gives a batch back (two batches; [`floor_of`] for every class).
pub const CAP: usize = 2 * BATCH;

/// Fewest blocks class `k`'s local list may keep before it gives a batch back: two
/// batches.
pub const fn floor_of(k: usize) -> usize {
    2 * batch_for(k)
}

/// The initial per-class caps of a new cache ([`floor_of`]).
const fn initial_caps() -> [Cell<u32>; CLASSES] {
    let mut caps = [const { Cell::new(0) }; CLASSES];
    let mut k = 0;
    while k < CLASSES {
        caps[k] = Cell::new(floor_of(k) as u32);
        k += 1;
    }
    caps
}

/// Bytes of blocks the smallest class's local list may keep (see [`CAPS`]): small
/// classes keep many blocks (a program freeing a tree of small nodes keeps them for its
/// next tree, as glibc's fast bins do), large ones two batches.
pub const LOCAL_BYTES: usize = 512 * 1024;

/// Bytes of blocks a thread's cache may hold before a `free` scavenges the other classes
/// (bounds the memory the caches keep from the heaps, where it would coalesce and serve
/// other sizes: peak RSS).
pub const THREAD_BYTES: usize = 512 * 1024;

/// Most blocks each class's local list keeps; one more gives a batch of them back.
/// The bytes kept fall with the square of the block size: [`LOCAL_BYTES`] for the
/// smallest class, half as much for blocks twice as big, and never fewer than two
/// batches ([`floor_of`]).
pub const CAPS: [u32; CLASSES] = {
    let mut caps = [0u32; CLASSES];
    let mut k = 0;
    while k < CLASSES {
        let bsize = MIN_BLOCK + k * ALIGN;
        let n = LOCAL_BYTES / bsize * MIN_BLOCK / bsize;
        let floor = floor_of(k);
        caps[k] = if n > floor { n as u32 } else { floor as u32 };
        k += 1;
    }
    caps
};

/// Most blocks class `k`'s local list keeps.
#[inline]
fn cap_of(k: usize) -> usize {
    CAPS.get(k).map_or(2 * MIN_BATCH, |&c| c as usize)
}

const UNINIT: u8 = 0;
const ACTIVE: u8 = 1;
const DEAD: u8 = 2;
const BUSY: u8 = 3;

/// One thread's cache.
pub struct Cache {
    state: Cell<u8>,
    owner: Cell<*const Global>,
    /// Per class: the free list `malloc` pops from (its length is not kept: nothing
    /// decides on it, and the fast path saves the count).
    heads: [Cell<*mut u8>; CLASSES],
    /// Per class: the local list `free` pushes on, and its length.
    locals: [Cell<*mut u8>; CLASSES],
    local_counts: [Cell<u32>; CLASSES],
    /// Per class: most blocks the local list keeps: two batches until this thread reuses its
    /// own frees (its local list became its free list once), then the class's [`CAPS`]
    /// entry. A thread that only frees a class (a consumer) passes its blocks on in
    /// batches.
    caps: [Cell<u32>; CLASSES],
    /// Per class: blocks its next refill from the engine carves ([`RAMP_START`], doubled
    /// by every engine refill up to the class's batch).
    ramps: [Cell<u8>; CLASSES],
    /// The cache mark's key ([`KEY`], copied at set-up: one load less on the fast path).
    key: Cell<usize>,
    /// The owner's arena this thread refills from and allocates in (see
    /// [`Global::attach_arena`]), and the span slot of that arena's first heap (the only
    /// heap the fast `free` takes blocks from).
    arena: Cell<usize>,
    slot: Cell<usize>,
    /// Refills in the current contention window (low 16 bits) and how many of them found
    /// the arena's lock held by another thread (high bits; see [`contention`]).
    contended: Cell<u32>,
    /// Per arena: blocks of that arena this thread freed, waiting to be pushed to its
    /// remote stack (first, last, count, block bytes; see [`crate::remote`]). Always empty
    /// for the thread's own arena.
    rfirst: [Cell<*mut u8>; ARENAS],
    rlast: [Cell<*mut u8>; ARENAS],
    rcount: [Cell<u32>; ARENAS],
    rbytes: [Cell<usize>; ARENAS],
    /// Cached bytes above which a `free` scavenges the other classes (hysteresis: raised
    /// above what one class keeps after a scavenge, back to [`THREAD_BYTES`] on a refill).
    limit: Cell<usize>,
    /// Registry link (guarded by `REG_LOCK`).
    next: Cell<*const Cache>,
    /// The life lock: a robust mutex held by the cache's thread from set-up until the cache
    /// is retired (by the thread's exit, or by `reclaim_exited` once the kernel marked it
    /// owner-died). Never moves (a pool record); on nobody's robust list while the record is
    /// in the pool.
    life: UnsafeCell<libc::pthread_mutex_t>,
    /// Whether the cache's thread holds `life` (written before the cache is registered,
    /// and by a `fork` child's only thread).
    tracked: Cell<bool>,
    /// Blocks moved in by the slow paths (refills, central batches) minus blocks moved out
    /// (flushes, central batches), wrapping: with the hit counters it gives the blocks
    /// held ([`sums_of`]) without a counter update per `malloc` or `free`.
    moved: AtomicUsize,
    bytes: AtomicUsize,
    hits_malloc: AtomicU64,
    hits_free: AtomicU64,
    hits_calloc: AtomicU64,
    /// `realloc` served in place without the engine ([`realloc_fast`]).
    hits_realloc: AtomicU64,
    /// Aligned requests served from the cache ([`aligned`]).
    hits_aligned: AtomicU64,
}

impl Cache {
    const fn new() -> Cache {
        Cache {
            state: Cell::new(UNINIT),
            owner: Cell::new(ptr::null()),
            heads: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            locals: [const { Cell::new(ptr::null_mut()) }; CLASSES],
            local_counts: [const { Cell::new(0) }; CLASSES],
            caps: initial_caps(),
            ramps: [const { Cell::new(RAMP_START as u8) }; CLASSES],
            key: Cell::new(0),
            arena: Cell::new(0),
            slot: Cell::new(0),
            contended: Cell::new(0),
            rfirst: [const { Cell::new(ptr::null_mut()) }; ARENAS],
            rlast: [const { Cell::new(ptr::null_mut()) }; ARENAS],
            rcount: [const { Cell::new(0) }; ARENAS],
            rbytes: [const { Cell::new(0) }; ARENAS],
            limit: Cell::new(THREAD_BYTES),
            next: Cell::new(ptr::null()),
            life: UnsafeCell::new(libc::PTHREAD_MUTEX_INITIALIZER),
            tracked: Cell::new(false),
            moved: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            hits_malloc: AtomicU64::new(0),
            hits_free: AtomicU64::new(0),
            hits_calloc: AtomicU64::new(0),
            hits_realloc: AtomicU64::new(0),
            hits_aligned: AtomicU64::new(0),
        }
    }
}

/// Where the threads' caches live (guarded by `REG_LOCK`): a cache outlives its thread's
/// use of it until it is unlinked from the registry, and is then reused by a new thread.
static POOL: RecordPool = RecordPool::new();

/// What a thread's slot ([`thread_slot`]) holds instead of a cache: null before the thread
/// sets one up (or after a set-up that may be retried), [`BUSY_MARK`] while it sets one up,
/// [`DEAD_MARK`] when it will not have one (its cache was retired at thread exit, or its
/// set-up failed for good). Either mark sends every call of the thread to the slow path,
/// which does not set a cache up; any larger value is the thread's active cache.
const BUSY_MARK: *const u8 = ptr::without_provenance(1);
/// See [`BUSY_MARK`].
const DEAD_MARK: *const u8 = ptr::without_provenance(2);

const _: () = assert!(core::mem::align_of::<Cache>() <= crate::record_pool::RECORD_ALIGN);

/// Per-process random key of the cache mark (0 until the first cache is set up).
static KEY: AtomicUsize = AtomicUsize::new(0);
/// The `pthread` key whose destructor returns a thread's cache; its set-up registers the
/// `fork` child hook ([`ensure_tsd_key`]).
static TSD_KEY: OnceKey = OnceKey::new();
static REG_LOCK: FutexLock = FutexLock::new();
static REG_HEAD: AtomicPtr<Cache> = AtomicPtr::new(ptr::null_mut());

#[inline]
fn class_of(bsize: usize) -> usize {
    (bsize - MIN_BLOCK) / ALIGN
}

#[inline]
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

#[inline]
fn add(c: &AtomicUsize, v: usize) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(v), Ordering::Relaxed);
}

#[inline]
fn sub(c: &AtomicUsize, v: usize) {
    c.store(c.load(Ordering::Relaxed).wrapping_sub(v), Ordering::Relaxed);
}

/// The size of the heap block whose payload is `p`, from its header read without the
/// arena's lock ([`load_header`]: the engine may be setting the block's `PREV_ALLOC` bit
/// meanwhile, for a neighbour).
///
/// # Safety
/// `p` must be the payload of a heap block.
#[inline(always)]
pub(crate) unsafe fn block_size_of(p: *const u8) -> usize {
    // SAFETY: the header is the word before the payload.
    unsafe { load_header(p.wrapping_sub(WORD)) & !FLAGS }
}

/// The block size of the heap block at `p` if it looks live: inside a heap of `g`, 16-byte
/// aligned, header allocated with no other flag, at least [`MIN_BLOCK`] bytes, and the next
/// block's header inside the same heap with its `PREV_ALLOC` bit set. `None` sends the
/// pointer to the engine's checks.
///
/// # Safety
/// `p` must be non-null.
#[inline]
unsafe fn live_block(g: &Global, p: *mut u8) -> Option<usize> {
    let end = g.heap_end(p);
    if p as usize % ALIGN != 0 || end == 0 {
        return None;
    }
    // SAFETY: `p` is 16-aligned inside `[start, brk)` of one of `g`'s heaps, so the word
    // before it is inside the heap too (every heap starts with metadata and a prologue).
    let h = unsafe { load_header(p.wrapping_sub(WORD)) };
    let size = h & !FLAGS;
    if h & (FLAGS & !PREV_ALLOC) != ALLOC || size < MIN_BLOCK {
        return None;
    }
    let next = (p as usize - WORD).checked_add(size)?;
    // The next block's header must lie in the same heap (a heap's `brk` only grows, so
    // the `end` read above stays valid).
    if next.checked_add(WORD)? >= end {
        return None;
    }
    // SAFETY: `next` is a word inside the same heap (checked just above).
    let nh = unsafe { load_header(next as *const u8) };
    (nh & PREV_ALLOC != 0).then_some(size)
}

/// The block size of the live small heap block at `p` if it can be cached: a
/// [`live_block`] of a size in the cached range.
///
/// # Safety
/// `p` must be non-null.
#[inline]
unsafe fn cacheable(g: &Global, p: *mut u8) -> Option<usize> {
    // SAFETY: forwarded caller contract.
    unsafe { live_block(g, p) }.filter(|&size| size <= MAX_CACHED_BLOCK)
}

/// [`cacheable`] with the same checks in fewer instructions and no call, for a pointer of
/// the heap whose published `brk` is `end` (0: no heap, `None`): the block size and its
/// class.
///
/// # Safety
/// `p` must be non-null, and `end` 0 or the published `brk` of a heap whose
/// `[start, brk)` contains `p`.
#[inline(always)]
unsafe fn cacheable_in(p: *mut u8, end: usize) -> Option<(usize, usize)> {
    let a = p as usize;
    if end == 0 || a % ALIGN != 0 {
        return None;
    }
    // SAFETY: `p` is 16-aligned inside `[start, brk)` of a heap: the word before it is
    // inside the heap too (see `live_block`).
    let h = unsafe { load_header(p.wrapping_sub(WORD)) } & !PREV_ALLOC;
    // Allocated, no other flag, and a size in the cached range, in one comparison: a flag
    // left in the low bits of `size - MIN_BLOCK` rotates to the top (a huge "class").
    let size = h ^ ALLOC;
    let k = size
        .wrapping_sub(MIN_BLOCK)
        .rotate_right(ALIGN.trailing_zeros());
    if k >= CLASSES {
        return None;
    }
    // The next block's header (at `a - WORD + size`) must lie in the same heap: `a + size
    // < end` (no overflow: `a < end`).
    if size >= end - a {
        return None;
    }
    // SAFETY: the next block's header is a word inside the same heap (checked just above).
    let nh = unsafe { load_header((a - WORD + size) as *const u8) };
    (nh & PREV_ALLOC != 0).then_some((size, k))
}

/// The cache mark of a cached block at `p` whose link (word 0) is `next`, for the key
/// `key`: word 1 of the block. Binding the link into the mark makes a write after free over
/// either word visible before the link is followed.
#[inline(always)]
fn mark(key: usize, p: *const u8, next: *const u8) -> usize {
    key ^ p as usize ^ next as usize
}

/// Links the cached block `p` to `next` (word 0) and writes its mark (word 1).
///
/// # Safety
/// `p` must be the payload of a small heap block (two words) that the caller owns as a
/// cached block (not live for the program, on no list another thread reads).
#[inline(always)]
pub(crate) unsafe fn set_link(key: usize, p: *mut u8, next: *mut u8) {
    // SAFETY: forwarded caller contract.
    unsafe {
        (p as *mut *mut u8).write(next);
        (p as *mut usize).add(1).write(mark(key, p, next));
    }
}

/// The link (word 0) of `p` if `p` carries its cache mark for `key`; `None` for a block that
/// is not cached or whose link or mark was overwritten (a write after free).
///
/// # Safety
/// `p` must be the payload of a heap block of at least [`MIN_BLOCK`] bytes (two words).
#[inline(always)]
unsafe fn link_of(key: usize, p: *const u8) -> Option<*mut u8> {
    // SAFETY: forwarded caller contract.
    let (next, m) = unsafe {
        (
            (p as *const *mut u8).read(),
            (p as *const usize).add(1).read(),
        )
    };
    (m == mark(key, p, next)).then_some(next)
}

/// Whether the small heap block at `p` carries the cache mark, i.e. sits in some thread's
/// cache (a `free` of it is a double free).
///
/// # Safety
/// `p` must be a 16-aligned payload of a heap block of at least [`MIN_BLOCK`] bytes.
#[inline]
pub unsafe fn is_cached(p: *const u8) -> bool {
    let k = KEY.load(Ordering::Relaxed);
    // SAFETY: forwarded caller contract: payloads of cached sizes hold at least two words.
    k != 0 && unsafe { link_of(k, p) }.is_some()
}

/// The cache a value of the calling thread's slot names: `None` for null and the marks.
#[inline(always)]
fn cache_in(p: *const u8) -> Option<&'static Cache> {
    if p as usize <= DEAD_MARK as usize {
        return None;
    }
    // SAFETY: a slot value above the marks is this thread's active cache (set in `setup`,
    // replaced by `DEAD_MARK` before the cache is retired at thread exit); a pool record
    // is never unmapped.
    Some(unsafe { &*(p as *const Cache) })
}

/// The calling thread's active cache, whatever its owner.
#[inline(always)]
fn slot_cache() -> Option<&'static Cache> {
    cache_in(thread_slot::get())
}

/// The calling thread's cache if it is active for `g` (setting it up on first use).
/// The reference is only used within the calling allocator operation, on this thread.
#[inline]
fn current(g: &'static Global) -> Option<&'static Cache> {
    let p = thread_slot::get();
    if p.is_null() {
        return setup(g);
    }
    cache_in(p).filter(|c| ptr::eq(c.owner.get(), g))
}

/// Sets up the calling thread's cache for `g` (its slot is null): the cache if it is
/// active for `g`. Leaves the slot null when a later call may succeed (`g` does not cache,
/// the `pthread` key is being created by another thread, no memory), [`DEAD_MARK`] when
/// none will.
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn setup(g: &'static Global) -> Option<&'static Cache> {
    if !g.caching_policy() || !thread_slot::init() {
        return None;
    }
    // The calls below (`pthread_atfork`, `pthread_setspecific` of a late key, `mmap`) may
    // allocate: those calls of this thread take the slow path.
    thread_slot::set(BUSY_MARK);
    let (slot, c) = match new_cache(g) {
        Ok(c) => (c as *const Cache as *const u8, Some(c)),
        Err(Retry::Later) => (ptr::null(), None),
        Err(Retry::Never) => (DEAD_MARK, None),
    };
    thread_slot::set(slot);
    c
}

/// A new active cache of `g` for the calling thread, registered and bound to the thread's
/// exit.
fn new_cache(g: &'static Global) -> Result<&'static Cache, Retry> {
    if KEY.load(Ordering::Acquire) == 0 {
        let k = random_key();
        let _ = KEY.compare_exchange(0, k, Ordering::AcqRel, Ordering::Acquire);
    }
    let key = ensure_tsd_key()? as libc::pthread_key_t;
    // Caches of threads that ended without retiring them go back first (their records may
    // serve this one).
    reclaim_exited(RECLAIM_SCAN);
    let rec = {
        let _r = LockGuard::new(&REG_LOCK);
        // SAFETY: `REG_LOCK` guards the pool; every record is a `Cache`.
        unsafe { POOL.take(core::mem::size_of::<Cache>()) }
    }
    .ok_or(Retry::Later)?;
    let p = rec.as_ptr() as *mut Cache;
    // SAFETY: a pool record is writable, big enough and aligned for a `Cache` (see the
    // assertion on `RECORD_ALIGN`), and unused by anyone else.
    unsafe { p.write(Cache::new()) };
    // SAFETY: just initialised; pool records are never unmapped, and this one is used by
    // this thread only until it is given back at thread exit.
    let c: &'static Cache = unsafe { &*p };
    // SAFETY: `key` is a created key; the value is this thread's cache, which stays valid
    // until the key's destructor retires it.
    if unsafe { libc::pthread_setspecific(key, p as *const libc::c_void) } != 0 {
        let _r = LockGuard::new(&REG_LOCK);
        // SAFETY: `REG_LOCK` held; the record came from this pool and is unused.
        unsafe { POOL.give(rec) };
        return Err(Retry::Never);
    }
    let arena = g.attach_arena();
    c.arena.set(arena);
    c.slot.set(arena * crate::global::MAX_HEAPS);
    c.owner.set(g);
    c.key.set(KEY.load(Ordering::Acquire));
    // Without a life lock (no robust list) the cache works as well; only its retirement
    // then depends on the key's destructor.
    c.tracked.set(hold_life(c));
    c.state.set(ACTIVE);
    {
        let _r = LockGuard::new(&REG_LOCK);
        c.next.set(REG_HEAD.load(Ordering::Relaxed));
        REG_HEAD.store(p, Ordering::Release);
    }
    Ok(c)
}

/// Whether the kernel keeps robust lists (`get_robust_list` succeeds), i.e. will mark a
/// thread's robust mutexes owner-died when it ends (glibc registers each thread's list at
/// its start, musl at its first robust lock). Not under `qemu-user`, which answers
/// `ENOSYS` (glibc's robust mutexes then lock as plain ones, and a life lock would never
/// tell anything). Asked once per process (a property of the kernel, or of the emulator):
/// the system call was most of what the life lock added to a thread's start.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn robust_list_works() -> bool {
    /// 0: not asked yet; 1: yes; 2: no.
    static ANSWER: AtomicU8 = AtomicU8::new(0);
    match ANSWER.load(Ordering::Relaxed) {
        1 => return true,
        2 => return false,
        _ => {}
    }
    let works = ask_robust_list();
    ANSWER.store(if works { 1 } else { 2 }, Ordering::Relaxed);
    works
}

/// `get_robust_list` for the calling thread: whether it succeeds.
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn ask_robust_list() -> bool {
    let mut head: *mut libc::c_void = ptr::null_mut();
    let mut len: libc::size_t = 0;
    let _errno = crate::sys::ErrnoGuard::new();
    // SAFETY: `get_robust_list(0, ...)` writes the calling thread's registration into the
    // two out-pointers and changes nothing else.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_robust_list,
            0 as libc::c_long,
            &mut head as *mut *mut libc::c_void,
            &mut len as *mut libc::size_t,
        )
    };
    rc == 0
}

/// Initialises `c`'s life lock as a robust mutex and takes it for the calling thread:
/// whether it is held (never when the kernel keeps no robust list for the thread).
/// Allocates nothing.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn hold_life(c: &Cache) -> bool {
    if !robust_list_works() {
        return false;
    }
    let m = c.life.get();
    let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `attr` is a valid out-pointer, initialised before it is used and destroyed
    // after; `m` is the cache's mutex, on no thread's robust list (a new record or one
    // whose lock was released before it went back to the pool, or a `fork` child's, whose
    // robust list glibc emptied) and used by nobody else yet, so it may be initialised.
    unsafe {
        if libc::pthread_mutexattr_init(attr.as_mut_ptr()) != 0 {
            return false;
        }
        let ok = libc::pthread_mutexattr_setrobust(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_ROBUST)
            == 0
            && libc::pthread_mutex_init(m, attr.as_ptr()) == 0
            && libc::pthread_mutex_trylock(m) == 0;
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
        ok
    }
}

/// Releases `c`'s life lock, held by the calling thread (the cache's own at its exit, or
/// the reclaimer that took it over): it leaves the caller's robust list, so the record can
/// go back to the pool. Called with `REG_LOCK` held, after `c` left the registry.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn release_life(c: &Cache) {
    if !c.tracked.get() {
        return;
    }
    c.tracked.set(false);
    let m = c.life.get();
    // SAFETY: `m` is an initialised robust mutex the calling thread holds (see above);
    // `consistent` only applies to one taken over with `EOWNERDEAD` (an error otherwise,
    // ignored), and makes the unlock leave it usable.
    unsafe {
        libc::pthread_mutex_consistent(m);
        libc::pthread_mutex_unlock(m);
    }
}

/// Registry entries a cache set-up examines for caches of exited threads
/// (`reclaim_exited`). With `n` examined per set-up, the caches of exited threads that
/// wait for reclamation stay below `live / (n - 1)` (plus `n`): each set-up adds at most
/// one, and each sweep of the registry finds them all.
pub const RECLAIM_SCAN: usize = 8;

/// Where the next scan of [`reclaim_exited`] starts (null: at the registry's head; guarded
/// by `REG_LOCK`, moved past an entry that leaves the registry).
static REG_CURSOR: AtomicPtr<Cache> = AtomicPtr::new(ptr::null_mut());

/// Retires the caches whose threads ended without retiring them (see the life lock, in the
/// module's invariants) among the next `budget` registry entries, from where the previous
/// scan stopped (wrapping at the end); returns how many. Takes no lock but `REG_LOCK`
/// while it scans, and the retired caches' owners' locks as their blocks go back.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn reclaim_exited(budget: usize) -> usize {
    let mut left = budget;
    let mut n = 0;
    while let Some(c) = find_exited(&mut left) {
        retire(c);
        n += 1;
    }
    n
}

/// The next registry entry, among at most `*left` more examined, whose thread ended with
/// its cache still registered: its life lock is then held by the calling thread (taken
/// over from the dead owner), so no other scan can take it.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn find_exited(left: &mut usize) -> Option<&'static Cache> {
    let _r = LockGuard::new(&REG_LOCK);
    let head = REG_HEAD.load(Ordering::Relaxed) as *const Cache;
    let mut cur = REG_CURSOR.load(Ordering::Relaxed) as *const Cache;
    let mut found = None;
    while *left > 0 {
        if cur.is_null() {
            cur = head;
            if cur.is_null() {
                break;
            }
        }
        *left -= 1;
        // SAFETY: registry entries (and the cursor, moved off an entry as it leaves) are
        // registered caches, read with the registry lock held.
        let e: &'static Cache = unsafe { &*cur };
        cur = e.next.get();
        if !e.tracked.get() {
            continue;
        }
        // SAFETY: a tracked entry's life lock is an initialised robust mutex. `trylock`
        // never blocks: `EBUSY` while its thread (or another scan) holds it.
        match unsafe { libc::pthread_mutex_trylock(e.life.get()) } {
            libc::EOWNERDEAD => {
                found = Some(e);
                break;
            }
            0 => {
                // Not held (never so for a registered entry): leave it as it was.
                // SAFETY: just taken by this thread.
                unsafe { libc::pthread_mutex_unlock(e.life.get()) };
            }
            _ => {}
        }
    }
    REG_CURSOR.store(cur as *mut Cache, Ordering::Relaxed);
    found
}

/// Retires all caches of exited threads (for a trim): every registry entry is examined.
pub fn reclaim_all_exited() -> usize {
    let entries = {
        let _r = LockGuard::new(&REG_LOCK);
        let mut n = 0;
        let mut cur = REG_HEAD.load(Ordering::Relaxed) as *const Cache;
        while !cur.is_null() {
            n += 1;
            // SAFETY: a registry entry, read with the registry lock held.
            cur = unsafe { &*cur }.next.get();
        }
        n
    };
    reclaim_exited(entries)
}

fn random_key() -> usize {
    // SAFETY: getauxval has no preconditions; AT_RANDOM points at 16 random bytes the
    // kernel placed on the initial stack, readable for the life of the process.
    let r = unsafe { libc::getauxval(libc::AT_RANDOM) } as *const u8;
    let mut k = 0x9e37_79b9_7f4a_7c15u64 as usize ^ (&KEY as *const AtomicUsize as usize);
    if !r.is_null() {
        // SAFETY: see above: 16 readable bytes (we read 8, unaligned).
        k ^= unsafe { (r.add(8) as *const usize).read_unaligned() };
    }
    k | 1
}

/// The `pthread` key, created once per process along with the `fork` child hook's
/// registration ([`OnceKey`]: [`Retry::Later`] while another thread of the process, or this
/// one re-entered through an allocation, sets them up).
fn ensure_tsd_key() -> Result<usize, Retry> {
    TSD_KEY.get(Some(thread_exit), |_| {
        fork::register_child_hook(fork_child);
        true
    })
}

/// The class of a request of `size` bytes (`size <= MAX_CACHED_BLOCK - WORD`): the class
/// of `block_size_for(size)`, without its overflow check.
#[inline(always)]
fn class_of_request(size: usize) -> usize {
    (size + WORD)
        .div_ceil(ALIGN)
        .saturating_sub(MIN_BLOCK / ALIGN)
}

/// Usable bytes of the block the caches serve a `size`-byte request with (its class's
/// block size less the header word; every block on a class's lists has the class's size):
/// what `calloc` clears, as glibc clears a whole chunk. `size` must be a cached size
/// (at most `MAX_CACHED_BLOCK - WORD`).
#[inline(always)]
pub fn cached_usable(size: usize) -> usize {
    MIN_BLOCK + class_of_request(size) * ALIGN - WORD
}

/// The arena of the calling thread's active cache for `g`, 0 without one (never sets a
/// cache up).
pub(crate) fn current_arena(g: &'static Global) -> usize {
    match slot_cache() {
        Some(c) if ptr::eq(c.owner.get(), g) => c.arena.get(),
        _ => 0,
    }
}

/// The calling thread's cache if it is set up, active and owned by `g` (and `g` caches):
/// the fast paths' lookup, one TLS load and two compares; `None` sends them to the slow
/// paths, which set a cache up.
#[inline(always)]
fn active_cache(g: &'static Global) -> Option<&'static Cache> {
    if !g.thread_cache() {
        return None;
    }
    let c = slot_cache()?;
    ptr::eq(c.owner.get(), g).then_some(c)
}

/// The fast path of `malloc` (and of `calloc` when `CALLOC`; the caller clears the block):
/// pops the head of the request's class from the calling thread's active cache. `None`
/// whenever anything is out of the ordinary (not a cached size, no active cache for `g`,
/// an empty class, a head whose cache mark is wrong): the caller then takes [`malloc`],
/// which handles (and reports) each case. Calls nothing.
#[inline(always)]
pub fn malloc_fast<const CALLOC: bool>(g: &'static Global, size: usize) -> Option<*mut u8> {
    if size > MAX_CACHED_BLOCK - WORD {
        return None;
    }
    let c = active_cache(g)?;
    let k = class_of_request(size);
    let head = c.heads.get(k)?;
    let p = head.get();
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` heads a cached list: a block of at least `MIN_BLOCK` bytes, header before
    // it, link in word 0, mark in word 1. The mark (which binds the link) is checked before
    // the link is followed (hardening, issue 6 case 8; the slow path reports a wrong one).
    unsafe {
        let next = link_of(c.key.get(), p)?;
        head.set(next);
        (p as *mut usize).add(1).write(0);
    }
    // Every block of class `k`'s lists has the class's block size (no header load).
    sub(&c.bytes, MIN_BLOCK + k * ALIGN);
    bump(if CALLOC {
        &c.hits_calloc
    } else {
        &c.hits_malloc
    });
    Some(p)
}

/// Serves a request of `size` bytes from the calling thread's cache (setting the cache up
/// and refilling the class from the engine as needed): the slow half of [`malloc_fast`].
/// `None`: not a cached size, cache unavailable, a corrupted list (reported), or the engine
/// has no memory (the caller takes its slow path). `calloc` says which counter the request
/// goes to (the caller clears the block).
#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn malloc(g: &'static Global, size: usize, calloc: bool) -> Option<*mut u8> {
    if size > MAX_CACHED_BLOCK - WORD {
        return None;
    }
    let bsize = block_size_for(size)?;
    let k = class_of(bsize);
    let c = current(g)?;
    let head = c.heads.get(k)?;
    let mut p = head.get();
    if p.is_null() {
        p = refill(g, c, k, size)?;
    }
    // A write after free over the block's first words (link and mark) is caught
    // here, before the link is followed (hardening, issue 6 case 8).
    // SAFETY: `p` is a cached block: at least two payload words.
    let Some(next) = (unsafe { link_of(c.key.get(), p) }) else {
        g.report_misuse(ErrorKind::CorruptFreeBlock, p, 0);
        return None;
    };
    // SAFETY: `p` is a cached block of at least `bsize` bytes: word 1 holds the mark
    // (cleared as it is handed out).
    unsafe {
        head.set(next);
        (p as *mut usize).add(1).write(0);
        let bs = block_size_of(p);
        sub(&c.bytes, bs);
    }
    bump(if calloc {
        &c.hits_calloc
    } else {
        &c.hits_malloc
    });
    Some(p)
}

/// Largest alignment [`aligned`] serves from the caches (above it, one block in 16 or fewer
/// of a class would do).
pub const MAX_CACHED_ALIGN: usize = 128;

/// Most free-list blocks [`aligned`] looks at.
pub const ALIGNED_SCAN: usize = 8;

/// Serves `size` bytes aligned to `align` (`ALIGN < align <= MAX_CACHED_ALIGN`) from the
/// calling thread's cache: the first of the first [`ALIGNED_SCAN`] blocks of the request's
/// class free list whose payload is aligned (one in `align / 16` blocks is, on average),
/// refilling an empty list first. When none is, those blocks go back to the engine, so that
/// a run of aligned requests drains the unaligned blocks and the class refills from its
/// freed (aligned) ones; the caller then takes the engine's aligned path. Every mark is
/// checked before its link is followed, as in [`malloc`]. `None`: not served here.
#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn aligned(g: &'static Global, align: usize, size: usize) -> Option<*mut u8> {
    if size > MAX_CACHED_BLOCK - WORD || align > MAX_CACHED_ALIGN || !align.is_power_of_two() {
        return None;
    }
    let c = current(g)?;
    let k = class_of_request(size);
    let head = c.heads.get(k)?;
    if head.get().is_null() {
        refill(g, c, k, size)?;
    }
    let key = c.key.get();
    // The block before `p` on the list (null: `p` is the head).
    let mut prev: *mut u8 = ptr::null_mut();
    let mut p = head.get();
    for _ in 0..ALIGNED_SCAN {
        if p.is_null() {
            break;
        }
        // SAFETY: `p` is on a cached list (non-null): at least two payload words.
        let Some(next) = (unsafe { link_of(key, p) }) else {
            g.report_misuse(ErrorKind::CorruptFreeBlock, p, 0);
            return None;
        };
        if p as usize % align == 0 {
            if prev.is_null() {
                head.set(next);
            } else {
                // SAFETY: `prev` is the cached block before `p` on this thread's list.
                unsafe { set_link(key, prev, next) };
            }
            // SAFETY: `p`'s word 1 is its mark, cleared as it is handed out; its header
            // precedes it.
            unsafe {
                (p as *mut usize).add(1).write(0);
                sub(&c.bytes, block_size_of(p));
            }
            bump(&c.hits_aligned);
            return Some(p);
        }
        prev = p;
        p = next;
    }
    flush_list(c, k, head, None, ALIGNED_SCAN);
    None
}

#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn refill(g: &'static Global, c: &Cache, k: usize, size: usize) -> Option<*mut u8> {
    if c.limit.get() != THREAD_BYTES && c.bytes.load(Ordering::Relaxed) < THREAD_BYTES / 2 {
        c.limit.set(THREAD_BYTES);
    }
    let head = c.heads.get(k)?;
    let (local, local_count) = (c.locals.get(k)?, c.local_counts.get(k)?);
    // Blocks other arenas' threads freed for this arena come back first (they would
    // otherwise wait while the arena grows).
    if collect(g, c) > 0 && !head.get().is_null() {
        return Some(head.get());
    }
    let batch = batch_of(k);
    if local_count.get() as usize >= batch {
        // The blocks this thread freed become the free list (they stay cached: no counter
        // changes). Below a batch they wait, so a just-freed block is not reused at once.
        head.set(local.replace(ptr::null_mut()));
        local_count.set(0);
        if let Some(cap) = c.caps.get(k) {
            cap.set(cap_of(k) as u32);
        }
        return Some(head.get());
    }
    if let Some((first, bytes)) = central_pop(g, k) {
        // The class was empty: the batch (`batch` linked, marked blocks) becomes its list.
        head.set(first);
        add(&c.moved, batch);
        add(&c.bytes, bytes);
        return Some(first);
    }
    // The engine may hand out a block up to `MIN_BLOCK - ALIGN` bytes larger than asked
    // (a remainder too small to be a block stays with it). Such a block goes on the free
    // list of its own class, so that every block of a class's lists has the class's size
    // (`malloc_fast` takes that size off `bytes` without loading the header); one larger
    // than any class goes back to the engine once its lock is released.
    let mut oversize: *mut u8 = ptr::null_mut();
    let carve = c.ramps.get(k).map_or(batch, |r| {
        let n = (r.get() as usize).min(batch);
        r.set((2 * n).min(batch) as u8);
        n
    });
    let (got, contended) = g.refill(c.arena.get(), size, carve, |p| {
        // SAFETY: `p` is a fresh allocated block of at least `size` (>= two words) bytes,
        // its header before it.
        let k = class_of(unsafe { block_size_of(p) });
        match c.heads.get(k) {
            // SAFETY: as above.
            Some(list) => unsafe { push(c, list, None, p) },
            None => {
                // SAFETY: as above; the chain is this call's own.
                unsafe { set_link(c.key.get(), p, oversize) };
                oversize = p;
            }
        }
    });
    contention(g, c, contended);
    add(&c.moved, got);
    if !oversize.is_null() {
        let n = drain_chain(g, oversize);
        sub(&c.moved, n as usize);
    }
    if got == 0 {
        if !local.get().is_null() {
            // Out of memory, but this thread holds freed blocks of the class: use them.
            head.set(local.replace(ptr::null_mut()));
            local_count.set(0);
            return Some(head.get());
        }
        // Out of memory: give everything back, so the slow path may find it.
        flush_all(c);
        return None;
    }
    let p = head.get();
    (!p.is_null()).then_some(p)
}

/// # Safety
/// `p` must be an allocated small heap block of the cache's owner, not cached.
#[inline]
unsafe fn push(c: &Cache, head: &Cell<*mut u8>, count: Option<&Cell<u32>>, p: *mut u8) {
    // SAFETY: the block's header precedes `p`; its payload holds at least two words; the
    // caller hands it to this cache.
    unsafe {
        let bs = block_size_of(p);
        set_link(c.key.get(), p, head.get());
        add(&c.bytes, bs);
    }
    head.set(p);
    if let Some(count) = count {
        count.set(count.get() + 1);
    }
}

/// Most usable bytes a block may have beyond the request for [`realloc_fast`] to keep it
/// when the request is less than half the usable size (a shrink to far less goes to the
/// engine, which splits the block).
pub const REALLOC_SLACK: usize = 128;

/// The fast path of `realloc`: when the calling thread has an active cache for `g` (so
/// the policy is the default one and no layer is on) and `p` is a live heap block of `g`
/// whose usable size already holds `size` bytes (and is not much larger), the block stays
/// where it is: `Some(p)`, without a lock or an engine call. `None` sends the caller to its
/// slow path (a block to grow or shrink, a large block, or anything out of the ordinary,
/// including a block in a cache: the slow path reports the use after free).
///
/// # Safety
/// `p` must be non-null and either a live block of `g` or a misuse the checks catch.
#[inline]
pub unsafe fn realloc_fast(g: &'static Global, p: *mut u8, size: usize) -> Option<*mut u8> {
    if size == 0 {
        return None;
    }
    // SAFETY: forwarded caller contract (`p` non-null).
    let (c, bsize) = unsafe { live_uncached(g, p) }?;
    let usable = bsize - WORD;
    if size > usable || (usable - size > REALLOC_SLACK && size < usable / 2) {
        return None;
    }
    bump(&c.hits_realloc);
    Some(p)
}

/// The fast path of `malloc_usable_size`: the usable bytes of `p` when it is a live heap
/// block of `g` (the same lock-free checks as [`realloc_fast`]: inside a heap, an
/// allocated header, the next header's `PREV_ALLOC` bit) and carries no cache mark, read
/// without the arena's lock. `None` otherwise (no active cache for `g`, so perhaps another
/// policy's block format; a large block; anything out of the ordinary): the caller takes
/// the locked path, which reports a misuse. Programs that account their memory with
/// `malloc_usable_size` on every `malloc` and `free` (redis) call it as often as those.
///
/// # Safety
/// `p` must be non-null and either a live block of `g` or a misuse the checks catch.
#[inline]
pub unsafe fn usable_size_fast(g: &'static Global, p: *const u8) -> Option<usize> {
    // SAFETY: forwarded caller contract (`p` non-null).
    unsafe { live_uncached(g, p as *mut u8) }.map(|(_, bsize)| bsize - WORD)
}

/// The calling thread's active cache for `g` and the block size of `p`, when `p` is a
/// [`live_block`] of `g` that carries no cache mark (a marked one is a use after free, which
/// the caller's locked path reports). The shared checks of [`realloc_fast`] and
/// [`usable_size_fast`].
///
/// # Safety
/// `p` must be non-null.
#[inline(always)]
unsafe fn live_uncached(g: &'static Global, p: *mut u8) -> Option<(&'static Cache, usize)> {
    let c = active_cache(g)?;
    // SAFETY: forwarded caller contract.
    let bsize = unsafe { live_block(g, p) }?;
    // SAFETY: a live block of at least `MIN_BLOCK` bytes: its payload holds two words.
    unsafe { link_of(c.key.get(), p) }
        .is_none()
        .then_some((c, bsize))
}

/// The fast path of `free`: pushes `p` on its class's local list in the calling thread's
/// active cache; `true` when done. `false` whenever anything is out of the ordinary (no
/// active cache for `g`, not a small heap block of `g`, already marked as cached): the
/// caller then takes [`free`], which handles (and reports) each case. Calls nothing but
/// the cold `overflow` when the list or the cache is over its bound.
///
/// # Safety
/// `p` must be non-null and either a live block of `g` or a misuse the checks catch.
#[inline(always)]
pub unsafe fn free_fast(g: &'static Global, p: *mut u8) -> bool {
    let Some(c) = active_cache(g) else {
        return false;
    };
    let end = g.slot_end(c.slot.get(), p);
    if end == 0 {
        // SAFETY: forwarded caller contract.
        return unsafe { free_other(g, c, p) };
    }
    // SAFETY: `p` is non-null (caller contract); `end` is the end of the heap holding it.
    let Some((bsize, k)) = (unsafe { cacheable_in(p, end) }) else {
        return false;
    };
    // SAFETY: `p` passed the checks: a live-looking small block of the cache's arena.
    unsafe { push_local(c, p, bsize, k) }
}

/// [`free_fast`] for a block outside the first heap of the thread's arena: a block of
/// another arena (freed by another thread than the one that allocated it) goes to the
/// cache's remote buffer for that arena, a block of another heap of the thread's arena to
/// its local list. `false`: the slow path takes it (and reports what is wrong).
///
/// # Safety
/// As [`free_fast`].
#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
unsafe fn free_other(g: &'static Global, c: &Cache, p: *mut u8) -> bool {
    let Some((slot, end)) = g.span_of(p) else {
        return false;
    };
    // SAFETY: `p` is non-null; `end` is the end of the heap holding it.
    let Some((bsize, k)) = (unsafe { cacheable_in(p, end) }) else {
        return false;
    };
    let a = slot / crate::global::MAX_HEAPS;
    if a == c.arena.get() {
        // SAFETY: a live-looking small block of the cache's arena.
        return unsafe { push_local(c, p, bsize, k) };
    }
    // SAFETY: `p` is a payload of a block of `bsize >= MIN_BLOCK` bytes: two words.
    if unsafe { link_of(c.key.get(), p) }.is_some() {
        return false; // a double free: reported by the slow path
    }
    // SAFETY: a live small block of arena `a`, not cached (mark checked just above).
    unsafe { remote_free(g, c, a, p, bsize) };
    true
}

/// Pushes `p` (block size `bsize`, class `k`) on its class's local list unless it carries
/// the cache mark (`false`: a double free, reported by the slow path).
///
/// # Safety
/// `p` must have passed [`cacheable_in`] for a heap of the cache's arena.
#[inline(always)]
unsafe fn push_local(c: &Cache, p: *mut u8, bsize: usize, k: usize) -> bool {
    let key = c.key.get();
    // SAFETY: `p` is the payload of a live-looking block of `bsize >= MIN_BLOCK` bytes: two
    // words readable.
    if unsafe { link_of(key, p) }.is_some() {
        return false; // a double free: reported by the slow path
    }
    let (Some(local), Some(count), Some(cap)) =
        (c.locals.get(k), c.local_counts.get(k), c.caps.get(k))
    else {
        return false;
    };
    // SAFETY: `p` passed `cacheable` and is not cached: a live small block of the owner,
    // handed to this cache.
    unsafe { set_link(key, p, local.get()) };
    local.set(p);
    let n = count.get() + 1;
    count.set(n);
    bump(&c.hits_free);
    let bytes = c.bytes.load(Ordering::Relaxed).wrapping_add(bsize);
    c.bytes.store(bytes, Ordering::Relaxed);
    if n > cap.get() || bytes > c.limit.get() {
        overflow(c, k);
    }
    true
}

/// A `free` left class `k`'s local list over its cap (give a batch back) or the cache over
/// its byte limit (scavenge the other classes).
#[cold]
#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn overflow(c: &Cache, k: usize) {
    let (Some(local), Some(count), Some(cap)) =
        (c.locals.get(k), c.local_counts.get(k), c.caps.get(k))
    else {
        return;
    };
    if count.get() > cap.get() {
        flush_list(c, k, local, Some(count), batch_of(k));
    } else if c.bytes.load(Ordering::Relaxed) > c.limit.get() {
        scavenge(c, k);
    }
}

/// Takes `p` into the calling thread's cache if it is a small heap block of `g`; `true`
/// when done (or when a double free was reported). `false`: the caller takes its slow path.
/// The slow half of [`free_fast`] (sets the cache up, reports a double free).
///
/// # Safety
/// `p` must be non-null and either a live block of `g` or a misuse the checks catch.
#[inline(never)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe fn free(g: &'static Global, p: *mut u8) -> bool {
    // SAFETY: `p` is non-null (caller contract).
    let Some(bsize) = (unsafe { cacheable(g, p) }) else {
        return false;
    };
    // SAFETY: `p` is a payload of a block of `bsize >= MIN_BLOCK` bytes.
    if unsafe { is_cached(p) } {
        g.report_double_free(p);
        return true;
    }
    let k = class_of(bsize);
    let Some(c) = current(g) else {
        return false;
    };
    match g.arena_of_ptr(p) {
        Some(a) if a != c.arena.get() => {
            // SAFETY: `p` passed `cacheable` and is not cached: a live small block of arena
            // `a` of the owner.
            unsafe { remote_free(g, c, a, p, bsize) };
            return true;
        }
        _ => {}
    }
    let (Some(local), Some(count)) = (c.locals.get(k), c.local_counts.get(k)) else {
        return false;
    };
    // SAFETY: `p` passed `cacheable`: a live small block of the owner.
    unsafe { push(c, local, Some(count), p) };
    bump(&c.hits_free);
    overflow(c, k);
    true
}

/// For [`Global::free`] with the caches turned off after some were set up: reports `p` as
/// a double free if it is a small heap block of `g` sitting in a cache (a thread's lists
/// or buffers, a central list, a remote stack), and returns `true` (the caller leaves the
/// block alone: the engine, for which it is allocated, would free it under the cache);
/// `false` otherwise.
///
/// # Safety
/// `p` must be non-null and either a live block of `g` or a misuse the checks catch.
#[cold]
#[inline(never)]
pub unsafe fn free_cached(g: &'static Global, p: *mut u8) -> bool {
    // (`is_cached` is false while no cache was ever set up: no key.)
    // SAFETY: `p` is non-null (caller contract); a cacheable block has two payload words.
    if unsafe { cacheable(g, p) }.is_some() && unsafe { is_cached(p) } {
        g.report_double_free(p);
        return true;
    }
    false
}

/// Returns up to `n` blocks of class `k`'s list at `head` (the class's free list, or its
/// local list of length `count`) to the owner.
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn flush_list(c: &Cache, k: usize, head: &Cell<*mut u8>, count: Option<&Cell<u32>>, n: usize) {
    // SAFETY: only the owner's cache reaches here.
    let g = unsafe { &*c.owner.get() };
    let len = count.map_or(0, Cell::get);
    let key = c.key.get();
    if n == batch_of(k) && len as usize >= n {
        if let Some(bytes) = central_push(g, head, k, n, key) {
            if let Some(count) = count {
                count.set(len - n as u32);
            }
            sub(&c.moved, n);
            sub(&c.bytes, bytes);
            return;
        }
    }
    let mut taken = 0;
    let mut bytes = 0;
    let mut corrupt = ptr::null_mut();
    g.drain(|| {
        if taken == n {
            return None;
        }
        let p = head.get();
        if p.is_null() {
            return None;
        }
        // A write after free over the link or the mark is caught before the link is
        // followed; the rest of the list is left (leaked), as a corrupted list is.
        // SAFETY: `p` is on a cached list: a block of two payload words at least.
        let Some(next) = (unsafe { link_of(key, p) }) else {
            corrupt = p;
            head.set(ptr::null_mut());
            return None;
        };
        // SAFETY: `p` is a cached block: word 1 is its mark, the header precedes it.
        unsafe {
            head.set(next);
            (p as *mut usize).add(1).write(0);
            bytes += block_size_of(p);
        }
        taken += 1;
        Some(p)
    });
    if let Some(count) = count {
        // (A corrupted list was cut at its head: it is empty.)
        count.set(if corrupt.is_null() {
            count.get().saturating_sub(taken as u32)
        } else {
            0
        });
    }
    if !corrupt.is_null() {
        // Reported once `drain` released the arena's lock (the report takes a lock).
        g.report_misuse(ErrorKind::CorruptFreeBlock, corrupt, 0);
    }
    sub(&c.moved, taken);
    sub(&c.bytes, bytes);
}

/// The cache holds more than its limit ([`THREAD_BYTES`] normally): the local lists of
/// the other classes that grew past two batches give their excess back (to a central list or
/// the engine, where the blocks coalesce and serve any size). The limit is then raised
/// above what is left, so that classes keeping their blocks do not scavenge on every
/// `free` (it returns to [`THREAD_BYTES`] on a refill once the cache has shrunk).
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn scavenge(c: &Cache, k: usize) {
    for j in (0..CLASSES).filter(|&j| j != k) {
        if let (Some(head), Some(count)) = (c.locals.get(j), c.local_counts.get(j)) {
            let (n, floor) = (count.get() as usize, floor_of(j));
            if n > floor {
                flush_list(c, j, head, Some(count), n - floor);
            }
        }
    }
    let now = c.bytes.load(Ordering::Relaxed);
    c.limit.set(THREAD_BYTES.max(now + THREAD_BYTES / 2));
}

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn flush_all(c: &Cache) {
    if c.owner.get().is_null() {
        return;
    }
    // SAFETY: an active cache has a live (static) owner.
    let g = unsafe { &*c.owner.get() };
    for a in 0..ARENAS {
        remote_flush(g, c, a, true);
    }
    for k in 0..CLASSES {
        if let Some(head) = c.heads.get(k) {
            flush_list(c, k, head, None, usize::MAX);
        }
        if let (Some(head), Some(count)) = (c.locals.get(k), c.local_counts.get(k)) {
            flush_list(c, k, head, Some(count), usize::MAX);
        }
    }
}

/// Returns the calling thread's cached blocks to their owner (before a trim or a check).
pub fn flush_current() {
    if let Some(c) = slot_cache() {
        flush_all(c);
    }
}

/// Verifies the calling thread's cache, if `g` owns it, before [`Global::check`] flushes
/// it to the engine: every block on a class's free or local list carries its cache mark
/// (checked before its link is followed), looks live to the engine (as `live_block` checks: inside a
/// heap of `g`, allocated header, the next header's `PREV_ALLOC` bit set) and has exactly
/// the class's block size, which [`malloc_fast`]'s byte count and `calloc`'s clear rely on;
/// and each local list holds as many blocks as its count says. The walk is bounded by the
/// blocks the cache's byte count allows, so a cycle is reported, not followed forever.
///
/// A wrong block is reported as the error (never flushed: the engine would free it with the
/// size its header claims, over its neighbours).
pub fn check_current(g: &'static Global) -> Result<(), HeapError> {
    let Some(c) = slot_cache().filter(|c| ptr::eq(c.owner.get(), g)) else {
        return Ok(());
    };
    let mut budget = c.bytes.load(Ordering::Relaxed) / MIN_BLOCK;
    for k in 0..CLASSES {
        let (Some(head), Some(local), Some(count)) =
            (c.heads.get(k), c.locals.get(k), c.local_counts.get(k))
        else {
            continue;
        };
        check_list(g, c.key.get(), head.get(), k, &mut budget)?;
        let n = check_list(g, c.key.get(), local.get(), k, &mut budget)?;
        if n != count.get() as usize {
            return Err(HeapError::new(
                ErrorKind::BadCounters,
                local.get() as usize,
                0,
            ));
        }
    }
    Ok(())
}

/// [`check_current`] and [`check_central`] for one list of class `k` from `p` (a thread's
/// list, or a central batch): its length, each block taken off `budget` (none left: a
/// cycle, or more blocks than were counted).
fn check_list(
    g: &'static Global,
    key: usize,
    mut p: *mut u8,
    k: usize,
    budget: &mut usize,
) -> Result<usize, HeapError> {
    let bsize = MIN_BLOCK + k * ALIGN;
    let mut n = 0;
    while !p.is_null() {
        let Some(left) = budget.checked_sub(1) else {
            return Err(HeapError::new(ErrorKind::InListTwice, p as usize, bsize));
        };
        *budget = left;
        // SAFETY: `p` is non-null, on a cached list (the calling thread's, or a central batch
        // under its lock), reached through links whose marks were checked (a central batch
        // keeps its blocks' marks); a forged link is seen by `live_block`,
        // which reads only inside `g`'s heaps, before anything else is read.
        let Some(size) = (unsafe { live_block(g, p) }) else {
            return Err(HeapError::new(ErrorKind::CorruptHeader, p as usize, 0));
        };
        // SAFETY: `p` is a live-looking block of `g` of at least `MIN_BLOCK` bytes.
        let Some(next) = (unsafe { link_of(key, p) }) else {
            return Err(HeapError::new(
                ErrorKind::CorruptFreeBlock,
                p as usize,
                bsize,
            ));
        };
        if size != bsize {
            return Err(HeapError::new(ErrorKind::WrongClass, p as usize, size));
        }
        n += 1;
        p = next;
    }
    Ok(n)
}

/// The `pthread` key destructor: the thread is exiting.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn thread_exit(arg: *mut libc::c_void) {
    // SAFETY: the key's value is the exiting thread's own cache (set in `setup`), still
    // alive while destructors run.
    let c = unsafe { &*(arg as *const Cache) };
    if c.state.get() != ACTIVE {
        return;
    }
    thread_slot::set(DEAD_MARK);
    retire(c);
}

/// Retires the registered cache `c`, whose user is the calling thread (its own thread,
/// exiting with its slot set to `DEAD_MARK`, or the reclaimer of an exited thread's cache,
/// holding its life lock): returns its blocks to its owner, leaves its arena, moves its
/// counters to the owner, unlinks it and gives its record back to the pool.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn retire(c: &'static Cache) {
    c.state.set(BUSY);
    flush_all(c);
    // SAFETY: an active cache has a live (static) owner.
    let g = unsafe { &*c.owner.get() };
    leave_arena(g, c.arena.get());
    let _r = LockGuard::new(&REG_LOCK);
    g.retire(&sums_of(c));
    let me = c as *const Cache;
    if ptr::eq(REG_CURSOR.load(Ordering::Relaxed), me) {
        REG_CURSOR.store(c.next.get() as *mut Cache, Ordering::Relaxed);
    }
    let mut cur = REG_HEAD.load(Ordering::Relaxed) as *const Cache;
    // Unlink `me`: the head is an AtomicPtr, the others are Cells behind the lock.
    if cur == me {
        REG_HEAD.store(c.next.get() as *mut Cache, Ordering::Release);
    } else {
        while !cur.is_null() {
            // SAFETY: registry entries are registered caches (unlinked before their record
            // is reused), read with the registry lock held.
            let e = unsafe { &*cur };
            if e.next.get() == me {
                e.next.set(c.next.get());
                break;
            }
            cur = e.next.get();
        }
    }
    c.state.set(DEAD);
    // Unlinked, so no scan takes it any more; released before the record can be reused.
    release_life(c);
    // SAFETY: `REG_LOCK` held; the record came from the pool, is unlinked, its life lock is
    // released, and its only user (the calling thread) is done with it.
    unsafe { POOL.give(NonNull::from(c).cast()) };
}

/// `fork` child hook: the other threads do not exist; only the calling thread's cache
/// stays registered (the others' blocks are lost to the child, as with glibc), and only it
/// is counted in the arenas of every caching `Global` (none when the thread has no cache).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn fork_child() {
    // SAFETY: the child has one thread; nobody else holds or waits for the locks.
    unsafe {
        REG_LOCK.force_unlock();
        for c in &CENTRAL {
            c.lock.force_unlock();
        }
    }
    // SAFETY: as above: no other thread is using the pool.
    unsafe { POOL.after_fork() };
    let me = slot_cache();
    // SAFETY: an active cache has a live (static) owner.
    crate::global::fork_child_arenas(me.map(|c| (unsafe { &*c.owner.get() }, c.arena.get())));
    let me = match me {
        Some(c) => {
            c.next.set(ptr::null());
            // The life lock names the parent's thread and is on no robust list of the
            // child (glibc empties it in the child): this thread takes it anew.
            if c.tracked.get() {
                c.tracked.set(hold_life(c));
            }
            c as *const Cache as *mut Cache
        }
        None => ptr::null_mut(),
    };
    REG_CURSOR.store(ptr::null_mut(), Ordering::Relaxed);
    REG_HEAD.store(me, Ordering::Release);
}

/// Most batches a class's central list holds.
pub const CENTRAL_MAX: usize = 8;

/// A class's central list: whole batches of cached blocks passed from a thread whose class
/// overflowed to a thread whose class ran empty, without the engine (the producer/consumer
/// pattern). Blocks keep their cache mark. Guarded by `lock` (never held with another
/// lock); a `fork` child resets the locks (an interrupted push or pop at most leaks a
/// batch, the counts stay consistent: the slot is written before `n` is raised and `n` is
/// lowered before the slot is read).
struct Central {
    lock: FutexLock,
    inner: core::cell::UnsafeCell<CentralInner>,
}

struct CentralInner {
    owner: *const Global,
    n: usize,
    heads: [*mut u8; CENTRAL_MAX],
    bytes: [usize; CENTRAL_MAX],
}

// SAFETY: `inner` is only accessed with `lock` held.
unsafe impl Sync for Central {}

static CENTRAL: [Central; CLASSES] = [const {
    Central {
        lock: FutexLock::new(),
        inner: core::cell::UnsafeCell::new(CentralInner {
            owner: ptr::null(),
            n: 0,
            heads: [ptr::null_mut(); CENTRAL_MAX],
            bytes: [0; CENTRAL_MAX],
        }),
    }
}; CLASSES];

/// Bit `k` set: class `k`'s central list may hold a batch. Set and cleared with the class's
/// lock held; read without it by [`central_pop`] as a hint, so that the refill of a class
/// whose central list is empty (every refill of a single-threaded program) takes no lock
/// and leaves [`CENTRAL`]'s pages untouched (they are not resident in such a process). A
/// stale bit costs at most a lock for nothing, or one refill from the engine while a
/// batch waits for the next one. Invariant (checked by [`check_central`]): a class whose
/// central list holds a batch has its bit set (it is set before the count covers the
/// batch, so that a `fork` child, which may inherit the list mid-push, keeps it too).
static CENTRAL_FULL: AtomicU64 = AtomicU64::new(0);

const _: () = assert!(CLASSES <= 64);

fn with_central<R>(k: usize, f: impl FnOnce(&mut CentralInner) -> R) -> Option<R> {
    let c = CENTRAL.get(k)?;
    let _g = LockGuard::new(&c.lock);
    // SAFETY: the lock is held: the only reference.
    Some(f(unsafe { &mut *c.inner.get() }))
}

/// Moves the first `batch` blocks (class `k`'s batch, [`BATCHES`]) of the list at `head`
/// (which holds at least that many, marked with `key`) to class `k`'s central list of
/// `g`; the batch's block bytes, or `None` (nothing moved) when the central list is full
/// or serves another `Global`, or a block's mark is wrong (the caller's engine path then
/// reports it).
fn central_push(
    g: &'static Global,
    head: &Cell<*mut u8>,
    k: usize,
    batch: usize,
    key: usize,
) -> Option<usize> {
    with_central(k, |ci| {
        if ci.n >= CENTRAL_MAX || !(ci.owner.is_null() || ptr::eq(ci.owner, g)) {
            return None;
        }
        let first = head.get();
        let mut tail = first;
        let mut bytes = 0;
        let mut rest = ptr::null_mut();
        for i in 0..batch {
            if tail.is_null() {
                return None;
            }
            // SAFETY: a block of the cached list: two payload words, header before it;
            // its link is followed only once its mark checked out.
            let next = unsafe { link_of(key, tail) }?;
            // SAFETY: as above.
            bytes += unsafe { block_size_of(tail) };
            if i + 1 < batch {
                tail = next;
            } else {
                rest = next;
            }
        }
        head.set(rest);
        // SAFETY: `tail` is the batch's last cached block, owned by this thread: its link
        // is cut from the rest.
        unsafe { set_link(key, tail, ptr::null_mut()) };
        let n = ci.n;
        *ci.heads.get_mut(n)? = first;
        *ci.bytes.get_mut(n)? = bytes;
        ci.owner = g;
        // The slot is written before `n` covers it, also as a `fork` child sees memory (the
        // lock is not held across `fork`): no compiler or processor reordering.
        CENTRAL_FULL.fetch_or(1 << k, Ordering::Relaxed);
        fence(Ordering::Release);
        ci.n = n + 1;
        Some(bytes)
    })
    .flatten()
}

/// Takes a batch from class `k`'s central list of `g`: `(first block, block bytes)`.
fn central_pop(g: &'static Global, k: usize) -> Option<(*mut u8, usize)> {
    if CENTRAL_FULL.load(Ordering::Relaxed) & (1 << k) == 0 {
        return None;
    }
    with_central(k, |ci| {
        if ci.n == 0 || !ptr::eq(ci.owner, g) {
            return None;
        }
        ci.n -= 1;
        if ci.n == 0 {
            CENTRAL_FULL.fetch_and(!(1 << k), Ordering::Relaxed);
        }
        Some((*ci.heads.get(ci.n)?, *ci.bytes.get(ci.n)?))
    })
    .flatten()
}

/// [`Global::check`]'s walk of `g`'s central lists: every block of every batch is checked
/// as [`check_current`] checks a cache's (its mark before its link is followed, a live
/// block of `g`, its class's block size), and each batch must hold the bytes it was counted
/// with. The walk of a batch is bounded by those bytes, so a cycle is reported, not followed
/// forever. A class with batches must have its `CENTRAL_FULL` bit set (`BadBitmap`
/// otherwise: no refill would take them). Each class's central lock is held during its walk
/// (it is never held with another lock; the block checks take none). A wrong block is
/// reported as the error; nothing moves.
pub fn check_central(g: &'static Global) -> Result<(), HeapError> {
    let key = KEY.load(Ordering::Relaxed);
    for k in 0..CLASSES {
        let bsize = MIN_BLOCK + k * ALIGN;
        with_central(k, |ci| {
            if !ptr::eq(ci.owner, g) {
                return Ok(());
            }
            if ci.n > 0 && CENTRAL_FULL.load(Ordering::Relaxed) & (1 << k) == 0 {
                return Err(HeapError::new(
                    ErrorKind::BadBitmap,
                    ci.heads[0] as usize,
                    k,
                ));
            }
            for (&head, &bytes) in ci.heads.iter().zip(&ci.bytes).take(ci.n) {
                let mut budget = bytes / bsize;
                let n = check_list(g, key, head, k, &mut budget)?;
                if n * bsize != bytes {
                    return Err(HeapError::new(ErrorKind::BadCounters, head as usize, bytes));
                }
            }
            Ok(())
        })
        .unwrap_or(Ok(()))?;
    }
    Ok(())
}

/// Returns every central batch of `g` to the engine (for a trim).
pub fn drain_central(g: &'static Global) {
    for k in 0..CLASSES {
        while let Some((p, _)) = central_pop(g, k) {
            drain_chain(g, p);
        }
    }
}

/// The calling thread's cache leaves arena `a` (its thread exits, or moves to another
/// arena). The last thread to leave frees the arena's remote stack into the engine: nobody
/// else would collect it until a thread attaches to the arena again.
fn leave_arena(g: &'static Global, a: usize) {
    let left = g.detach_arena(a);
    // Pairs with the fence in `remote_flush`: a chain pushed while the last thread leaves
    // is drained by one of the two (each sees the other's write after its fence).
    fence(Ordering::SeqCst);
    if left == 0 {
        drain_stack(g, a);
    }
}

/// Refills per contention window ([`crate::ArenaMode::OnContention`]).
pub const MOVE_WINDOW: u32 = 64;

/// Contended refills in one window of [`MOVE_WINDOW`] after which a thread moves to a less
/// used arena.
pub const MOVE_AFTER: u32 = MOVE_WINDOW / 4;

/// Counts a refill from the engine (`contended`: its lock was held by another thread).
/// When [`MOVE_AFTER`] of the last window of [`MOVE_WINDOW`] refills were contended, the
/// thread moves to a less used arena ([`Global::move_arena`]): a steady contention, not a
/// moment of it, since an arena costs memory (its own free blocks and top). The blocks the
/// thread holds stay valid: blocks of its old arena it frees from now on go back there as
/// remote frees.
#[inline]
fn contention(g: &'static Global, c: &Cache, contended: bool) {
    if g.arena_mode() != crate::global::ArenaMode::OnContention {
        return;
    }
    // Low half: refills in the window; high half: contended ones.
    let w = c.contended.get() + 1 + ((contended as u32) << 16);
    if w & 0xffff < MOVE_WINDOW {
        c.contended.set(w);
        return;
    }
    c.contended.set(0);
    if w >> 16 < MOVE_AFTER {
        return;
    }
    let old = c.arena.get();
    let new = g.move_arena(old);
    if new != old {
        leave_arena(g, old);
        // The buffer for the new arena now holds the thread's own blocks: hand it on as
        // usual (its own refill collects it).
        remote_flush(g, c, new, false);
        c.arena.set(new);
        c.slot.set(new * crate::global::MAX_HEAPS);
    }
}

/// One arena's buffer in a cache: first and last block of the chain, count, bytes.
type RemoteBuffer<'a> = (
    &'a Cell<*mut u8>,
    &'a Cell<*mut u8>,
    &'a Cell<u32>,
    &'a Cell<usize>,
);

/// The cache's buffer of blocks for arena `a` (`None` for an arena index out of range).
#[inline]
fn remote_buffer(c: &Cache, a: usize) -> Option<RemoteBuffer<'_>> {
    Some((
        c.rfirst.get(a)?,
        c.rlast.get(a)?,
        c.rcount.get(a)?,
        c.rbytes.get(a)?,
    ))
}

/// Frees `p`, a small block of arena `a` (not the calling thread's), into the cache's
/// buffer for that arena; a full buffer goes to the arena's remote stack.
///
/// # Safety
/// `p` must be a live (not cached) small block of `g`'s arena `a` of `bsize` bytes.
#[inline]
unsafe fn remote_free(g: &'static Global, c: &Cache, a: usize, p: *mut u8, bsize: usize) {
    let Some((first, last, count, bytes)) = remote_buffer(c, a) else {
        return;
    };
    // SAFETY: a live small block (two payload words), handed to this cache's buffer.
    unsafe { set_link(c.key.get(), p, first.get()) };
    if first.get().is_null() {
        last.set(p);
    }
    first.set(p);
    count.set(count.get() + 1);
    bytes.set(bytes.get() + bsize);
    add(&c.bytes, bsize);
    bump(&c.hits_free);
    if count.get() >= REMOTE_BATCH {
        remote_flush(g, c, a, false);
    }
}

/// Pushes the cache's buffer for arena `a` to that arena's remote stack (or, when the
/// arena has no thread to collect it or `engine` is set, frees it into the engine).
fn remote_flush(g: &'static Global, c: &Cache, a: usize, engine: bool) {
    let Some((first, last, count, bytes)) = remote_buffer(c, a) else {
        return;
    };
    let (f, l, n, b) = (first.get(), last.get(), count.get() as usize, bytes.get());
    if f.is_null() {
        return;
    }
    first.set(ptr::null_mut());
    last.set(ptr::null_mut());
    count.set(0);
    bytes.set(0);
    sub(&c.moved, n);
    sub(&c.bytes, b);
    match g.remote(a) {
        Some(r) if !engine && g.arena_threads(a) > 0 => {
            // SAFETY: `f ..= l` is the buffer's chain of cached blocks of arena `a`, now
            // owned by nobody else.
            unsafe { r.push_chain(f, l, n, b, c.key.get()) };
            // The arena's last thread may have left since the check, after draining the
            // stack (`leave_arena`, whose fence this one pairs with): then nobody collects
            // the chain but this thread.
            fence(Ordering::SeqCst);
            if g.arena_threads(a) == 0 {
                drain_stack(g, a);
            }
        }
        _ => {
            drain_chain(g, f);
        }
    }
}

/// Frees the chain of cached blocks starting at `p` (linked through word 0) into the engine;
/// returns how many. A block whose mark is wrong ends the walk (the rest is leaked, as a
/// corrupted list is) and is reported.
fn drain_chain(g: &'static Global, mut p: *mut u8) -> u64 {
    let key = KEY.load(Ordering::Relaxed);
    let mut n = 0u64;
    let mut corrupt = ptr::null_mut();
    g.drain(|| {
        if p.is_null() {
            return None;
        }
        let q = p;
        // SAFETY: `q` is a block of the chain: two payload words at least.
        let Some(next) = (unsafe { link_of(key, q) }) else {
            corrupt = q;
            return None;
        };
        p = next;
        // SAFETY: `q` is a cached block of the chain: mark in word 1, cleared as it leaves.
        unsafe { (q as *mut usize).add(1).write(0) };
        n += 1;
        Some(q)
    });
    if !corrupt.is_null() {
        // Reported once `drain` released the arena's lock (the report takes a lock).
        g.report_misuse(ErrorKind::CorruptFreeBlock, corrupt, 0);
    }
    n
}

/// Takes the remote stack of the cache's arena and sorts its blocks into the cache's free
/// lists by class; returns how many blocks it took.
#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn collect(g: &'static Global, c: &Cache) -> usize {
    let Some(r) = g.remote(c.arena.get()) else {
        return 0;
    };
    let mut p = r.take();
    if p.is_null() {
        // Nothing to account: no write to the stack's shared counters (a refill of a
        // thread whose arena no other thread frees into comes here every time).
        return 0;
    }
    let key = c.key.get();
    let (mut n, mut bytes) = (0usize, 0usize);
    while !p.is_null() {
        // A write after free over a block's link or mark is caught before the link is
        // followed; the rest of the chain is left (leaked), as a corrupted list is.
        // SAFETY: `p` is a block of the stack: a cached block, two payload words, header
        // before it (its size read only once its mark checked out).
        let checked = unsafe { link_of(key, p) }.map(|next| (next, unsafe { block_size_of(p) }));
        let Some((next, bs)) =
            checked.filter(|&(_, bs)| (MIN_BLOCK..=MAX_CACHED_BLOCK).contains(&bs))
        else {
            g.report_misuse(ErrorKind::CorruptFreeBlock, p, 0);
            break;
        };
        if let Some(head) = c.heads.get(class_of(bs)) {
            // SAFETY: `p` is a cached block owned by this cache now.
            unsafe { set_link(key, p, head.get()) };
            head.set(p);
            n += 1;
            bytes += bs;
        }
        p = next;
    }
    r.taken(n, bytes);
    add(&c.moved, n);
    add(&c.bytes, bytes);
    n
}

/// Frees arena `a`'s remote stack into the engine.
fn drain_stack(g: &'static Global, a: usize) {
    let Some(r) = g.remote(a) else { return };
    let mut p = r.take();
    let (mut n, mut bytes) = (0usize, 0usize);
    let first = p;
    let key = KEY.load(Ordering::Relaxed);
    while !p.is_null() {
        // SAFETY: a block of the stack: two payload words, header before it. A wrong mark
        // ends the count (`drain_chain` stops there too, and reports it).
        let Some(next) = (unsafe { link_of(key, p) }) else {
            break;
        };
        // SAFETY: as above.
        bytes += unsafe { block_size_of(p) };
        p = next;
        n += 1;
    }
    r.taken(n, bytes);
    drain_chain(g, first);
}

/// Frees every arena's remote stack into the engine (for a trim or a check).
pub fn drain_remote(g: &'static Global) {
    for a in 0..ARENAS {
        drain_stack(g, a);
    }
}

/// Sums of the caches of one [`Global`].
#[derive(Clone, Copy, Debug, Default)]
pub struct CacheSums {
    /// Blocks sitting in caches.
    pub blocks: usize,
    /// Their block bytes.
    pub bytes: usize,
    /// `malloc` served from a cache.
    pub mallocs: u64,
    /// `calloc` served from a cache.
    pub callocs: u64,
    /// `realloc` served in place by [`realloc_fast`] (no engine call).
    pub reallocs: u64,
    /// Aligned requests served from a cache ([`aligned`]).
    pub aligned: u64,
    /// `free` taken into a cache.
    pub frees: u64,
}

impl CacheSums {
    fn add(&mut self, o: &CacheSums) {
        self.blocks += o.blocks;
        self.bytes += o.bytes;
        self.mallocs += o.mallocs;
        self.callocs += o.callocs;
        self.reallocs += o.reallocs;
        self.aligned += o.aligned;
        self.frees += o.frees;
    }

    /// Turns the engine's statistics `s` (where cached blocks count as allocated, and whose
    /// call counts are the program's calls the engine served: [`Global::stats`] took the
    /// caches' refills and flushes off them) into the program's view.
    pub fn apply(&self, s: &mut heapwise_core::Stats) {
        s.allocated_blocks = s.allocated_blocks.saturating_sub(self.blocks);
        s.allocated_bytes = s.allocated_bytes.saturating_sub(self.bytes);
        s.usable_bytes = s
            .usable_bytes
            .saturating_sub(self.bytes.saturating_sub(self.blocks * WORD));
        let c = &mut s.counters;
        c.alloc_blocks = c.alloc_blocks.saturating_sub(self.blocks);
        c.alloc_bytes = c.alloc_bytes.saturating_sub(self.bytes);
        c.mallocs += self.mallocs;
        c.frees += self.frees;
        c.callocs += self.callocs;
        c.reallocs += self.reallocs;
        c.aligned += self.aligned;
    }
}

fn sums_of(c: &Cache) -> CacheSums {
    CacheSums {
        blocks: c
            .moved
            .load(Ordering::Relaxed)
            .wrapping_add(c.hits_free.load(Ordering::Relaxed) as usize)
            .wrapping_sub(c.hits_malloc.load(Ordering::Relaxed) as usize)
            .wrapping_sub(c.hits_calloc.load(Ordering::Relaxed) as usize)
            .wrapping_sub(c.hits_aligned.load(Ordering::Relaxed) as usize)
            .min(c.bytes.load(Ordering::Relaxed) / MIN_BLOCK),
        bytes: c.bytes.load(Ordering::Relaxed),
        mallocs: c.hits_malloc.load(Ordering::Relaxed),
        callocs: c.hits_calloc.load(Ordering::Relaxed),
        reallocs: c.hits_realloc.load(Ordering::Relaxed),
        aligned: c.hits_aligned.load(Ordering::Relaxed),
        frees: c.hits_free.load(Ordering::Relaxed),
    }
}

/// Adds up the live caches owned by `g` and those of its exited threads.
pub fn sum(g: &Global) -> CacheSums {
    let mut s = CacheSums::default();
    for a in 0..ARENAS {
        if let Some(r) = g.remote(a) {
            let (n, bytes) = r.held();
            s.blocks += n;
            s.bytes += bytes;
        }
    }
    for k in 0..CLASSES {
        let _ = with_central(k, |ci| {
            if ptr::eq(ci.owner, g) {
                s.blocks += ci.n * batch_of(k);
                s.bytes += ci.bytes.iter().take(ci.n).sum::<usize>();
            }
        });
    }
    let _r = LockGuard::new(&REG_LOCK);
    // The exited threads' counters are read under the registry lock too: an exiting thread
    // moves its counters into them and leaves the registry under that lock, so its counts
    // are seen exactly once (read before the lock, they were missed by a sum that ran
    // while a thread exited).
    s.add(&g.retired());
    let mut cur = REG_HEAD.load(Ordering::Acquire) as *const Cache;
    while !cur.is_null() {
        // SAFETY: registry entries are live caches, read with the registry lock held;
        // their counters are atomics.
        let c = unsafe { &*cur };
        if ptr::eq(c.owner.get(), g) {
            s.add(&sums_of(c));
        }
        cur = c.next.get();
    }
    s
}

const _: () = assert!(MIN_BLOCK >= 2 * WORD && CLASSES > 0);
const _: () = assert!(RAMP_START >= 1 && 2 * BATCH <= u8::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_bounded_in_blocks_and_bytes() {
        assert_eq!(batch_of(0), BATCH);
        assert_eq!(batch_of(class_of(256)), BATCH);
        assert_eq!(batch_of(class_of(512)), 8);
        assert_eq!(batch_of(class_of(MAX_CACHED_BLOCK)), MIN_BATCH);
        for k in 0..CLASSES {
            let (n, bsize) = (batch_of(k), MIN_BLOCK + k * ALIGN);
            assert!((MIN_BATCH..=BATCH).contains(&n));
            assert!(n == MIN_BATCH || n * bsize <= BATCH_BYTES, "class {k}");
            assert_eq!(floor_of(k), 2 * n);
            assert!(cap_of(k) >= floor_of(k));
        }
    }

    #[test]
    fn classes_cover_the_cached_range() {
        assert_eq!(class_of(MIN_BLOCK), 0);
        assert_eq!(class_of(MAX_CACHED_BLOCK), CLASSES - 1);
        assert_eq!(
            block_size_for(MAX_CACHED_BLOCK - WORD),
            Some(MAX_CACHED_BLOCK)
        );
    }

    #[test]
    fn an_exited_threads_cache_is_retired_and_its_record_reused() {
        use crate::global::Config;
        static G: Global = Global::with_thread_cache(Config::DEFAULT);
        // Each thread allocates (setting its cache up), notes its cache, frees, exits.
        let run = || {
            std::thread::spawn(|| {
                let mut p = G.malloc(48);
                // A thread's first call finds no cache while another test's thread sets the
                // process's keys up (`Retry::Later`, slow under qemu); a later call has one.
                for _ in 0..1000 {
                    if p.is_null() || slot_cache().is_some() {
                        break;
                    }
                    // SAFETY: `p` came from `G.malloc` and is freed once.
                    unsafe { G.free(p) };
                    std::thread::yield_now();
                    p = G.malloc(48);
                }
                assert!(!p.is_null());
                let c = slot_cache().expect("an active cache after a malloc");
                assert!(ptr::eq(c.owner.get(), &G));
                // SAFETY: `p` came from `G.malloc` and is freed once.
                unsafe { G.free(p) };
                c as *const Cache as usize
            })
            .join()
            .unwrap()
        };
        let addrs: std::vec::Vec<usize> = (0..40).map(|_| run()).collect();
        let mut distinct = addrs.clone();
        distinct.sort();
        distinct.dedup();
        // Sequential threads reuse the retired record (other tests' threads may take one
        // now and then, so allow a few more than one).
        assert!(
            distinct.len() <= 8,
            "{} records for 40 threads",
            distinct.len()
        );
        // Every block went back: nothing is left cached by the exited threads.
        assert_eq!(sum(&G).blocks, 0);
        // This thread has no cache for `G` yet, and gets one.
        let p = G.malloc(48);
        assert!(slot_cache().is_some_and(|c| ptr::eq(c.owner.get(), &G)));
        // SAFETY: as above.
        unsafe { G.free(p) };
    }

    #[test]
    fn a_central_batch_its_class_bit_does_not_announce_is_the_checkers_error() {
        use crate::global::Config;
        static G: Global = Global::with_thread_cache(Config::DEFAULT);
        // 968-byte requests (976-byte blocks, a class no other test here uses: a class's
        // central list serves the first `Global` that fills it): batches of 4; this
        // thread's local list over its cap gives batches to the central list.
        let size = 968;
        let k = class_of(block_size_for(size).expect("a cached size"));
        let ps: std::vec::Vec<*mut u8> = (0..24).map(|_| G.malloc(size)).collect();
        assert!(ps.iter().all(|p| !p.is_null()));
        for &p in &ps[..20] {
            // SAFETY: a live block of `G`, freed once.
            unsafe { G.free(p) };
        }
        let held = with_central(k, |ci| if ptr::eq(ci.owner, &G) { ci.n } else { 0 });
        assert!(held.is_some_and(|n| n > 0), "no central batch of class {k}");
        assert_eq!(G.check(), Ok(()));
        // The bit cleared: the batches would wait for a refill that never looks.
        let bit = 1u64 << k;
        CENTRAL_FULL.fetch_and(!bit, Ordering::Relaxed);
        let err = G.check().expect_err("a batch without its bit");
        CENTRAL_FULL.fetch_or(bit, Ordering::Relaxed);
        assert_eq!(err.kind, ErrorKind::BadBitmap);
        assert_eq!(G.check(), Ok(()));
        G.trim();
        for &p in &ps[20..] {
            // SAFETY: as above.
            unsafe { G.free(p) };
        }
        assert_eq!(G.check(), Ok(()));
    }

    /// Registered caches owned by `g`, other than the calling thread's.
    fn others_registered_for(g: &Global) -> usize {
        let mine = slot_cache().map_or(ptr::null(), |c| c as *const Cache);
        let _r = LockGuard::new(&REG_LOCK);
        let mut n = 0;
        let mut cur = REG_HEAD.load(Ordering::Acquire) as *const Cache;
        while !cur.is_null() {
            // SAFETY: a registry entry, read with the registry lock held.
            let c = unsafe { &*cur };
            n += (ptr::eq(c.owner.get(), g) && cur != mine) as usize;
            cur = c.next.get();
        }
        n
    }

    #[test]
    fn a_cache_set_up_after_the_key_destructors_is_reclaimed_by_a_trim() {
        use crate::global::Config;
        use core::ffi::c_void;
        if !robust_list_works() {
            std::eprintln!("SKIPPED: no robust list for this thread (qemu-user?)");
            return;
        }
        static G: Global = Global::with_thread_cache(Config::DEFAULT);
        static KEY: AtomicUsize = AtomicUsize::new(0);
        static LATE: AtomicUsize = AtomicUsize::new(0);
        // Re-arms its key for glibc's first three rounds, then (as the thread's first
        // allocator call) allocates and frees blocks of every cached class of `G`.
        extern "C" fn destructor(v: *mut c_void) {
            let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
            if (v as usize) < 4 {
                // SAFETY: a created key (below 32: set without allocating).
                unsafe { libc::pthread_setspecific(key, ptr::without_provenance(v as usize + 1)) };
                return;
            }
            let mut held = [ptr::null_mut(); CLASSES];
            for (k, p) in held.iter_mut().enumerate() {
                *p = G.malloc(k * ALIGN + 8);
            }
            for p in held {
                // SAFETY: from `G.malloc` (or null), freed once.
                unsafe { G.free(p) };
            }
            LATE.fetch_add(1, Ordering::Relaxed);
        }
        extern "C" fn worker(_: *mut c_void) -> *mut c_void {
            let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
            // SAFETY: as above.
            unsafe { libc::pthread_setspecific(key, ptr::without_provenance(1)) };
            ptr::null_mut()
        }
        // This thread's allocation creates the allocator's key (if no test did yet), so the
        // test's key comes after it: glibc runs the keys of a round in index order.
        let p = G.malloc(48);
        // SAFETY: from `G.malloc`, freed once.
        unsafe { G.free(p) };
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer; the destructor does not unwind.
        let rc = unsafe { libc::pthread_key_create(&mut key, Some(destructor)) };
        assert_eq!(rc, 0);
        KEY.store(key as usize, Ordering::Relaxed);
        // SAFETY: zeroed is a valid placeholder for the out-parameter.
        let mut t: libc::pthread_t = unsafe { core::mem::zeroed() };
        // SAFETY: `worker` has the start routine's signature; default attributes.
        let rc = unsafe { libc::pthread_create(&mut t, ptr::null(), worker, ptr::null_mut()) };
        assert_eq!(rc, 0);
        // SAFETY: joined once.
        assert_eq!(unsafe { libc::pthread_join(t, ptr::null_mut()) }, 0);
        assert_eq!(LATE.load(Ordering::Relaxed), 1);
        // The exited thread's cache (unless another thread's set-up reclaimed it already)
        // and its blocks go back with a trim (which flushes this thread's cache too).
        G.trim();
        assert_eq!(
            others_registered_for(&G),
            0,
            "a cache of an exited thread is registered"
        );
        assert_eq!(sum(&G).blocks, 0);
        // SAFETY: the key is no longer used.
        unsafe { libc::pthread_key_delete(key) };
    }

    #[test]
    fn a_flushed_cache_holds_no_bytes_whatever_block_sizes_the_engine_handed_out() {
        use crate::global::Config;
        static G: Global = Global::with_thread_cache(Config::DEFAULT);
        // A fresh thread, so that its cache is owned by `G`. Random sizes leave free blocks
        // that the engine hands out whole for smaller requests (a remainder below
        // `MIN_BLOCK` is not split off): a refill then brings blocks one class larger than
        // asked for.
        let left = std::thread::spawn(|| {
            let mut held = std::vec![ptr::null_mut::<u8>(); 4096];
            let mut s: u32 = 1;
            for _ in 0..30 {
                for slot in held.iter_mut() {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    // SAFETY: null or a block of `G.malloc`, freed once.
                    unsafe { G.free(*slot) };
                    *slot = if (s >> 16) % 3 != 0 {
                        G.malloc(((s >> 8) % 1000) as usize + 1)
                    } else {
                        ptr::null_mut()
                    };
                }
            }
            for p in held {
                // SAFETY: as above.
                unsafe { G.free(p) };
            }
            flush_current();
            let c = slot_cache().expect("an active cache");
            assert!(ptr::eq(c.owner.get(), &G));
            c.bytes.load(Ordering::Relaxed)
        })
        .join()
        .unwrap();
        // Every block went back to the engine: the cache counts none of their bytes (the
        // statistics subtract what it counts from the heap's allocated bytes).
        assert_eq!(left, 0, "bytes counted in an empty cache");
    }

    /// A `fork` child has one thread: in every caching [`Global`], its arenas count no
    /// thread but the forking one's, whether that thread has a cache of this `Global`, of
    /// another one, or none. (The counts were reset only for the owner of the forking
    /// thread's cache: other `Global`s kept the parent's, and blocks of an arena whose
    /// threads were gone went to its remote stack, which nobody collected.)
    #[test]
    fn a_fork_child_counts_only_its_own_thread_in_every_arena() {
        use crate::fork::testing::run_in_child;
        use crate::global::{ArenaMode, Config};
        use std::sync::{mpsc, Arc, Barrier};
        static G: Global = Global::with_thread_cache(Config::DEFAULT);
        static OTHER: Global = Global::with_thread_cache(Config::DEFAULT);
        // All of it in a child process of its own: its threads, `Global`s and locks (the
        // `fork` registry of this test binary is small) stay out of the other tests' way.
        let outcome = run_in_child(120, || {
            G.set_arena_mode(ArenaMode::PerThread);
            OTHER.set_arena_mode(ArenaMode::PerThread);
            // Two threads attach to arenas 0 and 1 of `G`, one after the other, and stay while
            // the test forks; the second hands over blocks of its arena.
            let release = Arc::new(Barrier::new(3));
            let (tx, rx) = mpsc::channel();
            let mut workers = std::vec::Vec::new();
            let mut blocks = std::vec::Vec::new();
            for _ in 0..2 {
                let (tx, release) = (tx.clone(), release.clone());
                workers.push(std::thread::spawn(move || {
                    let blocks: std::vec::Vec<usize> = (0..2 * REMOTE_BATCH as usize)
                        .map(|_| G.malloc(48) as usize)
                        .collect();
                    tx.send((current_arena(&G), blocks)).unwrap();
                    release.wait();
                }));
                let (arena, b) = rx.recv().unwrap();
                assert_eq!(arena, workers.len() - 1, "per-thread arenas in order");
                blocks = b;
            }
            assert_eq!((G.arena_threads(0), G.arena_threads(1)), (1, 1));
            // The child's thread: without any cache (`other` false), or with one of `OTHER`.
            let child = |other: bool| {
                let blocks = blocks.clone();
                std::thread::spawn(move || {
                    if other {
                        // SAFETY: from `OTHER.malloc`, freed once.
                        unsafe { OTHER.free(OTHER.malloc(48)) };
                    }
                    run_in_child(60, || {
                        if (0..ARENAS).any(|a| G.arena_threads(a) != 0) {
                            return 1;
                        }
                        let mine = current_arena(&OTHER);
                        if other
                            && (0..ARENAS).any(|a| OTHER.arena_threads(a) != (a == mine) as usize)
                        {
                            return 2;
                        }
                        // The child's cache of `G` (none with one of `OTHER`: a thread has one
                        // cache) takes arena 0; blocks of arena 1 it frees go to the engine, not
                        // to a stack no thread collects.
                        let p = G.malloc(48);
                        if current_arena(&G) != 0 || G.arena_threads(0) != !other as usize {
                            return 3;
                        }
                        for &b in blocks.iter().chain([&(p as usize)]) {
                            // SAFETY: live blocks of `G` (the parent's, inherited), freed once.
                            unsafe { G.free(b as *mut u8) };
                        }
                        if !G.remote(1).is_some_and(|r| r.is_empty()) {
                            return 4;
                        }
                        0
                    })
                })
                .join()
                .unwrap()
            };
            assert_eq!(child(false), Some(0), "forked by a thread without a cache");
            assert_eq!(
                child(true),
                Some(0),
                "forked by a thread with another cache"
            );
            release.wait();
            for w in workers {
                w.join().unwrap();
            }
            for b in blocks {
                // SAFETY: live blocks of `G`, freed once (in this process).
                unsafe { G.free(b as *mut u8) };
            }
            G.check().expect("heaps intact");
            0
        });
        assert_eq!(outcome, Some(0), "(what failed is on stderr)");
    }

    /// A `fork` child whose parent forked while one of its threads was setting the cache key
    /// up (at the process's first cache) sets it up itself and gets a cache: with the key
    /// its parent's thread had created, or a new one. (The child found the key "being
    /// created" for ever: no thread of it ever had a cache.) Played in a child process: the
    /// key's state is reset to a fresh process's, the claim taken as the setting-up thread
    /// takes it, then a fresh thread (whose slot is null) forks.
    #[test]
    fn a_fork_child_of_a_parent_setting_the_cache_key_up_has_caches() {
        use crate::fork::testing::run_in_child;
        use crate::global::Config;
        static G: Global = Global::with_thread_cache(Config::DEFAULT);
        let outcome = run_in_child(120, || {
            for made in [true, false] {
                // (The key exists: any cache set up by this test binary created it.)
                TSD_KEY.play_unfinished_setup(made);
                let child = std::thread::spawn(|| {
                    run_in_child(60, || {
                        let p = G.malloc(48);
                        let cached = slot_cache().is_some_and(|c| ptr::eq(c.owner.get(), &G));
                        // SAFETY: from `G.malloc`, freed once.
                        unsafe { G.free(p) };
                        if cached {
                            0
                        } else {
                            1
                        }
                    })
                })
                .join()
                .unwrap();
                assert_eq!(child, Some(0), "key made by the parent's thread: {made}");
            }
            0
        });
        assert_eq!(outcome, Some(0), "(what failed is on stderr)");
    }

    #[test]
    fn request_classes_agree_with_block_sizes() {
        for size in 0..=MAX_CACHED_BLOCK - WORD {
            let bsize = block_size_for(size).unwrap();
            assert_eq!(class_of_request(size), class_of(bsize), "size {size}");
        }
    }
}
