//! [`GlobalStats`]: the statistics of a whole OS allocator, the engine's per-heap
//! [`Stats`] summed over its heaps plus large blocks, footprint and requested bytes, with
//! the seed's measures (peak utilisation, external fragmentation).
//!
//! * **footprint** — heap bytes (`brk - start` of every heap) plus bytes mapped for large
//!   blocks, live or kept for reuse by the large-block cache: the memory the allocator holds
//!   from the OS;
//! * **requested bytes** — what the program asked for and has not freed, counted by the
//!   face that knows the sizes (the Rust face always, from each `Layout`; the preload face
//!   when statistics or tracing are on);
//! * **peak utilisation** — `peak requested bytes / peak footprint` (the seed's
//!   `max P_i / H_k`, with `H_k` the high-water mark of the footprint).

use heapwise_core::{PolicyKind, Stats};

/// A snapshot of an OS allocator's statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GlobalStats {
    /// The heaps' policy.
    pub policy: PolicyKind,
    /// Heaps in use (1 normally; more after an `sbrk` failure or a full region).
    pub heaps: usize,
    /// Heaps grown with `sbrk` (0 or 1).
    pub sbrk_heaps: usize,
    /// The engine's statistics summed over the heaps (largest free block: the maximum;
    /// peak allocated bytes: the sum of the heaps' peaks), as the program sees them: the
    /// blocks thread caches hold count neither as allocated nor as free (so
    /// `heap_bytes` exceeds fixed + allocated + free bytes by what the caches hold), and the
    /// call counts are the program's calls (cache hits included, cache refills and flushes
    /// not; cumulative: they never go back from one snapshot to the next). Large blocks are
    /// counted apart (`large_*` below), except that a `realloc` moving a block between a heap
    /// and a large mapping (or to another heap) is one `realloc` here, not a `malloc` and a
    /// `free`; its mapping or unmapping also counts in `large_allocs` or `large_frees`.
    ///
    /// While other threads allocate, a snapshot is not taken at one instant. The call
    /// counts hold every call that returned before the snapshot began (calls running
    /// meanwhile may or may not be in them). The block and byte figures (allocated and
    /// free blocks and bytes, usable bytes) may be off by the blocks that move between a
    /// thread's cache and the heaps, or between caches, meanwhile: up to a batch per
    /// thread moving blocks during the snapshot (a refill or flush moves at most 16 blocks
    /// and 4 KiB, a batch of remote frees 32 blocks), never wrapping below zero. With no other
    /// thread allocating, every figure is exact.
    pub heap: Stats,
    /// Large blocks mapped so far.
    pub large_allocs: u64,
    /// Large blocks freed so far (unmapped, or kept by the large-block cache).
    pub large_frees: u64,
    /// Large blocks resized with `mremap`.
    pub large_reallocs: u64,
    /// Large blocks live now.
    pub large_blocks: usize,
    /// Bytes mapped for live large blocks.
    pub large_bytes: usize,
    /// High-water mark of `large_bytes`.
    pub peak_large_bytes: usize,
    /// Bytes of freed large-block mappings the (process-wide) large-block cache keeps for
    /// reuse: resident until reused, or given back by a trim.
    pub large_cached_bytes: usize,
    /// Heap bytes plus large bytes plus cached large mappings now.
    pub footprint_bytes: usize,
    /// High-water mark of the footprint (of heap and live large bytes, tracked as they
    /// change; at least `footprint_bytes`: the cache is cut back whenever the footprint
    /// grows, so that cached mappings never raise it). Never decreases.
    pub peak_footprint_bytes: usize,
    /// Bytes requested and not yet freed (0 if not tracked).
    pub requested_bytes: usize,
    /// High-water mark of the requested bytes.
    pub peak_requested_bytes: usize,
    /// Whether requested bytes were tracked.
    pub requested_tracked: bool,
}

impl GlobalStats {
    /// Peak utilisation, `peak requested / peak footprint`; `None` when requested bytes were
    /// not tracked or nothing was ever allocated.
    pub fn peak_utilisation(&self) -> Option<f64> {
        if !self.requested_tracked || self.peak_footprint_bytes == 0 {
            return None;
        }
        Some(self.peak_requested_bytes as f64 / self.peak_footprint_bytes as f64)
    }

    /// External fragmentation of the heaps, `1 - largest free / free bytes`.
    pub fn external_fragmentation(&self) -> f64 {
        self.heap.external_fragmentation()
    }

    /// Every allocating call served (heap and large).
    pub fn operations(&self) -> u64 {
        let c = &self.heap.counters;
        c.mallocs
            + c.callocs
            + c.reallocs
            + c.aligned
            + c.frees
            + self.large_allocs
            + self.large_frees
            + self.large_reallocs
    }
}
