//! `ArenaAlloc`, the `no_std` face, used directly (not as the global allocator, so that this
//! file also runs under Miri): claimed regions, growth, the OOM handler, statistics.

use std::alloc::{GlobalAlloc, Layout};
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};

use heapwise_core::{ArenaAlloc, StaticArena};

fn leak(bytes: usize) -> &'static mut [MaybeUninit<u8>] {
    Box::leak(vec![MaybeUninit::uninit(); bytes].into_boxed_slice())
}

#[test]
fn a_claimed_region_serves_when_the_arena_is_full_and_oom_is_null() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    let l = Layout::from_size_align(1000, 8).unwrap();
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(l) }.is_null(), "no memory yet");
    assert!(a.claim_slice(leak(8192)));
    // SAFETY: valid layout; blocks are freed below.
    let p = unsafe { a.alloc(l) };
    assert!(!p.is_null());
    let big = Layout::from_size_align(100_000, 8).unwrap();
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(big) }.is_null());
    let s = a.stats();
    assert_eq!(s.regions, 1);
    assert!(s.used >= 1000 && s.capacity >= 8000);
    // SAFETY: `p` was allocated with `l`.
    unsafe { a.dealloc(p, l) };
    assert_eq!(a.stats().used, 0);
    a.check().unwrap();
}

static OOM_CALLS: AtomicUsize = AtomicUsize::new(0);

fn add_memory(a: &ArenaAlloc, _: Layout) -> bool {
    OOM_CALLS.fetch_add(1, Ordering::SeqCst) == 0 && a.claim_slice(leak(64 << 10))
}

#[test]
fn the_oom_handler_can_add_memory_and_retry() {
    static ARENA: StaticArena<4096> = StaticArena::new();
    let a: ArenaAlloc = ArenaAlloc::new(&ARENA);
    a.set_oom_handler(add_memory);
    let l = Layout::from_size_align(20_000, 16).unwrap();
    // SAFETY: valid layout; freed below.
    let p = unsafe { a.alloc(l) };
    assert!(
        !p.is_null(),
        "the handler claimed a region and the retry succeeded"
    );
    assert_eq!(OOM_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(a.stats().regions, 2);
    // A second failure calls the handler again, which now declines: null.
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(Layout::from_size_align(1 << 20, 16).unwrap()) }.is_null());
    assert_eq!(OOM_CALLS.load(Ordering::SeqCst), 2);
    // SAFETY: `p` was allocated with `l`.
    unsafe { a.dealloc(p, l) };
    a.check().unwrap();
}

static NESTED_DEPTH: AtomicUsize = AtomicUsize::new(0);
static NESTED_MAX_DEPTH: AtomicUsize = AtomicUsize::new(0);
static NESTED_CALLS: AtomicUsize = AtomicUsize::new(0);
static NESTED_NULLS: AtomicUsize = AtomicUsize::new(0);

/// An OOM handler that allocates from the allocator it serves (as a handler that formats a
/// message would), with the same request, which fails again. Bounded at depth 3, so that an
/// allocator that re-enters it fails the test instead of overflowing the stack.
fn allocating_handler(a: &ArenaAlloc, l: Layout) -> bool {
    NESTED_CALLS.fetch_add(1, Ordering::SeqCst);
    let d = NESTED_DEPTH.fetch_add(1, Ordering::SeqCst) + 1;
    NESTED_MAX_DEPTH.fetch_max(d, Ordering::SeqCst);
    if d < 3 {
        // SAFETY: valid layout; a null result is all that is expected.
        let p = unsafe { a.alloc(l) };
        if p.is_null() {
            NESTED_NULLS.fetch_add(1, Ordering::SeqCst);
        }
    }
    NESTED_DEPTH.fetch_sub(1, Ordering::SeqCst);
    false
}

/// The OOM handler is not re-entered: an allocation that fails while it runs (here, its own
/// allocation) returns null without calling it again. It used to be called recursively,
/// once per nested failure, without bound.
#[test]
fn the_oom_handler_is_not_called_recursively() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    assert!(a.claim_slice(leak(8192)));
    a.set_oom_handler(allocating_handler);
    let l = Layout::from_size_align(100_000, 16).unwrap();
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(l) }.is_null());
    assert_eq!(
        NESTED_MAX_DEPTH.load(Ordering::SeqCst),
        1,
        "handler re-entered"
    );
    assert_eq!(NESTED_CALLS.load(Ordering::SeqCst), 1);
    assert_eq!(
        NESTED_NULLS.load(Ordering::SeqCst),
        1,
        "the nested request failed"
    );
    // The handler is called again for the next failure.
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(l) }.is_null());
    assert_eq!(NESTED_CALLS.load(Ordering::SeqCst), 2);
    a.check().unwrap();
}

