//! The engine's suite, instantiated by one macro for every policy × fit combination: a shadow
//! model driven by random programs (deterministic and `proptest`), with the heap checker after
//! every operation, and the edge cases of the malloc package.

mod model;

use std::cell::Cell;
use std::ptr::NonNull;

use heapwise_core::block::{MIN_BLOCK, WORD};
use heapwise_core::{AnyHeap, ErrorKind, FixedArena, HeapError, PolicyKind, Source};
use model::{region, Model, Op, Rng};

/// Ops per deterministic random program (fewer under Miri, which is slow).
const RANDOM_OPS: usize = if cfg!(miri) { 60 } else { 4000 };
/// Heap region for most tests.
const REGION: usize = if cfg!(miri) { 256 << 10 } else { 8 << 20 };

/// Under Miri (slow: every memory access is checked), the suite runs for one policy of each
/// family, which between them execute every engine path (implicit scan and rover, deferred
/// coalescing, explicit ordered insertion, segregated bitmap, compact placement); the other
/// combinations differ only in type parameters and run in the normal suite.
const MIRI_POLICIES: &[PolicyKind] = &[
    PolicyKind::ImplicitNext,
    PolicyKind::ImplicitBestDeferred,
    PolicyKind::ExplicitAddrFirst,
    PolicyKind::Segregated,
    PolicyKind::Compact,
    PolicyKind::CompactSlab,
];

/// Whether this test body should run (always, except for most policies under Miri).
fn runs(kind: PolicyKind) -> bool {
    let run = !cfg!(miri) || MIRI_POLICIES.contains(&kind);
    if !run {
        eprintln!("{kind}: covered by the non-Miri run only");
    }
    run
}

fn heap(kind: PolicyKind, mem: &mut [std::mem::MaybeUninit<u8>]) -> AnyHeap<FixedArena<'_>> {
    AnyHeap::new(kind, FixedArena::new(mem))
}

/// Merges all free runs of a deferred-coalescing heap by provoking a failed search.
fn settle<S: Source>(h: &mut AnyHeap<S>) {
    assert!(h.malloc(heapwise_core::block::MAX_BLOCK - 64).is_none());
}

fn random_program(kind: PolicyKind, seed: u64) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(REGION);
    let mut h = heap(kind, &mut mem);
    let mut m = Model::default();
    let mut rng = Rng(seed);
    for _ in 0..RANDOM_OPS {
        let op = rng.op(m.live.len());
        m.apply(&mut h, &op);
    }
    m.free_all(&mut h);
    settle(&mut h);
    let s = h.stats();
    assert_eq!(s.allocated_blocks, 0);
    assert_eq!(
        s.free_blocks, 1,
        "{kind}: everything freed must be one free block"
    );
    h.check().unwrap();
}

fn small_sizes(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(1 << 16);
    let mut h = heap(kind, &mut mem);
    let mut m = Model::default();
    for size in [0, 1, 15, 16, 17, 0, 0, 31, 32, 33, 47, 48, 49] {
        m.apply(&mut h, &Op::Malloc(size));
    }
    // malloc(0) gives unique, freeable pointers: the model checked non-overlap of 1 byte.
    assert_eq!(m.live.len(), 13);
    // An engine block has at least MIN_BLOCK - WORD usable bytes; a header-free slab object
    // (policies with slabs) has its 16-byte class, at least 16 (more than a 32-bit minimum
    // block's 12).
    let least = if kind == PolicyKind::CompactSlab {
        (MIN_BLOCK - WORD).min(16)
    } else {
        MIN_BLOCK - WORD
    };
    for &a in m.live.keys() {
        // SAFETY: live payloads.
        assert!(unsafe { h.usable_size(a as *const u8) } >= least);
    }
    m.free_all(&mut h);
}

