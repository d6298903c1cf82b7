//! Metrics on small hand-made traces, with the answers worked out by hand.
//!
//! The allocator is a toy whose geometry is known exactly: a bump allocator over a buffer
//! where every block is a 16-byte header plus the request rounded up to 16, blocks are
//! never reused, and a freed block just becomes a free block of the same size. Its
//! statistics are exact, so utilisation and fragmentation can be computed on paper.

use std::ptr::NonNull;

use heapwise_core::{PolicyKind, Stats};
use heapwise_lab::alloc::{EngineAllocator, HeapMemory, TraceAllocator};
use heapwise_lab::lab::{perf_index, run, summarise, Config, TraceRow};
use heapwise_lab::progress::Progress;
use heapwise_lab::replay::replay_checked;
use heapwise_lab::trace::{Format, Trace};

#[repr(align(16))]
struct Arena([u8; 4096]);

struct Bump {
    mem: Box<Arena>,
    used: usize,
    /// (offset, block size, allocated)
    blocks: Vec<(usize, usize, bool)>,
}

impl Bump {
    fn new() -> Bump {
        Bump {
            mem: Box::new(Arena([0; 4096])),
            used: 0,
            blocks: Vec::new(),
        }
    }
    fn base(&self) -> usize {
        self.mem.0.as_ptr() as usize
    }
}

impl TraceAllocator for Bump {
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let bsize = 16 + size.div_ceil(16) * 16;
        if self.used + bsize > 4096 {
            return None;
        }
        let off = self.used;
        self.used += bsize;
        self.blocks.push((off, bsize, true));
        NonNull::new(self.mem.0[off + 16..].as_mut_ptr())
    }
    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        let q = self.malloc(size)?;
        let old = self
            .blocks
            .iter()
            .find(|b| self.base() + b.0 + 16 == ptr.as_ptr() as usize)?
            .1
            - 16;
        // SAFETY: both payloads lie in the arena, do not overlap, and are at least
        // `min(old, size)` bytes long.
        unsafe { std::ptr::copy_nonoverlapping(ptr.as_ptr(), q.as_ptr(), old.min(size)) };
        // SAFETY: `ptr` is live (caller contract).
        unsafe { self.free(ptr) };
        Some(q)
    }
    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        let base = self.base();
        if let Some(b) = self
            .blocks
            .iter_mut()
            .find(|b| base + b.0 + 16 == ptr.as_ptr() as usize)
        {
            b.2 = false;
        }
    }
    fn heap_range(&self) -> Option<(usize, usize)> {
        Some((self.base(), self.base() + self.used))
    }
    fn stats(&self) -> Option<Stats> {
        let mut s = Stats {
            heap_bytes: self.used,
            ..Stats::default()
        };
        for &(_, size, alloc) in &self.blocks {
            if alloc {
                s.allocated_blocks += 1;
                s.allocated_bytes += size;
            } else {
                s.free_blocks += 1;
                s.free_bytes += size;
                s.largest_free = s.largest_free.max(size);
            }
        }
        Some(s)
    }
}

