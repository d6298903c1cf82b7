//! What the fuzz targets share: the shadow model's live block, whose payload holds one byte
//! value (`fill`) over its requested size, written after every allocation or move and
//! verified before every free, resize and at the end of an input.

/// A live block of the shadow model: `size` requested bytes at `p`, each holding `fill`.
/// Invariant (kept by the targets): `p` is a live block of at least `size` bytes.
pub struct Live {
    pub p: *mut u8,
    pub size: usize,
    pub fill: u8,
}

/// Writes the block's fill byte over its requested size.
pub fn fill(l: &Live) {
    // SAFETY: `p` is a live block of at least `size` bytes (the type's invariant).
    unsafe { std::ptr::write_bytes(l.p, l.fill, l.size) }
}

/// Panics, naming the offset, if a byte of the block's requested size lost its fill.
pub fn verify(l: &Live) {
    // SAFETY: as in `fill`.
    let s = unsafe { std::slice::from_raw_parts(l.p, l.size) };
    if let Some(i) = s.iter().position(|&b| b != l.fill) {
        panic!(
            "payload of {:p} ({} bytes) changed at offset {i}: {:#x} instead of {:#x}",
            l.p, l.size, s[i], l.fill
        );
    }
}

/// Starts tracking a block a target was just given: nothing for a null `p` (a refused
/// request); otherwise checks its alignment (`align`, at least 16), writes `fill` over its
/// `size` requested bytes and adds it to `live`.
pub fn track(live: &mut Vec<Live>, p: *mut u8, size: usize, fill_byte: u8, align: usize) {
    if p.is_null() {
        return;
    }
    assert_eq!(
        p as usize % align.max(16),
        0,
        "{p:p} not aligned to {align}"
    );
    let l = Live {
        p,
        size,
        fill: fill_byte,
    };
    fill(&l);
    live.push(l);
}

/// Panics if two of the live blocks overlap (each spans its requested size).
pub fn assert_disjoint<'a>(live: impl IntoIterator<Item = &'a Live>) {
    let mut spans: Vec<(usize, usize)> = live.into_iter().map(|l| (l.p as usize, l.size)).collect();
    spans.sort();
    for w in spans.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "blocks overlap");
    }
}