#[test]
fn a_region_can_grow_in_place() {
    let mem = leak(16 << 10);
    let base = mem.as_mut_ptr() as *mut u8;
    let a: ArenaAlloc = ArenaAlloc::empty();
    // SAFETY: the first 8 KiB of `mem` are given now, the rest later; nothing else uses it.
    assert!(unsafe { a.claim(base, 8 << 10) });
    let big = Layout::from_size_align(10_000, 16).unwrap();
    // SAFETY: valid layout.
    assert!(unsafe { a.alloc(big) }.is_null());
    // SAFETY: the next 8 KiB after the region are part of `mem`, unused.
    assert!(unsafe { a.extend(8 << 10) });
    // SAFETY: valid layout; freed below.
    let p = unsafe { a.alloc(big) };
    assert!(!p.is_null());
    // SAFETY: `p` was allocated with `big`.
    unsafe { a.dealloc(p, big) };
    a.check().unwrap();
}

/// `extend` steps that are not multiples of 16 add up: the region's end is where the memory
/// given ends, not its capacity rounded down to 16. (Each step used to be added to the
/// rounded capacity, so the tail was lost every time: 100 steps of 8 bytes added nothing.)
#[test]
fn extend_steps_of_any_size_add_up() {
    let mem = leak(32 << 10);
    let base = mem.as_mut_ptr() as *mut u8;
    let base = base.wrapping_add((16 - base as usize % 16) % 16);
    let a: ArenaAlloc = ArenaAlloc::empty();
    // SAFETY: 4 KiB of `mem` (from its first 16-byte boundary) now, 800 bytes more in steps
    // below; nothing else uses it.
    assert!(unsafe { a.claim(base, 4096) });
    for _ in 0..100 {
        // SAFETY: the 8 bytes after the memory given so far are part of `mem`, unused.
        assert!(unsafe { a.extend(8) });
    }
    assert_eq!(a.stats().capacity, 4096 + 800);
    // A region whose length is not a multiple of 16, grown in steps of 1000 bytes.
    // SAFETY: from 8 KiB on, `mem` is given to a second region: 40 bytes, then 10 000.
    assert!(unsafe { a.claim(base.wrapping_add(8192), 40) });
    for _ in 0..10 {
        // SAFETY: as above.
        assert!(unsafe { a.extend(1000) });
    }
    assert_eq!(
        a.stats().capacity,
        4896 + 10_032,
        "10 040 bytes, rounded down to 16"
    );
    let l = Layout::from_size_align(6000, 16).unwrap();
    // SAFETY: valid layout; freed below.
    let p = unsafe { a.alloc(l) };
    assert!(!p.is_null());
    assert!(p as usize >= base as usize + 8192 && p as usize + 6000 <= base as usize + 18_232);
    // SAFETY: `p` was allocated with `l`.
    unsafe { a.dealloc(p, l) };
    a.check().unwrap();
}

