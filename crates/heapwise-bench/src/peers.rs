//! The peer allocators, each over the whole arena, behind the [`Contender`] interface:
//! `talc`, `rlsf`, `linked_list_allocator`, `buddy_system_allocator` and `dlmalloc`.
//!
//! Each adapter is a thin shim that calls the crate's own API the way its documentation
//! says (its native in-place `realloc` where it has one, allocate-copy-free otherwise).
//! Invariant: an adapter borrows the arena for its whole life (`'a`), and hands out only
//! memory its allocator returned.

use std::alloc::Layout;
use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use crate::contender::{realloc_by_copy, Contender};

/// A layout the workloads only ever build with `size > 0` and a power-of-two `align`.
#[inline]
fn layout(size: usize, align: usize) -> Layout {
    debug_assert!(size > 0 && align.is_power_of_two());
    // SAFETY: the workloads pass sizes far below isize::MAX and power-of-two alignments.
    unsafe { Layout::from_size_align_unchecked(size, align) }
}

// ------------------------------------------------------------------------------ talc

/// `talc` 5: `Talc<Manual, DefaultBinning>` with the arena claimed once.
pub struct TalcPeer<'a> {
    talc: talc::base::Talc<talc::source::Manual, talc::DefaultBinning>,
    _mem: PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> TalcPeer<'a> {
    /// Talc over `mem`.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let mut talc = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: `mem` is exclusively borrowed for `'a`, as long as the allocator lives,
        // and the Manual source allows manual heap management.
        let end = unsafe { talc.claim(mem.as_mut_ptr().cast(), mem.len()) };
        assert!(end.is_some(), "talc refused the arena");
        TalcPeer {
            talc,
            _mem: PhantomData,
        }
    }
}

impl Contender for TalcPeer<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: `size > 0` (the workloads never ask for 0 bytes).
        unsafe { self.talc.allocate(layout(size, align)) }.map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: caller contract: `ptr` was allocated with this layout.
        unsafe { self.talc.deallocate(ptr, layout(size, align)) }
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
        // SAFETY: caller contract; `new > 0`. This is what talc's own `GlobalAlloc::realloc`
        // does: in place if possible, else allocate-copy-free.
        unsafe {
            if self.talc.try_realloc_in_place(ptr, layout(old, align), new) {
                return ptr;
            }
            realloc_by_copy(self, ptr, old, align, new)
        }
    }
}

// ------------------------------------------------------------------------------ rlsf

/// The `rlsf` configuration: that of its `GlobalTlsf` (`usize` bitmaps, 64 first-level and
/// 64 second-level classes).
type RlsfTlsf<'a> = rlsf::Tlsf<'a, usize, usize, 64, 64>;

/// `rlsf` 0.2: a TLSF with the arena inserted as its one free block.
pub struct RlsfPeer<'a> {
    tlsf: Box<RlsfTlsf<'a>>,
}

impl<'a> RlsfPeer<'a> {
    /// rlsf over `mem`.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let mut tlsf: Box<RlsfTlsf<'a>> = Box::new(rlsf::Tlsf::new());
        tlsf.insert_free_block(mem);
        RlsfPeer { tlsf }
    }
}

impl Contender for RlsfPeer<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        self.tlsf
            .allocate(layout(size, align))
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, _size: usize, align: usize) {
        // SAFETY: caller contract: `ptr` is a live block of this TLSF with alignment `align`.
        unsafe { self.tlsf.deallocate(NonNull::new_unchecked(ptr), align) }
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, _old: usize, align: usize, new: usize) -> *mut u8 {
        // SAFETY: caller contract: `ptr` is a live block allocated with alignment `align`.
        unsafe {
            self.tlsf
                .reallocate(NonNull::new_unchecked(ptr), layout(new, align))
                .map_or(ptr::null_mut(), NonNull::as_ptr)
        }
    }
}

// ------------------------------------------------------------- linked_list_allocator

/// `linked_list_allocator` 0.10: one address-ordered free list, first fit.
pub struct LinkedListPeer<'a> {
    heap: linked_list_allocator::Heap,
    _mem: PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> LinkedListPeer<'a> {
    /// linked_list_allocator over `mem`.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let mut heap = linked_list_allocator::Heap::empty();
        // SAFETY: `mem` is valid, unused memory exclusively borrowed for `'a`.
        unsafe { heap.init(mem.as_mut_ptr().cast(), mem.len()) };
        LinkedListPeer {
            heap,
            _mem: PhantomData,
        }
    }
}

