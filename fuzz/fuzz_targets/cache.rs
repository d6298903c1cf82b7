//! The OS face (`heapwise::Global`) with what the `global` target leaves out: the per-thread
//! cache (a `Global::with_thread_cache` on the default policy, used by one thread: refills,
//! flushes past a class's cap, the fast `realloc`, cached blocks met by `free`, `trim` and
//! the checker, the cache switched off and on), and non-default configurations (compact-slab
//! with a 4 KiB chunk, whose blocks the cache must leave alone; explicit address-ordered
//! best fit with the full quarantine and junk fill), driven by an action list against a
//! shadow model of fill patterns. The corruption hook is the real one (abort), so a false
//! misuse report is a crash; the checker runs on request and at the end of every input,
//! after every block is freed.
#![no_main]

use arbitrary::Arbitrary;
use heapwise::harden::Harden;
use heapwise::{tcache, Config, Global, PolicyKind};
use heapwise_fuzz::{assert_disjoint, fill, track, verify, Live};
use libfuzzer_sys::fuzz_target;

/// The thread cache's owner (touched first, in `init`).
static CACHED: Global = Global::with_thread_cache(Config::DEFAULT);
/// A non-default policy with the cache flag on: served uncached.
static SLAB: Global = Global::with_thread_cache(Config {
    policy: PolicyKind::CompactSlab,
    chunk: 4096,
    ..Config::DEFAULT
});
/// The full quarantine (junk fill checked on eviction).
static HARD: Global = Global::new(Config {
    policy: PolicyKind::ExplicitAddrBest,
    harden: Harden::FULL,
    ..Config::DEFAULT
});

#[derive(Arbitrary, Debug)]
enum Action {
    /// A cacheable size (up to 1100 bytes).
    Small(u16),
    Malloc(u16),
    MallocLarge(u8),
    Calloc(u8, u16),
    Aligned(u8, u16),
    Free(u16),
    /// Frees up to this many blocks, newest first (fills a class's local list).
    FreeBurst(u8),
    /// Many blocks of one small size (refills, then a burst of frees past the cap).
    Churn(u8, u8),
    ReallocSmall(u16, u16),
    Realloc(u16, u32),
    Usable(u16),
    Trim,
    Flush,
    Check,
    Cache(bool),
}

#[derive(Arbitrary, Debug)]
struct Program {
    which: u8,
    actions: Vec<Action>,
}

fn add(live: &mut Vec<Live>, p: *mut u8, size: usize, fill_byte: u8) {
    track(live, p, size, fill_byte, 16);
}

fn run(g: &'static Global, actions: &[Action]) {
    let mut live: Vec<Live> = Vec::new();
    let mut serial = 0u8;
    for a in actions.iter().take(500) {
        serial = serial.wrapping_add(1) | 1;
        match *a {
            Action::Small(n) => {
                let n = n as usize % 1100;
                add(&mut live, g.malloc(n), n, serial);
            }
            Action::Malloc(n) => add(&mut live, g.malloc(n as usize), n as usize, serial),
            Action::MallocLarge(k) => {
                let n = (256 << 10) + (k as usize) * 4099;
                add(&mut live, g.malloc(n), n, serial);
            }
            Action::Calloc(n, s) => {
                let size = n as usize * (s as usize % 1100);
                let p = g.calloc(n as usize, s as usize % 1100);
                if !p.is_null() {
                    // SAFETY: a live block of `size` bytes.
                    let z = unsafe { std::slice::from_raw_parts(p, size) };
                    assert!(z.iter().all(|&b| b == 0), "calloc not zeroed");
                }
                add(&mut live, p, size, serial);
            }
            Action::Aligned(sh, n) => {
                let align = 1usize << (sh % 14);
                let p = g.aligned_alloc(align, n as usize);
                assert_eq!(p as usize % align, 0);
                add(&mut live, p, n as usize, serial);
            }
            Action::Free(i) => {
                if !live.is_empty() {
                    let l = live.swap_remove(i as usize % live.len());
                    verify(&l);
                    // SAFETY: a live block, freed once.
                    unsafe { g.free(l.p) };
                }
            }
            Action::FreeBurst(k) => {
                for _ in 0..(k as usize % 64).min(live.len()) {
                    let l = live.pop().unwrap();
                    verify(&l);
                    // SAFETY: a live block, freed once.
                    unsafe { g.free(l.p) };
                }
            }
            Action::Churn(s, k) => {
                let n = s as usize * 4;
                let count = k as usize % 128 + 1;
                let from = live.len();
                for _ in 0..count {
                    add(&mut live, g.malloc(n), n, serial);
                }
                // Free them in allocation order (the cache's stacks reverse it).
                for l in live.drain(from..) {
                    verify(&l);
                    // SAFETY: a live block, freed once.
                    unsafe { g.free(l.p) };
                }
            }
            Action::ReallocSmall(i, n) => realloc(g, &mut live, i, n as usize % 1100, serial),
            Action::Realloc(i, n) => realloc(g, &mut live, i, (n % (1 << 20)) as usize + 1, serial),
            Action::Usable(i) => {
                if !live.is_empty() {
                    let l = &live[i as usize % live.len()];
                    // SAFETY: a live block.
                    let u = unsafe { g.usable_size(l.p) };
                    assert!(u >= l.size, "usable {u} < {}", l.size);
                    // The whole usable size is the caller's.
                    // SAFETY: `[p, p + u)` is the block's usable payload.
                    unsafe { std::ptr::write_bytes(l.p.add(l.size), !l.fill, u - l.size) };
                }
            }
            Action::Trim => {
                g.trim();
            }
            Action::Flush => tcache::flush_current(),
            Action::Check => g.check().unwrap_or_else(|e| panic!("checker: {e}")),
            Action::Cache(on) => g.set_thread_cache(on),
        }
    }
    for l in &live {
        verify(l);
    }
    assert_disjoint(&live);
    for l in live.drain(..) {
        // SAFETY: live blocks, each freed once.
        unsafe { g.free(l.p) };
    }
    g.check()
        .unwrap_or_else(|e| panic!("checker at the end: {e}"));
}

fn realloc(g: &'static Global, live: &mut [Live], i: u16, n: usize, serial: u8) {
    if live.is_empty() {
        return;
    }
    let k = i as usize % live.len();
    verify(&live[k]);
    if n == 0 {
        // realloc(p, 0) is implementation-defined; keep the model simple.
        return;
    }
    // SAFETY: a live block; on success only the new pointer is used.
    let q = unsafe { g.realloc(live[k].p, n) };
    if !q.is_null() {
        assert_eq!(q as usize % 16, 0);
        let l = &mut live[k];
        l.p = q;
        l.size = l.size.min(n);
        verify(l);
        l.size = n;
        l.fill = serial;
        fill(l);
    } else {
        verify(&live[k]);
    }
}

fuzz_target!(
    init: {
        // Make CACHED the owner of this thread's cache.
        let p = CACHED.malloc(16);
        // SAFETY: a live block, freed once.
        unsafe { CACHED.free(p) };
    },
    |prog: Program| {
    let g: &'static Global = match prog.which % 4 {
        0 | 1 => &CACHED,
        2 => &SLAB,
        _ => &HARD,
    };
    // Every input starts with the cache on (an input may have switched it off).
    CACHED.set_thread_cache(true);
    run(g, &prog.actions);
});