/// Found by the `arena` fuzz target: a region shorter than the distance from its start to
/// the next 16-byte boundary used to become an empty heap at an unaligned address, which
/// `extend` then grew into blocks at odd addresses (a 1-byte request got an address 9 mod
/// 16). Such a region is refused; `extend` then grows the previous region (here: none).
#[test]
fn a_region_too_short_to_reach_an_aligned_address_is_refused() {
    let mem = leak(8 << 10);
    let base = mem.as_mut_ptr() as *mut u8;
    // An address 41 mod 16 = 9 past a 16-byte boundary: 7 bytes short of the next one.
    let skew = (16 - base as usize % 16) % 16 + 41;
    // SAFETY: `skew < 64` and the slice is 8 KiB long.
    let start = unsafe { base.add(skew) };
    assert_eq!(start as usize % 16, 9);
    let a: ArenaAlloc = ArenaAlloc::empty();
    // SAFETY: 5 bytes of `mem`, used by nothing else.
    let claimed = unsafe { a.claim(start, 5) };
    assert!(!claimed, "no aligned address in the region");
    assert_eq!(a.stats().regions, 0);
    // SAFETY: the 4 KiB after the (refused) region are part of `mem`, unused.
    assert!(!unsafe { a.extend(4096) }, "no region to extend");
    // A region that reaches its first aligned address is kept, and grows aligned.
    // SAFETY: 7 bytes of `mem`, then 4 KiB more, used by nothing else.
    assert!(unsafe { a.claim(start, 7) });
    // SAFETY: as above.
    assert!(unsafe { a.extend(4096) });
    for size in [1, 24, 100] {
        let l = Layout::from_size_align(size, 1).unwrap();
        // SAFETY: valid layout; freed below.
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        assert_eq!(p as usize % 16, 0, "block of {size} bytes at {p:p}");
        let end = start as usize + 7 + 4096;
        assert!(p as usize >= start as usize && p as usize + size <= end);
        // SAFETY: `p` was allocated with `l`.
        unsafe { a.dealloc(p, l) };
    }
    a.check().unwrap();
}

#[test]
fn a_static_arena_is_taken_by_one_allocator_only() {
    static ARENA: StaticArena<8192> = StaticArena::new();
    let a: ArenaAlloc = ArenaAlloc::new(&ARENA);
    let b: ArenaAlloc = ArenaAlloc::new(&ARENA);
    let l = Layout::from_size_align(100, 8).unwrap();
    // SAFETY: valid layouts; `p` is freed below.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        assert!(b.alloc(l).is_null(), "the arena already belongs to `a`");
        a.dealloc(p, l);
    }
}

/// The lock of targets without a compare-and-swap: an allocator over it serves, and a
/// second `lock` while it is held (an interrupt handler preempting the holder, on such a
/// target) panics instead of entering or waiting forever.
#[test]
#[cfg_attr(miri, ignore)] // catch_unwind of a panic: nothing Miri adds here
fn the_single_core_lock_serves_and_refuses_a_nested_lock() {
    use heapwise_core::{RawLock, Segregated, SingleCoreLock};

    static ARENA: StaticArena<8192> = StaticArena::new();
    static HEAP: ArenaAlloc<Segregated, SingleCoreLock> = ArenaAlloc::new(&ARENA);
    let l = Layout::from_size_align(100, 16).unwrap();
    // SAFETY: a valid layout; the block is freed once with it.
    unsafe {
        let p = HEAP.alloc(l);
        assert!(!p.is_null() && p as usize % 16 == 0);
        p.write_bytes(7, 100);
        HEAP.dealloc(p, l);
    }
    HEAP.check().unwrap();

    let lock = SingleCoreLock::INIT;
    lock.lock();
    let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.lock()));
    assert!(nested.is_err(), "a nested lock must panic");
    // SAFETY: the first `lock` is held.
    unsafe { lock.unlock() };
    // Free again: it can be taken once more.
    lock.lock();
    // SAFETY: held just above.
    unsafe { lock.unlock() };
}

#[test]
fn the_single_core_lock_lets_one_thread_in_on_several_cores() {
    use heapwise_core::{RawLock, SingleCoreLock};

    // Two threads take one single-core lock: one that finds it held panics (caught here),
    // and never are both inside (a load-then-store lock let both in, which broke the
    // tiling of the heap it guarded). The lock itself, not an `ArenaAlloc` over it: there
    // such a panic aborts (`a_panic_in_the_allocator_aborts_instead_of_unwinding`).
    const ROUNDS: usize = if cfg!(miri) { 40 } else { 200_000 };
    static LOCK: SingleCoreLock = SingleCoreLock::INIT;
    static INSIDE: AtomicUsize = AtomicUsize::new(0);
    static WORK: AtomicUsize = AtomicUsize::new(0);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let start = std::sync::Barrier::new(2);
    let worker = || {
        let mut bad = 0;
        start.wait();
        for i in 0..ROUNDS {
            if std::panic::catch_unwind(|| LOCK.lock()).is_ok() {
                bad += usize::from(INSIDE.fetch_add(1, Ordering::Relaxed) != 0);
                WORK.fetch_add(i % 7, Ordering::Relaxed);
                INSIDE.fetch_sub(1, Ordering::Relaxed);
                // SAFETY: this thread took the lock just above.
                unsafe { LOCK.unlock() };
            }
        }
        bad
    };
    let bad = std::thread::scope(|s| {
        let a = s.spawn(worker);
        let b = s.spawn(worker);
        a.join().unwrap() + b.join().unwrap()
    });
    std::panic::set_hook(hook);
    assert_eq!(bad, 0, "both threads inside the lock");
}

