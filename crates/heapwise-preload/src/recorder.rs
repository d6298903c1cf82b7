//! The recorder: when statistics or tracing are on, every call of the malloc family is
//! serialised under one lock together with its record, which gives
//!
//! * exact **requested bytes** (the [`PtrTable`] remembers each live block's requested
//!   size, so a free subtracts what was asked for), hence exact peak utilisation;
//! * the **trace** (`HEAPWISE_TRACE`): every call in one global order, in the malloc-lab
//!   replay format — a header of four numbers (suggested heap size, number of ids, number
//!   of operations, weight), then `a id size`, `r id size`, `f id` lines. Ids are handed
//!   out in order from 0, each allocated once; `realloc` keeps its block's id. Lines go into
//!   a static buffer written with `write(2)` when full; the header is written first as
//!   fixed-width padded placeholders and overwritten with `pwrite(2)` at exit, when the
//!   counts are known (a process that leaves without running its exit handlers leaves the
//!   placeholders, which `heapwise replay` recognises). A write that fails (a full disk)
//!   ends the trace there: the library says so once, on stderr, naming the file and the
//!   error, and writes nothing more to it (the file keeps the placeholder header).
//!
//! Invariants: the state is touched only with the recorder lock held, which is taken
//! before (outside) the heap lock; a block is in the table iff it is live and was
//! allocated while recording; the trace's `ops` counts exactly the lines written after the
//! header; after [`Recorder::finish`] nothing more is written.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::options::{shown_path, PATH_MAX};
use crate::report::{note, ErrnoText};
use hw::{fork, sys, FutexLock, Global, LockGuard};

use crate::ptr_table::PtrTable;

/// Width of each padded header number.
pub const HEADER_FIELD: usize = 20;
/// Bytes of the header: four fields and their newlines.
pub const HEADER_BYTES: usize = 4 * (HEADER_FIELD + 1);
/// Size of the trace write buffer.
pub const BUF_BYTES: usize = 64 * 1024;
/// Slots of the pointer table at first (`2^TABLE_BITS`, 1.5 MiB of address space).
pub const TABLE_BITS: u32 = 16;
/// Most slots the pointer table doubles to (`2^TABLE_MAX_BITS`: 2^28 = 268 M slots, 7/8
/// of them usable, on 64-bit targets; 2^22 on 32-bit ones).
pub const TABLE_MAX_BITS: u32 = if usize::BITS >= 64 { 28 } else { 22 };
/// Rank of the recorder lock for `fork` (outside the heap lock).
pub const RANK_RECORDER: usize = 1;

struct Trace {
    fd: i32,
    buf: [u8; BUF_BYTES],
    len: usize,
    ops: u64,
    failed: bool,
    /// The file's path, NUL-terminated (empty without a trace), for the message about a
    /// write that fails.
    path: [u8; PATH_MAX + 1],
}

struct State {
    table: PtrTable,
    next_id: u64,
    /// The trace; `fd < 0` when not tracing.
    trace: Trace,
    finished: bool,
}

/// The recorder (one per process).
pub struct Recorder {
    lock: FutexLock,
    active: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is touched only with `lock` held.
unsafe impl Sync for Recorder {}

fn fmt_u64(mut v: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        if let Some(c) = out.get_mut(i) {
            *c = b'0' + (v % 10) as u8;
        }
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
    out.get(i..).unwrap_or(&[])
}

impl Trace {
    fn flush(&mut self) {
        if self.len > 0 && !self.failed {
            let data = self.buf.get(..self.len).unwrap_or(&[]);
            // (No cancellation point: the recorder's lock is held here.)
            if let Err(e) = sys::write_all_or_errno(self.fd, data) {
                // Once: nothing more is written after a failure. (`note` neither allocates
                // nor raises SIGPIPE.)
                self.failed = true;
                note(format_args!(
                    "cannot write HEAPWISE_TRACE file {:?}: {}; the trace stops here, \
                     unfinished (its header is not written)",
                    shown_path(&self.path),
                    ErrnoText(e)
                ));
            }
        }
        self.len = 0;
    }

    fn push(&mut self, b: &[u8]) {
        if self.len + b.len() > BUF_BYTES {
            self.flush();
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
            self.len += b.len();
        }
    }

