//! `Global` with a policy chosen at run time: configuration before first use only, the
//! malloc package over OS heaps (aligned, zeroed, resized blocks), trimming, statistics.

use heapwise::{Config, Global, PolicyKind};

static G: Global = Global::new(Config::DEFAULT);
static SEQ: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn configured() -> &'static Global {
    // The first caller configures; later calls (after a heap exists) are refused.
    let _ = G.configure(Config {
        policy: PolicyKind::ExplicitAddrFirst,
        ..Config::DEFAULT
    });
    &G
}

#[test]
fn configuration_applies_only_before_the_first_heap() {
    let _s = SEQ.lock().unwrap();
    let g = configured();
    let p = g.malloc(10);
    assert_eq!(g.policy(), PolicyKind::ExplicitAddrFirst);
    assert!(!g.configure(Config::DEFAULT), "too late once a heap exists");
    assert_eq!(g.stats().policy, PolicyKind::ExplicitAddrFirst);
    // SAFETY: live block, freed once.
    unsafe { g.free(p) };
}

#[test]
fn aligned_zeroed_and_resized_blocks() {
    let _s = SEQ.lock().unwrap();
    let g = configured();
    for shift in 0..=20 {
        let a = 1usize << shift;
        let p = g.aligned_alloc(a, 100);
        assert!(!p.is_null() && p as usize % a.max(16) == 0, "alignment {a}");
        // SAFETY: live block of at least 100 bytes, freed once.
        unsafe {
            assert!(g.usable_size(p) >= 100);
            std::ptr::write_bytes(p, 0xEE, 100);
            g.free(p);
        }
    }
    assert!(g.aligned_alloc(3, 8).is_null());
    // Dirty memory is cleared by calloc when reused.
    let d = g.malloc(4000);
    // SAFETY: live block of 4000 bytes, freed once.
    unsafe {
        std::ptr::write_bytes(d, 0xFF, 4000);
        g.free(d);
    }
    let z = g.calloc(40, 100);
    // SAFETY: live block of 4000 bytes.
    assert!(unsafe { std::slice::from_raw_parts(z, 4000) }
        .iter()
        .all(|&b| b == 0));
    assert!(g.calloc(usize::MAX, 2).is_null());
    // Resizing keeps the prefix, through heap sizes and into large ones.
    let mut p = g.malloc(10);
    // SAFETY: live block.
    unsafe { std::ptr::write_bytes(p, 7, 10) };
    for n in [100, 5000, 70_000, 1 << 20, 3 << 20, 64, 10] {
        // SAFETY: `p` is live; it is replaced by the result.
        let q = unsafe { g.realloc(p, n) };
        assert!(!q.is_null());
        // SAFETY: at least 10 bytes live in `q`.
        assert!(unsafe { std::slice::from_raw_parts(q, 10) }
            .iter()
            .all(|&b| b == 7));
        p = q;
    }
    // SAFETY: a failed realloc leaves `p` intact; then it is freed once.
    unsafe {
        assert!(g.realloc(p, usize::MAX).is_null());
        assert_eq!(*p, 7);
        g.free(p);
        g.free(z);
    }
    g.check().unwrap();
}

#[test]
fn trim_returns_free_pages_and_stats_add_up() {
    let _s = SEQ.lock().unwrap();
    let g = configured();
    let blocks: Vec<*mut u8> = (0..400).map(|_| g.malloc(10_000)).collect();
    for &b in &blocks {
        assert!(!b.is_null());
        // SAFETY: live block of 10000 bytes.
        unsafe { std::ptr::write_bytes(b, 1, 10_000) };
    }
    let s = g.stats();
    assert!(s.heap.allocated_bytes >= 400 * 10_000);
    assert!(s.footprint_bytes >= s.heap.heap_bytes);
    assert!(s.peak_footprint_bytes >= s.footprint_bytes);
    for &b in &blocks {
        // SAFETY: each freed once.
        unsafe { g.free(b) };
    }
    let released = g.trim();
    assert!(
        released >= 3 << 20,
        "freed 4 MB, trimmed only {released} bytes"
    );
    g.check().unwrap();
    // The trimmed memory is usable again (and reads back what is written).
    let p = g.malloc(2 << 17);
    let q = g.calloc(1, 100_000);
    // SAFETY: live blocks.
    unsafe {
        std::ptr::write_bytes(p, 3, 2 << 17);
        assert!(std::slice::from_raw_parts(q, 100_000)
            .iter()
            .all(|&b| b == 0));
        g.free(p);
        g.free(q);
    }
    g.check().unwrap();
}

/// `configure` racing the first `malloc` on another thread: the configuration is applied
/// whole (the heap is built from it, and `configure` says so) or not at all (the heap is
/// built from the old one, and `configure` returns `false`), never torn.
#[test]
fn a_configure_racing_the_first_malloc_applies_whole_or_not_at_all() {
    const CHUNK: usize = 256 << 10;
    // (Few: each leaked `Global` keeps its heap's address-space reservation, and 32-bit
    // targets have little of it.)
    for _ in 0..12 {
        // (Leaked: `Global`'s operations take `&'static self`.)
        let g: &'static Global = Box::leak(Box::new(Global::new(Config::DEFAULT)));
        let wanted = Config {
            policy: PolicyKind::ExplicitAddrFirst,
            chunk: CHUNK,
            ..Config::DEFAULT
        };
        let (applied, p) = std::thread::scope(|s| {
            let a = s.spawn(|| g.configure(wanted));
            let p = g.malloc(100);
            (a.join().unwrap(), p)
        });
        assert!(!p.is_null());
        let st = g.stats();
        assert_eq!(st.heaps, 1);
        if applied {
            assert_eq!(st.policy, PolicyKind::ExplicitAddrFirst);
            assert!(
                st.heap.heap_bytes >= CHUNK,
                "applied, but the heap grew by the old chunk"
            );
        } else {
            assert_eq!(st.policy, PolicyKind::DEFAULT);
            assert!(
                st.heap.heap_bytes < CHUNK,
                "refused, but the heap has the new chunk"
            );
        }
        assert!(!g.configure(Config::DEFAULT), "a heap exists");
        // SAFETY: `p` is a live block of `g`, freed once.
        unsafe { g.free(p) };
        g.check().expect("heap check");
    }
}
