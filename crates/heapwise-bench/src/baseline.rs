//! The harness floor: a trivial allocator of fixed 8 KiB slots (a LIFO stack of free slot
//! numbers, `realloc` in place). Its Mops/s is what the workload loop itself costs —
//! decoding the trace, tagging and verifying blocks, the cache misses of touching them —
//! so that the allocators' own cost can be read off the other rows. Not an allocator to
//! compare with: it wastes most of the arena and cannot serve requests above 8 KiB.
//!
//! Invariant: slot `i` is `[base + i·SLOT, base + (i+1)·SLOT)`, either on the free stack or
//! handed out, never both.

use std::mem::MaybeUninit;
use std::ptr;

use crate::contender::Contender;

/// Slot size: the largest request of the random-actions workload.
pub const SLOT: usize = 8192;

/// The fixed-slot allocator.
pub struct SlotBaseline<'a> {
    base: *mut u8,
    free: Vec<u32>,
    _mem: std::marker::PhantomData<&'a mut [MaybeUninit<u8>]>,
}

impl<'a> SlotBaseline<'a> {
    /// Slots over `mem` (which must be page aligned, as the benchmark's arena is).
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        let n = (mem.len() / SLOT) as u32;
        SlotBaseline {
            base: mem.as_mut_ptr().cast(),
            free: (0..n).rev().collect(),
            _mem: std::marker::PhantomData,
        }
    }
}

impl Contender for SlotBaseline<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, _align: usize) -> *mut u8 {
        match self.free.pop() {
            // `wrapping_add` keeps this safe; the slot lies inside the arena.
            Some(i) if size <= SLOT => self.base.wrapping_add(i as usize * SLOT),
            Some(i) => {
                self.free.push(i);
                ptr::null_mut()
            }
            None => ptr::null_mut(),
        }
    }

    #[inline]
    unsafe fn free(&mut self, ptr: *mut u8, _size: usize, _align: usize) {
        self.free
            .push(((ptr as usize - self.base as usize) / SLOT) as u32);
    }

    #[inline]
    unsafe fn realloc(&mut self, ptr: *mut u8, _old: usize, _align: usize, new: usize) -> *mut u8 {
        if new <= SLOT {
            ptr
        } else {
            ptr::null_mut()
        }
    }
}
