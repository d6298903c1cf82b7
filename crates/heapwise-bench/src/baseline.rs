//! The harness floor: a trivial power-of-two slab allocator (one LIFO stack of free blocks
//! per power of two from 16 bytes, fresh blocks bumped from the arena, `realloc` in place
//! when the new size fits the block's power of two). It does almost no work per request
//! yet packs blocks about as densely as a real allocator, so its Mops/s is what the
//! workload loop itself costs — decoding the trace, tagging and verifying blocks, copying
//! on realloc, the cache misses of touching blocks — and the allocators' own cost can be
//! read off the other rows. Not an allocator to compare with: it never reuses memory
//! across sizes, and wastes up to half of every block.
//!
//! Invariant: every block of class `c` is `16 << c` bytes, 16-byte aligned, inside the
//! arena, and either handed out or on stack `c`, never both.

use std::mem::MaybeUninit;
use std::ptr;

use crate::contender::{realloc_by_copy, Contender};

const CLASSES: usize = 24;

/// The power-of-two slab allocator.
pub struct SlabBaseline<'a> {
    next: usize,
    end: usize,
    free: [Vec<*mut u8>; CLASSES],
    _mem: std::marker::PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> SlabBaseline<'a> {
    /// Slabs over `mem`.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let start = mem.as_mut_ptr() as usize;
        SlabBaseline {
            next: start.next_multiple_of(16),
            end: start + mem.len(),
            free: std::array::from_fn(|_| Vec::with_capacity(4096)),
            _mem: std::marker::PhantomData,
        }
    }

    #[inline]
    fn class(size: usize) -> usize {
        (size.max(16).next_power_of_two().trailing_zeros() - 4) as usize
    }
}

impl Contender for SlabBaseline<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, _align: usize) -> *mut u8 {
        let c = Self::class(size);
        if c >= CLASSES {
            return ptr::null_mut();
        }
        if let Some(p) = self.free[c].pop() {
            return p;
        }
        let bytes = 16 << c;
        if self.end - self.next < bytes {
            return ptr::null_mut();
        }
        self.next += bytes;
        // An address inside the arena; only ever dereferenced by the workload.
        (self.next - bytes) as *mut u8
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, size: usize, _align: usize) {
        self.free[Self::class(size)].push(ptr);
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, old: usize, align: usize, new: usize) -> *mut u8 {
        if Self::class(new) == Self::class(old) {
            return ptr;
        }
        // SAFETY: forwarded caller contract.
        unsafe { realloc_by_copy(self, ptr, old, align, new) }
    }
}
