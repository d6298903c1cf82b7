//! The `GlobalAlloc` contract of `Heapwise`, checked through the trait itself (this test
//! binary's global allocator is `Heapwise` too): every power-of-two alignment from 1 to
//! 2 MiB, sizes around the cache, heap and large-block boundaries, `Layout`s near
//! `isize::MAX` (null, never a panic or an abort), `alloc_zeroed` on memory just dirtied by
//! blocks of the same layout (thread caches, heap blocks, cached large mappings), and
//! `realloc` of over-aligned blocks against a model (alignment and contents kept, a failed
//! `realloc` leaves the block intact).

use std::alloc::{GlobalAlloc, Layout};

use heapwise::Heapwise;

#[global_allocator]
static A: Heapwise = Heapwise;

/// Alignments checked: every power of two from 1 to 2 MiB.
fn alignments() -> impl Iterator<Item = usize> {
    (0..=21).map(|s| 1usize << s)
}

/// Sizes checked at alignment `align`: tiny, around the alignment, around the thread
/// caches' largest block, around the large-block threshold.
fn sizes(align: usize) -> Vec<usize> {
    let mut v = vec![1, 7, 8, 15, 16, 17, 1000, 1016, 1017, 4096, 100_000];
    for a in [align.saturating_sub(1), align, align + 1, 3 * align + 5] {
        v.push(a.max(1));
    }
    let t = heapwise::LARGE_THRESHOLD;
    for s in [t - align.min(t / 2) - 17, t - 16, t, t + 1, 3 << 20] {
        v.push(s);
    }
    v
}

fn fill(p: *mut u8, n: usize, seed: u8) {
    for i in 0..n {
        // SAFETY: callers pass a live block of at least `n` bytes.
        unsafe { p.add(i).write(seed.wrapping_add(i as u8).wrapping_mul(31)) };
    }
}

fn holds(p: *const u8, n: usize, seed: u8) -> bool {
    // SAFETY: callers pass a live block of at least `n` initialised bytes.
    (0..n).all(|i| unsafe { p.add(i).read() } == seed.wrapping_add(i as u8).wrapping_mul(31))
}

#[test]
fn every_alignment_and_size_is_honoured() {
    for align in alignments() {
        for size in sizes(align) {
            let l = Layout::from_size_align(size, align).unwrap();
            // SAFETY: a non-zero size; the block is freed with its layout.
            unsafe {
                let p = A.alloc(l);
                assert!(!p.is_null(), "alloc({size}, {align})");
                assert_eq!(p as usize % align, 0, "alloc({size}, {align}) = {p:?}");
                fill(p, size, size as u8);
                assert!(holds(p, size, size as u8));
                A.dealloc(p, l);
            }
        }
    }
    Heapwise::check().unwrap();
}

#[test]
fn impossible_sizes_give_null_not_a_panic() {
    for align in alignments() {
        let max = isize::MAX as usize - (align - 1);
        // No 64-bit address space holds any of these sizes. A 32-bit one may hold up to
        // ~2 GiB: there only sizes above `isize::MAX` less 1 MiB (the largest block) are
        // impossible.
        let wide = cfg!(target_pointer_width = "64");
        for size in [
            max,
            max - 4096,
            max / 2 + 1,
            usize::MAX / 4,
            1usize << (usize::BITS - 4),
        ] {
            let size = size & !(align - 1);
            if !wide && size <= isize::MAX as usize - (1 << 20) {
                continue;
            }
            let Ok(l) = Layout::from_size_align(size, align) else {
                continue;
            };
            // SAFETY: a non-zero size; nothing is returned to free.
            unsafe {
                assert!(A.alloc(l).is_null(), "alloc({size}, {align})");
                assert!(A.alloc_zeroed(l).is_null(), "alloc_zeroed({size}, {align})");
            }
        }
        // A failed growth leaves the block as it was (on a 32-bit target the largest size
        // a layout of this alignment allows may be possible: not tried then).
        let new = isize::MAX as usize - (align - 1);
        if !wide && new <= isize::MAX as usize - (1 << 20) {
            continue;
        }
        for old in [24usize, 3000, 1 << 20] {
            let l = Layout::from_size_align(old, align).unwrap();
            // SAFETY: a non-zero size; the block is freed with its layout (the failed
            // `realloc` kept it live).
            unsafe {
                let p = A.alloc(l);
                assert!(!p.is_null());
                fill(p, old, 3);
                let q = A.realloc(p, l, new);
                assert!(q.is_null(), "realloc({old}, {align}) to isize::MAX");
                assert!(holds(p, old, 3), "a failed realloc changed the block");
                A.dealloc(p, l);
            }
        }
    }
    Heapwise::check().unwrap();
}

#[test]
fn alloc_zeroed_is_zero_on_reused_memory() {
    for align in alignments().filter(|&a| a <= 1 << 16) {
        for size in sizes(align) {
            let l = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero sizes; each block is freed with its layout.
            unsafe {
                // Dirty blocks of the very same layout, freed just before: the thread
                // cache, the heaps and the large-block cache hold them.
                let dirty: Vec<*mut u8> = (0..20)
                    .map(|_| {
                        let p = A.alloc(l);
                        assert!(!p.is_null());
                        p.write_bytes(0xA5, size);
                        p
                    })
                    .collect();
                for p in dirty.into_iter().rev() {
                    A.dealloc(p, l);
                }
                let zeroed: Vec<*mut u8> = (0..20).map(|_| A.alloc_zeroed(l)).collect();
                for &z in &zeroed {
                    assert!(!z.is_null() && z as usize % align == 0);
                    let s = std::slice::from_raw_parts(z, size);
                    assert!(
                        s.iter().all(|&b| b == 0),
                        "alloc_zeroed({size}, {align}): byte {} not zero",
                        s.iter().position(|&b| b != 0).unwrap()
                    );
                }
                for z in zeroed {
                    A.dealloc(z, l);
                }
            }
        }
    }
    Heapwise::check().unwrap();
}

