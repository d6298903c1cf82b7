//! The engine (`heapwise_core::AnyHeap`) in the configurations the `engine` target leaves
//! at their defaults: the malloc lab's `SimBrk` source with a hard maximum anywhere from a
//! few KiB to 2 MiB (so growth is refused mid-run), growth chunks from "exactly the
//! shortfall" to 64 KiB, the full integrity level, and requests the other target cannot
//! make: blocks up to ~1 MiB, alignments up to 1 MiB, `calloc` and `reallocarray` with
//! overflowing products. Against a shadow model as in `engine` (fill patterns verified at
//! every resize and free, no overlap), with the heap checker after every action and the
//! statistics' identity `heap_bytes = fixed_overhead + allocated + free + slab_overhead`,
//! `heap_bytes <= max` and `largest_free <= free_bytes`. Any misuse report is a bug here,
//! so the corruption hook panics.
#![no_main]

use std::mem::MaybeUninit;

use arbitrary::Arbitrary;
use heapwise_core::{AnyHeap, HeapError, Integrity, PolicyKind, SimBrk, Source};
use heapwise_fuzz::{assert_disjoint, fill, track, verify, Live};
use libfuzzer_sys::fuzz_target;

/// The simulated memory (the largest maximum).
const MEM: usize = 2 << 20;

#[derive(Arbitrary, Debug)]
enum Action {
    Malloc(u16),
    MallocBig(u8),
    Calloc(u16, u16),
    CallocOverflow(u8),
    Aligned(u8, u16),
    Free(u16),
    Realloc(u16, u16),
    ReallocBig(u16, u8),
    ReallocArray(u16, u8, u16),
    ReallocArrayOverflow(u16, u8),
    Usable(u16),
}

#[derive(Arbitrary, Debug)]
struct Program {
    policy: u8,
    /// Heap maximum in KiB (scaled into `[4 KiB, 2 MiB]`).
    max_kib: u16,
    chunk: u8,
    full: bool,
    quarantine: u8,
    actions: Vec<Action>,
}

fn report(e: &HeapError) {
    panic!("false misuse report on a correct program: {e}");
}

/// A product of two factors that overflows `usize`.
fn overflowing(k: u8) -> (usize, usize) {
    let n = (k as usize % 15) + 2;
    (n, usize::MAX / n + 1)
}

fn add(live: &mut Vec<Live>, p: Option<std::ptr::NonNull<u8>>, size: usize, f: u8, align: usize) {
    track(
        live,
        p.map_or(std::ptr::null_mut(), |p| p.as_ptr()),
        size,
        f,
        align,
    );
}

fn resize(live: &mut Vec<Live>, k: usize, r: Option<std::ptr::NonNull<u8>>, n: usize, f: u8) {
    match r {
        Some(q) => {
            assert_eq!(q.as_ptr() as usize % 16, 0);
            let l = &mut live[k];
            l.p = q.as_ptr();
            l.size = l.size.min(n);
            verify(l);
            l.size = n;
            l.fill = f;
            fill(l);
        }
        // realloc(p, 0): freed.
        None if n == 0 => {
            live.swap_remove(k);
        }
        None => verify(&live[k]),
    }
}