fn huge_sizes_fail(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(1 << 16);
    let mut h = heap(kind, &mut mem);
    let keep = h.malloc(100).unwrap();
    for size in [
        usize::MAX,
        usize::MAX - 15,
        usize::MAX - 16,
        isize::MAX as usize,
        usize::MAX / 3,
    ] {
        assert!(h.malloc(size).is_none(), "malloc({size:#x})");
        assert!(h.calloc(1, size).is_none());
        assert!(h.aligned_alloc(64, size).is_none());
        h.check().unwrap();
    }
    assert!(h.calloc(usize::MAX, 2).is_none());
    assert!(h.calloc(2, usize::MAX / 2 + 1).is_none());
    assert!(h.calloc((usize::MAX >> 2) + 1, 8).is_none());
    assert!(h.aligned_alloc(1 << (usize::BITS - 1), 1).is_none());
    assert!(h.aligned_alloc(48, 1).is_none(), "not a power of two");
    // SAFETY: `keep` is live.
    unsafe {
        assert!(h.realloc(keep.as_ptr(), usize::MAX).is_none());
        assert!(h.reallocarray(keep.as_ptr(), 2, usize::MAX).is_none());
        assert!(h.usable_size(keep.as_ptr()) >= 100);
        h.free(keep.as_ptr());
    }
    h.check().unwrap();
    // A growth chunk near `usize::MAX` (a configuration mistake, not a request) saturates
    // instead of overflowing: the arena refuses the chunk and the heap grows by the request.
    let mut mem = region(1 << 16);
    let mut h = heap(kind, &mut mem).with_chunk(usize::MAX);
    let p = h.malloc(100).expect("malloc with a saturated chunk");
    // SAFETY: `p` is live.
    unsafe { h.free(p.as_ptr()) };
    h.check().unwrap();
}

fn alignments(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(if cfg!(miri) { 1 << 20 } else { 8 << 20 });
    let mut h = heap(kind, &mut mem);
    let mut m = Model::default();
    let top = if cfg!(miri) { 17 } else { 20 };
    for shift in 0..=top {
        m.apply(&mut h, &Op::Aligned(shift, 100));
        m.apply(&mut h, &Op::Malloc(24));
    }
    for shift in (4..=top).rev() {
        m.apply(&mut h, &Op::Aligned(shift, 1 << (shift / 2)));
    }
    m.free_all(&mut h);
    settle(&mut h);
    assert_eq!(h.stats().free_blocks, 1);
}

fn oom_leaves_a_valid_heap(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(64 << 10);
    let mut h = heap(kind, &mut mem);
    let mut m = Model::default();
    while m.failures == 0 {
        m.apply(&mut h, &Op::Malloc(1000));
    }
    let n = m.live.len();
    assert!(
        n >= 50,
        "{kind}: only {n} blocks of 1000 bytes fit in 64 KiB"
    );
    // A smaller request is served after a free, and the heap stays valid throughout.
    m.apply(&mut h, &Op::Free(3));
    m.apply(&mut h, &Op::Malloc(200));
    assert_eq!(
        m.live.len(),
        n,
        "{kind}: a 200-byte request must fit where 1000 bytes were"
    );
    m.free_all(&mut h);
    settle(&mut h);
    assert_eq!(h.stats().free_blocks, 1);
    // The whole arena is usable again.
    m.apply(&mut h, &Op::Malloc(60_000));
    assert_eq!(
        m.live.len(),
        1,
        "{kind}: the whole arena must be usable again"
    );
}

fn calloc_zeroes_reused_memory(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(1 << 16);
    let mut h = heap(kind, &mut mem);
    let mut m = Model::default();
    for _ in 0..3 {
        m.apply(&mut h, &Op::Malloc(500));
    }
    m.free_all(&mut h);
    // The model fills payloads with non-zero bytes and verifies calloc returns zeros.
    for _ in 0..6 {
        m.apply(&mut h, &Op::Calloc(10, 40));
    }
    m.free_all(&mut h);
}