impl Contender for LinkedListPeer<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        self.heap
            .allocate_first_fit(layout(size, align))
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: caller contract: `ptr` was allocated with this layout.
        unsafe {
            self.heap
                .deallocate(NonNull::new_unchecked(ptr), layout(size, align))
        }
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract (the crate has no realloc of its own).
        unsafe { realloc_by_copy(self, ptr, old, align, new) }
    }
}

// ------------------------------------------------------------ buddy_system_allocator

/// `buddy_system_allocator` 0.13: power-of-two buddy blocks, orders up to 2^31 bytes.
pub struct BuddyPeer<'a> {
    heap: buddy_system_allocator::Heap<32>,
    _mem: PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> BuddyPeer<'a> {
    /// buddy_system_allocator over `mem`.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let mut heap = buddy_system_allocator::Heap::<32>::new();
        // SAFETY: `mem` is valid, unused memory exclusively borrowed for `'a`.
        unsafe { heap.init(mem.as_mut_ptr() as usize, mem.len()) };
        BuddyPeer {
            heap,
            _mem: PhantomData,
        }
    }
}

impl Contender for BuddyPeer<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        self.heap
            .alloc(layout(size, align))
            .map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: caller contract: `ptr` was allocated with this layout.
        unsafe {
            self.heap
                .dealloc(NonNull::new_unchecked(ptr), layout(size, align))
        }
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
        // SAFETY: forwarded caller contract (the crate has no realloc of its own).
        unsafe { realloc_by_copy(self, ptr, old, align, new) }
    }
}

// ------------------------------------------------------------------------- dlmalloc

/// A `dlmalloc` system allocator that hands out the arena, whole, on the first request
/// and refuses every later one: dlmalloc then manages exactly the arena.
pub struct ArenaSystem {
    base: *mut u8,
    len: usize,
    handed_out: Cell<bool>,
}

// SAFETY: the arena pointer is only an address handed to dlmalloc once; `ArenaSystem`
// owns no thread-bound state, and the Cell is only touched through `&self` of the one
// `Dlmalloc` that owns it.
unsafe impl Send for ArenaSystem {}

impl ArenaSystem {
    /// A system allocator over `[base, base + len)`.
    pub fn new(base: *mut u8, len: usize) -> Self {
        ArenaSystem {
            base,
            len,
            handed_out: Cell::new(false),
        }
    }
}

// SAFETY: `alloc` returns the arena (valid, unused memory of `len` bytes) at most once,
// and null afterwards; nothing is ever remapped or released.
unsafe impl dlmalloc::Allocator for ArenaSystem {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if self.handed_out.get() || size > self.len {
            return (ptr::null_mut(), 0, 0);
        }
        self.handed_out.set(true);
        (self.base, self.len, 0)
    }
    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }
    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }
    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }
    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }
    fn allocates_zeros(&self) -> bool {
        false
    }
    fn page_size(&self) -> usize {
        4096
    }
}

/// `dlmalloc` 0.2 (Doug Lea's malloc, ported to Rust) over the arena.
pub struct DlmallocPeer<'a> {
    dl: dlmalloc::Dlmalloc<ArenaSystem>,
    _mem: PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> DlmallocPeer<'a> {
    /// dlmalloc over `mem`.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let sys = ArenaSystem::new(mem.as_mut_ptr().cast(), mem.len());
        DlmallocPeer {
            dl: dlmalloc::Dlmalloc::new_with_allocator(sys),
            _mem: PhantomData,
        }
    }
}

impl Contender for DlmallocPeer<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, align: usize) -> *mut u8 {
        // SAFETY: `size > 0`, `align` a power of two.
        unsafe { self.dl.malloc(size, align) }
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, size: usize, align: usize) {
        // SAFETY: caller contract: `ptr` is a live dlmalloc block of this size and align.
        unsafe { self.dl.free(ptr, size, align) }
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
        // SAFETY: caller contract: `ptr` is a live dlmalloc block of this size and align.
        unsafe { self.dl.realloc(ptr, old, align, new) }
    }
}