mod model {
    use super::*;
    use proptest::prelude::*;

    /// One step on the model's live blocks.
    #[derive(Clone, Debug)]
    enum Op {
        Alloc {
            size: usize,
            align_log: u32,
            zeroed: bool,
        },
        Realloc {
            pick: usize,
            size: usize,
        },
        Dealloc {
            pick: usize,
        },
    }

    /// Sizes from a byte to past the large-block threshold, weighted to the small ones.
    fn size() -> impl Strategy<Value = usize> {
        prop_oneof![
            4 => 1usize..1100,
            2 => 1100usize..70_000,
            1 => 200_000usize..600_000,
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (size(), 0u32..=21, any::<bool>())
                .prop_map(|(size, align_log, zeroed)| Op::Alloc { size, align_log, zeroed }),
            4 => (any::<usize>(), size()).prop_map(|(pick, size)| Op::Realloc { pick, size }),
            2 => any::<usize>().prop_map(|pick| Op::Dealloc { pick }),
        ]
    }

    struct Live {
        p: *mut u8,
        layout: Layout,
        seed: u8,
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Every live block keeps its layout's alignment and its bytes through `realloc`
        /// (growing and shrinking, in place or moved), at every alignment up to 2 MiB.
        #[test]
        fn realloc_keeps_alignment_and_contents(ops in prop::collection::vec(op(), 1..60)) {
            let mut live: Vec<Live> = Vec::new();
            let mut seed = 0u8;
            for op in ops {
                seed = seed.wrapping_add(1);
                match op {
                    Op::Alloc { size, align_log, zeroed } => {
                        let layout = Layout::from_size_align(size, 1 << align_log).unwrap();
                        // SAFETY: a non-zero size; the block is freed with its layout.
                        let p = unsafe {
                            if zeroed { A.alloc_zeroed(layout) } else { A.alloc(layout) }
                        };
                        prop_assert!(!p.is_null());
                        prop_assert_eq!(p as usize % layout.align(), 0);
                        if zeroed {
                            // SAFETY: a live block of `size` bytes.
                            let s = unsafe { std::slice::from_raw_parts(p, size) };
                            prop_assert!(s.iter().all(|&b| b == 0));
                        }
                        fill(p, size, seed);
                        live.push(Live { p, layout, seed });
                    }
                    Op::Realloc { pick, size } if !live.is_empty() => {
                        let n = live.len();
                        let b = &mut live[pick % n];
                        // SAFETY: `b.p` is live with `b.layout`; `size` is non-zero and the
                        // new layout (same alignment) is valid.
                        let q = unsafe { A.realloc(b.p, b.layout, size) };
                        prop_assert!(!q.is_null());
                        prop_assert_eq!(
                            q as usize % b.layout.align(), 0,
                            "realloc {} -> {} at align {}", b.layout.size(), size, b.layout.align()
                        );
                        prop_assert!(holds(q, b.layout.size().min(size), b.seed));
                        b.layout = Layout::from_size_align(size, b.layout.align()).unwrap();
                        b.p = q;
                        b.seed = seed;
                        fill(q, size, seed);
                    }
                    Op::Dealloc { pick } if !live.is_empty() => {
                        let b = live.swap_remove(pick % live.len());
                        prop_assert!(holds(b.p, b.layout.size(), b.seed));
                        // SAFETY: `b.p` is live with `b.layout`.
                        unsafe { A.dealloc(b.p, b.layout) };
                    }
                    _ => {}
                }
            }
            for b in live {
                prop_assert!(holds(b.p, b.layout.size(), b.seed));
                // SAFETY: `b.p` is live with `b.layout`.
                unsafe { A.dealloc(b.p, b.layout) };
            }
            prop_assert!(Heapwise::check().is_ok());
        }
    }
}

/// An over-aligned block shrunk to well under half of it moves to a block of its new size
/// (mimalloc's rule), alignment and contents kept; one shrunk by less stays in place.
/// Before, every shrink kept the whole block: a 1 MiB buffer at 64-byte alignment shrunk
/// to 100 bytes kept its megabyte.
#[test]
fn an_over_aligned_block_shrunk_below_half_gives_its_memory_back() {
    let g = Heapwise::global();
    for (size, align) in [
        (1 << 20, 64),
        (300_000, 4096),
        (8000, 32),
        (4 << 20, 1 << 16),
    ] {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: non-zero sizes; every block is freed with its current layout.
        unsafe {
            let p = A.alloc(l);
            assert!(!p.is_null());
            fill(p, size, 7);
            // Shrunk by less than half: in place.
            let keep = size - size / 4;
            let q = A.realloc(p, l, keep);
            assert_eq!(q, p, "{size} -> {keep} at {align} stays in place");
            let l = Layout::from_size_align(keep, align).unwrap();
            // Shrunk to 100 bytes: a block of about that size.
            let r = A.realloc(q, l, 100);
            assert!(!r.is_null());
            assert_eq!(r as usize % align, 0, "{size} -> 100 at {align}: aligned");
            assert!(holds(r, 100, 7), "{size} -> 100 at {align}: contents kept");
            let usable = g.usable_size(r);
            assert!(
                (100..size / 2).contains(&usable),
                "{size} -> 100 at {align}: {usable} usable bytes"
            );
            A.dealloc(r, Layout::from_size_align(100, align).unwrap());
        }
    }
    assert!(Heapwise::check().is_ok());
}
