//! The explicit free list: one doubly linked list threaded through the free blocks' payloads,
//! so a search visits only free blocks instead of every block.
//!
//! The list order is LIFO (a freed block goes to the front: O(1) free) or address-ordered
//! (kept sorted by address: O(n) free, but first fit then behaves like best fit on many
//! workloads and fragments less). Placement is first, next or best fit over the list.
//!
//! Metadata: word 0 is the list head, word 1 the next-fit rover (a list entry or null).
//! Invariant: the rover is null or an entry of the list; [`Policy::remove`] advances it past
//! a block that leaves the list.

use core::marker::PhantomData;

use crate::block::{layout, Block};
use crate::policy::list::List;
use crate::policy::{Fit, FitKind, HeapView, Policy};

/// The order the explicit list keeps.
pub trait Order {
    /// `true` for address order, `false` for LIFO.
    const ADDRESS_ORDERED: bool;
    /// Name in policy names (`lifo` or `addr`).
    const NAME: &'static str;
}

/// Freed blocks go to the front.
#[derive(Debug)]
pub enum Lifo {}
/// The list is sorted by address.
#[derive(Debug)]
pub enum AddressOrdered {}

impl Order for Lifo {
    const ADDRESS_ORDERED: bool = false;
    const NAME: &'static str = "lifo";
}
impl Order for AddressOrdered {
    const ADDRESS_ORDERED: bool = true;
    const NAME: &'static str = "addr";
}

/// The explicit free list with order `O` and fit `F`.
#[derive(Debug)]
pub struct Explicit<O: Order, F: Fit>(PhantomData<(O, F)>);

#[inline]
unsafe fn list(v: &HeapView) -> List {
    // SAFETY: word 0 of the metadata area is the head.
    List(unsafe { layout::meta_word(v.meta, 0).cast() })
}

#[inline]
unsafe fn rover(v: &HeapView) -> *mut *mut u8 {
    // SAFETY: word 1 of the metadata area is the rover.
    unsafe { layout::meta_word(v.meta, 1).cast() }
}

/// Searches the list from `from` until `stop` (exclusive; `None` = end of list). At
/// `Full`, an entry at an implausible address is returned unread (the heap reports it).
#[inline]
unsafe fn search(
    v: &HeapView,
    from: Option<Block>,
    stop: Option<Block>,
    asize: usize,
    best: bool,
) -> Option<Block> {
    let mut cur = from;
    let mut found: Option<(Block, usize)> = None;
    // SAFETY: every entry of the list is a free block with valid header and links (at
    // `Full`, checked to be a plausible block before it is read).
    unsafe {
        while let Some(b) = cur {
            if Some(b) == stop {
                break;
            }
            if !v.may_read(b) {
                return Some(b);
            }
            let size = b.size();
            if size >= asize {
                if !best || size == asize {
                    return Some(b);
                }
                if found.is_none_or(|(_, s)| size < s) {
                    found = Some((b, size));
                }
            }
            cur = b.link_next();
        }
    }
    found.map(|(b, _)| b)
}

// SAFETY: only the metadata words and link words of listed free blocks are written; `find`
// returns listed (hence free) blocks of at least `asize` bytes.
unsafe impl<O: Order, F: Fit> Policy for Explicit<O, F> {
    const NAME: &'static str = "explicit";
    const META_BYTES: usize = 16;
    const LISTS: usize = 1;

    unsafe fn init(v: &HeapView) {
        // SAFETY: both words are writable metadata.
        unsafe {
            list(v).0.write(core::ptr::null_mut());
            rover(v).write(core::ptr::null_mut());
        }
    }

    #[inline]
    unsafe fn insert(v: &HeapView, b: Block, _size: usize) {
        // SAFETY: `b` is a free block in no list; the list is consistent.
        unsafe {
            let l = list(v);
            if O::ADDRESS_ORDERED {
                let mut at = None;
                let mut cur = l.head();
                while let Some(c) = cur {
                    if !v.may_read(c) {
                        // A wild link (`Full` only): nothing is written next to it; the
                        // block goes to the front, and the next search reports the link.
                        l.push_front(b);
                        return;
                    }
                    if c > b {
                        break;
                    }
                    at = Some(c);
                    cur = c.link_next();
                }
                l.insert_after(at, b);
            } else {
                l.push_front(b);
            }
        }
    }

    #[inline]
    unsafe fn remove(v: &HeapView, b: Block, _size: usize) {
        // SAFETY: `b` is in the list.
        unsafe {
            if F::KIND == FitKind::Next && rover(v).read() == b.as_ptr() {
                rover(v).write(b.link_next().map_or(core::ptr::null_mut(), Block::as_ptr));
            }
            list(v).unlink(b);
        }
    }

    unsafe fn find(v: &HeapView, asize: usize) -> Option<Block> {
        // SAFETY: list entries are free blocks; the rover is null or an entry.
        unsafe {
            let head = list(v).head();
            match F::KIND {
                FitKind::First => search(v, head, None, asize, false),
                FitKind::Best => search(v, head, None, asize, true),
                FitKind::Next => {
                    let start = core::ptr::NonNull::new(rover(v).read()).map(Block::from_header);
                    let hit = match start {
                        None => search(v, head, None, asize, false),
                        Some(s) => search(v, Some(s), None, asize, false)
                            .or_else(|| search(v, head, Some(s), asize, false)),
                    };
                    if let Some(b) = hit {
                        rover(v).write(b.as_ptr());
                    }
                    hit
                }
            }
        }
    }

    #[inline]
    unsafe fn list_head(v: &HeapView, _i: usize) -> Option<Block> {
        // SAFETY: initialised metadata.
        unsafe { list(v).head() }
    }
}
