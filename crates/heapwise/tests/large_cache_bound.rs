//! The large-block cache never raises the footprint's peak: freed large mappings it keeps are
//! cut back when a heap grows over what the program had at its peak, and the peak reported
//! never decreases (a trim gives cached memory back without lowering it). One test per
//! binary: the cache is process-wide.

use heapwise::{Config, Global};

static G: Global = Global::new(Config::DEFAULT);

const MIB: usize = 1 << 20;

#[test]
fn cached_mappings_give_way_to_a_growing_heap() {
    // SAFETY: every pointer freed below came from `G` and is freed once.
    unsafe {
        let big: Vec<*mut u8> = (0..8).map(|_| G.malloc(4 * MIB)).collect();
        assert!(big.iter().all(|p| !p.is_null()));
        for &p in &big {
            p.write_bytes(1, 4 * MIB);
        }
        for &p in &big {
            G.free(p);
        }
        let s = G.stats();
        assert!(s.large_cached_bytes >= 16 * MIB, "{s:?}");
        let peak = s.peak_footprint_bytes;
        assert!(s.footprint_bytes <= peak, "{s:?}");

        // 48 MiB of small blocks: the heap grows past the peak the large blocks set.
        let small: Vec<*mut u8> = (0..48 * 1024).map(|_| G.malloc(1000)).collect();
        assert!(small.iter().all(|p| !p.is_null()));
        let s = G.stats();
        let footprint = s.heap.heap_bytes + s.large_bytes;
        assert!(
            s.large_cached_bytes <= peak.saturating_sub(footprint),
            "cached {} MiB on a footprint of {} MiB, earlier peak {} MiB",
            s.large_cached_bytes / MIB,
            footprint / MIB,
            peak / MIB
        );
        assert_eq!(s.footprint_bytes, footprint + s.large_cached_bytes);
        assert!(s.peak_footprint_bytes >= s.footprint_bytes);
        for &p in &small {
            G.free(p);
        }

        // Large blocks again, freed into the cache, then a trim: the peak stays.
        let again: Vec<*mut u8> = (0..4).map(|_| G.malloc(4 * MIB)).collect();
        for &p in &again {
            G.free(p);
        }
        let before = G.stats().peak_footprint_bytes;
        G.trim();
        let s = G.stats();
        assert_eq!(s.large_cached_bytes, 0);
        assert!(s.peak_footprint_bytes >= before, "{before} -> {s:?}");
    }
    G.check().unwrap();
}
