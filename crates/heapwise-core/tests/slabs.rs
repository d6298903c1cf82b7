//! The slab layer of `compact-slab` ([`heapwise_core::policy::slab`]): header-free objects,
//! misuse of pointers into slabs, slabs going back to the engine, the checker and the
//! statistics. (The policy also runs the whole model suite in `policies.rs`.)

mod model;

use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use heapwise_core::block::{block_size_for, WORD};
use heapwise_core::policy::slab::{DEMAND, MIN_CAP, SLAB_HEADER};
use heapwise_core::{
    AnyHeap, CompactSlab, ErrorKind, FixedArena, Heap, HeapError, PolicyKind, SimBrk, Source,
};
use model::{Model, Op, Rng};

type SlabHeap<'a> = Heap<FixedArena<'a>, CompactSlab>;

/// `n` uninitialised bytes (built without touching each one: Miri is slow at that).
fn mem(n: usize) -> Vec<MaybeUninit<u8>> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: `MaybeUninit<u8>` needs no initialisation, and the capacity is `n`.
    unsafe { v.set_len(n) };
    v
}

/// Allocates `DEMAND` requests of `size` bytes (engine blocks: the class has no demand yet),
/// then `n` more, which are slab objects; returns both lists.
fn warm(h: &mut SlabHeap<'_>, size: usize, n: usize) -> (Vec<*mut u8>, Vec<*mut u8>) {
    let blocks: Vec<_> = (0..DEMAND)
        .map(|_| h.malloc(size).unwrap().as_ptr())
        .collect();
    let objs: Vec<_> = (0..n).map(|_| h.malloc(size).unwrap().as_ptr()).collect();
    h.check().unwrap();
    (blocks, objs)
}

// The hook is a plain `fn`: the tests that count reports take this lock so that they do not
// see each other's reports.
static LOCK: Mutex<()> = Mutex::new(());
static REPORTS: AtomicUsize = AtomicUsize::new(0);
static LAST: Mutex<Option<HeapError>> = Mutex::new(None);

fn record(e: &HeapError) {
    REPORTS.fetch_add(1, Ordering::SeqCst);
    *LAST.lock().unwrap() = Some(*e);
}

/// Runs `f` and returns the one report it caused (panics unless exactly one).
fn one_report(f: impl FnOnce()) -> HeapError {
    let before = REPORTS.load(Ordering::SeqCst);
    f();
    assert_eq!(
        REPORTS.load(Ordering::SeqCst) - before,
        1,
        "exactly one report"
    );
    LAST.lock().unwrap().expect("a report")
}

#[test]
fn small_requests_become_header_free_objects_once_their_class_is_in_demand() {
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    let (blocks, objs) = warm(&mut h, 16, 20);
    // The first requests are engine blocks of 32 bytes, their usable size 32 - WORD.
    // SAFETY: live payloads.
    assert_eq!(unsafe { h.usable_size(blocks[0]) }, 32 - WORD);
    // Then objects, 16 usable bytes each; those of the first slab are consecutive, 16 bytes
    // apart.
    for w in objs[..MIN_CAP].windows(2) {
        assert_eq!(w[1] as usize - w[0] as usize, 16);
    }
    // SAFETY: live payloads.
    assert_eq!(unsafe { h.usable_size(objs[5]) }, 16);
    let s = h.stats();
    assert_eq!(s.allocated_blocks, DEMAND + 20);
    assert_eq!(s.allocated_bytes, DEMAND * 32 + 20 * 16);
    assert_eq!(s.usable_bytes, DEMAND * (32 - WORD) + 20 * 16);
    assert!(s.slab_overhead_bytes > 0);
    assert_eq!(
        s.heap_bytes,
        s.fixed_overhead_bytes + s.allocated_bytes + s.free_bytes + s.slab_overhead_bytes
    );
    assert_eq!(h.counters().alloc_blocks, DEMAND + 20);
    assert_eq!(h.counters().alloc_bytes, DEMAND * 32 + 20 * 16);
    // Sizes whose engine block is not larger than their class stay engine blocks.
    let (_, same) = warm(&mut h, 72, 1);
    // SAFETY: live payload.
    assert_eq!(unsafe { h.usable_size(same[0]) }, 80 - WORD);
    assert_eq!(block_size_for(72), Some(80));
}

