//! `Global::set_thread_cache(false)` at run time: blocks already in a thread cache stay
//! freed. A second `free` of one is still reported as a double free (and leaves the block
//! in the cache), and a `realloc` or `usable_size` of one as a use after free: the engine,
//! for which a cached block is allocated, never gets it while a cache holds it. (Before,
//! the caches' checks were skipped once they were off: the engine freed the block while
//! it sat on a cache list and handed it out again, and the cache later did too, so two
//! live blocks overlapped.)

use std::sync::atomic::{AtomicUsize, Ordering};

use heapwise::{tcache, Config, Global};
use heapwise_core::{ErrorKind, HeapError};

static DOUBLE_FREES: AtomicUsize = AtomicUsize::new(0);
static USES_AFTER_FREE: AtomicUsize = AtomicUsize::new(0);

fn record(e: &HeapError) {
    match e.kind {
        ErrorKind::DoubleFree => DOUBLE_FREES.fetch_add(1, Ordering::SeqCst),
        ErrorKind::UseAfterFree => USES_AFTER_FREE.fetch_add(1, Ordering::SeqCst),
        _ => 0,
    };
}

static G: Global = Global::with_thread_cache(Config {
    hook: record,
    ..Config::DEFAULT
});

#[test]
fn a_cached_block_is_still_caught_after_the_caches_are_turned_off() {
    let p = G.malloc(40);
    assert!(!p.is_null());
    // SAFETY: `p` is live, freed once here (into this thread's cache).
    unsafe { G.free(p) };
    // SAFETY: `p` is a heap block of a cached size: two payload words readable.
    assert!(unsafe { tcache::is_cached(p) }, "the freed block is cached");
    G.set_thread_cache(false);
    // SAFETY: the second free is the misuse under test (the hook records it); `realloc`
    // and `usable_size` of the freed block are too.
    unsafe {
        G.free(p);
        assert_eq!(
            DOUBLE_FREES.load(Ordering::SeqCst),
            1,
            "double free reported"
        );
        assert!(G.realloc(p, 100).is_null(), "realloc of a freed block");
        assert_eq!(G.usable_size(p), 0, "usable_size of a freed block");
    }
    assert_eq!(USES_AFTER_FREE.load(Ordering::SeqCst), 2);
    // The engine never got the block: it hands out others, which stay apart from it.
    let others: Vec<*mut u8> = (0..64).map(|_| G.malloc(40)).collect();
    assert!(!others.contains(&p), "the engine handed out a cached block");
    // SAFETY: as above: `p` is a heap block of a cached size.
    let still = unsafe { tcache::is_cached(p) };
    assert!(still, "the block stays in the cache");
    for q in others {
        // SAFETY: live blocks of `G`, freed once.
        unsafe { G.free(q) };
    }
    G.set_thread_cache(true);
    G.check().expect("heaps intact");
    assert_eq!(DOUBLE_FREES.load(Ordering::SeqCst), 1);
}