/// The child half of `a_panic_in_the_allocator_aborts_instead_of_unwinding`: makes the
/// allocator panic (`what`: the lock found held, or the OOM handler), and exits with
/// status 0 if the panic unwound out of the `GlobalAlloc` method, where it is undefined
/// behaviour.
fn panic_in_the_allocator(what: &str) {
    use heapwise_core::{Segregated, SingleCoreLock};

    static ARENA: StaticArena<8192> = StaticArena::new();
    static HEAP: ArenaAlloc<Segregated, SingleCoreLock> = ArenaAlloc::new(&ARENA);
    /// Runs with the lock held, and allocates: the lock finds itself held.
    fn allocating_hook(_: &heapwise_core::HeapError) {
        // SAFETY: a valid layout (the call panics before it allocates).
        let _ = unsafe { HEAP.alloc(Layout::from_size_align(16, 16).unwrap()) };
    }
    fn panicking_handler(_: &ArenaAlloc<Segregated, SingleCoreLock>, l: Layout) -> bool {
        panic!("out of memory for {l:?}");
    }
    let mut outside = [0u64; 4];
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match what {
        "lock" => {
            HEAP.set_corruption_hook(allocating_hook);
            // SAFETY: a pointer in no region: reported to the hook, never touched.
            unsafe { HEAP.dealloc(outside.as_mut_ptr().cast(), Layout::new::<u64>()) };
        }
        _ => {
            HEAP.set_oom_handler(panicking_handler);
            // SAFETY: a valid layout, larger than the arena.
            let _ = unsafe { HEAP.alloc(Layout::from_size_align(1 << 20, 16).unwrap()) };
        }
    }));
    if unwound.is_err() {
        std::process::exit(0);
    }
}

/// Unwinding out of a `GlobalAlloc` method is undefined behaviour: a panic in the
/// allocator (the single-core lock finding itself held, a panicking OOM handler) aborts the
/// process instead. It used to unwind out of `dealloc` and `alloc`.
#[test]
#[cfg_attr(miri, ignore)] // starts processes
fn a_panic_in_the_allocator_aborts_instead_of_unwinding() {
    if let Ok(what) = std::env::var("HEAPWISE_ARENA_PANIC_CHILD") {
        panic_in_the_allocator(&what);
        return;
    }
    for (what, message) in [
        ("lock", "allocation while the arena is locked"),
        ("oom", "out of memory for"),
    ] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_panic_in_the_allocator_aborts_instead_of_unwinding",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("HEAPWISE_ARENA_PANIC_CHILD", what)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            Some(6),
            "{what}: the child was not aborted ({:?}): {stderr}",
            out.status
        );
        assert!(stderr.contains(message), "{what}: {stderr}");
    }
}

#[test]
fn the_high_water_mark_counts_both_blocks_of_a_moving_realloc() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    assert!(a.claim_slice(leak(64 << 10)));
    let l = Layout::from_size_align(1000, 8).unwrap();
    let fence = Layout::from_size_align(16, 8).unwrap();
    // SAFETY: valid layouts; every block is freed below with its layout.
    unsafe {
        let p = a.alloc(l);
        let f = a.alloc(fence);
        let before = a.stats().high_water;
        // The fence keeps `p` from growing in place: the block moves, and for the copy both
        // the 1008-byte and the 2016-byte block are live.
        let q = a.realloc(p, l, 2000);
        assert!(!q.is_null() && q != p);
        let s = a.stats();
        assert!(
            s.high_water >= before + 2016,
            "high water {} misses the moment both blocks were live (before: {before})",
            s.high_water
        );
        a.dealloc(q, Layout::from_size_align(2000, 8).unwrap());
        a.dealloc(f, fence);
    }
    assert_eq!(a.stats().used, 0);
    a.check().unwrap();
}

