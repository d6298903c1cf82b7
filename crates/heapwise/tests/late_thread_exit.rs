//! `Heapwise` as the global allocator: a thread whose first allocation comes from a `pthread`
//! key destructor in glibc's last round (`PTHREAD_DESTRUCTOR_ITERATIONS` = 4) sets its cache
//! up too late for the allocator's own key destructor, which then never runs. Its cache (and
//! the blocks it holds) must still go back once the thread is gone, or every such thread
//! leaks ~200 KiB (a cache refilled in every small class).

use std::alloc::{alloc, dealloc, Layout};
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use heapwise::Heapwise;

#[global_allocator]
static A: Heapwise = Heapwise;

/// The test's key (created after the allocator's own, which the harness's first allocation
/// created: glibc runs the keys of a round in index order).
static KEY: AtomicU32 = AtomicU32::new(0);
/// Destructors that allocated in the last round, and allocations that failed there.
static LATE: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);
const ROUNDS: usize = 4;

/// The key's destructor: re-arms the key (with non-heap values) until the last round, then
/// allocates and frees a block of every small size.
extern "C" fn destructor(v: *mut c_void) {
    let round = v as usize;
    let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
    if round < ROUNDS {
        // SAFETY: a created key; keys below 32 are set without allocating.
        unsafe { libc::pthread_setspecific(key, ptr::without_provenance(round + 1)) };
        return;
    }
    let mut blocks = [(ptr::null_mut::<u8>(), 0usize); 63];
    for (k, b) in blocks.iter_mut().enumerate() {
        let Ok(layout) = Layout::from_size_align(k * 16 + 8, 8) else {
            continue;
        };
        // SAFETY: a layout of non-zero size.
        let p = unsafe { alloc(layout) };
        if p.is_null() {
            FAILED.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // SAFETY: `p` holds `layout.size()` writable bytes.
        unsafe { p.write_bytes(k as u8, layout.size()) };
        *b = (p, layout.size());
    }
    for &(p, size) in blocks.iter().rev() {
        if !p.is_null() {
            // SAFETY: allocated above with this layout, freed once.
            unsafe { dealloc(p, Layout::from_size_align_unchecked(size, 8)) };
        }
    }
    LATE.fetch_add(1, Ordering::Relaxed);
}

/// A raw thread (no `std` set-up, which would allocate): it only sets the key.
extern "C" fn worker(_: *mut c_void) -> *mut c_void {
    let key = KEY.load(Ordering::Relaxed) as libc::pthread_key_t;
    // SAFETY: a created key, set without allocating.
    unsafe { libc::pthread_setspecific(key, ptr::without_provenance(1)) };
    ptr::null_mut()
}

fn run(threads: usize) {
    for _ in 0..threads {
        // SAFETY: zeroed is a valid placeholder for the out-parameter.
        let mut t: libc::pthread_t = unsafe { std::mem::zeroed() };
        // SAFETY: `worker` has the start routine's signature; default attributes.
        let rc = unsafe { libc::pthread_create(&mut t, ptr::null(), worker, ptr::null_mut()) };
        assert_eq!(rc, 0, "pthread_create");
        // SAFETY: a joinable thread created above, joined once.
        assert_eq!(unsafe { libc::pthread_join(t, ptr::null_mut()) }, 0);
    }
}

#[test]
fn a_cache_set_up_in_the_last_destructor_round_is_reclaimed() {
    if !heapwise::tcache::robust_list_works() {
        // qemu-user keeps no robust lists: such caches are not reclaimed there.
        eprintln!("SKIPPED: no robust list for this thread (qemu-user?)");
        return;
    }
    // The allocator's key exists (this thread allocated): the test's key comes after it.
    let v = std::hint::black_box(vec![7u8; 48]);
    drop(v);
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; the destructor never unwinds.
    let rc = unsafe { libc::pthread_key_create(&mut key, Some(destructor)) };
    assert_eq!(rc, 0, "pthread_key_create");
    KEY.store(key as u32, Ordering::Relaxed);
    run(20);
    let before = Heapwise::stats();
    let threads = 400;
    run(threads);
    let after = Heapwise::stats();
    assert_eq!(LATE.load(Ordering::Relaxed), 20 + threads);
    assert_eq!(FAILED.load(Ordering::Relaxed), 0);
    // Leaked caches: ~200 KiB per thread, 80 MiB in all.
    let growth = after.footprint_bytes.saturating_sub(before.footprint_bytes);
    assert!(
        growth < 16 << 20,
        "footprint {} -> {} bytes over {threads} threads",
        before.footprint_bytes,
        after.footprint_bytes
    );
    Heapwise::check().unwrap();
}
