//! [`PtrTable`]: a fixed-capacity open-addressing hash table from live block pointers to
//! `(id, requested size)`, in memory mapped on first use, so that recording never calls
//! `malloc`.
//!
//! Linear probing; deletion shifts the following entries back (no tombstones), so lookups
//! stay short. When the table is 7/8 full it doubles (a new mapping, every entry placed
//! again, the old one unmapped) up to its largest size; beyond that, or when the system
//! refuses the memory, further inserts are refused and counted in [`PtrTable::dropped`]
//! (the blocks are then simply not tracked).
//!
//! Invariants: key 0 marks an empty slot; every key appears at most once; an entry is
//! reachable from its home slot without crossing an empty slot.

use core::ptr::NonNull;

use hw::sys;

/// Slots of one 1 KiB chunk of addresses (its 16-byte granules), kept together: longer
/// chunks touch fewer pages of the table, shorter ones make shorter runs of occupied slots
/// (a heap of small blocks filled to 7/8: 1 KiB gives ~5 slots of mean displacement and
/// runs of a few hundred slots whatever the table size; 4 KiB gives ~20 and ~1100).
const CHUNK_SLOTS: usize = 1024 / 16;

/// A zeroed mapping of `bytes` bytes for the slots. Under valgrind it is made `NOACCESS`:
/// its keys are the addresses of live blocks, which memcheck's leak check would otherwise
/// find in it and count as references (a leaked block would be "still reachable"). The
/// table is only used inside [`hw::valgrind::Quiet`] there (the recorder's callers).
fn map_slots(bytes: usize) -> Option<NonNull<u8>> {
    let p = sys::map_anon(
        bytes,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_NORESERVE,
    )?;
    if hw::valgrind::running() {
        hw::valgrind::make_noaccess(p.as_ptr(), bytes);
    }
    Some(p)
}

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
    max_bits: u32,
    len: usize,
    dropped: u64,
}

// SAFETY: the table owns its mapping; it is only used under the recorder's lock.
unsafe impl Send for PtrTable {}

impl PtrTable {
    /// An empty table of `2^bits` slots (mapped at the first insert), doubling up to
    /// `2^max_bits` slots.
    pub const fn new(bits: u32, max_bits: u32) -> Self {
        PtrTable {
            slots: None,
            bits,
            max_bits: if max_bits > bits { max_bits } else { bits },
            len: 0,
            dropped: 0,
        }
    }