fn realloc_semantics(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(1 << 18);
    let mut h = heap(kind, &mut mem);
    // SAFETY: all pointers passed are live payloads of `h` or null.
    unsafe {
        let p = h
            .realloc(std::ptr::null_mut(), 40)
            .expect("realloc(null) = malloc");
        p.as_ptr().write_bytes(7, 40);
        // Shrinking keeps the block in place.
        let q = h.realloc(p.as_ptr(), 8).unwrap();
        assert_eq!(q, p);
        assert_eq!(*q.as_ptr().add(7), 7);
        // Growing with a free successor (or at the top) stays in place.
        let r = h.realloc(q.as_ptr(), 3000).unwrap();
        assert_eq!(r, p, "{kind}: grow in place at the heap top");
        assert!((0..8).all(|i| *r.as_ptr().add(i) == 7));
        h.check().unwrap();
        // A block boxed in by allocated neighbours moves, keeping its bytes.
        let a = h.malloc(64).unwrap();
        a.as_ptr().write_bytes(1, 64);
        let _wall = h.malloc(64).unwrap();
        let b = h.realloc(a.as_ptr(), 5000).unwrap();
        assert_ne!(a, b);
        assert!((0..64).all(|i| *b.as_ptr().add(i) == 1));
        // realloc(p, 0) frees and returns null.
        let before = h.counters().alloc_blocks;
        assert!(h.realloc(b.as_ptr(), 0).is_none());
        assert_eq!(h.counters().alloc_blocks, before - 1);
        // reallocarray overflow fails and keeps the block.
        assert!(h.reallocarray(r.as_ptr(), usize::MAX, 2).is_none());
        assert_eq!(*r.as_ptr(), 7);
        let s = h.reallocarray(r.as_ptr(), 10, 10).unwrap();
        assert_eq!(*s.as_ptr(), 7);
        // Growing absorbs the whole run of free blocks after the block: two neighbours
        // freed side by side are one free block under immediate coalescing and two under
        // deferred coalescing, and neither alone has the room. (A fresh heap, so that every
        // fit places the four blocks side by side.)
        let mut mem = region(1 << 16);
        let mut h = heap(kind, &mut mem);
        let g = h.malloc(100).unwrap();
        let f1 = h.malloc(100).unwrap();
        let f2 = h.malloc(100).unwrap();
        let _wall = h.malloc(100).unwrap();
        g.as_ptr().write_bytes(3, 100);
        h.free(f1.as_ptr());
        h.free(f2.as_ptr());
        let grown = h.realloc(g.as_ptr(), 300).unwrap();
        assert_eq!(grown, g, "{kind}: grow in place into a run of free blocks");
        assert!((0..100).all(|i| *grown.as_ptr().add(i) == 3));
        h.check().unwrap();
        h.free(std::ptr::null_mut());
        h.check().unwrap();
    }
    realloc_at_the_top_of_a_full_arena(kind);
    realloc_past_a_small_free_successor(kind);
}

