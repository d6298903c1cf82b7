//! A `Global` in a static dirties only the pages it uses: its header and arena 0's
//! bookkeeping and first heap slot. The arenas a single-threaded program never uses (and the
//! heap slots arena 0 never fills) are never written, not by the dynamic loader's relocations
//! (a function pointer per arena did that) nor by `configure` (which wrote every arena's copy
//! of the configuration): each such page was 4 KiB more resident in every process.
//!
//! (Alone in its binary: the count is of this process's pages. 64-bit only: the bound is
//! for 64-bit heap slots.)
#![cfg(target_pointer_width = "64")]

use std::fs::File;
use std::os::unix::fs::FileExt;

use heapwise::{Config, Global};

static G: Global = Global::with_thread_cache(Config::DEFAULT);

/// Pages of `[start, end)` that this process has written (present and anonymous: a written
/// page of a file-backed private mapping is a private copy). Read pages of the file mapping
/// are left out: the kernel maps those around any read fault, as page-cache state allows.
fn written_pages(start: usize, end: usize) -> usize {
    let page = 4096;
    let pagemap = File::open("/proc/self/pagemap").expect("pagemap");
    let mut n = 0;
    let mut a = start / page * page;
    while a < end {
        let mut e = [0u8; 8];
        pagemap
            .read_exact_at(&mut e, (a / page * 8) as u64)
            .expect("pagemap entry");
        let v = u64::from_ne_bytes(e);
        let present = v >> 63 & 1 == 1;
        let file_or_shared = v >> 61 & 1 == 1;
        if present && !file_or_shared {
            n += 1;
        }
        a += page;
    }
    n
}

#[test]
fn a_single_threaded_program_writes_only_the_first_pages_of_the_static() {
    let start = &G as *const Global as usize;
    let end = start + std::mem::size_of::<Global>();
    assert!(
        end - start > 16 * 4096,
        "four arenas of heap slots span many pages"
    );
    assert!(G.configure(Config {
        chunk: 128 << 10,
        ..Config::DEFAULT
    }));
    let mut blocks = Vec::new();
    for size in (16..4096).step_by(48) {
        let p = G.malloc(size);
        assert!(!p.is_null());
        blocks.push(p);
    }
    // SAFETY: every block is live and freed once.
    blocks.into_iter().for_each(|p| unsafe { G.free(p) });
    let written = written_pages(start, end);
    // (After the count: the check takes every arena's lock.)
    G.check().expect("heap check");
    // The header, arena 0's lock and bookkeeping, and its first heap slot: 2–3 pages
    // (with one copy of the configuration per arena, 6–7).
    assert!(
        written <= 4,
        "{written} pages of the {}-page static written by one thread",
        (end - start) / 4096
    );
    assert!(written >= 1, "the count sees the pages written");
}