    /// Slots now.
    pub fn capacity(&self) -> usize {
        self.cap()
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

    /// The home slot. A key's 16-byte granule keeps its place within its 1 KiB chunk of
    /// addresses ([`CHUNK_SLOTS`] slots), and the chunk's run of slots is placed by a
    /// multiplicative hash of the chunk number. The blocks of one chunk use one run of slots
    /// (at most half full: blocks are at least 32 bytes apart), so the table touches pages
    /// in proportion to the heap rather than to the number of distinct addresses seen; and
    /// the chunks of a heap larger than the table's window of `2^bits` granules are
    /// scattered over the table. (Homes taken straight from the address laid the windows
    /// of such a heap over each other: with a few million small blocks live, runs of
    /// occupied slots grew as long as the table and every insert and remove became a
    /// linear scan.)
    #[inline]
    fn home(&self, key: usize) -> usize {
        let granule = key >> 4;
        let chunk_bits = self.bits.saturating_sub(CHUNK_SLOTS.trailing_zeros());
        let chunk = if chunk_bits == 0 {
            0
        } else {
            ((granule / CHUNK_SLOTS) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                >> (64 - chunk_bits)
        };
        ((chunk as usize) * CHUNK_SLOTS + granule % CHUNK_SLOTS) & ((1usize << self.bits) - 1)
    }

    fn map(&mut self) -> Option<NonNull<Entry>> {
        if self.slots.is_none() {
            let p = map_slots(self.cap() * core::mem::size_of::<Entry>())?;
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
    /// if the table is full and cannot grow.
    pub fn insert(&mut self, key: usize, id: u64, size: usize) -> bool {
        if key == 0 {
            return false;
        }
        if self.len >= self.cap() / 8 * 7 && !self.grow() {
            self.dropped += 1;
            return false;
        }
        let Some(base) = self.map() else {
            self.dropped += 1;
            return false;
        };
        self.place(base, Entry { key, id, size });
        true
    }

    /// Puts `e` in its slot (there is room: the table is below 7/8 full).
    fn place(&mut self, base: NonNull<Entry>, e: Entry) {
        let mut i = self.home(e.key);
        loop {
            let s = self.slot(base, i);
            // SAFETY: `s` is a slot of the mapping; the table is used by one thread at a time.
            unsafe {
                if (*s).key == 0 || (*s).key == e.key {
                    if (*s).key == 0 {
                        self.len += 1;
                    }
                    *s = e;
                    return;
                }
            }
            i += 1;
        }
    }

    /// Doubles a mapped table: a new mapping, every entry placed again, the old mapping
    /// released. `false` at the largest size or when the system refuses the memory.
    fn grow(&mut self) -> bool {
        let Some(old) = self.slots else {
            return false;
        };
        if self.bits >= self.max_bits {
            return false;
        }
        let old_cap = self.cap();
        let entry = core::mem::size_of::<Entry>();
        let Some(bytes) = old_cap.checked_mul(2 * entry) else {
            return false;
        };
        let Some(new) = map_slots(bytes) else {
            return false;
        };
        let new = new.cast::<Entry>();
        self.bits += 1;
        self.slots = Some(new);
        self.len = 0;
        for i in 0..old_cap {
            // SAFETY: `i < old_cap`: a slot of the old mapping, which nothing else uses.
            let e = unsafe { old.as_ptr().add(i).read() };
            if e.key != 0 {
                self.place(new, e);
            }
        }
        // SAFETY: the old mapping of `old_cap` entries is no longer referenced.
        unsafe { sys::unmap(old.as_ptr() as *mut u8, old_cap * entry) };
        true
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
        let mut t = PtrTable::new(8, 8);
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

    /// The longest run of occupied slots (linear probing costs grow with it).
    fn longest_run(t: &PtrTable) -> usize {
        let Some(base) = t.slots else { return 0 };
        let (mut best, mut cur) = (0, 0);
        // Twice round, for a run that wraps past the last slot.
        for i in 0..2 * t.cap() {
            // SAFETY: `slot` masks the index into the mapping.
            if unsafe { (*t.slot(base, i)).key } != 0 {
                cur += 1;
                best = best.max(cur);
            } else {
                cur = 0;
            }
        }
        best.min(t.cap())
    }

    /// A heap more than twice as large as the table's address window (`2^bits` granules),
    /// filled with small blocks of mixed sizes up to the table's 7/8 limit, then freed in a
    /// scattered order (as a program with millions of live blocks does under
    /// `HEAPWISE_STATS`): runs of occupied slots stay short, so every insert and remove
    /// probes a few slots. (With homes taken straight from the address, the windows of the
    /// heap overlaid each other into one run of most of the table: 4 M live blocks made
    /// python3 and a C loop quadratic.)
    #[test]
    fn a_heap_larger_than_the_window_keeps_runs_short() {
        const BITS: u32 = 16;
        let mut t = PtrTable::new(BITS, BITS);
        // A brk-like, not window-aligned start (0x5555_0008 on 32-bit targets).
        let heap = 0x5555_5555_0000u64 as usize + 0x8;
        let mut keys = Vec::new();
        let mut addr = heap;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        // The block pattern of a C loop that made the recorder quadratic: 40, 24, 24 bytes.
        while t.insert(addr + 8, keys.len() as u64, 24) {
            keys.push(addr + 8);
            addr += [48, 32, 32][keys.len() % 3];
        }
        assert_eq!(keys.len(), t.cap() / 8 * 7);
        let window = 16usize << BITS;
        assert!(addr - heap > 2 * window, "the heap spans several windows");
        let run = longest_run(&t);
        assert!(run < 1024, "longest run {run} of {} slots", t.cap());
        let mut shuffled = keys.clone();
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        for k in &shuffled[..shuffled.len() / 2] {
            assert!(t.remove(*k).is_some());
            // an untracked block (dropped while the table was full) is not found
            assert_eq!(t.remove(*k + 16), None);
        }
        assert!(longest_run(&t) < 1024);
    }

    /// A table that starts small doubles as blocks arrive and keeps every entry; at its
    /// largest size it refuses (and counts) the inserts it cannot hold.
    #[test]
    fn the_table_doubles_and_keeps_every_entry() {
        let mut t = PtrTable::new(6, 10);
        let mut model = std::collections::HashMap::new();
        let mut addr = 0x7f00_0000_1000u64 as usize; // 0x1000 on 32-bit targets
        for id in 0..(1u64 << 10) / 8 * 7 {
            assert!(t.insert(addr, id, id as usize * 3), "insert {id} refused");
            model.insert(addr, (id, id as usize * 3));
            addr += [32, 48, 64, 1040][id as usize % 4];
        }
        assert_eq!(t.capacity(), 1 << 10);
        assert_eq!((t.len(), t.dropped()), (model.len(), 0));
        assert!(!t.insert(addr, 0, 0), "full at the largest size");
        assert_eq!(t.dropped(), 1);
        assert!(longest_run(&t) < 512);
        for (k, v) in model {
            assert_eq!(t.remove(k), Some(v));
        }
        assert!(t.is_empty());
    }
}
