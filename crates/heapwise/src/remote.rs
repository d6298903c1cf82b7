//! Remote free lists: how a small block freed by a thread of another arena goes back to the
//! arena it was allocated from, without blocking that arena's threads (mimalloc's idea
//! over the boundary-tag engine).
//!
//! Each arena of a [`Global`](crate::Global) has one [`RemoteStack`]: a lock-free stack of
//! cached blocks linked through payload word 0. A freeing thread collects the blocks it
//! frees for another arena in a small per-arena buffer of its own cache
//! ([`crate::tcache`]) and pushes the whole chain with one compare-and-swap when the buffer
//! holds [`REMOTE_BATCH`] blocks; a thread of the owning arena takes the whole stack with
//! one swap when one of its classes runs empty, and sorts the blocks into its cache's
//! classes, so blocks are reused by the arena that allocated them without the engine
//! (no engine `free`, no coalescing, no lock).
//!
//! # Invariants
//! * Every block on a stack is a *cached* block (see [`crate::tcache`]): allocated for the
//!   engine, link in word 0, cache mark (binding the link) in word 1, and lies in a heap of
//!   the stack's arena.
//! * Pushes only add whole chains at the head (compare-and-swap); the only removal takes the
//!   whole stack (swap with null), so there is no ABA problem.
//! * `blocks` and `bytes` count what is on the stack for statistics: raised before a push
//!   publishes its chain, lowered after a take by what it took, so they never count less
//!   than the stack holds (more only by the chains being pushed) and are exact once no push
//!   is in flight. (Raised after the push, a take in between lowered them first, clamped
//!   at zero, and the chain stayed counted for good.)
//! * A stack is collected by its arena's threads: the last thread to leave an arena (exit,
//!   or a move to another arena) frees its stack into the engine, and a push that finds
//!   the arena without threads afterwards does the same (a `SeqCst` fence on each side, so
//!   one of the two sees the other), so blocks do not wait on an arena nobody uses.
//! * A `fork` child keeps the stacks as they are (their blocks stay valid cached blocks).

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Blocks a thread collects for another arena before it pushes them to that arena's stack.
pub const REMOTE_BATCH: u32 = 32;

/// One arena's stack of blocks freed by threads of other arenas.
pub struct RemoteStack {
    head: AtomicPtr<u8>,
    blocks: AtomicUsize,
    bytes: AtomicUsize,
}

impl RemoteStack {
    /// An empty stack.
    pub const fn new() -> Self {
        RemoteStack {
            head: AtomicPtr::new(ptr::null_mut()),
            blocks: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        }
    }

    /// Whether the stack looks empty (a relaxed load: a hint for the owner's refill).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::Relaxed).is_null()
    }

    /// Pushes the chain `first ..= last` of `n` blocks (`bytes` block bytes), linked through
    /// word 0 and marked with `key` (`last` is linked to the stack's old head and marked
    /// again, `tcache::set_link`).
    ///
    /// # Safety
    /// `first ..= last` must be a chain of cached blocks of this stack's arena, linked
    /// through word 0, owned by the caller (no other list holds them).
    pub unsafe fn push_chain(
        &self,
        first: *mut u8,
        last: *mut u8,
        n: usize,
        bytes: usize,
        key: usize,
    ) {
        // Counted before the chain is published: the take that finds it lowers the counts
        // by what it took, and must find them raised (the exchange below releases these
        // increments to the taker's acquiring swap).
        self.blocks.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `last` is a cached block owned by the caller until the exchange
            // publishes it.
            unsafe { crate::tcache::set_link(key, last, head) };
            match self
                .head
                .compare_exchange_weak(head, first, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(h) => head = h,
            }
        }
    }

    /// Takes the whole stack: the first block of the chain (null when empty). The caller
    /// walks it and reports what it took with [`RemoteStack::taken`].
    #[inline]
    pub fn take(&self) -> *mut u8 {
        if self.is_empty() {
            return ptr::null_mut();
        }
        self.head.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// `n` blocks of `bytes` block bytes were taken off the stack.
    pub fn taken(&self, n: usize, bytes: usize) {
        let _ = self
            .blocks
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(n))
            });
        let _ = self
            .bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some(b.saturating_sub(bytes))
            });
    }

    /// Blocks and block bytes on the stack (for statistics).
    pub fn held(&self) -> (usize, usize) {
        (
            self.blocks.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

impl Default for RemoteStack {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{vec, vec::Vec};

    #[test]
    fn chains_are_pushed_whole_and_taken_at_once() {
        let mut blocks = [[0usize; 4]; 5];
        let p: Vec<*mut u8> = blocks
            .iter_mut()
            .map(|b| b.as_mut_ptr() as *mut u8)
            .collect();
        let s = RemoteStack::new();
        assert!(s.is_empty() && s.take().is_null());
        const KEY: usize = 0x5eed;
        // SAFETY: the "blocks" are owned words; word 0 is the link, word 1 the mark.
        unsafe {
            crate::tcache::set_link(KEY, p[0], p[1]);
            s.push_chain(p[0], p[1], 2, 64, KEY);
            crate::tcache::set_link(KEY, p[2], p[3]);
            crate::tcache::set_link(KEY, p[3], p[4]);
            s.push_chain(p[2], p[4], 3, 96, KEY);
        }
        assert_eq!(s.held(), (5, 160));
        let mut q = s.take();
        assert!(s.is_empty());
        let mut seen = Vec::new();
        while !q.is_null() {
            seen.push(q);
            // SAFETY: `q` is one of the owned words, word 0 its link, word 1 its mark.
            let (next, mark) = unsafe {
                (
                    (q as *const *mut u8).read(),
                    (q as *const usize).add(1).read(),
                )
            };
            assert_eq!(mark, KEY ^ q as usize ^ next as usize, "every link marked");
            q = next;
        }
        assert_eq!(seen, vec![p[2], p[3], p[4], p[0], p[1]]);
        s.taken(5, 160);
        assert_eq!(s.held(), (0, 0));
    }
}