#[test]
fn an_emptied_slab_goes_back_to_the_engine() {
    let mut m = mem(1 << 17);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    // Several slabs per class (Miri: fewer, and one heap check per slab's worth of frees).
    let (n112, n16, every) = if cfg!(miri) {
        (40, 24, 16)
    } else {
        (150, 70, 1)
    };
    let (blocks, objs) = warm(&mut h, 112, n112);
    let (blocks16, objs16) = warm(&mut h, 16, n16);
    assert!(h.stats().slab_overhead_bytes > 0);
    let all = blocks.into_iter().chain(objs).chain(blocks16).chain(objs16);
    for (i, p) in all.enumerate() {
        // SAFETY: each pointer is live and freed once.
        unsafe { h.free(p) };
        if i % every == 0 {
            h.check().unwrap();
        }
    }
    let s = h.stats();
    assert_eq!(s.allocated_blocks, 0);
    assert_eq!(s.slab_overhead_bytes, 0, "no slab and no directory left");
    assert_eq!(s.free_blocks, 1, "every slab coalesced back");
    assert_eq!(h.counters().alloc_bytes, 0);
}

#[test]
fn calloc_and_realloc_of_slab_objects() {
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    let (_, objs) = warm(&mut h, 48, 4);
    // SAFETY: live payloads of 48 bytes; the freed one is not used again.
    unsafe {
        objs[1].write_bytes(0xee, 48);
        h.free(objs[1]);
        let z = h.calloc(3, 16).unwrap().as_ptr();
        assert_eq!(z, objs[1], "the lowest free object is reused");
        assert!(std::slice::from_raw_parts(z, 48).iter().all(|&b| b == 0));
        // Within the class: stays.
        z.write_bytes(7, 48);
        assert_eq!(h.realloc(z, 40).unwrap().as_ptr(), z);
        assert_eq!(h.realloc(z, 48).unwrap().as_ptr(), z);
        // Beyond it: moves, keeping the bytes, and frees the object.
        let g = h.realloc(z, 1000).unwrap().as_ptr();
        assert_ne!(g, z);
        assert!(std::slice::from_raw_parts(g, 48).iter().all(|&b| b == 7));
        h.check().unwrap();
        assert_eq!(h.counters().alloc_blocks, DEMAND + 4);
        // An engine block shrunk into the slab range stays an engine block.
        let s = h.realloc(g, 16).unwrap().as_ptr();
        assert_eq!(s, g);
        h.check().unwrap();
    }
}

#[test]
fn double_free_and_use_after_free_of_a_slab_object_are_reported() {
    let _g = LOCK.lock().unwrap();
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    h.set_corruption_hook(record);
    let (_, objs) = warm(&mut h, 16, 3);
    let p = objs[1];
    // SAFETY: `p` is live, then deliberately misused; the heap must refuse, not touch it.
    unsafe {
        h.free(p);
        let e = one_report(|| h.free(p));
        assert_eq!(
            (e.kind, e.addr, e.info),
            (ErrorKind::DoubleFree, p as usize, 16)
        );
        let e = one_report(|| assert!(h.realloc(p, 8).is_none()));
        assert_eq!(e.kind, ErrorKind::UseAfterFree);
        let e = one_report(|| assert_eq!(h.usable_size(p), 0));
        assert_eq!(e.kind, ErrorKind::UseAfterFree);
        // A slot never handed out counts as free too.
        let never = objs[2].add(16);
        let e = one_report(|| h.free(never));
        assert_eq!(e.kind, ErrorKind::DoubleFree);
    }
    h.check().unwrap();
    assert_eq!(h.counters().alloc_blocks, DEMAND + 2);
    assert_eq!(h.counters().errors, 4);
}

#[test]
fn interior_and_foreign_pointers_into_a_slab_are_refused() {
    let _g = LOCK.lock().unwrap();
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    h.set_corruption_hook(record);
    let (_, objs) = warm(&mut h, 48, 3);
    // Objects hold data that looks like an allocated engine header: the slab layer must not
    // trust it.
    for &o in &objs {
        // SAFETY: live payloads of 48 bytes.
        unsafe {
            for i in 0..48 / WORD {
                (o as *mut usize).add(i).write(0x31);
            }
        }
    }
    let first = objs[0];
    let slab = first as usize - SLAB_HEADER;
    // SAFETY: pointers into the slab that are not live objects; the heap must refuse them.
    unsafe {
        for bad in [first.add(16), first.add(32), first.add(8), first.add(1)] {
            let e = one_report(|| h.free(bad));
            assert_eq!(e.kind, ErrorKind::InvalidPointer, "{bad:p}");
        }
        // The slab header itself (the slab's payload address).
        let e = one_report(|| h.free(first.sub(SLAB_HEADER)));
        assert_eq!((e.kind, e.addr), (ErrorKind::InvalidPointer, slab));
        let e = one_report(|| assert!(h.realloc(first.sub(16), 10).is_none()));
        assert_eq!(e.kind, ErrorKind::InvalidPointer);
        let e = one_report(|| assert_eq!(h.usable_size(first.add(16)), 0));
        assert_eq!(e.kind, ErrorKind::InvalidPointer);
    }
    h.check().unwrap();
    for p in objs {
        // SAFETY: each is live and freed once.
        unsafe { h.free(p) };
    }
    h.check().unwrap();
}

