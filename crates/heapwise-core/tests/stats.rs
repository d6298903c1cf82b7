//! Statistics and counters against figures worked out by hand, for every policy: what
//! [`heapwise_core::Stats`] and [`heapwise_core::Counters`] report after the operations
//! whose bookkeeping is not a plain malloc or free.

use std::mem::MaybeUninit;

use heapwise_core::{AnyHeap, FixedArena, PolicyKind};

fn region(bytes: usize) -> Vec<MaybeUninit<u8>> {
    vec![MaybeUninit::uninit(); bytes]
}

/// A `realloc` that grows a block in place (into its free successor, or into the top of
/// the heap) counts the block's final size, and the peak is never more than that: the
/// untrimmed run the block briefly spans (the whole free successor, a growth chunk) was
/// never the program's. It used to be counted, so that one in-place growth of a 32-byte
/// block to 48 bytes set `peak_alloc_bytes` to ≈ 4 KiB, and `ArenaAlloc`'s high-water mark
/// with it.
#[test]
fn an_in_place_realloc_does_not_inflate_the_peak() {
    for &kind in PolicyKind::ALL {
        // Under Miri (slow): one policy of each family.
        if cfg!(miri)
            && !matches!(
                kind,
                PolicyKind::ImplicitFirst
                    | PolicyKind::ImplicitFirstDeferred
                    | PolicyKind::ExplicitLifoFirst
                    | PolicyKind::Segregated
                    | PolicyKind::CompactSlab
            )
        {
            continue;
        }
        let mut mem = region(1 << 16);
        let mut h = AnyHeap::new(kind, FixedArena::new(&mut mem));
        let p = h.malloc(24).unwrap();
        let before = h.counters().alloc_bytes;
        // SAFETY: `p` is live.
        let q = unsafe { h.realloc(p.as_ptr(), 40) }.unwrap();
        h.check().unwrap();
        let c = *h.counters();
        if q == p {
            assert_eq!(
                c.peak_alloc_bytes, c.alloc_bytes,
                "{kind}: grown in place, the peak is the block's final size"
            );
        } else {
            // A move holds both blocks for the copy, and no more.
            assert!(
                c.peak_alloc_bytes <= before + c.alloc_bytes,
                "{kind}: peak {} > both blocks {} + {}",
                c.peak_alloc_bytes,
                before,
                c.alloc_bytes
            );
        }
        // Into a free successor inside the heap: `a` grows into the block freed after it.
        let a = h.malloc(100).unwrap();
        let b = h.malloc(2000).unwrap();
        let _wall = h.malloc(100).unwrap();
        // SAFETY: `b` is live.
        unsafe { h.free(b.as_ptr()) };
        let peak = h.counters().peak_alloc_bytes;
        // SAFETY: `a` is live.
        let g = unsafe { h.realloc(a.as_ptr(), 200) }.unwrap();
        h.check().unwrap();
        let c = *h.counters();
        if g == a {
            assert_eq!(
                c.peak_alloc_bytes, peak,
                "{kind}: a growth below the old peak leaves it alone"
            );
        }
        assert_eq!(h.stats().peak_allocated_bytes, c.peak_alloc_bytes);
    }
}
