//! An intrusive, doubly linked list of free blocks whose head is one word of policy
//! metadata. The links live in the free blocks themselves ([`Block::link_next`],
//! [`Block::link_prev`]).
//!
//! Invariants: the head's `prev` link is null; for consecutive entries `a -> b`,
//! `b.prev == a`; the last entry's `next` is null.

use core::ptr::NonNull;

use crate::block::Block;

/// A list head: a pointer to one metadata word holding the first block (or null).
#[derive(Clone, Copy)]
pub(crate) struct List(pub(crate) *mut *mut u8);

impl List {
    /// The first block.
    ///
    /// # Safety
    /// The head word must be initialised and readable.
    #[inline]
    pub(crate) unsafe fn head(self) -> Option<Block> {
        // SAFETY: the head word is a valid metadata word by the caller's guarantee.
        NonNull::new(unsafe { self.0.read() }).map(Block::from_header)
    }

    #[inline]
    unsafe fn set_head(self, b: Option<Block>) {
        // SAFETY: the head word is a valid metadata word by the caller's guarantee.
        unsafe { self.0.write(b.map_or(core::ptr::null_mut(), Block::as_ptr)) }
    }

    /// Whether the list is empty.
    ///
    /// # Safety
    /// As [`List::head`].
    #[inline]
    pub(crate) unsafe fn is_empty(self) -> bool {
        // SAFETY: forwarded.
        unsafe { self.0.read().is_null() }
    }

    /// Inserts `b` at the front.
    ///
    /// # Safety
    /// `b` must be a free block in no list; the list must be consistent.
    #[inline]
    pub(crate) unsafe fn push_front(self, b: Block) {
        // SAFETY: forwarded caller contract; `head()` is the list's head.
        unsafe { self.push_front_of(b, self.head()) }
    }

    /// [`List::push_front`] for a caller that has read the head (`old`) already, so that
    /// a store between the read and the push (a bitmap bit) does not make the compiler
    /// read it again.
    ///
    /// # Safety
    /// As [`List::push_front`], and `old` must be the list's head now.
    #[inline]
    pub(crate) unsafe fn push_front_of(self, b: Block, old: Option<Block>) {
        // SAFETY: `b` and the old head are free blocks with link words.
        unsafe {
            b.set_link_next(old);
            b.set_link_prev(None);
            if let Some(o) = old {
                o.set_link_prev(Some(b));
            }
            self.set_head(Some(b));
        }
    }

    /// Inserts `b` after `at` (or at the front when `at` is `None`).
    ///
    /// # Safety
    /// As [`List::push_front`], and `at` must be in this list.
    #[inline]
    pub(crate) unsafe fn insert_after(self, at: Option<Block>, b: Block) {
        // SAFETY: all blocks touched are free blocks of this list, with link words.
        unsafe {
            match at {
                None => self.push_front(b),
                Some(a) => {
                    let n = a.link_next();
                    b.set_link_prev(Some(a));
                    b.set_link_next(n);
                    a.set_link_next(Some(b));
                    if let Some(n) = n {
                        n.set_link_prev(Some(b));
                    }
                }
            }
        }
    }

    /// Unlinks `b`, the list's first entry. Returns whether the list is empty now.
    ///
    /// # Safety
    /// `b` must be the first entry of this list.
    #[inline]
    pub(crate) unsafe fn unlink_first(self, b: Block) -> bool {
        // SAFETY: `b` heads this list; its successor (if any) is a free block of the list.
        unsafe {
            let n = b.link_next();
            self.set_head(n);
            match n {
                Some(n) => {
                    n.set_link_prev(None);
                    false
                }
                None => true,
            }
        }
    }

    /// Unlinks `b`.
    ///
    /// # Safety
    /// `b` must be in this list.
    #[inline]
    pub(crate) unsafe fn unlink(self, b: Block) {
        // SAFETY: forwarded caller contract.
        unsafe { List::unlink_lazy(b, || self) };
    }

    /// Unlinks `b` from the list it is in, where `list` names that list and is called only
    /// when `b` is its first entry (the only case that touches the head: finding the list
    /// may cost something, such as a size class to compute). Returns that list, or `None`
    /// when `b` was not first.
    ///
    /// # Safety
    /// `b` must be in the list `list` returns.
    #[inline]
    pub(crate) unsafe fn unlink_lazy(b: Block, list: impl FnOnce() -> List) -> Option<List> {
        // SAFETY: `b` and its neighbours are free blocks of one list, with link words.
        unsafe {
            let p = b.link_prev();
            let n = b.link_next();
            if let Some(n) = n {
                n.set_link_prev(p);
            }
            match p {
                Some(p) => {
                    p.set_link_next(n);
                    None
                }
                None => {
                    let l = list();
                    l.set_head(n);
                    Some(l)
                }
            }
        }
    }
}
