//! The `no_std` face (`heapwise_core::ArenaAlloc`) on several policies, with regions
//! claimed at any time (any length, any start alignment) and the most recent one extended
//! in place, driven through `GlobalAlloc` (`alloc`, `alloc_zeroed`, `realloc` within and
//! across regions, `dealloc`, alignments up to 4096) against a shadow model: every live
//! block keeps its fill pattern, is aligned as its layout asks and lies inside a region
//! handed to the allocator; blocks never overlap; the heap checker of every region passes
//! after every action; the statistics stay consistent (`used <= capacity`, `high_water >=
//! used`, `capacity` the sum of the regions' usable bytes). Any misuse report is a bug here,
//! so the corruption hook panics.
#![no_main]

use std::alloc::{GlobalAlloc, Layout};

use arbitrary::Arbitrary;
use heapwise_core::policy::Policy;
use heapwise_core::{AddressOrdered, BestFit};
use heapwise_core::{
    ArenaAlloc, Compact, CompactSlab, Deferred, Explicit, HeapError, Implicit, ImplicitFirstFit,
    Lifo, NextFit, Segregated,
};
use heapwise_fuzz::{assert_disjoint, fill, verify, Live};
use libfuzzer_sys::fuzz_target;

/// Bytes of memory the regions are carved from, in order.
const BACKING: usize = 1 << 20;

#[derive(Arbitrary, Debug)]
enum Action {
    Alloc(u16, u8),
    AllocZeroed(u16, u8),
    Dealloc(u16),
    Realloc(u16, u16),
    /// A new region: `skew` bytes skipped (start alignment), then `len` bytes (scaled).
    Claim(u8, u16),
    /// `n` (scaled) more bytes for the most recent region.
    Extend(u16),
}

#[derive(Arbitrary, Debug)]
struct Program {
    policy: u8,
    /// The first region: skew and length.
    first: (u8, u16),
    actions: Vec<Action>,
}

fn report(e: &HeapError) {
    panic!("false misuse report on a correct program: {e}");
}

/// A live block and its layout.
struct Block {
    live: Live,
    layout: Layout,
}

/// The backing memory and the regions handed out of it.
struct Carver {
    base: *mut u8,
    /// Offset of the end of the most recent region (where an extension goes).
    cursor: usize,
    regions: Vec<(usize, usize)>,
}

impl Carver {
    fn take(&mut self, skew: u8, len: usize) -> Option<(*mut u8, usize)> {
        let start = self.cursor + (skew % 64) as usize;
        let len = len.min(BACKING.saturating_sub(start));
        if start > BACKING {
            return None;
        }
        // SAFETY: `start <= BACKING`, inside (or one past) the backing allocation.
        Some((unsafe { self.base.add(start) }, len))
    }

    fn inside(&self, p: *mut u8, size: usize) -> bool {
        let a = p as usize - self.base as usize;
        self.regions
            .iter()
            .any(|&(s, l)| a >= s && a + size.max(1) <= s + l)
    }
}

