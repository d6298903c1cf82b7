//! The validating replayer catches broken allocators: deliberately faulty wrappers around
//! the engine inject an overlap, a misaligned payload, a payload outside the heap, a
//! corrupted payload and a realloc that loses contents, and each must be reported at the
//! right trace line.

use std::ptr::NonNull;

use heapwise_core::{PolicyKind, Stats};
use heapwise_lab::alloc::{EngineAllocator, HeapMemory, SystemAllocator, TraceAllocator};
use heapwise_lab::replay::{replay_checked, Failure};
use heapwise_lab::trace::{Format, Trace};

/// What the broken wrapper does wrong.
#[derive(Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// The `n`-th malloc (0-based) returns the previous malloc's pointer again.
    Overlap(usize),
    /// The `n`-th malloc returns its pointer plus 8.
    Misalign(usize),
    /// The `n`-th malloc returns a pointer just past the heap's end.
    Outside(usize),
    /// At the `n`-th free, one byte of the previously allocated block is overwritten.
    Scribble(usize),
    /// realloc allocates a new block, does not copy, and zeroes it (so the result does not
    /// depend on what the heap memory held before, which may be an earlier test's data).
    NoCopy,
}

struct Broken<'a> {
    inner: EngineAllocator<'a>,
    fault: Fault,
    mallocs: usize,
    frees: usize,
    last: Option<NonNull<u8>>,
}

impl<'a> Broken<'a> {
    fn new(mem: &'a mut HeapMemory, fault: Fault) -> Self {
        Broken {
            inner: EngineAllocator::new(PolicyKind::ImplicitFirst, mem),
            fault,
            mallocs: 0,
            frees: 0,
            last: None,
        }
    }
}

impl TraceAllocator for Broken<'_> {
    fn malloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        let n = self.mallocs;
        self.mallocs += 1;
        let p = match self.fault {
            Fault::Overlap(k) if k == n => self.last?,
            _ => self.inner.malloc(size)?,
        };
        self.last = Some(p);
        match self.fault {
            // The pointer is never dereferenced: the validator rejects it before writing.
            Fault::Misalign(k) if k == n => NonNull::new(p.as_ptr().wrapping_add(8)),
            Fault::Outside(k) if k == n => {
                let (_, hi) = self.inner.heap_range()?;
                NonNull::new(hi as *mut u8)
            }
            _ => Some(p),
        }
    }

    unsafe fn realloc(&mut self, ptr: NonNull<u8>, size: usize) -> Option<NonNull<u8>> {
        if self.fault == Fault::NoCopy {
            let q = self.inner.malloc(size)?;
            // SAFETY: `q` is a fresh payload of at least `size` bytes.
            unsafe { q.as_ptr().write_bytes(0, size) };
            // SAFETY: `ptr` is live in the inner heap (caller contract).
            unsafe { self.inner.free(ptr) };
            return Some(q);
        }
        // SAFETY: forwarded caller contract.
        unsafe { self.inner.realloc(ptr, size) }
    }

    unsafe fn free(&mut self, ptr: NonNull<u8>) {
        let n = self.frees;
        self.frees += 1;
        if self.fault == Fault::Scribble(n) {
            if let Some(l) = self.last {
                // SAFETY: `l` is the payload of the latest allocation, still live in the
                // traces used with this fault, and at least one byte long.
                unsafe { *l.as_ptr() ^= 0xFF };
            }
        }
        // SAFETY: forwarded caller contract.
        unsafe { self.inner.free(ptr) }
    }

    fn heap_range(&self) -> Option<(usize, usize)> {
        self.inner.heap_range()
    }

    fn stats(&self) -> Option<Stats> {
        self.inner.stats()
    }
}

/// Lines: header 1–4, then requests on lines 5, 6, 7, ...
const BODY: &str = "a 0 40\n\
a 1 24\n\
a 2 100\n\
r 1 300\n\
f 0\n\
a 3 8\n\
f 3\n\
f 1\n";

/// The whole trace (id 2 freed on line 13).
fn trace() -> Trace {
    let text = format!("0\n4\n9\n1\n{BODY}f 2\n");
    Trace::parse("broken.rep".as_ref(), &text, Format::Auto).unwrap()
}

/// The trace without its last line: id 2 stays live at the end (last line 12).
fn unbalanced() -> Trace {
    let text = format!("0\n4\n8\n1\n{BODY}");
    Trace::parse("open.rep".as_ref(), &text, Format::Auto).unwrap()
}

fn run_on(t: &Trace, fault: Fault) -> Result<(), Failure> {
    let mut mem = HeapMemory::new(1 << 20).unwrap();
    let mut a = Broken::new(&mut mem, fault);
    replay_checked(t, &mut a).map(|_| ())
}

fn run(fault: Fault) -> Result<(), Failure> {
    run_on(&trace(), fault)
}