    fn line(&mut self, op: u8, id: u64, size: Option<usize>) {
        let mut tmp = [0u8; 20];
        self.push(&[op, b' ']);
        self.push(fmt_u64(id, &mut tmp));
        if let Some(s) = size {
            self.push(b" ");
            self.push(fmt_u64(s as u64, &mut tmp));
        }
        self.push(b"\n");
        self.ops += 1;
    }
}

/// The header: four right-aligned numbers of [`HEADER_FIELD`] characters, one per line.
pub fn header(heap: u64, ids: u64, ops: u64, weight: u64) -> [u8; HEADER_BYTES] {
    let mut h = [b' '; HEADER_BYTES];
    for (k, v) in [heap, ids, ops, weight].into_iter().enumerate() {
        let mut tmp = [0u8; 20];
        let d = fmt_u64(v, &mut tmp);
        let end = (k + 1) * (HEADER_FIELD + 1) - 1;
        if let Some(dst) = h.get_mut(end - d.len()..end) {
            dst.copy_from_slice(d);
        }
        if let Some(nl) = h.get_mut(end) {
            *nl = b'\n';
        }
    }
    h
}

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn child_after_fork() {
    crate::RECORDER.forget_trace_in_child();
}

impl Recorder {
    /// An inactive recorder.
    pub const fn new() -> Self {
        Recorder {
            lock: FutexLock::new(),
            active: AtomicBool::new(false),
            state: UnsafeCell::new(State {
                table: PtrTable::new(TABLE_BITS, TABLE_MAX_BITS),
                next_id: 0,
                trace: Trace {
                    fd: -1,
                    buf: [0; BUF_BYTES],
                    len: 0,
                    ops: 0,
                    failed: true,
                    path: [0; PATH_MAX + 1],
                },
                finished: false,
            }),
        }
    }

    /// Whether calls are being recorded.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Starts recording; `trace_fd >= 0` also writes the trace there, to the file at `path`
    /// (named in the message about a write that fails; cut at [`PATH_MAX`] bytes). Called
    /// once, from the library's initialisation, before any call is served.
    pub fn start(&self, trace_fd: i32, path: &[u8]) {
        let _g = LockGuard::new(&self.lock);
        // SAFETY: the lock is held.
        let st = unsafe { &mut *self.state.get() };
        if trace_fd >= 0 {
            let t = &mut st.trace;
            let n = path
                .iter()
                .position(|&c| c == 0)
                .unwrap_or(path.len())
                .min(PATH_MAX);
            if let (Some(dst), Some(src)) = (t.path.get_mut(..n), path.get(..n)) {
                dst.copy_from_slice(src);
            }
            t.fd = trace_fd;
            t.failed = false;
            t.push(&header(0, 0, 0, 1));
            t.ops = 0;
        }
        self.active.store(true, Ordering::Release);
    }

    /// Registers the recorder lock and the child hook with the fork handlers. Must run
    /// after initialisation is marked done (registration may allocate).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn register_fork(&'static self) {
        fork::register(&self.lock, RANK_RECORDER);
        fork::register_child_hook(child_after_fork);
    }

    fn forget_trace_in_child(&self) {
        // SAFETY: in the child after fork the lock was just reset and only this thread
        // exists.
        let st = unsafe { &mut *self.state.get() };
        st.trace.failed = true; // the parent owns the file
        st.trace.len = 0;
    }