fuzz_target!(|prog: Program| {
    let kind = PolicyKind::ALL[prog.policy as usize % PolicyKind::ALL.len()];
    let max = 4096 + (prog.max_kib as usize % 2045) * 1024;
    let chunk = match prog.chunk % 6 {
        0 => 0,
        1 => 16,
        2 => 1000,
        3 => 4096,
        4 => 1 << 16,
        _ => (prog.chunk as usize) * 48,
    };
    let mut mem = vec![MaybeUninit::<u8>::uninit(); MEM];
    let mut h = AnyHeap::new(kind, SimBrk::new(&mut mem, max)).with_chunk(chunk);
    if prog.full {
        h.set_integrity(Integrity::Full);
    }
    h.set_corruption_hook(report);
    match prog.quarantine % 3 {
        1 => h.set_quarantine(8, 2048, true),
        2 => h.set_quarantine(64, 1 << 16, false),
        _ => {}
    }
    let mut live: Vec<Live> = Vec::new();
    let mut serial = 0u8;
    for a in prog.actions.iter().take(1000) {
        serial = serial.wrapping_add(1) | 1;
        let pick = |i: u16, live: &Vec<Live>| (!live.is_empty()).then(|| i as usize % live.len());
        match *a {
            Action::Malloc(n) => add(&mut live, h.malloc(n as usize), n as usize, serial, 1),
            Action::MallocBig(k) => {
                let n = 60_000 + k as usize * 4099;
                add(&mut live, h.malloc(n), n, serial, 1);
            }
            Action::Calloc(n, s) => {
                let (n, s) = (n as usize % 300, s as usize);
                let p = h.calloc(n, s);
                if let Some(p) = p {
                    // SAFETY: a live block of `n * s` bytes.
                    let z = unsafe { std::slice::from_raw_parts(p.as_ptr(), n * s) };
                    assert!(z.iter().all(|&b| b == 0), "calloc not zeroed");
                }
                add(&mut live, p, n * s, serial, 1);
            }
            Action::CallocOverflow(k) => {
                let (n, s) = overflowing(k);
                assert!(h.calloc(n, s).is_none(), "calloc({n}, {s}) succeeded");
            }
            Action::Aligned(sh, n) => {
                let align = 1usize << (sh % 21);
                add(
                    &mut live,
                    h.aligned_alloc(align, n as usize),
                    n as usize,
                    serial,
                    align,
                );
            }
            Action::Free(i) => {
                if let Some(k) = pick(i, &live) {
                    let l = live.swap_remove(k);
                    verify(&l);
                    // SAFETY: a live block, freed once.
                    unsafe { h.free(l.p) };
                }
            }
            Action::Realloc(i, n) => {
                if let Some(k) = pick(i, &live) {
                    verify(&live[k]);
                    // SAFETY: a live block; on success only the new pointer is used.
                    let r = unsafe { h.realloc(live[k].p, n as usize) };
                    resize(&mut live, k, r, n as usize, serial);
                }
            }
            Action::ReallocBig(i, b) => {
                if let Some(k) = pick(i, &live) {
                    let n = 60_000 + b as usize * 4099;
                    verify(&live[k]);
                    // SAFETY: as above.
                    let r = unsafe { h.realloc(live[k].p, n) };
                    resize(&mut live, k, r, n, serial);
                }
            }
            Action::ReallocArray(i, n, s) => {
                if let Some(k) = pick(i, &live) {
                    let (n, s) = (n as usize, s as usize % 512);
                    verify(&live[k]);
                    // SAFETY: as above.
                    let r = unsafe { h.reallocarray(live[k].p, n, s) };
                    resize(&mut live, k, r, n * s, serial);
                }
            }
            Action::ReallocArrayOverflow(i, o) => {
                if let Some(k) = pick(i, &live) {
                    let (n, s) = overflowing(o);
                    // SAFETY: a live block; the call must fail and keep it.
                    let r = unsafe { h.reallocarray(live[k].p, n, s) };
                    assert!(r.is_none(), "reallocarray({n}, {s}) succeeded");
                    verify(&live[k]);
                }
            }
            Action::Usable(i) => {
                if let Some(k) = pick(i, &live) {
                    let l = &live[k];
                    // SAFETY: a live block.
                    let u = unsafe { h.usable_size(l.p) };
                    assert!(u >= l.size, "usable {u} < {}", l.size);
                    // The whole usable size is the caller's.
                    // SAFETY: `[p, p + u)` is the block's usable payload.
                    unsafe { std::ptr::write_bytes(l.p.add(l.size), !l.fill, u - l.size) };
                }
            }
        }
        h.check()
            .unwrap_or_else(|e| panic!("{kind} chunk {chunk} max {max}: checker: {e}"));
        let s = h.stats();
        assert!(
            s.heap_bytes <= max,
            "{kind}: heap {} > max {max}",
            s.heap_bytes
        );
        assert_eq!(h.source().heap_size(), s.heap_bytes);
        assert_eq!(
            s.heap_bytes,
            s.fixed_overhead_bytes + s.allocated_bytes + s.free_bytes + s.slab_overhead_bytes,
            "{kind}: {s:?}"
        );
        assert!(s.largest_free <= s.free_bytes, "{kind}: {s:?}");
    }
    assert_disjoint(&live);
    for l in live.drain(..) {
        verify(&l);
        // SAFETY: live blocks, each freed once.
        unsafe { h.free(l.p) };
    }
    h.flush_quarantine();
    h.check()
        .unwrap_or_else(|e| panic!("{kind}: checker at the end: {e}"));
    assert_eq!(h.counters().alloc_blocks, 0);
});
