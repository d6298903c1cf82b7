//! A `realloc` that moves its block between a heap and a large mapping counts as one
//! `realloc` in the statistics, not as the `malloc` and `free` it is made of (it used to
//! vanish from the `realloc` count, and the summary showed more `malloc`s and `free`s than
//! the program made); a large block resized with `mremap` counts in `large_reallocs`.

use heapwise::{Config, Global, LARGE_THRESHOLD};

static CACHED: Global = Global::with_thread_cache(Config::DEFAULT);
static UNCACHED: Global = Global::new(Config::DEFAULT);

fn run(g: &'static Global) {
    let before = g.stats();
    let p = g.malloc(100);
    assert!(!p.is_null());
    // SAFETY: `p` is a live block of 100 bytes.
    unsafe { p.write_bytes(0x11, 100) };
    // Heap -> large, large -> larger (mremap, or a move), large -> heap.
    // SAFETY: each pointer is the live block the previous call returned.
    let q = unsafe { g.realloc(p, LARGE_THRESHOLD) };
    assert!(!q.is_null());
    // SAFETY: as above.
    let r = unsafe { g.realloc(q, 2 * LARGE_THRESHOLD) };
    assert!(!r.is_null());
    // SAFETY: as above.
    let s = unsafe { g.realloc(r, 50) };
    assert!(!s.is_null());
    // SAFETY: `s` keeps the first 50 bytes.
    assert!(unsafe { std::slice::from_raw_parts(s, 50) }
        .iter()
        .all(|&b| b == 0x11));
    // SAFETY: `s` is live.
    unsafe { g.free(s) };
    let after = g.stats();
    let (b, a) = (&before.heap.counters, &after.heap.counters);
    assert_eq!(a.mallocs - b.mallocs, 1, "malloc calls");
    assert_eq!(a.frees - b.frees, 1, "free calls");
    let large_reallocs = after.large_reallocs - before.large_reallocs;
    assert_eq!(
        a.reallocs - b.reallocs + large_reallocs,
        3,
        "realloc calls ({large_reallocs} with mremap)"
    );
    assert_eq!(
        after.large_allocs - before.large_allocs,
        2 - large_reallocs,
        "mappings"
    );
    assert_eq!(after.large_frees, after.large_allocs);
    assert_eq!(g.check(), Ok(()));
}

#[test]
fn moving_reallocs_count_as_reallocs_with_the_thread_caches() {
    run(&CACHED);
}

#[test]
fn moving_reallocs_count_as_reallocs_without_the_thread_caches() {
    run(&UNCACHED);
}