/// A block whose free successor is too small for the request: when the successor ends at
/// the top of the heap, the block takes it and the heap grows (the block stays); when it
/// does not and the free predecessor holds the rest (immediate coalescing), the block moves
/// down into the predecessor; with neither, it moves elsewhere. (`realloc`'s common cases
/// decide these without the rarer ones' code, which runs out of line: a wrong decision
/// moves the block.) Checked where the policy places the blocks side by side.
fn realloc_past_a_small_free_successor(kind: PolicyKind) {
    // (address, size, allocated) of the blocks after the one at payload `p`.
    fn after(h: &AnyHeap<FixedArena<'_>>, p: NonNull<u8>) -> Vec<(usize, usize, bool)> {
        let p = p.as_ptr() as usize;
        h.blocks()
            .skip_while(|b| b.payload() != p)
            .skip(1)
            .map(|b| (b.addr, b.size, b.allocated))
            .collect()
    }
    let immediate = !kind.name().ends_with("-deferred");
    let mut reached = 0;
    // At the top: [g][free successor up to the epilogue].
    let mut mem = region(1 << 17);
    let mut h = heap(kind, &mut mem);
    let g = h.malloc(600).unwrap();
    let f = h.malloc(600).unwrap();
    // SAFETY: `g` and `f` are live blocks of `h`, `g` of 600 bytes; `f` is freed once.
    unsafe {
        g.as_ptr().write_bytes(5, 600);
        h.free(f.as_ptr());
    }
    let next = after(&h, g);
    if next.len() == 1 && !next[0].2 && next[0].1 < 20_000 {
        reached += 1;
        // SAFETY: `g` is live.
        let r = unsafe { h.realloc(g.as_ptr(), 20_000) }.unwrap();
        assert_eq!(r, g, "{kind}: grow past a free successor at the top");
        // SAFETY: `r` is live with at least 600 bytes.
        assert!(unsafe { std::slice::from_raw_parts(r.as_ptr(), 600) }
            .iter()
            .all(|&x| x == 5));
        h.check().unwrap();
    }
    // Not at the top: [a: free 2016][g: 624][free 208][wall].
    let mut mem = region(1 << 17);
    let mut h = heap(kind, &mut mem);
    let a = h.malloc(2000).unwrap();
    let g = h.malloc(600).unwrap();
    let f = h.malloc(200).unwrap();
    let _wall = h.malloc(100).unwrap();
    // SAFETY: all are live blocks of `h`, `g` of 600 bytes; `a` and `f` are freed once.
    unsafe {
        g.as_ptr().write_bytes(6, 600);
        h.free(a.as_ptr());
        h.free(f.as_ptr());
    }
    let next = after(&h, g);
    let a_before_g = h.blocks().any(|b| {
        b.payload() == a.as_ptr() as usize
            && b.addr + b.size + WORD == g.as_ptr() as usize
            && !b.allocated
    });
    if next.len() >= 2 && !next[0].2 && next[0].1 == 208 && next[1].2 && a_before_g {
        reached += 1;
        // Predecessor, block and successor hold 2016 + 624 + 208 bytes.
        // SAFETY: `g` is live.
        let r = unsafe { h.realloc(g.as_ptr(), 2500) }.unwrap();
        h.check().unwrap();
        if immediate {
            assert_eq!(r, a, "{kind}: move down into the free predecessor");
        } else {
            assert_ne!(r, g, "{kind}: the block moves");
        }
        // SAFETY: `r` is live with at least 600 bytes.
        assert!(unsafe { std::slice::from_raw_parts(r.as_ptr(), 600) }
            .iter()
            .all(|&x| x == 6));
        // Now boxed in (allocated predecessor, small free successor, a wall): it moves
        // elsewhere.
        let w = h.malloc(100).unwrap();
        let next = after(&h, r);
        if next.first().is_some_and(|n| n.2) {
            // SAFETY: `r` is live.
            let s = unsafe { h.realloc(r.as_ptr(), 20_000) }.unwrap();
            assert_ne!(s, r, "{kind}: a boxed-in block moves");
            // SAFETY: `s` is live with at least 600 bytes.
            assert!(unsafe { std::slice::from_raw_parts(s.as_ptr(), 600) }
                .iter()
                .all(|&x| x == 6));
        }
        // SAFETY: `w` is live.
        unsafe { h.free(w.as_ptr()) };
        h.check().unwrap();
    }
    if kind == PolicyKind::Segregated || kind == PolicyKind::ImplicitFirst {
        assert_eq!(reached, 2, "{kind}: both layouts arise");
    }
}

/// A block at the top of an arena that cannot grow moves down into its free predecessor
/// when predecessor + block + free successor hold the request. (Immediate coalescing: a
/// deferred policy leaves the predecessor alone by design; the compact policies place the
/// three blocks in another order, so the scenario does not arise.)
fn realloc_at_the_top_of_a_full_arena(kind: PolicyKind) {
    if kind.name().ends_with("-deferred") || kind.name().starts_with("compact") {
        return;
    }
    let mut mem = region(1 << 14);
    let mut h = heap(kind, &mut mem).with_chunk(0);
    let _a = h.malloc(100).unwrap();
    let p = h.malloc(1000).unwrap();
    let b = h.malloc(400).unwrap();
    let room = h.source().free_room();
    let t = h.malloc(room - WORD).unwrap();
    assert_eq!(h.source().free_room(), 0, "{kind}: the arena is full");
    // SAFETY: `t`, `p` and `b` are live blocks of `h`; `b` has 400 bytes.
    unsafe {
        h.free(t.as_ptr());
        h.free(p.as_ptr());
        b.as_ptr().write_bytes(0xAB, 400);
    }
    h.check().unwrap();
    let layout: Vec<(usize, bool)> = h.blocks().map(|b| (b.size, b.allocated)).collect();
    assert_eq!(
        layout[layout.len() - 3..],
        [(1008, false), (416, true), (room, false)],
        "{kind}: p, b and t side by side at the top"
    );
    // Exactly the three blocks (1008, 416 and `room` bytes) as one, less its header.
    let want = 1008 + 416 + room - WORD;
    // SAFETY: `b` is live.
    let r = unsafe { h.realloc(b.as_ptr(), want) };
    h.check().unwrap();
    let q = r.unwrap_or_else(|| panic!("{kind}: realloc should move the block down"));
    // SAFETY: `q` is live with at least 400 bytes.
    assert!(unsafe { std::slice::from_raw_parts(q.as_ptr(), 400) }
        .iter()
        .all(|&x| x == 0xAB));
}