/// A `realloc` that grows a block in place leaves the high-water mark at what was really
/// allocated: the block's final size. (The engine counted the whole free run the block
/// grew into before trimming it, and the high-water mark, which follows the engine's peak
/// during a `realloc`, jumped by ≈ 4 KiB for a 48-byte block.)
#[test]
fn an_in_place_realloc_keeps_the_high_water_mark_at_the_real_use() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    assert!(a.claim_slice(leak(64 << 10)));
    let l = Layout::from_size_align(24, 8).unwrap();
    // SAFETY: valid layouts; the block is freed with its final layout.
    unsafe {
        let p = a.alloc(l);
        assert!(!p.is_null());
        let q = a.realloc(p, l, 40);
        assert_eq!(q, p, "the only block grows in place");
        let s = a.stats();
        assert_eq!(s.high_water, s.used, "{s:?}");
        a.dealloc(q, Layout::from_size_align(40, 8).unwrap());
    }
    a.check().unwrap();
}

/// Shrinking an over-aligned block never needs memory: it stays where it is, even in a full
/// arena (a null there is `handle_alloc_error`, e.g. in `Vec::shrink_to_fit` of an
/// over-aligned type); growing one in place keeps its address too.
#[test]
fn an_over_aligned_block_shrinks_in_place_in_a_full_arena() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    // SAFETY: leaked memory, owned by the allocator from now on.
    unsafe {
        // (A smaller arena to fill under Miri, which is slow.)
        let m = leak(if cfg!(miri) { 1 << 14 } else { 1 << 16 });
        assert!(a.claim(m.as_mut_ptr().cast(), m.len()));
        let big = Layout::from_size_align(8000, 64).unwrap();
        let p = a.alloc(big);
        assert!(!p.is_null() && p as usize % 64 == 0);
        let small = Layout::from_size_align(64, 64).unwrap();
        let mut filler = Vec::new();
        loop {
            let q = a.alloc(small);
            if q.is_null() {
                break;
            }
            filler.push(q);
        }
        p.write_bytes(7, 8000);
        let q = a.realloc(p, big, 100);
        assert_eq!(q, p, "the shrink stays in place");
        assert!((0..100).all(|i| *q.add(i) == 7));
        a.check().unwrap();
        a.dealloc(q, Layout::from_size_align(100, 64).unwrap());
        for f in filler {
            a.dealloc(f, small);
        }
    }
    a.check().unwrap();
}

static REPORTS: AtomicUsize = AtomicUsize::new(0);

fn count_report(_: &heapwise_core::HeapError) {
    REPORTS.fetch_add(1, Ordering::Relaxed);
}

/// A `realloc` of a freed pointer, and a `realloc` or `dealloc` of a pointer in no region,
/// are reported once each and refused: no fresh block is handed out for them (before, the
/// freed one got a new block with bytes copied from freed memory, and the foreign ones
/// passed silently).
#[test]
fn misuse_through_the_global_alloc_face_is_reported_and_refused() {
    let a: ArenaAlloc = ArenaAlloc::empty();
    a.set_corruption_hook(count_report);
    let layout = Layout::from_size_align(100, 8).unwrap();
    let mut outside = [0u64; 16];
    let foreign = outside.as_mut_ptr().cast::<u8>();
    // SAFETY: leaked memory for the allocator; the misuse calls are the test's point (the
    // allocator must detect them without touching the memory they name).
    unsafe {
        let m = leak(1 << 14);
        assert!(a.claim(m.as_mut_ptr().cast(), m.len()));
        let p = a.alloc(layout);
        let _keep = a.alloc(layout);
        a.dealloc(p, layout);
        let before = REPORTS.load(Ordering::Relaxed);
        assert!(
            a.realloc(p, layout, 200).is_null(),
            "realloc of a freed block"
        );
        assert_eq!(REPORTS.load(Ordering::Relaxed), before + 1);
        assert!(
            a.realloc(foreign, layout, 200).is_null(),
            "realloc of a foreign pointer"
        );
        assert_eq!(REPORTS.load(Ordering::Relaxed), before + 2);
        a.dealloc(foreign, layout);
        assert_eq!(REPORTS.load(Ordering::Relaxed), before + 3);
        // An over-aligned block, freed, then grown: refused too.
        let wide = Layout::from_size_align(100, 64).unwrap();
        let q = a.alloc(wide);
        a.dealloc(q, wide);
        assert!(
            a.realloc(q, wide, 4000).is_null(),
            "growth of a freed over-aligned block"
        );
        assert_eq!(REPORTS.load(Ordering::Relaxed), before + 4);
    }
    assert!(
        outside.iter().all(|&w| w == 0),
        "nothing written outside the regions"
    );
    a.check().unwrap();
}

