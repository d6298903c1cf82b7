//! The shadow model shared by the engine's test suites: a `BTreeMap` of live payload ranges
//! against which every operation of a heap ([`AnyHeap`], so that every policy runs the same
//! code) is checked, with the heap checker run after
//! every operation.
//!
//! For each live block the model keeps its requested length and a fill byte; payloads are
//! filled at allocation and verified byte for byte at realloc and free, so any overlap,
//! misplaced copy or metadata write into a live payload is caught.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::mem::MaybeUninit;

use heapwise_core::{AnyHeap, Source};

/// One step of a test program. Indices pick a live block modulo the number of live blocks.
#[derive(Clone, Debug)]
pub enum Op {
    /// `malloc(size)`
    Malloc(usize),
    /// `calloc(n, size)`
    Calloc(usize, usize),
    /// `aligned_alloc(1 << shift, size)`
    Aligned(u32, usize),
    /// `free(live[i])`
    Free(usize),
    /// `realloc(live[i], size)`
    Realloc(usize, usize),
    /// `realloc_in_place(live[i], size)`, then `realloc_move` when it cannot (the two
    /// halves of `realloc`, as the OS faces call them for the default policy)
    ReallocHalves(usize, usize),
}

/// The shadow model of live blocks.
#[derive(Default)]
pub struct Model {
    /// payload address -> (requested length, fill byte)
    pub live: BTreeMap<usize, (usize, u8)>,
    next_fill: u8,
    /// Total operations applied.
    pub ops: usize,
    /// Requests that returned null.
    pub failures: usize,
}

fn fill(p: *mut u8, len: usize, byte: u8) {
    // SAFETY: `p` is a live payload of at least `len` bytes handed out by the heap.
    unsafe { std::ptr::write_bytes(p, byte, len) }
}

fn verify(p: *const u8, len: usize, byte: u8, what: &str) {
    // SAFETY: `p` is a live payload of at least `len` bytes.
    let s = unsafe { std::slice::from_raw_parts(p, len) };
    if let Some(i) = s.iter().position(|&b| b != byte) {
        panic!(
            "{what}: payload byte {i} of {p:p} (len {len}) is {:#x}, expected {byte:#x}",
            s[i]
        );
    }
}

impl Model {
    fn fill_byte(&mut self) -> u8 {
        self.next_fill = self.next_fill.wrapping_add(37) | 1;
        self.next_fill
    }

    fn nth(&self, i: usize) -> Option<(usize, usize, u8)> {
        if self.live.is_empty() {
            return None;
        }
        let (&a, &(l, b)) = self.live.iter().nth(i % self.live.len())?;
        Some((a, l, b))
    }

    /// Records a new live block, checking alignment, bounds and overlap.
    fn add<S: Source>(&mut self, heap: &mut AnyHeap<S>, p: usize, len: usize, align: usize) {
        assert_eq!(p % align, 0, "payload {p:#x} not aligned to {align}");
        let l = heap.layout().expect("initialised");
        assert!(
            p >= l.first_block && p + len <= l.end,
            "payload {p:#x}+{len} outside heap"
        );
        // SAFETY: `p` is the live payload just returned.
        let usable = unsafe { heap.usable_size(p as *const u8) };
        assert!(usable >= len, "usable {usable} < requested {len}");
        if let Some((&q, &(ql, _))) = self.live.range(..=p).next_back() {
            assert!(q + ql.max(1) <= p, "{p:#x} overlaps live block {q:#x}+{ql}");
        }
        if let Some((&q, _)) = self.live.range(p..).next() {
            assert!(
                p + len.max(1) <= q,
                "{p:#x}+{len} overlaps live block {q:#x}"
            );
        }
        // The whole usable size is the program's (`usable_size`'s contract): filling it
        // leaves the slack dirty for the next block there (`calloc` must clear it).
        let b = self.fill_byte();
        fill(p as *mut u8, usable, b);
        self.live.insert(p, (len, b));
    }

