//! The OS face (`heapwise::Global`, the state behind `libheapwise.so` and the `Heapwise`
//! global allocator): small, large and aligned blocks, calloc, realloc across the large
//! threshold, usable sizes, against a shadow model of fill patterns. The corruption hook is
//! the real one (abort), so a false misuse report is a crash; the checker runs at the end
//! of every input, after which every block is freed again.
#![no_main]

use arbitrary::Arbitrary;
use heapwise::{Config, Global};
use heapwise_fuzz::{fill, track, verify, Live};
use libfuzzer_sys::fuzz_target;

static G: Global = Global::new(Config::DEFAULT);

#[derive(Arbitrary, Debug)]
enum Action {
    Malloc(u16),
    MallocLarge(u8),
    Calloc(u8, u16),
    Aligned(u8, u16),
    Free(u16),
    Realloc(u16, u32),
    Usable(u16),
}

fuzz_target!(|actions: Vec<Action>| {
    let mut live: Vec<Live> = Vec::new();
    let mut serial = 0u8;
    for a in actions.iter().take(500) {
        serial = serial.wrapping_add(1);
        let new = match *a {
            Action::Malloc(n) => Some((G.malloc(n as usize), n as usize)),
            Action::MallocLarge(k) => {
                let n = (256 << 10) + (k as usize) * 4099;
                Some((G.malloc(n), n))
            }
            Action::Calloc(n, s) => {
                let size = n as usize * s as usize;
                let p = G.calloc(n as usize, s as usize);
                if !p.is_null() {
                    // SAFETY: a live block of `size` bytes.
                    let z = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(z.iter().all(|&b| b == 0), "calloc not zeroed");
                }
                Some((p, size))
            }
            Action::Aligned(sh, n) => {
                let align = 1usize << (sh % 21);
                let p = G.aligned_alloc(align, n as usize);
                assert_eq!(p as usize % align, 0);
                Some((p, n as usize))
            }
            Action::Free(i) => {
                if !live.is_empty() {
                    let l = live.swap_remove(i as usize % live.len());
                    verify(&l);
                    // SAFETY: a live block, freed once.
                    unsafe { G.free(l.p) };
                }
                None
            }
            Action::Realloc(i, n) => {
                let n = (n % (1 << 20)) as usize + 1;
                if !live.is_empty() {
                    let k = i as usize % live.len();
                    verify(&live[k]);
                    // SAFETY: a live block; on success only the new pointer is used.
                    let q = unsafe { G.realloc(live[k].p, n) };
                    if !q.is_null() {
                        let l = &mut live[k];
                        l.p = q;
                        l.size = l.size.min(n);
                        verify(l);
                        l.size = n;
                        fill(l);
                    }
                }
                None
            }
            Action::Usable(i) => {
                if !live.is_empty() {
                    let l = &live[i as usize % live.len()];
                    // SAFETY: a live block.
                    assert!(unsafe { G.usable_size(l.p) } >= l.size);
                }
                None
            }
        };
        if let Some((p, size)) = new {
            track(&mut live, p, size, serial, 16);
        }
    }
    for l in live.drain(..) {
        verify(&l);
        // SAFETY: live blocks, each freed once.
        unsafe { G.free(l.p) };
    }
    G.check().unwrap_or_else(|e| panic!("checker: {e}"));
});