/// Growing an over-aligned block keeps its alignment, also when a big free block lies
/// before it and an allocated one after it (the engine's growth then slides a payload down
/// into its free predecessor, which an over-aligned block must not do).
#[test]
fn an_over_aligned_block_keeps_its_alignment_when_it_grows() {
    // (Under Miri, which is slow: the small alignments, in a smaller region.)
    let aligns: &[usize] = if cfg!(miri) {
        &[32, 64]
    } else {
        &[32, 64, 4096, 1 << 16]
    };
    for &align in aligns {
        let a: ArenaAlloc = ArenaAlloc::empty();
        assert!(a.claim_slice(leak(if cfg!(miri) { 1 << 15 } else { 1 << 20 })));
        let small = Layout::from_size_align(1000, 16).unwrap();
        let l = Layout::from_size_align(100, align).unwrap();
        // SAFETY: valid layouts; every block is freed with its layout.
        unsafe {
            let before: Vec<_> = (0..8).map(|_| a.alloc(small)).collect();
            let p = a.alloc(l);
            assert!(!p.is_null() && p as usize % align == 0);
            let fence = a.alloc(small);
            // A free block of 8 KB right before `p`, an allocated one after it.
            for &b in &before {
                a.dealloc(b, small);
            }
            p.write_bytes(9, 100);
            let q = a.realloc(p, l, 5000);
            assert!(!q.is_null());
            assert_eq!(q as usize % align, 0, "align {align}");
            assert!((0..100).all(|i| *q.add(i) == 9));
            a.dealloc(q, Layout::from_size_align(5000, align).unwrap());
            a.dealloc(fence, small);
        }
        a.check().unwrap();
    }
}

/// Two heaps over the same bytes would hand them out twice. A region that overlaps one
/// already held, and an `extend` of the last region into another one (claimed after it, at
/// a lower address), break `claim`'s and `extend`'s safety contracts; the allocator detects
/// both (a few comparisons) and refuses them. Both used to be taken.
#[test]
fn a_region_overlapping_one_held_is_refused() {
    let mem = leak(40 << 10);
    let base = mem.as_mut_ptr() as *mut u8;
    let base = base.wrapping_add((16 - base as usize % 16) % 16);
    let at = |off: usize| base.wrapping_add(off);
    let a: ArenaAlloc = ArenaAlloc::empty();
    // SAFETY: every region named below lies in `mem`, which nothing else uses; the calls
    // that break the contract (overlaps) are the test's point and must be refused before
    // the allocator touches their memory.
    unsafe {
        assert!(a.claim(at(8192), 8192));
        assert!(!a.claim(at(8192), 8192), "the same region twice");
        assert!(!a.claim(at(12_288), 8192), "starts inside a region");
        assert!(!a.claim(at(4096), 8192), "ends inside a region");
        assert!(!a.claim(at(0), 24_576), "covers a region");
        assert!(!a.claim(at(9000), 100), "lies inside a region");
        assert_eq!(a.stats().regions, 1);
        // Adjacent regions share no byte.
        assert!(a.claim(at(16_384), 4096));
        assert!(a.claim(at(0), 8192));
        assert_eq!(a.stats().regions, 3);
        // The last region, [0, 8 KiB), cannot grow into [8 KiB, 16 KiB).
        let cap = a.stats().capacity;
        assert!(!a.extend(1), "extend into the region after it");
        assert!(!a.extend(4096));
        assert_eq!(a.stats().capacity, cap);
        // A region at the top grows into memory nobody holds.
        assert!(a.claim(at(24_576), 4096));
        assert!(a.extend(8192));
        assert_eq!(a.stats().capacity, cap + 12_288);
    }
    // Every byte is handed out once: fill all the regions, the blocks must not overlap.
    let l = Layout::from_size_align(200, 16).unwrap();
    let mut blocks = Vec::new();
    loop {
        // SAFETY: a valid layout; the blocks are freed below.
        let p = unsafe { a.alloc(l) };
        if p.is_null() {
            break;
        }
        // SAFETY: a live block of 200 bytes.
        unsafe { p.write_bytes(blocks.len() as u8, 200) };
        blocks.push(p);
    }
    assert!(blocks.len() > 100);
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: a live block of 200 bytes, filled with its index.
        let bytes = unsafe { std::slice::from_raw_parts(p, 200) };
        assert!(bytes.iter().all(|&x| x == i as u8), "block {i} overwritten");
    }
    a.check().unwrap();
    for p in blocks {
        // SAFETY: allocated with `l`, freed once.
        unsafe { a.dealloc(p, l) };
    }
    assert_eq!(a.stats().used, 0);
    a.check().unwrap();
}