    /// Runs `f` (one call of the malloc family) with the recorder lock held, passing the
    /// state to record it.
    #[inline]
    pub fn with<R>(&self, f: impl FnOnce(&mut Rec<'_>) -> R) -> R {
        let _g = LockGuard::new(&self.lock);
        // SAFETY: the lock is held.
        let st = unsafe { &mut *self.state.get() };
        f(&mut Rec(st))
    }

    /// Flushes the trace and writes the real header (once). Returns the number of
    /// operations written and ids used, or `None` without a trace.
    pub fn finish(&self, peak_heap: usize) -> Option<(u64, u64, u64)> {
        let _g = LockGuard::new(&self.lock);
        // SAFETY: the lock is held.
        let st = unsafe { &mut *self.state.get() };
        if st.finished {
            return None;
        }
        st.finished = true;
        let ids = st.next_id;
        let dropped = st.table.dropped();
        let t = &mut st.trace;
        if t.fd < 0 {
            return None;
        }
        t.flush();
        if t.failed {
            return None;
        }
        let h = header(peak_heap as u64, ids, t.ops, 1);
        let _e = sys::ErrnoGuard::new();
        // SAFETY: `h` is a readable buffer of HEADER_BYTES bytes.
        let n = unsafe { libc::pwrite(t.fd, h.as_ptr() as *const libc::c_void, h.len(), 0) };
        if n != h.len() as isize {
            note(format_args!(
                "cannot write the header of HEAPWISE_TRACE file {:?}: {}",
                shown_path(&t.path),
                ErrnoText(if n < 0 { sys::errno() } else { 0 })
            ));
        }
        // SAFETY: the descriptor is ours and no longer used.
        unsafe { libc::close(t.fd) };
        t.failed = true;
        Some((t.ops, ids, dropped))
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

/// The recorder state, borrowed for one call.
pub struct Rec<'a>(&'a mut State);

impl Rec<'_> {
    fn tracing(&mut self) -> Option<&mut Trace> {
        if self.0.finished {
            return None;
        }
        let t = &mut self.0.trace;
        if t.failed {
            None
        } else {
            Some(t)
        }
    }

    /// A new block `p` of `size` requested bytes.
    pub fn alloc(&mut self, g: &Global, p: *mut u8, size: usize) {
        let id = self.0.next_id;
        self.0.next_id += 1;
        if self.0.table.insert(p as usize, id, size) {
            g.note_requested(size);
        }
        if let Some(t) = self.tracing() {
            t.line(b'a', id, Some(size));
        }
    }

    /// Block `p` is about to be freed.
    pub fn free(&mut self, g: &Global, p: *mut u8) {
        if let Some((id, size)) = self.0.table.remove(p as usize) {
            g.note_released(size);
            if let Some(t) = self.tracing() {
                t.line(b'f', id, None);
            }
        }
    }

    /// Block `p` became `q` of `size` requested bytes.
    pub fn realloc(&mut self, g: &Global, p: *mut u8, q: *mut u8, size: usize) {
        match self.0.table.remove(p as usize) {
            Some((id, old)) => {
                g.note_released(old);
                if self.0.table.insert(q as usize, id, size) {
                    g.note_requested(size);
                }
                if let Some(t) = self.tracing() {
                    t.line(b'r', id, Some(size));
                }
            }
            None => self.alloc(g, q, size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_fixed_width_and_parses() {
        let h = header(3_000_000, 2847, 5694, 1);
        assert_eq!(h.len(), HEADER_BYTES);
        let s = core::str::from_utf8(&h).unwrap();
        let nums: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
        assert_eq!(nums, [3_000_000, 2847, 5694, 1]);
        assert!(s.lines().all(|l| l.len() == HEADER_FIELD));
        // The placeholder a trace starts with until the exit handler overwrites it: the lab
        // knows these bytes (`heapwise_lab::trace::RECORDER_PLACEHOLDER`) and tells the
        // unfinished trace of a process that left through `_exit` or was killed from a
        // malformed one.
        let placeholder = [
            "                   0\n",
            "                   0\n",
            "                   0\n",
            "                   1\n",
        ]
        .concat();
        assert_eq!(&header(0, 0, 0, 1)[..], placeholder.as_bytes());
    }

    #[test]
    fn numbers_format() {
        let mut t = [0u8; 20];
        assert_eq!(fmt_u64(0, &mut t), b"0");
        assert_eq!(fmt_u64(1234567890, &mut t), b"1234567890");
        assert_eq!(fmt_u64(u64::MAX, &mut t), b"18446744073709551615");
    }
}

#[cfg(test)]
mod trace_tests {
    use super::*;
    use hw::Config;
    use std::io::Read;

    static G: Global = Global::new(Config::DEFAULT);

    #[test]
    fn a_recorded_session_is_a_valid_classic_trace() {
        let path = std::env::temp_dir().join(format!("hw-rec-{}.rep", std::process::id()));
        let f = std::fs::File::create(&path).unwrap();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(f);
        let rec = Box::new(Recorder::new());
        rec.start(fd, path.as_os_str().as_encoded_bytes());
        let a = rec.with(|r| {
            let p = G.malloc(100);
            r.alloc(&G, p, 100);
            p
        });
        let b = rec.with(|r| {
            let p = G.malloc(7);
            r.alloc(&G, p, 7);
            p
        });
        let a2 = rec.with(|r| {
            // SAFETY: `a` is live.
            let q = unsafe { G.realloc(a, 5000) };
            r.realloc(&G, a, q, 5000);
            q
        });
        rec.with(|r| {
            r.free(&G, b);
            // SAFETY: `b` is live, freed once.
            unsafe { G.free(b) };
            r.free(&G, a2);
            // SAFETY: `a2` is live, freed once.
            unsafe { G.free(a2) };
        });
        assert_eq!(rec.finish(12345), Some((5, 2, 0)));
        assert_eq!(rec.finish(12345), None, "finishing twice writes nothing");
        let mut text = String::new();
        std::fs::File::open(&path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        assert_eq!(
            lines,
            ["12345", "2", "5", "1", "a 0 100", "a 1 7", "r 0 5000", "f 1", "f 0"]
        );
        let s = G.stats();
        assert!(s.requested_tracked);
        assert_eq!(s.requested_bytes, 0);
        assert_eq!(s.peak_requested_bytes, 5007);
    }
}