/// A request that fails because the source cannot even hold the empty heap is a failure
/// like any other (counted).
fn a_source_too_small_for_the_heap_counts_failures(kind: PolicyKind) {
    let mut mem = region(40);
    let mut h = heap(kind, &mut mem);
    assert!(h.malloc(16).is_none());
    assert!(h.calloc(1, 16).is_none());
    assert!(h.aligned_alloc(64, 16).is_none());
    // SAFETY: `realloc` of null is `malloc`.
    assert!(unsafe { h.realloc(std::ptr::null_mut(), 16) }.is_none());
    assert_eq!(h.counters().failures, 4, "{kind}");
}

thread_local! {
    /// Reports seen on this thread, and the kind of the last one (per thread: the misuse
    /// tests of the policies run in parallel, each reporting on its own thread).
    static REPORTS: Cell<usize> = const { Cell::new(0) };
    static LAST_KIND: Cell<Option<ErrorKind>> = const { Cell::new(None) };
}

fn count_report(e: &HeapError) {
    REPORTS.with(|r| r.set(r.get() + 1));
    LAST_KIND.with(|k| k.set(Some(e.kind)));
}

fn misuse_is_reported(kind: PolicyKind) {
    if !runs(kind) {
        return;
    }
    let mut mem = region(1 << 16);
    let mut h = heap(kind, &mut mem);
    h.set_corruption_hook(count_report);
    let reports = |n| {
        let before = REPORTS.with(Cell::get);
        move || REPORTS.with(Cell::get) - before == n
    };
    // SAFETY: deliberately wrong pointers; the heap must detect and refuse them, never
    // dereferencing outside its own memory.
    unsafe {
        let a = h.malloc(100).unwrap();
        let _b = h.malloc(100).unwrap();
        h.free(a.as_ptr());
        let ok = reports(1);
        h.free(a.as_ptr());
        assert!(ok(), "{kind}: double free must be reported");
        assert_eq!(LAST_KIND.with(Cell::get), Some(ErrorKind::DoubleFree));
        let ok = reports(1);
        assert!(h.realloc(a.as_ptr(), 10).is_none());
        assert!(ok(), "{kind}: realloc of a freed block must be reported");
        h.check().unwrap();
        let c = h.malloc(100).unwrap();
        // A program's interior pointers point at data it wrote (and Miri forbids reading
        // uninitialised bytes as a header word).
        c.as_ptr().write_bytes(0x5a, 100);
        let ok = reports(1);
        h.free(c.as_ptr().add(16));
        assert!(ok(), "{kind}: interior pointer must be reported");
        let ok = reports(1);
        h.free(c.as_ptr().add(3));
        assert!(ok(), "{kind}: misaligned pointer must be reported");
        let mut local = [0u8; 64];
        let ok = reports(1);
        h.free(local.as_mut_ptr());
        assert!(ok(), "{kind}: foreign pointer must be reported");
        h.check().unwrap();
        h.free(c.as_ptr());
        h.check().unwrap();
    }
}

