//! The engine (`heapwise_core::AnyHeap`) on every policy, with and without the quarantine,
//! driven by an action list against a shadow model: every live block gets a fill pattern
//! when it is handed out, verified at every resize and free and at the end of the input
//! (so a write of the allocator into any live block is caught), blocks never overlap, and
//! the heap checker passes after every action. Any misuse report is a bug here (the program is always correct), so
//! the corruption hook panics.
#![no_main]

use std::mem::MaybeUninit;

use arbitrary::Arbitrary;
use heapwise_core::{AnyHeap, FixedArena, HeapError, PolicyKind};
use heapwise_fuzz::{assert_disjoint, fill, track, verify, Live};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Action {
    Malloc(u16),
    Calloc(u8, u16),
    Aligned(u8, u16),
    Free(u16),
    Realloc(u16, u16),
    Usable(u16),
}

#[derive(Arbitrary, Debug)]
struct Program {
    policy: u8,
    quarantine: u8,
    actions: Vec<Action>,
}

fn report(e: &HeapError) {
    panic!("false misuse report on a correct program: {e}");
}

fuzz_target!(|prog: Program| {
    let kind = PolicyKind::ALL[prog.policy as usize % PolicyKind::ALL.len()];
    let mut mem = vec![MaybeUninit::<u8>::uninit(); 1 << 20];
    let mut h = AnyHeap::new(kind, FixedArena::new(&mut mem));
    h.set_corruption_hook(report);
    match prog.quarantine % 3 {
        1 => h.set_quarantine(16, 4096, false),
        2 => h.set_quarantine(64, 1 << 16, true),
        _ => {}
    }
    let mut live: Vec<Live> = Vec::new();
    let mut serial = 0u8;
    for a in prog.actions.iter().take(2000) {
        serial = serial.wrapping_add(1);
        match *a {
            Action::Malloc(n) => {
                if let Some(p) = h.malloc(n as usize) {
                    track(&mut live, p.as_ptr(), n as usize, serial, 16);
                }
            }
            Action::Calloc(n, s) => {
                if let Some(p) = h.calloc(n as usize, s as usize) {
                    let size = n as usize * s as usize;
                    // SAFETY: `p` is a live block of `size` bytes.
                    let z = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
                    assert!(z.iter().all(|&b| b == 0), "calloc not zeroed");
                    track(&mut live, p.as_ptr(), size, serial, 16);
                }
            }
            Action::Aligned(sh, n) => {
                let align = 1usize << (sh % 13);
                if let Some(p) = h.aligned_alloc(align, n as usize) {
                    track(&mut live, p.as_ptr(), n as usize, serial, align);
                }
            }
            Action::Free(i) => {
                if !live.is_empty() {
                    let l = live.swap_remove(i as usize % live.len());
                    verify(&l);
                    // SAFETY: a live block, freed once.
                    unsafe { h.free(l.p) };
                }
            }
            Action::Realloc(i, n) => {
                if !live.is_empty() {
                    let k = i as usize % live.len();
                    verify(&live[k]);
                    let old = live[k].size;
                    // SAFETY: a live block; on success only the new pointer is used.
                    match unsafe { h.realloc(live[k].p, n as usize) } {
                        Some(q) => {
                            let l = &mut live[k];
                            l.p = q.as_ptr();
                            l.size = old.min(n as usize);
                            verify(l);
                            l.size = n as usize;
                            fill(l);
                        }
                        None if n == 0 => {
                            live.swap_remove(k);
                        }
                        None => verify(&live[k]),
                    }
                }
            }
            Action::Usable(i) => {
                if !live.is_empty() {
                    let l = &live[i as usize % live.len()];
                    // SAFETY: a live block.
                    assert!(unsafe { h.usable_size(l.p) } >= l.size);
                }
            }
        }
        h.check().unwrap_or_else(|e| panic!("{kind}: checker: {e}"));
    }
    for l in &live {
        verify(l);
    }
    assert_disjoint(&live);
    for l in live.drain(..) {
        // SAFETY: live blocks, each freed once.
        unsafe { h.free(l.p) };
    }
    h.flush_quarantine();
    h.check()
        .unwrap_or_else(|e| panic!("{kind}: checker at the end: {e}"));
    assert_eq!(h.counters().alloc_blocks, 0);
});