fn run<P: Policy>(prog: &Program) {
    let mut backing = vec![0u128; BACKING / 16];
    let base = backing.as_mut_ptr() as *mut u8;
    let a: ArenaAlloc<P> = ArenaAlloc::empty();
    a.set_corruption_hook(report);
    let mut carver = Carver {
        base,
        cursor: 0,
        regions: Vec::new(),
    };
    let claim = |carver: &mut Carver, skew: u8, len: usize| {
        if let Some((p, len)) = carver.take(skew, len) {
            // SAFETY: `[p, p + len)` lies in the backing memory after every earlier region
            // and extension, so nothing else uses it; the backing outlives the allocator.
            if unsafe { a.claim(p, len) } {
                let s = p as usize - carver.base as usize;
                carver.regions.push((s, len));
                carver.cursor = s + len;
            }
        }
    };
    claim(&mut carver, prog.first.0, prog.first.1 as usize * 8);
    let mut live: Vec<Block> = Vec::new();
    let mut serial = 0u8;
    for act in prog.actions.iter().take(1000) {
        serial = serial.wrapping_add(1) | 1;
        match *act {
            Action::Alloc(n, sh) | Action::AllocZeroed(n, sh) => {
                let zero = matches!(act, Action::AllocZeroed(..));
                let size = n as usize;
                let layout = Layout::from_size_align(size.max(1), 1 << (sh % 13)).unwrap();
                // SAFETY: a non-zero-sized layout.
                let p = unsafe {
                    if zero {
                        a.alloc_zeroed(layout)
                    } else {
                        a.alloc(layout)
                    }
                };
                if !p.is_null() {
                    assert_eq!(p as usize % layout.align().max(16), 0, "{layout:?}");
                    assert!(
                        carver.inside(p, layout.size()),
                        "{p:p} ({layout:?}) outside every region"
                    );
                    if zero {
                        // SAFETY: a fresh block of `layout.size()` bytes.
                        let z = unsafe { std::slice::from_raw_parts(p, layout.size()) };
                        assert!(z.iter().all(|&b| b == 0), "alloc_zeroed not zeroed");
                    }
                    let l = Live {
                        p,
                        size: layout.size(),
                        fill: serial,
                    };
                    fill(&l);
                    live.push(Block { live: l, layout });
                }
            }
            Action::Dealloc(i) => {
                if !live.is_empty() {
                    let b = live.swap_remove(i as usize % live.len());
                    verify(&b.live);
                    // SAFETY: a live block with its layout, freed once.
                    unsafe { a.dealloc(b.live.p, b.layout) };
                }
            }
            Action::Realloc(i, n) => {
                if !live.is_empty() {
                    let k = i as usize % live.len();
                    let b = &mut live[k];
                    verify(&b.live);
                    let new = (n as usize).max(1);
                    // SAFETY: a live block with its layout; `new` is non-zero and rounded
                    // up to the alignment stays far below `isize::MAX`.
                    let q = unsafe { a.realloc(b.live.p, b.layout, new) };
                    if !q.is_null() {
                        assert_eq!(q as usize % b.layout.align().max(16), 0);
                        assert!(carver.inside(q, new), "realloc result outside every region");
                        b.live.p = q;
                        b.live.size = b.live.size.min(new);
                        verify(&b.live);
                        b.live.size = new;
                        b.live.fill = serial;
                        fill(&b.live);
                        b.layout = Layout::from_size_align(new, b.layout.align()).unwrap();
                    } else {
                        verify(&b.live);
                    }
                }
            }
            Action::Claim(skew, len) => claim(&mut carver, skew, len as usize * 4),
            Action::Extend(n) => {
                let n = (n as usize * 4).min(BACKING - carver.cursor.min(BACKING));
                if !carver.regions.is_empty() {
                    // SAFETY: the `n` bytes after the most recent region's end lie in the
                    // backing memory, past every region, so nothing else uses them.
                    assert!(unsafe { a.extend(n) });
                    carver.regions.last_mut().unwrap().1 += n;
                    carver.cursor += n;
                }
            }
        }
        a.check().unwrap_or_else(|e| panic!("checker: {e}"));
        let s = a.stats();
        assert!(s.used <= s.capacity, "{s:?}");
        assert!(s.high_water >= s.used, "{s:?}");
        let total: usize = carver.regions.iter().map(|r| r.1).sum();
        assert!(
            s.capacity <= total,
            "capacity {} > {total} claimed",
            s.capacity
        );
        assert_eq!(s.regions, carver.regions.len());
    }
    assert_disjoint(live.iter().map(|b| &b.live));
    for b in live.drain(..) {
        verify(&b.live);
        // SAFETY: live blocks with their layouts, each freed once.
        unsafe { a.dealloc(b.live.p, b.layout) };
    }
    a.check()
        .unwrap_or_else(|e| panic!("checker at the end: {e}"));
    assert_eq!(a.stats().used, 0, "blocks left after freeing all");
    drop(backing);
}

fuzz_target!(|prog: Program| {
    match prog.policy % 7 {
        0 => run::<Segregated>(&prog),
        1 => run::<Compact>(&prog),
        2 => run::<CompactSlab>(&prog),
        3 => run::<ImplicitFirstFit>(&prog),
        4 => run::<Implicit<NextFit, Deferred>>(&prog),
        5 => run::<Explicit<Lifo, NextFit>>(&prog),
        _ => run::<Explicit<AddressOrdered, BestFit>>(&prog),
    }
});