macro_rules! policy_suite {
    ($($name:ident => $kind:ident,)*) => {
        $(
            mod $name {
                use super::*;
                const KIND: PolicyKind = PolicyKind::$kind;

                #[test]
                fn random_programs() {
                    for seed in 1u64..=if cfg!(miri) { 1 } else { 3 } {
                        random_program(KIND, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                    }
                }
                #[test]
                fn small_sizes_are_unique_aligned_and_usable() { small_sizes(KIND) }
                #[test]
                fn huge_sizes_fail_cleanly() { huge_sizes_fail(KIND) }
                #[test]
                #[cfg_attr(miri, ignore)]
                fn every_alignment_is_honoured() { alignments(KIND) }
                #[test]
                #[cfg_attr(miri, ignore)]
                fn oom_leaves_a_valid_heap_that_serves_smaller_requests() {
                    oom_leaves_a_valid_heap(KIND)
                }
                #[test]
                fn calloc_zeroes_reused_memory() { super::calloc_zeroes_reused_memory(KIND) }
                #[test]
                fn realloc_follows_c_semantics() { realloc_semantics(KIND) }
                #[test]
                fn misuse_is_reported_and_refused() { misuse_is_reported(KIND) }
                #[test]
                fn a_source_too_small_for_the_heap_counts_failures() {
                    super::a_source_too_small_for_the_heap_counts_failures(KIND)
                }

                #[cfg(not(miri))]
                proptest::proptest! {
                    #![proptest_config(proptest::prelude::ProptestConfig {
                        cases: proptest_cases(),
                        failure_persistence: None,
                        ..Default::default()
                    })]
                    #[test]
                    fn model_holds_for_any_program(ops in proptest::collection::vec(op(), 1..1500)) {
                        let mut mem = region(4 << 20);
                        let mut h = heap(KIND, &mut mem);
                        let mut m = Model::default();
                        for o in &ops {
                            m.apply(&mut h, o);
                        }
                        m.free_all(&mut h);
                        // A program that never allocated never grew the heap past its empty
                        // state, which has no free block.
                        let expected = usize::from(h.stats().heap_bytes > h.stats().fixed_overhead_bytes);
                        settle(&mut h);
                        proptest::prop_assert_eq!(h.stats().free_blocks, expected);
                    }
                }
            }
        )*

        /// The suite covers every policy the engine offers.
        #[test]
        fn suite_covers_every_policy() {
            let covered = [$(PolicyKind::$kind),*];
            for k in PolicyKind::ALL {
                assert!(covered.contains(k), "policy {k} has no suite: add it to policy_suite!");
            }
        }
    };
}

/// Cases per policy of the `proptest` model suite: 24 (CI), or `PROPTEST_CASES` when set
/// (long opt-in runs, e.g. `PROPTEST_CASES=20000 cargo test --release -p heapwise-core`).
#[cfg(not(miri))]
fn proptest_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

#[cfg(not(miri))]
fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    let size = prop_oneof![6 => 0usize..64, 3 => 0usize..4096, 1 => 0usize..100_000];
    prop_oneof![
        4 => size.clone().prop_map(Op::Malloc),
        1 => (0usize..16, 0usize..512).prop_map(|(n, s)| Op::Calloc(n, s)),
        1 => (0u32..16, size.clone()).prop_map(|(a, s)| Op::Aligned(a, s)),
        3 => any::<usize>().prop_map(Op::Free),
        2 => (any::<usize>(), size.clone()).prop_map(|(i, s)| Op::Realloc(i, s)),
        1 => (any::<usize>(), size).prop_map(|(i, s)| Op::ReallocHalves(i, s)),
    ]
}

policy_suite! {
    implicit_first => ImplicitFirst,
    implicit_next => ImplicitNext,
    implicit_best => ImplicitBest,
    implicit_first_deferred => ImplicitFirstDeferred,
    implicit_next_deferred => ImplicitNextDeferred,
    implicit_best_deferred => ImplicitBestDeferred,
    explicit_lifo_first => ExplicitLifoFirst,
    explicit_lifo_next => ExplicitLifoNext,
    explicit_lifo_best => ExplicitLifoBest,
    explicit_addr_first => ExplicitAddrFirst,
    explicit_addr_next => ExplicitAddrNext,
    explicit_addr_best => ExplicitAddrBest,
    segregated => Segregated,
    compact => Compact,
    compact_slab => CompactSlab,
}
