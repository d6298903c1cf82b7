//! Heap statistics: sizes from a walk of the heap plus the operation counters, and the
//! fragmentation measures of the seed.
//!
//! * **heap bytes** — `brk - start`, what peak utilisation divides by;
//! * **allocated bytes** — sum of allocated block sizes (payload plus header and padding:
//!   the application's requested sizes are known only to the caller, so internal
//!   fragmentation = allocated bytes − requested bytes is computed by the lab);
//! * **external fragmentation** — `1 − largest free block / total free bytes`: 0 when all
//!   free memory is one block, approaching 1 when it is scattered in small pieces.

use crate::block::{ALLOC, FLAGS};
use crate::heap::{Counters, Heap};
use crate::policy::Policy;
use crate::source::Source;

/// A snapshot of a heap's sizes and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `brk - start`: the whole heap, metadata, prologue and epilogue included.
    pub heap_bytes: usize,
    /// Bytes that are not blocks: policy metadata, padding, prologue and epilogue.
    pub fixed_overhead_bytes: usize,
    /// Allocated blocks.
    pub allocated_blocks: usize,
    /// Sum of allocated block sizes.
    pub allocated_bytes: usize,
    /// Usable payload bytes of allocated blocks (block size minus header).
    pub usable_bytes: usize,
    /// Free blocks.
    pub free_blocks: usize,
    /// Sum of free block sizes.
    pub free_bytes: usize,
    /// Largest free block.
    pub largest_free: usize,
    /// Bytes of slab blocks and of the slab control block not holding live objects (their
    /// headers, padding, free objects and the slab directory); 0 for policies without slabs
    /// ([`crate::policy::slab`]). With slabs, a live slab object counts as an allocated block
    /// of its class size (allocated and usable bytes alike), and `heap_bytes` =
    /// `fixed_overhead_bytes + allocated_bytes + free_bytes + slab_overhead_bytes`.
    pub slab_overhead_bytes: usize,
    /// Highest allocated-bytes figure seen.
    pub peak_allocated_bytes: usize,
    /// Operation counters.
    pub counters: Counters,
}

impl Stats {
    /// Adds the statistics of another heap (for a figure over several heaps): sizes and
    /// counters add up, `largest_free` is the larger one. Every field is named, so a new
    /// field cannot be forgotten here.
    ///
    /// ```
    /// use heapwise_core::Stats;
    ///
    /// let a = Stats { heap_bytes: 4096, largest_free: 64, ..Stats::default() };
    /// let mut sum = a;
    /// sum.merge(&Stats { heap_bytes: 8192, largest_free: 32, ..Stats::default() });
    /// assert_eq!((sum.heap_bytes, sum.largest_free), (12288, 64));
    /// ```
    pub fn merge(&mut self, other: &Stats) {
        let Stats {
            heap_bytes,
            fixed_overhead_bytes,
            allocated_blocks,
            allocated_bytes,
            usable_bytes,
            free_blocks,
            free_bytes,
            largest_free,
            slab_overhead_bytes,
            peak_allocated_bytes,
            counters,
        } = *other;
        self.heap_bytes += heap_bytes;
        self.fixed_overhead_bytes += fixed_overhead_bytes;
        self.allocated_blocks += allocated_blocks;
        self.allocated_bytes += allocated_bytes;
        self.usable_bytes += usable_bytes;
        self.free_blocks += free_blocks;
        self.free_bytes += free_bytes;
        self.largest_free = self.largest_free.max(largest_free);
        self.slab_overhead_bytes += slab_overhead_bytes;
        self.peak_allocated_bytes += peak_allocated_bytes;
        self.counters.merge(&counters);
    }

    /// External fragmentation, `1 − largest free / total free` (0 when nothing is free).
    pub fn external_fragmentation(&self) -> f64 {
        if self.free_bytes == 0 {
            0.0
        } else {
            1.0 - self.largest_free as f64 / self.free_bytes as f64
        }
    }
}

impl Counters {
    /// Adds another heap's counters (the peak adds up too: a bound for the sum's peak).
    pub fn merge(&mut self, other: &Counters) {
        let Counters {
            mallocs,
            frees,
            reallocs,
            callocs,
            aligned,
            failures,
            errors,
            extensions,
            alloc_blocks,
            alloc_bytes,
            peak_alloc_bytes,
        } = *other;
        self.mallocs += mallocs;
        self.frees += frees;
        self.reallocs += reallocs;
        self.callocs += callocs;
        self.aligned += aligned;
        self.failures += failures;
        self.errors += errors;
        self.extensions += extensions;
        self.alloc_blocks += alloc_blocks;
        self.alloc_bytes += alloc_bytes;
        self.peak_alloc_bytes += peak_alloc_bytes;
    }
}

impl<S: Source, P: Policy> Heap<S, P> {
    /// Walks the heap and returns its statistics. O(number of blocks).
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            counters: self.counters,
            peak_allocated_bytes: self.counters.peak_alloc_bytes,
            ..Stats::default()
        };
        let Some(l) = self.layout() else {
            return s;
        };
        s.heap_bytes = l.end - l.start;
        let mut blocks_bytes = 0;
        for b in self.blocks() {
            blocks_bytes += b.size;
            if b.allocated {
                s.allocated_blocks += 1;
                s.allocated_bytes += b.size;
                s.usable_bytes += b.usable();
            } else {
                s.free_blocks += 1;
                s.free_bytes += b.size;
                s.largest_free = s.largest_free.max(b.size);
            }
        }
        s.fixed_overhead_bytes = s.heap_bytes - blocks_bytes;
        if P::SLAB_MAX != 0 {
            self.slab_stats(&mut s);
        }
        s
    }

    /// Largest free block, found by a walk (O(number of blocks)).
    pub fn largest_free_block(&self) -> usize {
        self.blocks()
            .filter(|b| !b.allocated)
            .map(|b| b.size)
            .max()
            .unwrap_or(0)
    }
}

const _: () = assert!(ALLOC & FLAGS != 0);
