//! The fallback when `sbrk(2)` itself fails: a mapping placed just above the program break
//! stops the kernel from moving it, and a `Global` whose first heap is at the break serves
//! the rest from a region heap. (Its own binary: it blocks the real break.)

use heapwise::{Config, Global};

static G: Global = Global::new(Config {
    use_sbrk: true,
    ..Config::DEFAULT
});

#[test]
fn allocation_continues_in_a_region_when_the_break_cannot_move() {
    let page = heapwise::sys::page_size();
    // SAFETY: sbrk(0) only reads the break.
    let brk = unsafe { libc::sbrk(0) } as usize;
    let wall = brk.div_ceil(page) * page + 2 * page;
    // SAFETY: a fresh anonymous mapping at an address nothing uses (NOREPLACE refuses to
    // clobber an existing one).
    let m = unsafe {
        libc::mmap(
            wall as *mut libc::c_void,
            page,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    assert_eq!(m as usize, wall, "could not place the wall above the break");
    // SAFETY: moving the break is harmless; the kernel must refuse to move it into the wall.
    let moved = unsafe { libc::sbrk((4 * page) as libc::intptr_t) } as isize;
    assert_eq!(moved, -1);

    // The very first request is more than the break can give: the heap at the break
    // cannot serve it, and a region heap must (it used to fail with null).
    let first = G.malloc(64 << 10);
    assert!(
        !first.is_null(),
        "the first request, larger than the break can give"
    );
    // SAFETY: `first` is a live block of 64 KiB, freed once.
    unsafe {
        std::ptr::write_bytes(first, 0xee, 64 << 10);
        G.free(first);
    }

    let mut blocks = Vec::new();
    for i in 0..500usize {
        let p = G.malloc(1000);
        assert!(!p.is_null(), "allocation {i} served");
        // SAFETY: `p` is a live block of 1000 bytes.
        unsafe { std::ptr::write_bytes(p, i as u8, 1000) };
        blocks.push(p);
    }
    let s = G.stats();
    // (musl's `sbrk` never moves the break: no heap there at all, one region heap.)
    let at_break = usize::from(!cfg!(target_env = "musl"));
    assert!(s.heaps > at_break, "a region heap took over: {s:?}");
    assert_eq!(s.sbrk_heaps, at_break, "the first heap is at the break");
    assert!(s.heap.heap_bytes >= 500 * 1000);
    G.check().unwrap();
    for (i, &p) in blocks.iter().enumerate() {
        // SAFETY: live block of 1000 bytes, freed once.
        unsafe {
            assert!(std::slice::from_raw_parts(p, 1000)
                .iter()
                .all(|&b| b == i as u8));
            G.free(p);
        }
    }
    G.check().unwrap();
    assert_eq!(G.stats().heap.allocated_blocks, 0);
}
