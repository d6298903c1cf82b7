//! `Heapwise` as the global allocator of this test binary: collections, threads passing
//! blocks to each other, over-aligned types, zeroed allocation, realloc in place, and the
//! statistics and checker after all that.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

use heapwise::Heapwise;

#[global_allocator]
static A: Heapwise = Heapwise;

#[test]
fn collections_work_and_are_counted() {
    let before = Heapwise::stats();
    let mut m: HashMap<String, Vec<u32>> = HashMap::new();
    for i in 0..20_000u32 {
        m.entry(format!("key{}", i % 1000)).or_default().push(i);
    }
    let b: BTreeMap<_, _> = m
        .iter()
        .map(|(k, v)| (k.clone(), v.iter().sum::<u32>()))
        .collect();
    assert_eq!(b.len(), 1000);
    assert_eq!(b["key7"], (0..20).map(|j| j * 1000 + 7).sum::<u32>());
    let after = Heapwise::stats();
    assert!(after.heap.counters.mallocs > before.heap.counters.mallocs + 1000);
    assert!(after.requested_tracked);
    assert!(after.peak_requested_bytes > 0);
    let u = after.peak_utilisation().unwrap();
    assert!(u > 0.0 && u <= 1.0, "utilisation {u}");
    Heapwise::check().unwrap();
}

#[test]
fn threads_exchange_blocks() {
    let (tx, rx) = mpsc::channel::<Vec<u64>>();
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..2000u64 {
                    let n = ((i * 7 + t) % 300) as usize + 1;
                    tx.send(vec![t * 1_000_000 + i; n]).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let consumer = std::thread::spawn(move || {
        let mut count = 0;
        for v in rx {
            let first = v[0];
            assert!(v.iter().all(|&x| x == first), "payload intact");
            count += 1;
        } // freed here, in another thread than the one that allocated it
        count
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(consumer.join().unwrap(), 8000);
    Heapwise::check().unwrap();
}

#[repr(align(4096))]
struct Page([u8; 4096]);

#[repr(align(64))]
#[derive(Clone, Copy)]
struct Line([u8; 64]);

#[test]
fn over_aligned_and_zeroed_allocations() {
    let pages: Vec<Box<Page>> = (0..20).map(|_| Box::new(Page([1; 4096]))).collect();
    for p in &pages {
        assert_eq!(&**p as *const Page as usize % 4096, 0);
        assert_eq!(p.0[4095], 1);
    }
    let mut lines = vec![Line([2; 64]); 3];
    for n in [10, 100, 10_000, 5] {
        lines.resize(n, Line([3; 64]));
        assert_eq!(
            lines.as_ptr() as usize % 64,
            0,
            "realloc keeps alignment 64"
        );
        assert_eq!(lines[0].0[0], 2);
    }
    let z = vec![0u64; 1 << 20]; // alloc_zeroed of 8 MiB: a large block
    assert!(z.iter().all(|&x| x == 0));
    let z2 = vec![0u8; 5000];
    assert!(z2.iter().all(|&x| x == 0));
    Heapwise::check().unwrap();
}

#[test]
fn realloc_grows_in_place_when_the_successor_is_free() {
    // A string that grows steadily is mostly resized in place at the top of the heap or
    // into free successors; its bytes always survive.
    let mut s = String::new();
    for i in 0..100_000 {
        s.push(char::from(b'a' + (i % 26) as u8));
    }
    assert!(s
        .bytes()
        .enumerate()
        .all(|(i, c)| c == b'a' + (i % 26) as u8));
    s.truncate(10);
    s.shrink_to_fit();
    assert_eq!(s, "abcdefghij");
}

/// `alloc_zeroed` with a large alignment gets a fresh mapping: zero, and not written (its
/// pages stay out of the resident set until used), also right after a dirty block of the
/// same size and alignment was freed.
#[test]
fn aligned_zeroed_large_blocks_are_fresh_pages() {
    use std::alloc::{GlobalAlloc, Layout};
    const SIZE: usize = 16 << 20;
    let l = Layout::from_size_align(SIZE, 4096).unwrap();
    // SAFETY: a valid layout; every block is freed with it.
    unsafe {
        let dirty = A.alloc(l);
        assert!(!dirty.is_null());
        dirty.write_bytes(0xAA, SIZE);
        A.dealloc(dirty, l);
        let p = A.alloc_zeroed(l);
        assert!(!p.is_null() && p as usize % 4096 == 0);
        let pages = SIZE / 4096;
        let mut v = vec![0u8; pages];
        let r = libc::mincore(p.cast(), SIZE, v.as_mut_ptr());
        assert_eq!(r, 0, "mincore failed");
        let resident = v.iter().filter(|&&b| b & 1 != 0).count();
        assert!(
            resident < pages / 8,
            "{resident} of {pages} pages resident: the zeroed block was written"
        );
        assert!((0..SIZE).step_by(4096).all(|i| *p.add(i) == 0));
        A.dealloc(p, l);
        // Small over-aligned zeroed blocks on reused memory are zero too.
        let s = Layout::from_size_align(3000, 64).unwrap();
        let q = A.alloc(s);
        q.write_bytes(0x55, 3000);
        A.dealloc(q, s);
        let z = A.alloc_zeroed(s);
        assert!(!z.is_null() && z as usize % 64 == 0);
        assert!(std::slice::from_raw_parts(z, 3000).iter().all(|&b| b == 0));
        A.dealloc(z, s);
    }
}

/// The cumulative call counts of `Heapwise::stats` never go back between snapshots while
/// other threads allocate, refill and flush their caches, and exit.
#[test]
fn cumulative_counts_never_go_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static STOP: AtomicBool = AtomicBool::new(false);
    let workers: Vec<_> = (0..2u8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut keep: Vec<Box<[u8]>> = Vec::new();
                let mut i = 0usize;
                while !STOP.load(Ordering::Relaxed) {
                    std::thread::spawn(move || {
                        let v: Vec<Box<[u8]>> = (0..200)
                            .map(|k| vec![t; 1 + k * 3].into_boxed_slice())
                            .collect();
                        drop(v);
                    })
                    .join()
                    .unwrap();
                    keep.push(vec![t; 1 + i % 900].into_boxed_slice());
                    if keep.len() > 500 {
                        keep.drain(..250);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let mut prev = Heapwise::stats().heap.counters;
    let mut back = Vec::new();
    for _ in 0..2000 {
        let c = Heapwise::stats().heap.counters;
        if c.mallocs < prev.mallocs || c.frees < prev.frees {
            back.push((prev.mallocs, c.mallocs, prev.frees, c.frees));
        }
        prev = c;
    }
    STOP.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(
        back.is_empty(),
        "(mallocs, then, frees, then) went back: {back:?}"
    );
}