#[test]
fn the_checker_and_the_operations_catch_a_corrupted_slab_header() {
    let _g = LOCK.lock().unwrap();
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    h.set_corruption_hook(record);
    let (_, objs) = warm(&mut h, 32, 3);
    let slab = objs[0] as usize - SLAB_HEADER;
    let info = (slab + 8) as *mut usize;
    // SAFETY: the slab header lies in the arena; it is restored before the heap is used
    // normally again.
    let saved = unsafe { info.read() };
    // SAFETY: as above.
    unsafe { info.write(saved ^ 0x0100_0000) };
    let e = h.check().expect_err("corrupted slab header");
    assert_eq!((e.kind, e.addr), (ErrorKind::CorruptSlab, slab));
    // Operations on the slab are reported and refused.
    // SAFETY: `objs[1]` is live; the heap refuses it because its slab is corrupted.
    let e = one_report(|| unsafe { h.free(objs[1]) });
    assert_eq!(e.kind, ErrorKind::CorruptSlab);
    // SAFETY: as above.
    unsafe { info.write(saved) };
    h.check().unwrap();
    // A cleared bitmap bit (a live object the slab thinks is free) disagrees with the
    // counters (and, if the slab was full, with its absence from the partial list).
    let bitmap = slab as *mut u64;
    // SAFETY: the bitmap word of the slab, in the arena; restored below.
    unsafe { bitmap.write(bitmap.read() & !2) };
    let kind = h.check().unwrap_err().kind;
    assert!(
        matches!(kind, ErrorKind::BadCounters | ErrorKind::NotInList),
        "{kind:?}"
    );
    // SAFETY: as above.
    unsafe { bitmap.write(bitmap.read() | 2) };
    // A bit beyond the capacity.
    // SAFETY: as above.
    unsafe { bitmap.write(bitmap.read() | 1 << 63) };
    assert_eq!(h.check().unwrap_err().kind, ErrorKind::CorruptSlab);
    // SAFETY: as above.
    unsafe { bitmap.write(bitmap.read() & !(1 << 63)) };
    h.check().unwrap();
    // The slab control block: its address is the last word of the metadata area.
    let l = h.layout().unwrap();
    let meta_last = (l.start + l.meta_bytes - WORD) as *const usize;
    // SAFETY: the metadata area is inside the arena.
    let scb = unsafe { meta_last.read() } as *mut u8;
    assert!(!scb.is_null(), "a slab exists, so does the control block");
    // Freeing it is refused.
    // SAFETY: a deliberately wrong pointer; the heap refuses it.
    let e = one_report(|| unsafe { h.free(scb) });
    assert_eq!((e.kind, e.addr), (ErrorKind::InvalidPointer, scb as usize));
    // A directory entry pointing elsewhere: the checker finds the slab missing.
    let len = scb as *mut usize;
    // SAFETY: word 0 of the control block is the directory length; the entries follow the
    // header words and the class heads (found by scanning for the slab's address).
    unsafe {
        assert!(len.read() >= 1);
        let words = len.add(1).read() + 5 + len.add(2).read();
        let entry = (0..words)
            .map(|i| len.add(i))
            .find(|w| w.read() == slab)
            .expect("the slab is in the directory");
        entry.write(slab + 16);
        let e = h.check().expect_err("directory entry overwritten");
        assert_eq!(e.kind, ErrorKind::CorruptSlab);
        entry.write(slab);
    }
    h.check().unwrap();
    for p in objs {
        // SAFETY: each is live and freed once.
        unsafe { h.free(p) };
    }
    h.check().unwrap();
}

