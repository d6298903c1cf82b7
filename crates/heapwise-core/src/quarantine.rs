//! The quarantine: a bounded ring of recently freed blocks that the heap keeps allocated
//! (marked [`QUARANTINED`](crate::block::QUARANTINED) in their header) instead of returning
//! them to the free lists at once.
//!
//! Delaying reuse is what makes a double free detectable after the program has allocated
//! again: a block still in quarantine cannot have been handed out, so a second `free` (or a
//! `realloc`, or `malloc_usable_size`) of it finds the quarantine bit and is reported. With
//! junk fill on, the payload of a quarantined block is filled with [`JUNK`] and checked when
//! the block leaves the quarantine, which catches a write after free into a freed block's data.
//!
//! Invariants: `len <= cap <= QUARANTINE_MAX`; the `len` entries from `head` (mod
//! `QUARANTINE_MAX`) are header addresses of quarantined blocks, oldest first; `bytes` is the sum
//! of their block sizes. `kept` blocks of `kept_bytes` bytes left the quarantine with a write
//! after free detected in them: they stay allocated and marked quarantined for good (the
//! program may still write through their pointers), so the heap's marked blocks are the
//! `len` held plus the `kept`. The quarantine is off (`cap == 0`) in [`Quarantine::OFF`], the state of
//! every new heap: `no_std` users opt in with [`crate::Heap::set_quarantine`].

/// Most blocks a quarantine can hold.
pub const QUARANTINE_MAX: usize = 256;

/// The byte freed payloads are filled with when junk fill is on.
pub const JUNK: u8 = 0xdf;

/// A ring of quarantined block addresses (see the module docs).
#[derive(Clone, Debug)]
pub struct Quarantine {
    slots: [usize; QUARANTINE_MAX],
    head: usize,
    len: usize,
    cap: usize,
    bytes: usize,
    max_bytes: usize,
    junk: bool,
    kept: usize,
    kept_bytes: usize,
}

impl Quarantine {
    /// An empty, disabled quarantine.
    pub const OFF: Quarantine = Quarantine {
        slots: [0; QUARANTINE_MAX],
        head: 0,
        len: 0,
        cap: 0,
        bytes: 0,
        max_bytes: 0,
        junk: false,
        kept: 0,
        kept_bytes: 0,
    };

    /// Whether freed blocks go through the quarantine.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.cap != 0
    }

    /// Whether freed payloads are junk-filled and checked on eviction.
    #[inline]
    pub fn junk(&self) -> bool {
        self.junk
    }

    /// Blocks that left the quarantine with a write after free detected in their payload
    /// ([`crate::ErrorKind::WriteAfterFree`]): kept allocated and marked quarantined for good,
    /// never reused.
    pub fn kept(&self) -> usize {
        self.kept
    }

    /// Bytes of the [`kept`](Quarantine::kept) blocks.
    pub fn kept_bytes(&self) -> usize {
        self.kept_bytes
    }

    /// Records a block of `size` bytes that left the quarantine (already
    /// [`evicted`](Quarantine::evicted)) and is kept out of use.
    #[inline]
    pub(crate) fn keep(&mut self, size: usize) {
        self.kept += 1;
        self.kept_bytes += size;
    }

    /// Blocks held now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of blocks held now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sets the limits (`blocks` is capped at [`QUARANTINE_MAX`]; 0 disables). Blocks over
    /// the new limits are left for the caller to drain with [`Quarantine::pop_over`].
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub(crate) fn configure(&mut self, blocks: usize, max_bytes: usize, junk: bool) {
        self.cap = blocks.min(QUARANTINE_MAX);
        self.max_bytes = max_bytes;
        self.junk = junk && self.cap != 0;
    }

    /// Adds the block at `addr` of `size` bytes (the caller then drains with
    /// [`Quarantine::pop_over`]). When the ring is full the oldest entry is returned and the
    /// new one takes its place.
    #[inline]
    pub(crate) fn push(&mut self, addr: usize, size: usize) -> Option<usize> {
        let mut evicted = None;
        if self.len == QUARANTINE_MAX {
            evicted = self.pop_oldest();
        }
        let i = (self.head + self.len) % QUARANTINE_MAX;
        if let Some(s) = self.slots.get_mut(i) {
            *s = addr;
            self.len += 1;
            self.bytes += size;
        }
        evicted
    }

    /// The oldest entry if the quarantine holds more than its limits allow.
    #[inline]
    pub(crate) fn pop_over(&mut self) -> Option<usize> {
        if self.len > self.cap || (self.bytes > self.max_bytes && self.len > 0) {
            self.pop_oldest()
        } else {
            None
        }
    }

    /// Removes and returns the oldest entry.
    #[inline]
    pub(crate) fn pop_oldest(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let a = *self.slots.get(self.head)?;
        self.head = (self.head + 1) % QUARANTINE_MAX;
        self.len -= 1;
        Some(a)
    }

    /// Accounts an evicted block's size (the caller read it from the block's header).
    #[inline]
    pub(crate) fn evicted(&mut self, size: usize) {
        self.bytes = self.bytes.saturating_sub(size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_keeps_order_and_limits() {
        let mut q = Quarantine::OFF;
        assert!(!q.enabled());
        q.configure(3, 1000, false);
        for a in 1..=3 {
            assert_eq!(q.push(a * 16, 100), None);
            assert_eq!(q.pop_over(), None);
        }
        assert_eq!(q.push(64, 100), None);
        assert_eq!(q.pop_over(), Some(16));
        q.evicted(100);
        assert_eq!(q.pop_over(), None);
        assert_eq!((q.len(), q.bytes()), (3, 300));
        q.configure(10, 150, false);
        assert_eq!(q.pop_over(), Some(32));
        q.evicted(100);
        assert_eq!(q.pop_over(), Some(48));
        q.evicted(100);
        assert_eq!(q.pop_over(), None);
        assert_eq!(q.pop_oldest(), Some(64));
        assert!(q.is_empty());
    }
}
