//! The heap checker catches each kind of corruption it claims to: every test corrupts a
//! healthy heap in one precise way and expects the matching error kind.

use std::mem::MaybeUninit;

use heapwise_core::block::WORD;
use heapwise_core::source::Source;
use heapwise_core::{AnyHeap, ErrorKind, FixedArena, Heap, PolicyKind, Segregated};

/// A heap with blocks `a` (allocated), `f` (free), `b` (allocated), `tail` (allocated),
/// returning their payload pointers.
fn setup(kind: PolicyKind, mem: &mut [MaybeUninit<u8>]) -> (AnyHeap<FixedArena<'_>>, [*mut u8; 4]) {
    let mut h = AnyHeap::new(kind, FixedArena::new(mem));
    let a = h.malloc(48).unwrap().as_ptr();
    let f = h.malloc(200).unwrap().as_ptr();
    let b = h.malloc(48).unwrap().as_ptr();
    let t = h.malloc(48).unwrap().as_ptr();
    // SAFETY: `f` is live.
    unsafe { h.free(f) };
    h.check().unwrap();
    (h, [a, f, b, t])
}

fn word(p: *mut u8, off: isize) -> *mut usize {
    p.wrapping_offset(off) as *mut usize
}

fn expect(h: &AnyHeap<FixedArena<'_>>, kinds: &[ErrorKind]) {
    let e = h.check().expect_err("corruption must be detected");
    assert!(
        kinds.contains(&e.kind),
        "got {e:?}, expected one of {kinds:?}"
    );
}

#[test]
fn footer_mismatch() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, [_, f, ..]) = setup(PolicyKind::Segregated, &mut mem);
    // SAFETY: the header of the free block `f` is the word before it; its footer is the last
    // word of the block, inside the arena.
    unsafe {
        let size = *word(f, -(WORD as isize)) & !15;
        *word(f, size as isize - 2 * WORD as isize) ^= 0x100;
    }
    expect(&h, &[ErrorKind::FooterMismatch]);
}

#[test]
fn header_overwritten_by_an_overflow() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, [_, _, b, _]) = setup(PolicyKind::ExplicitLifoFirst, &mut mem);
    // SAFETY: the header word of `b` is inside the arena.
    unsafe { *word(b, -(WORD as isize)) = 0x4141_4141 };
    expect(
        &h,
        &[
            ErrorKind::BadTiling,
            ErrorKind::CorruptHeader,
            ErrorKind::BadPrevAlloc,
        ],
    );
}

#[test]
fn wrong_prev_alloc_bit() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, [_, _, b, _]) = setup(PolicyKind::ImplicitFirst, &mut mem);
    // SAFETY: header of `b`, inside the arena. Its predecessor is free: claim it is not.
    unsafe { *word(b, -(WORD as isize)) |= 0b10 };
    expect(&h, &[ErrorKind::BadPrevAlloc]);
}

#[test]
fn epilogue_overwritten() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, _) = setup(PolicyKind::ImplicitNext, &mut mem);
    let end = h.layout().unwrap().end;
    // SAFETY: the epilogue is the last word below `brk`, inside the arena.
    unsafe { *((end - WORD) as *mut usize) = 0 };
    expect(&h, &[ErrorKind::BadEpilogue]);
}

#[test]
fn brk_moved_behind_the_heaps_back() {
    // The heap derives its epilogue and `validate`'s payload window from `brk` once per
    // growth; a `brk` moved without it (breaking `source_mut`'s contract) leaves them stale.
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let mut h: Heap<_, Segregated> = Heap::new(FixedArena::new(&mut mem));
    let p = h.malloc(48).unwrap();
    h.check().unwrap();
    // SAFETY: deliberately breaks the contract (the test's point); the heap is only checked
    // afterwards, never used.
    unsafe { h.source_mut().sbrk(64).unwrap() };
    let e = h.check().expect_err("a stale top must be detected");
    assert_eq!(e.kind, ErrorKind::BadEpilogue, "{e:?}");
    let _ = p;
}

#[test]
fn prologue_overwritten() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, _) = setup(PolicyKind::ExplicitAddrBest, &mut mem);
    let first = h.layout().unwrap().first_block;
    // SAFETY: the prologue footer is the word below the first block, inside the arena.
    unsafe { *((first - WORD) as *mut usize) = 7 };
    expect(&h, &[ErrorKind::BadPrologue]);
}

#[test]
fn cycle_in_a_free_list() {
    for kind in [PolicyKind::ExplicitLifoFirst, PolicyKind::Segregated] {
        let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
        let (h, [_, f, ..]) = setup(kind, &mut mem);
        // SAFETY: the first payload word of free block `f` is its `next` link: point it back
        // at `f` itself.
        unsafe { *(f as *mut *mut u8) = f.wrapping_sub(WORD) };
        expect(&h, &[ErrorKind::InListTwice, ErrorKind::BadLink]);
    }
}