#[test]
fn a_class_with_few_live_objects_keeps_engine_blocks() {
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    // The realloc2-bal pattern: never more than two live 16-byte requests.
    let mut prev = h.malloc(16).unwrap().as_ptr();
    for _ in 0..100 {
        let p = h.malloc(16).unwrap().as_ptr();
        // SAFETY: `prev` is live and freed once.
        unsafe { h.free(prev) };
        prev = p;
    }
    h.check().unwrap();
    assert_eq!(h.stats().slab_overhead_bytes, 0, "no slab was made");
    // SAFETY: live payload.
    assert_eq!(unsafe { h.usable_size(prev) }, 32 - WORD);
}

#[test]
fn with_the_quarantine_on_small_requests_get_engine_blocks() {
    let mut m = mem(1 << 16);
    let mut h: SlabHeap<'_> = Heap::new(FixedArena::new(&mut m));
    let (_, objs) = warm(&mut h, 16, 2);
    h.set_quarantine(8, 4096, true);
    let p = h.malloc(16).unwrap().as_ptr();
    // SAFETY: live payloads.
    unsafe {
        assert_eq!(h.usable_size(p), 32 - WORD, "an engine block");
        // Slab objects are still freed at once.
        h.free(objs[0]);
        h.free(p);
    }
    h.check().unwrap();
    assert_eq!(h.quarantine().len(), 1);
}

/// The `binary2-bal` pattern, scaled down: 16- and 112-byte requests alternate, the 112s are
/// freed, 128s follow. Header-free objects lift the block-model bound of 81.8 %.
#[test]
#[cfg_attr(miri, ignore)]
fn header_free_classes_beat_the_block_model_bound() {
    let n = 1000;
    let mut m = mem(4 << 20);
    let mut h: Heap<_, CompactSlab> = Heap::new(SimBrk::new(&mut m, 4 << 20));
    let mut mid = Vec::new();
    for _ in 0..n {
        h.malloc(16).unwrap();
        mid.push(h.malloc(112).unwrap().as_ptr());
    }
    for p in mid {
        // SAFETY: each is live and freed once.
        unsafe { h.free(p) };
    }
    for _ in 0..n {
        h.malloc(128).unwrap();
    }
    h.check().unwrap();
    let util = (n * (16 + 128)) as f64 / h.source().heap_size() as f64;
    assert!(util > 0.9, "utilisation {util}");
}

/// A random program of mostly slab-sized requests (every op checked against the shadow
/// model and followed by the heap checker), then everything freed: one free block remains.
#[test]
fn the_model_holds_for_slab_heavy_programs() {
    let (ops, seeds) = if cfg!(miri) { (100, 1) } else { (6000, 3) };
    for seed in [7u64, 0x9E37_79B9_7F4A_7C15, 99].into_iter().take(seeds) {
        let mut m = mem(if cfg!(miri) { 1 << 17 } else { 4 << 20 });
        let mut h = AnyHeap::new(PolicyKind::CompactSlab, FixedArena::new(&mut m));
        let mut model = Model::default();
        let mut rng = Rng(seed);
        // Multiples of 16 are slab sizes on every target (their block is 16 bytes larger).
        let size = |rng: &mut Rng| match rng.below(8) {
            0..=2 => 16 * (1 + rng.below(4) as usize),
            3 | 4 => rng.below(65) as usize,
            5 | 6 => rng.below(513) as usize,
            _ => rng.below(3000) as usize,
        };
        let mut saw_slabs = false;
        for n in 0..ops {
            let i = rng.next() as usize;
            let op = match rng.below(20) {
                _ if model.live.len() < 30 => Op::Malloc(size(&mut rng)),
                0..=7 => Op::Malloc(size(&mut rng)),
                8 => Op::Calloc(rng.below(4) as usize, size(&mut rng) / 2),
                9 => Op::Aligned(rng.below(8) as u32, size(&mut rng)),
                10..=15 => Op::Free(i),
                _ => Op::Realloc(i, size(&mut rng)),
            };
            model.apply(&mut h, &op);
            if n % 10 == 9 {
                saw_slabs |= h.stats().slab_overhead_bytes > 0;
            }
        }
        assert!(saw_slabs, "the program used slabs");
        model.free_all(&mut h);
        let s = h.stats();
        assert_eq!(
            (s.allocated_blocks, s.free_blocks, s.slab_overhead_bytes),
            (0, 1, 0)
        );
    }
}