fn parse(text: &str) -> Trace {
    Trace::parse("hand.rep".as_ref(), text, Format::Auto).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn utilisation_and_internal_fragmentation_by_hand() {
    // a0 100 -> block 128; a1 200 -> block 224: live 300 (the peak), heap 352.
    // f0; a2 50 -> block 80: heap 432 at the end.
    let t = parse("0 3 6 1\na 0 100\na 1 200\nf 0\na 2 50\nf 1\nf 2\n");
    let c = replay_checked(&t, &mut Bump::new()).unwrap();
    assert_eq!(c.peak_live, 300);
    assert_eq!(c.heap_bytes, Some(432));
    assert!(close(c.util().unwrap(), 300.0 / 432.0));
    // At the peak: allocated blocks 128 + 224 = 352 for 300 requested bytes; nothing free.
    assert!(close(c.internal_frag().unwrap(), 52.0 / 352.0));
    assert!(close(c.external_frag().unwrap(), 0.0));
}

#[test]
fn external_fragmentation_at_the_peak_by_hand() {
    // a0 100 (128), a1 10 (32), a2 10 (32), a3 50 (80), f0, f2, a4 400 (416).
    // Live after a3: 170; after a4: 10 + 50 + 400 = 460, the peak.
    // At the peak: free blocks 128 and 32 (total 160, largest 128) -> 1 - 128/160 = 0.2;
    // allocated 32 + 80 + 416 = 528 -> internal (528 - 460) / 528.
    // Heap: 128 + 32 + 32 + 80 + 416 = 688.
    let t = parse("0 5 10 1\na 0 100\na 1 10\na 2 10\na 3 50\nf 0\nf 2\na 4 400\nf 1\nf 3\nf 4\n");
    let c = replay_checked(&t, &mut Bump::new()).unwrap();
    assert_eq!(c.peak_live, 460);
    assert_eq!(c.live_at_peak, 460);
    assert_eq!(c.heap_bytes, Some(688));
    assert!(close(c.util().unwrap(), 460.0 / 688.0));
    assert!(close(c.external_frag().unwrap(), 0.2));
    assert!(close(c.internal_frag().unwrap(), 68.0 / 528.0));
}

#[test]
fn realloc_counts_the_size_difference() {
    // mdriver: `r` adds new - old. a0 100, r0 300 (peak 300), r0 50, a1 200 (250).
    let t = parse("0 2 5 1\na 0 100\nr 0 300\nr 0 50\na 1 200\nf 0\n");
    assert_eq!(t.peak_live().bytes, 300);
    assert_eq!(t.peak_live().op_index, Some(1));
    let c = replay_checked(&t, &mut Bump::new()).unwrap();
    // Blocks: 128, then 320 (realloc moves), then 80, then 224: heap 752.
    assert_eq!(c.heap_bytes, Some(752));
    assert!(close(c.util().unwrap(), 300.0 / 752.0));
}

#[test]
fn engine_utilisation_is_peak_over_final_heap() {
    let t = parse("0 3 6 1\na 0 1000\na 1 2000\nf 0\na 2 500\nf 1\nf 2\n");
    let mut mem = HeapMemory::new(1 << 20).unwrap();
    let mut a = EngineAllocator::new(PolicyKind::ImplicitFirst, &mut mem);
    let c = replay_checked(&t, &mut a).unwrap();
    let heap = a.heap_bytes();
    assert_eq!(c.heap_bytes, Some(heap));
    assert!(close(c.util().unwrap(), 3000.0 / heap as f64));
    let s = c.at_peak.unwrap();
    // Every allocated block holds its request plus at least a header word.
    assert!(s.allocated_bytes >= 3000 + 2 * 8);
    assert!(close(
        c.internal_frag().unwrap(),
        (s.allocated_bytes - 3000) as f64 / s.allocated_bytes as f64
    ));
}

fn row(policy: &str, ops: usize, util: Option<f64>, secs: Option<f64>, sys: f64) -> TraceRow {
    TraceRow {
        trace: format!("t{ops}"),
        policy: policy.into(),
        ops,
        util,
        heap_bytes: None,
        internal_frag: None,
        external_frag: None,
        kops: None,
        system_kops: None,
        ok: util.is_some(),
        error: None,
        secs,
        system_secs: Some(sys),
        violation: false,
    }
}

#[test]
fn summary_by_hand() {
    // Two traces: 1000 ops in 0.01 s and 3000 ops in 0.03 s -> 4000 / 0.04 = 100 Kops/s.
    // Utilisations 0.5 and 0.9 -> mean 0.7. Index = 100 (0.6 * 0.7 + 0.4 * 100/600).
    // System: 0.002 + 0.006 s -> 4000 / 0.008 = 500 Kops/s.
    let rows = vec![
        row("segregated", 1000, Some(0.5), Some(0.01), 0.002),
        row("segregated", 3000, Some(0.9), Some(0.03), 0.006),
        // A failed trace counts as utilisation 0 and is left out of the throughput.
        row("implicit-first", 1000, Some(0.8), Some(0.1), 0.002),
        row("implicit-first", 3000, None, None, 0.006),
    ];
    let s = summarise(&rows, &[PolicyKind::Segregated, PolicyKind::ImplicitFirst]);
    assert!(close(s[0].mean_util.unwrap(), 0.7));
    assert!((s[0].kops.unwrap() - 100.0).abs() < 1e-9);
    assert!((s[0].system_kops.unwrap() - 500.0).abs() < 1e-9);
    assert!((s[0].index.unwrap() - 100.0 * (0.6 * 0.7 + 0.4 * (100.0 / 600.0))).abs() < 1e-9);
    assert!(close(s[1].mean_util.unwrap(), 0.4));
    assert!((s[1].kops.unwrap() - 10.0).abs() < 1e-9);
    assert!((s[1].system_kops.unwrap() - 500.0).abs() < 1e-9);
    // Throughput above the reference caps at 40 points.
    assert!(close(perf_index(1.0, 6000.0), 100.0));
    assert!(close(perf_index(0.0, 300.0), 20.0));
}

/// A trace without requests (the recorded trace of a process that never called `malloc`)
/// has no heap: no utilisation (0 / 0) and no throughput, and it is left out of the mean.
/// It used to count as utilisation 0 (halving a policy's mean next to one real trace) with
/// "0 Kops/s".
#[test]
fn a_trace_without_requests_has_no_utilisation_and_no_throughput() {
    let mut empty = parse("0\n0\n0\n1\n");
    empty.name = "empty".into();
    let real = parse("0 2 4 1\na 0 100\na 1 100\nf 0\nf 1\n");
    let cfg = Config {
        policies: vec![PolicyKind::Segregated],
        repeat: 1,
        heap_limit: 1 << 20,
    };
    let r = run(&[empty.clone(), real], &cfg, &Progress::hidden()).unwrap();
    let (e, t) = (&r.traces[0], &r.traces[1]);
    assert!(e.ok);
    assert_eq!((e.util, e.kops, e.system_kops), (None, None, None));
    assert_eq!(e.heap_bytes, Some(0));
    let u = t.util.unwrap();
    assert!(u > 0.0);
    assert_eq!(r.summary[0].mean_util, Some(u));
    assert!(r.summary[0].index.is_some());
    // Nothing but empty traces: no mean, no index.
    let r = run(&[empty], &cfg, &Progress::hidden()).unwrap();
    assert_eq!((r.summary[0].mean_util, r.summary[0].index), (None, None));
    let text = heapwise_lab::table::render(&r);
    assert!(!text.contains("0.0%"), "{text}");
}

#[test]
fn run_reports_every_policy_and_out_of_memory_per_trace() {
    let ok = parse("0 2 4 1\na 0 100\na 1 100\nf 0\nf 1\n");
    let mut big = parse("0 2 3 1\na 0 100\na 1 100000\nf 0\n");
    big.name = "big".into();
    let cfg = Config {
        policies: PolicyKind::ALL.to_vec(),
        repeat: 1,
        heap_limit: 16 << 10,
    };
    let r = run(&[big, ok], &cfg, &Progress::hidden()).unwrap();
    assert_eq!(r.traces.len(), 2 * PolicyKind::ALL.len());
    assert_eq!(r.summary.len(), PolicyKind::ALL.len());
    for row in &r.traces[..PolicyKind::ALL.len()] {
        assert!(!row.ok);
        assert_eq!(row.error.as_deref(), Some("out of memory at line 3"));
        assert!(!row.violation);
    }
    for row in &r.traces[PolicyKind::ALL.len()..] {
        assert!(row.ok, "{row:?}");
        assert!(row.util.unwrap() > 0.0 && row.util.unwrap() <= 1.0);
        assert!(row.kops.unwrap() > 0.0 && row.system_kops.unwrap() > 0.0);
    }
    assert!(!r.has_violation());
}