/// A region that would pass the top of the address space (no valid memory does) is
/// refused, by `claim` and by `extend`; `extend` took such bytes, and the heap's `brk`
/// wrapped around to address 0.
#[test]
fn a_region_past_the_top_of_the_address_space_is_refused() {
    let top = std::ptr::without_provenance_mut::<u8>(usize::MAX & !15);
    let a: ArenaAlloc = ArenaAlloc::empty();
    // SAFETY: an empty region (its memory is never touched), then requests that break the
    // contract on purpose and must be refused before anything is written.
    unsafe {
        assert!(!a.claim(top, 32), "a region past the top");
        assert!(a.claim(top, 0));
        assert!(!a.extend(32), "an extension past the top");
        assert!(!a.extend(usize::MAX), "an extension whose length overflows");
    }
    assert_eq!(a.stats().capacity, 0);
    a.check().unwrap();
}
/// An over-aligned block grows in place when the memory after it is free (a free
/// successor, or the top of the heap), as a block of alignment 16 does: its address stays,
/// and no second block is needed. Its growth used to be a copy every time: a move, with
/// both blocks held during the copy (null, `handle_alloc_error`, in an arena without room
/// for the second one).
#[test]
fn an_over_aligned_block_grows_in_place_when_the_room_after_it_is_free() {
    for align in [32, 64, 4096] {
        let a: ArenaAlloc = ArenaAlloc::empty();
        assert!(a.claim_slice(leak(if cfg!(miri) { 1 << 15 } else { 1 << 16 })));
        let l = Layout::from_size_align(100, align).unwrap();
        let small = Layout::from_size_align(64, 16).unwrap();
        // SAFETY: valid layouts; every block is freed with its final layout.
        unsafe {
            // The last block grows at the top of the heap.
            let p = a.alloc(l);
            assert!(!p.is_null() && p as usize % align == 0);
            p.write_bytes(3, 100);
            let q = a.realloc(p, l, 2000);
            assert_eq!(q, p, "align {align}: the last block grows in place");
            assert!((0..100).all(|i| *q.add(i) == 3));
            let l = Layout::from_size_align(2000, align).unwrap();
            // A free successor, in an arena with no room for a second copy of the block:
            // the 8000-byte block right after it, freed once the arena is full.
            let gap = a.alloc(Layout::from_size_align(8000, 16).unwrap());
            assert!(!gap.is_null());
            assert!(
                gap as usize > p as usize && gap as usize - p as usize <= 2048,
                "{p:p} {gap:p}: the next block"
            );
            let mut filler = Vec::new();
            loop {
                let f = a.alloc(small);
                if f.is_null() {
                    break;
                }
                filler.push(f);
            }
            a.dealloc(gap, Layout::from_size_align(8000, 16).unwrap());
            let used = a.stats().used;
            let q = a.realloc(p, l, 6000);
            assert_eq!(q, p, "align {align}: grows into its free successor");
            assert!((0..100).all(|i| *q.add(i) == 3));
            let s = a.stats();
            assert!(s.used >= used + 4000 && s.used <= used + 4000 + 64, "{s:?}");
            assert_eq!(s.high_water.max(s.used), s.high_water);
            a.check().unwrap();
            a.dealloc(q, Layout::from_size_align(6000, align).unwrap());
            for f in filler {
                a.dealloc(f, small);
            }
        }
        assert_eq!(a.stats().used, 0);
        a.check().unwrap();
    }
}