fn violation(fault: Fault) -> (u32, String) {
    violation_on(&trace(), fault)
}

fn violation_on(t: &Trace, fault: Fault) -> (u32, String) {
    match run_on(t, fault) {
        Err(Failure::Violation { line, reason }) => (line, reason),
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn a_correct_allocator_passes() {
    assert_eq!(run(Fault::None), Ok(()));
    // The system allocator passes the same checks.
    assert!(replay_checked(&trace(), &mut SystemAllocator::default()).is_ok());
}

#[test]
fn overlap_is_caught_at_its_line() {
    let (line, reason) = violation(Fault::Overlap(1));
    assert_eq!(line, 6, "{reason}");
    assert!(reason.contains("overlaps"), "{reason}");
}

#[test]
fn misalignment_is_caught_at_its_line() {
    let (line, reason) = violation(Fault::Misalign(2));
    assert_eq!(line, 7, "{reason}");
    assert!(reason.contains("16-byte aligned"), "{reason}");
}

#[test]
fn payload_outside_the_heap_is_caught() {
    let (line, reason) = violation(Fault::Outside(0));
    assert_eq!(line, 5, "{reason}");
    assert!(reason.contains("outside the heap"), "{reason}");
}

#[test]
fn corruption_of_a_live_payload_is_caught_when_that_block_is_freed() {
    // Free #0 is `f 0` (line 9); it scribbles on the latest malloc, id 2 (`a 2 100` on
    // line 7; the realloc of id 1 is not a malloc). Id 2 is freed on line 13.
    let (line, reason) = violation(Fault::Scribble(0));
    assert_eq!(line, 13, "{reason}");
    assert!(reason.contains("payload of id 2 (from line 7)"), "{reason}");
    assert!(reason.contains("corrupted at byte 0"), "{reason}");
    assert!(reason.contains("at free"), "{reason}");
}

#[test]
fn corruption_of_a_block_never_freed_is_caught_at_the_end() {
    let (line, reason) = violation_on(&unbalanced(), Fault::Scribble(0));
    assert_eq!(line, 12, "{reason}");
    assert!(reason.contains("payload of id 2"), "{reason}");
    assert!(reason.contains("at the end of the trace"), "{reason}");
    // Without the fault the unbalanced trace is fine.
    assert_eq!(run_on(&unbalanced(), Fault::None), Ok(()));
}

#[test]
fn realloc_that_loses_contents_is_caught() {
    let (line, reason) = violation(Fault::NoCopy);
    assert_eq!(line, 8, "{reason}");
    assert!(reason.contains("after realloc"), "{reason}");
}

#[test]
fn out_of_memory_names_the_line() {
    let t = Trace::parse(
        "big.rep".as_ref(),
        "0 2 3 1\na 0 1000\na 1 5000000\nf 0\n",
        Format::Auto,
    )
    .unwrap();
    let mut mem = HeapMemory::new(1 << 20).unwrap();
    let mut a = EngineAllocator::new(PolicyKind::Segregated, &mut mem);
    let e = replay_checked(&t, &mut a).unwrap_err();
    assert_eq!(e, Failure::OutOfMemory { line: 3 });
    assert_eq!(e.to_string(), "out of memory at line 3");
}

/// The system allocator holds at most its limit: a request past it is null (out of
/// memory) and reaches no `malloc`; `realloc` counts the block's new size instead of its
/// old one; a failed request leaves the count alone; `free` gives the bytes back.
#[test]
fn the_system_allocator_keeps_to_its_limit() {
    let mut a = SystemAllocator::new(1 << 20);
    assert!(a.malloc(1 << 30).is_none());
    assert!(a.malloc((1 << 20) + 1).is_none());
    assert_eq!(a.live_bytes(), 0);
    let p = a.malloc(512 << 10).unwrap();
    let after_p = a.live_bytes();
    assert!(after_p >= 512 << 10);
    assert!(
        a.malloc(600 << 10).is_none(),
        "past the limit with `p` live"
    );
    assert_eq!(a.live_bytes(), after_p);
    // SAFETY: `p` is live and came from `a`.
    assert!(unsafe { a.realloc(p, (1 << 20) + 1) }.is_none());
    assert_eq!(a.live_bytes(), after_p);
    // SAFETY: `p` is live (the failed realloc left it alone) and came from `a`.
    let q = unsafe { a.realloc(p, 900 << 10) }.unwrap();
    assert!(a.live_bytes() >= 900 << 10);
    assert!(a.malloc(200 << 10).is_none());
    // SAFETY: `q` is live and came from `a`.
    let q = unsafe { a.realloc(q, 16) }.unwrap();
    let r = a.malloc(900 << 10).unwrap();
    // SAFETY: `q` and `r` are live and came from `a`.
    unsafe {
        a.free(q);
        a.free(r);
    }
    assert_eq!(a.live_bytes(), 0);
}