#[test]
fn free_block_in_no_list() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, [_, f, ..]) = setup(PolicyKind::ExplicitLifoBest, &mut mem);
    let meta = h.layout().unwrap().start as *mut *mut u8;
    // SAFETY: the explicit list head is metadata word 0; `f`, freed last into a LIFO list,
    // is the head. Unlink it by hand, as a lost update would.
    unsafe {
        assert_eq!(*meta, f.wrapping_sub(WORD));
        let next = *(f as *mut *mut u8);
        *meta = next;
        if !next.is_null() {
            *(next.add(2 * WORD) as *mut *mut u8) = std::ptr::null_mut();
        }
    }
    expect(&h, &[ErrorKind::NotInList]);
}

#[test]
fn list_link_into_an_allocated_block() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, [a, f, ..]) = setup(PolicyKind::ExplicitAddrFirst, &mut mem);
    // SAFETY: the first payload word of free block `f` is its `next` link.
    unsafe { *(f as *mut *mut u8) = a.wrapping_sub(WORD) };
    expect(&h, &[ErrorKind::ListEntryNotFree]);
}

/// A link into the middle of an allocated block's payload (zeros there read as a free
/// header of size 0) is named as a list entry that is not a free block, and the checker
/// leaves the program's bytes as they were: its scratch mark goes only into entries that
/// look like free blocks (it used to be written into the payload, which the clearing walk
/// over real blocks never visits, and reported as a bad link).
#[test]
fn list_link_into_an_allocated_payload_leaves_the_payload_alone() {
    for kind in [PolicyKind::ExplicitAddrFirst, PolicyKind::Segregated] {
        let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
        let (h, [a, f, ..]) = setup(kind, &mut mem);
        // SAFETY: `a` is a live 48-byte payload; the first payload word of free block `f`
        // is its `next` link. `a + WORD` is where a block header could sit (a word below a
        // 16-byte boundary), inside `a`'s payload.
        unsafe {
            a.write_bytes(0, 48);
            *(f as *mut *mut u8) = a.add(WORD);
        }
        let e = h.check().expect_err("corruption must be detected");
        // SAFETY: `a` is live, 48 bytes.
        let bytes = unsafe { std::slice::from_raw_parts(a, 48) };
        assert!(
            bytes.iter().all(|&x| x == 0),
            "{kind}: the checker wrote into a live payload: {bytes:?}"
        );
        assert_eq!(e.kind, ErrorKind::ListEntryNotFree, "{kind}: {e:?}");
        assert_eq!(e.addr, a as usize + WORD, "{kind}: the entry is named");
    }
}

#[test]
fn bitmap_disagrees_with_lists() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, _) = setup(PolicyKind::Segregated, &mut mem);
    let meta = h.layout().unwrap().start as *mut usize;
    // SAFETY: the segregated metadata is 128 list heads then the bitmap words.
    unsafe { *meta.add(128) ^= 1 << 5 };
    expect(&h, &[ErrorKind::BadBitmap]);
}

#[test]
fn adjacent_free_blocks_under_immediate_coalescing() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (h, [a, f, ..]) = setup(PolicyKind::ImplicitBest, &mut mem);
    // Mark `a` free (with a footer), as a broken free path that skipped coalescing would.
    // SAFETY: header of `a` and its last word are inside the arena; `f`'s header too.
    unsafe {
        let h_a = word(a, -(WORD as isize));
        let size = *h_a & !15;
        let v = size | 0b10;
        *h_a = v;
        *word(a, size as isize - 2 * WORD as isize) = v;
        let h_f = word(f, -(WORD as isize));
        *h_f &= !0b10;
        let fsize = *h_f & !15;
        *word(f, fsize as isize - 2 * WORD as isize) = *h_f;
    }
    expect(&h, &[ErrorKind::Uncoalesced, ErrorKind::BadCounters]);
}

#[test]
fn quarantine_mark_on_a_block_the_quarantine_does_not_hold() {
    let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
    let (mut h, [a, _, b, _]) = setup(PolicyKind::Segregated, &mut mem);
    h.set_quarantine(8, 4096, false);
    // SAFETY: `a` is live.
    unsafe { h.free(a) };
    h.check().unwrap();
    // SAFETY: the header word of the live block `b` is inside the arena.
    unsafe { *word(b, -(WORD as isize)) |= heapwise_core::block::QUARANTINED };
    expect(&h, &[ErrorKind::BadCounters]);
}

/// A bitmap bit that names no list (compact keeps 11 bins in one word: bits 11 and up are
/// spare) is a mismatch too: a search for a block larger than every bin's would take that
/// bit for a bin and read a list head past the heads (the bitmap word itself for bit 11).
/// The checker used to test only the bits of real lists, and passed.
#[test]
fn a_bitmap_bit_beyond_the_last_list_is_reported() {
    use heapwise_core::policy::compact::BINS;
    for kind in [PolicyKind::Compact, PolicyKind::CompactSlab] {
        let mut mem = vec![MaybeUninit::uninit(); 1 << 14];
        let (h, _) = setup(kind, &mut mem);
        let meta = h.layout().unwrap().start as *mut usize;
        // SAFETY: compact's metadata is `BINS` list heads then the bitmap word (compact-slab
        // starts with compact's).
        unsafe { *meta.add(BINS) |= 1 << BINS };
        expect(&h, &[ErrorKind::BadBitmap]);
    }
}