    /// Applies `op` to `heap`, checking the result against the model and running the heap
    /// checker afterwards.
    pub fn apply<S: Source>(&mut self, heap: &mut AnyHeap<S>, op: &Op) {
        self.ops += 1;
        match *op {
            Op::Malloc(size) => match heap.malloc(size) {
                Some(p) => self.add(heap, p.as_ptr() as usize, size, 16),
                None => self.failures += 1,
            },
            Op::Calloc(n, size) => match heap.calloc(n, size) {
                Some(p) => {
                    // Every usable byte is zero, the slack past `n * size` too.
                    // SAFETY: `p` is the live payload just returned.
                    let usable = unsafe { heap.usable_size(p.as_ptr()) };
                    verify(p.as_ptr(), usable, 0, "calloc");
                    self.add(heap, p.as_ptr() as usize, n * size, 16)
                }
                None => {
                    assert!(n.checked_mul(size).is_some(), "overflow must fail");
                    self.failures += 1
                }
            },
            Op::Aligned(shift, size) => {
                let align = 1usize << shift;
                match heap.aligned_alloc(align, size) {
                    Some(p) => self.add(heap, p.as_ptr() as usize, size, align.max(16)),
                    None => self.failures += 1,
                }
            }
            Op::Free(i) => {
                if let Some((a, l, b)) = self.nth(i) {
                    verify(a as *const u8, l, b, "free");
                    self.live.remove(&a);
                    // SAFETY: `a` is a live payload of this heap.
                    unsafe { heap.free(a as *mut u8) };
                }
            }
            Op::Realloc(i, size) => {
                let Some((a, l, b)) = self.nth(i) else { return };
                verify(a as *const u8, l, b, "before realloc");
                // SAFETY: `a` is a live payload of this heap.
                let q = unsafe { heap.realloc(a as *mut u8, size) };
                if size == 0 {
                    assert!(q.is_none(), "realloc(p, 0) frees and returns null");
                    self.live.remove(&a);
                } else if let Some(q) = q {
                    let q = q.as_ptr() as usize;
                    verify(q as *const u8, l.min(size), b, "after realloc");
                    self.live.remove(&a);
                    self.add(heap, q, size, 16);
                } else {
                    self.failures += 1;
                    verify(a as *const u8, l, b, "failed realloc must keep the block");
                }
            }
            Op::ReallocHalves(i, size) => {
                let Some((a, l, b)) = self.nth(i) else { return };
                verify(a as *const u8, l, b, "before realloc_in_place");
                let p = core::ptr::NonNull::new(a as *mut u8).expect("live payloads are non-null");
                // SAFETY: `p` is a live payload of this heap.
                let q = match unsafe { heap.realloc_in_place(p, size) } {
                    Some(q) => {
                        // In place: the same block, or its payload moved down into a free
                        // predecessor.
                        assert!(
                            q <= p,
                            "realloc_in_place moved the block up: {p:?} -> {q:?}"
                        );
                        Some(q)
                    }
                    // SAFETY: as above; realloc_in_place left the block untouched.
                    None => unsafe { heap.realloc_move(p, size) },
                };
                if let Some(q) = q {
                    let q = q.as_ptr() as usize;
                    verify(
                        q as *const u8,
                        l.min(size),
                        b,
                        "after realloc_in_place/move",
                    );
                    self.live.remove(&a);
                    self.add(heap, q, size, 16);
                } else {
                    self.failures += 1;
                    verify(
                        a as *const u8,
                        l,
                        b,
                        "failed realloc_move must keep the block",
                    );
                }
            }
        }
        if let Err(e) = heap.check() {
            panic!(
                "heap check failed after op {} ({op:?}): {e} [{e:?}]",
                self.ops
            );
        }
        let c = heap.counters();
        assert_eq!(c.alloc_blocks, self.live.len(), "allocated block count");
    }

    /// Frees every live block (verifying payloads), checking the heap after each.
    pub fn free_all<S: Source>(&mut self, heap: &mut AnyHeap<S>) {
        while !self.live.is_empty() {
            self.apply(heap, &Op::Free(0));
        }
    }
}

/// A small deterministic PRNG (xorshift64*), for test programs that must also run under Miri.
pub struct Rng(pub u64);

impl Rng {
    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[0, n)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A size: mostly small, sometimes medium, rarely large.
    pub fn size(&mut self) -> usize {
        match self.below(10) {
            0..=5 => self.below(64) as usize,
            6..=8 => self.below(2048) as usize,
            _ => self.below(if cfg!(miri) { 5_000 } else { 40_000 }) as usize,
        }
    }
    /// A random operation, biased towards allocation while few blocks are live.
    pub fn op(&mut self, live: usize) -> Op {
        let r = self.below(100);
        let i = self.next() as usize;
        if live < 8 || r < 35 {
            Op::Malloc(self.size())
        } else if r < 45 {
            Op::Calloc(self.below(8) as usize, self.size() / 4)
        } else if r < 50 {
            Op::Aligned(self.below(13) as u32, self.size())
        } else if r < 75 {
            Op::Free(i)
        } else if r < 90 {
            Op::Realloc(i, if self.below(30) == 0 { 0 } else { self.size() })
        } else {
            Op::ReallocHalves(i, self.size())
        }
    }
}

/// A heap-sized buffer of uninitialised bytes, built without touching each byte (Miri takes
/// seconds to clone a megabyte of `MaybeUninit`).
pub fn region(bytes: usize) -> Vec<MaybeUninit<u8>> {
    let mut v = Vec::with_capacity(bytes);
    // SAFETY: `MaybeUninit<u8>` needs no initialisation, and the capacity is `bytes`.
    unsafe { v.set_len(bytes) };
    v
}
