//! [`PtrTable`]: a fixed-capacity open-addressing hash table from live block pointers to
//! `(id, requested size)`, in memory mapped on first use, so that recording never calls
//! `malloc`.
//!
//! Linear probing; deletion shifts the following entries back (no tombstones), so lookups
//! stay short. When the table is 7/8 full, further inserts are refused and counted in
//! [`PtrTable::dropped`] (the blocks are then simply not tracked).
//!
//! Invariants: key 0 marks an empty slot; every key appears at most once; an entry is
//! reachable from its home slot without crossing an empty slot.

use core::ptr::NonNull;

use hw::sys;

#[derive(Clone, Copy)]
#[repr(C)]
struct Entry {
    key: usize,
    id: u64,
    size: usize,
}

/// The pointer table.
pub struct PtrTable {
    slots: Option<NonNull<Entry>>,
    bits: u32,
    len: usize,
    dropped: u64,
}

// SAFETY: the table owns its mapping; it is only used under the recorder's lock.
unsafe impl Send for PtrTable {}

impl PtrTable {
    /// An empty table of `2^bits` slots (mapped at the first insert).
    pub const fn new(bits: u32) -> Self {
        PtrTable {
            slots: None,
            bits,
            len: 0,
            dropped: 0,
        }
    }

    fn cap(&self) -> usize {
        1 << self.bits
    }

    /// Entries now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts refused because the table was full (or could not be mapped).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The home slot: the key's 16-byte granule modulo the table size, so that the blocks
    /// of one heap (which is contiguous) use a contiguous run of slots and the table touches
    /// pages in proportion to the heap, not to the number of distinct addresses seen. Blocks
    /// are at least 32 bytes apart, so a heap's run is at most half full.
    #[inline]
    fn home(&self, key: usize) -> usize {
        ((key >> 4) ^ (key >> (4 + self.bits))) & ((1usize << self.bits) - 1)
    }

    fn map(&mut self) -> Option<NonNull<Entry>> {
        if self.slots.is_none() {
            let bytes = self.cap() * core::mem::size_of::<Entry>();
            let p = sys::map_anon(
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_NORESERVE,
            )?;
            self.slots = Some(p.cast());
        }
        self.slots
    }

    #[inline]
    fn slot(&self, base: NonNull<Entry>, i: usize) -> *mut Entry {
        // SAFETY: callers pass `i < cap`, inside the mapping of `cap` entries.
        unsafe { base.as_ptr().add(i & (self.cap() - 1)) }
    }

    /// Records `key -> (id, size)` (replacing an existing entry for `key`). Returns `false`
    /// if the table is full.
    pub fn insert(&mut self, key: usize, id: u64, size: usize) -> bool {
        if key == 0 {
            return false;
        }
        if self.len >= self.cap() / 8 * 7 {
            self.dropped += 1;
            return false;
        }
        let Some(base) = self.map() else {
            self.dropped += 1;
            return false;
        };
        let mut i = self.home(key);
        loop {
            let s = self.slot(base, i);
            // SAFETY: `s` is a slot of the mapping; the table is used by one thread at a time.
            unsafe {
                if (*s).key == 0 || (*s).key == key {
                    if (*s).key == 0 {
                        self.len += 1;
                    }
                    *s = Entry { key, id, size };
                    return true;
                }
            }
            i += 1;
        }
    }

    /// Removes `key`, returning its `(id, size)`.
    pub fn remove(&mut self, key: usize) -> Option<(u64, usize)> {
        let base = self.slots?;
        if key == 0 {
            return None;
        }
        let mask = self.cap() - 1;
        let mut i = self.home(key);
        // SAFETY: every slot accessed is `slot(base, _)`, inside the mapping; the table is
        // used by one thread at a time.
        unsafe {
            loop {
                let s = self.slot(base, i);
                if (*s).key == 0 {
                    return None;
                }
                if (*s).key == key {
                    break;
                }
                i += 1;
            }
            let hole = self.slot(base, i);
            let found = ((*hole).id, (*hole).size);
            // Backward-shift deletion.
            let mut h = i & mask;
            let mut j = h;
            loop {
                j = (j + 1) & mask;
                let e = *self.slot(base, j);
                if e.key == 0 {
                    break;
                }
                let home = self.home(e.key);
                // Move `e` into the hole if its home is not in (h, j] (cyclically).
                let in_range = if h <= j {
                    home > h && home <= j
                } else {
                    home > h || home <= j
                };
                if !in_range {
                    *self.slot(base, h) = e;
                    h = j;
                }
            }
            (*self.slot(base, h)).key = 0;
            self.len -= 1;
            Some(found)
        }
    }

    /// Forgets every entry without unmapping (used in a forked child).
    pub fn forget_all(&mut self) {
        if let Some(base) = self.slots {
            // SAFETY: the whole mapping is ours.
            unsafe { core::ptr::write_bytes(base.as_ptr(), 0, self.cap()) };
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_collisions_agree_with_a_model() {
        let mut t = PtrTable::new(8);
        let mut model = std::collections::HashMap::new();
        let mut x: u64 = 12345;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = ((x % 600) as usize + 1) * 16;
            if x % 3 == 0 {
                assert_eq!(t.remove(key), model.remove(&key), "step {step}");
            } else if t.insert(key, step, key / 2) {
                model.insert(key, (step, key / 2));
            } else {
                assert!(model.len() >= 224);
            }
            assert_eq!(t.len(), model.len());
        }
        for (k, v) in model.clone() {
            assert_eq!(t.remove(k), Some(v));
        }
        assert!(t.is_empty());
    }
}
