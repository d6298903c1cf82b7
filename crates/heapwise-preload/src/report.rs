//! The statistics summary: three lines on a file descriptor, written from a stack buffer,
//! at exit when `HEAPWISE_STATS=1` (on stderr) or `HEAPWISE_STATS_FILE=FILE` (appended to
//! the file), and on request (`heapwise_print_stats`, `malloc_stats`):
//!
//! ```text
//! heapwise[4242 git]: policy segregated: 1234 malloc, 56 calloc, 78 realloc, 9 aligned, 1300 free, 3 large (mmap), 0 failed
//! heapwise[4242 git]: peak heap 1.2 MiB (1 heap, sbrk), peak footprint 3.4 MiB, peak requested 1.1 MiB, peak utilisation 85.3 %
//! heapwise[4242 git]: now: heap 1.2 MiB, allocated 0.5 MiB in 123 blocks, free 0.7 MiB in 12 blocks, large 2.0 MiB in 1 blocks, large cached 0 B, external fragmentation 12.3 %
//! ```
//!
//! The first line counts the program's calls: `malloc`, `calloc`, `aligned` and `free` of
//! heap blocks, every `realloc` (in a heap, between a heap and a large mapping, or of a
//! large block with `mremap`), the large blocks mapped (`large (mmap)`: requests at or above
//! the mmap threshold, whatever the function), and the calls that failed.
//!
//! Invariant: no allocation; each line is cut at the buffer's end rather than overflow it;
//! the exit hook's writes and the library's notes ([`note`]) never raise SIGPIPE (a stderr
//! nobody reads does not change the program's exit status).

use core::ffi::{c_char, CStr};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hw::diag::StackBuf;
use hw::GlobalStats;

use crate::{GLOBAL, RECORDER, STATS_AT_EXIT};

/// fd 2 as the library found it (device and inode; `STDERR_SEEN` false if it was not
/// open): the exit summary goes to fd 2 only while it is still that file. A program that
/// closed its stderr gets no summary, and one that opened a file in its place does not
/// find the summary in its data.
static STDERR_DEV: AtomicU64 = AtomicU64::new(0);
static STDERR_INO: AtomicU64 = AtomicU64::new(0);
static STDERR_SEEN: AtomicBool = AtomicBool::new(false);

/// Device and inode of the file open on `fd`.
fn file_id(fd: i32) -> Option<(u64, u64)> {
    let _e = hw::sys::ErrnoGuard::new();
    let mut st = core::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is writable for a `struct stat`; `fstat` fills it on success.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: `fstat` succeeded, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    // (The field types differ between targets: 32-bit `st_ino` is narrower.)
    #[allow(clippy::unnecessary_cast)]
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// Records which file fd 2 is (at initialisation, when statistics are on).
pub fn note_stderr() {
    if let Some((dev, ino)) = file_id(2) {
        STDERR_DEV.store(dev, Ordering::Relaxed);
        STDERR_INO.store(ino, Ordering::Relaxed);
        STDERR_SEEN.store(true, Ordering::Relaxed);
    }
}

/// 2 if fd 2 is still the file [`note_stderr`] saw, else -1.
fn stderr_fd() -> i32 {
    let same = STDERR_SEEN.load(Ordering::Relaxed)
        && file_id(2)
            == Some((
                STDERR_DEV.load(Ordering::Relaxed),
                STDERR_INO.load(Ordering::Relaxed),
            ));
    if same {
        2
    } else {
        -1
    }
}

/// A byte count shown with a binary unit (`512 B`, `1.5 KiB`, `3.2 MiB`, `1.10 GiB`): the
/// largest unit it has one of once rounded (1 MiB − 1 byte is `1.0 MiB`, not `1024.0 KiB`).
pub struct Bytes(pub usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as u128;
        if b < 1 << 10 {
            return write!(f, "{b} B");
        }
        // (unit, its bytes, decimals shown); the last one takes every larger count.
        let units = [
            ("KiB", 1u128 << 10, 1),
            ("MiB", 1 << 20, 1),
            ("GiB", 1 << 30, 2),
        ];
        let [first, larger @ ..] = units;
        let mut shown = first;
        for next in larger {
            let (_, den, decimals) = shown;
            // One of the next unit, or a count that rounds to 1024 of this one.
            if b >= next.1 || Ratio::rounded(b, den, decimals) >= 1024 * 10u128.pow(decimals) {
                shown = next;
            } else {
                break;
            }
        }
        let (name, den, decimals) = shown;
        write!(f, "{} {name}", Ratio(b, den, decimals))
    }
}

/// `num / den` with `.2` decimals (rounded half up), in integers: the library formats no
/// floating-point number, which would link `core`'s float printing (about 20 KiB of text
/// mapped into every process).
pub struct Ratio(pub u128, pub u128, pub u32);

impl Ratio {
    /// `num / den · 10^decimals`, rounded half up (0 when `den` is 0).
    fn rounded(num: u128, den: u128, decimals: u32) -> u128 {
        num.saturating_mul(10u128.pow(decimals))
            .saturating_mul(2)
            .saturating_add(den)
            .checked_div(den.saturating_mul(2))
            .unwrap_or(0)
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ratio(num, den, decimals) = *self;
        if den == 0 {
            return f.write_str("-");
        }
        let scale = 10u128.pow(decimals);
        let scaled = Ratio::rounded(num, den, decimals);
        let (whole, frac) = (scaled / scale, scaled % scale);
        if decimals == 0 {
            write!(f, "{whole}")
        } else {
            write!(f, "{whole}.{frac:0width$}", width = decimals as usize)
        }
    }
}

/// An `errno` value as a message shows it: `No space left on device (errno 28)`. The
/// texts are the C locale's, from a table of the errors a write to a file may give (an
/// error not in it shows as `errno N`, and 0 as a write that wrote nothing): `strerror`
/// may translate through `gettext`, which allocates, and messages are written with the
/// recorder's lock held.
pub struct ErrnoText(pub i32);

impl ErrnoText {
    /// The C locale's text of `errno` `e`, for the errors in the table.
    pub fn text(e: i32) -> Option<&'static str> {
        Some(match e {
            libc::EPERM => "Operation not permitted",
            libc::ENOENT => "No such file or directory",
            libc::EIO => "Input/output error",
            libc::ENXIO => "No such device or address",
            libc::EBADF => "Bad file descriptor",
            libc::EAGAIN => "Resource temporarily unavailable",
            libc::ENOMEM => "Cannot allocate memory",
            libc::EACCES => "Permission denied",
            libc::EFAULT => "Bad address",
            libc::EISDIR => "Is a directory",
            libc::EINVAL => "Invalid argument",
            libc::EFBIG => "File too large",
            libc::ENOSPC => "No space left on device",
            libc::ESPIPE => "Illegal seek",
            libc::EROFS => "Read-only file system",
            libc::EPIPE => "Broken pipe",
            libc::EDQUOT => "Disk quota exceeded",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrnoText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, ErrnoText::text(self.0)) {
            (0, _) => f.write_str("nothing was written"),
            (e, Some(t)) => write!(f, "{t} (errno {e})"),
            (e, None) => write!(f, "errno {e}"),
        }
    }
}

extern "C" {
    static program_invocation_short_name: *const c_char;
}

fn prefix<const N: usize>(b: &mut StackBuf<N>) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: glibc sets `program_invocation_short_name` before constructors run to a
    // NUL-terminated string (or leaves it null).
    let name = unsafe {
        let p = core::ptr::addr_of!(program_invocation_short_name).read();
        if p.is_null() {
            "?"
        } else {
            CStr::from_ptr(p).to_str().unwrap_or("?")
        }
    };
    let _ = write!(b, "heapwise[{pid} {name}]: ");
}

/// Writes the three summary lines for `s` to `fd`.
pub fn write_summary(fd: i32, s: &GlobalStats) {
    let c = &s.heap.counters;
    let mut b = StackBuf::<512>::new();
    prefix(&mut b);
    let _ = writeln!(
        b,
        "policy {}: {} malloc, {} calloc, {} realloc, {} aligned, {} free, {} large (mmap), {} failed",
        s.policy.name(),
        c.mallocs,
        c.callocs,
        c.reallocs + s.large_reallocs,
        c.aligned,
        c.frees,
        s.large_allocs,
        c.failures
    );
    b.write_to(fd);
    b.clear();
    prefix(&mut b);
    let _ = write!(
        b,
        "peak heap {} ({} heap{}, {}), peak footprint {}, ",
        Bytes(s.heap.heap_bytes),
        s.heaps,
        if s.heaps == 1 { "" } else { "s" },
        if s.sbrk_heaps > 0 { "sbrk" } else { "mmap" },
        Bytes(s.peak_footprint_bytes),
    );
    if s.peak_utilisation().is_some() {
        let _ = writeln!(
            b,
            "peak requested {}, peak utilisation {} %",
            Bytes(s.peak_requested_bytes),
            Ratio(
                s.peak_requested_bytes as u128 * 100,
                s.peak_footprint_bytes as u128,
                1
            )
        );
    } else {
        let _ = writeln!(b, "peak utilisation not tracked");
    }
    b.write_to(fd);
    b.clear();
    prefix(&mut b);
    let _ = writeln!(
        b,
        "now: heap {}, allocated {} in {} blocks, free {} in {} blocks, large {} in {} blocks, large cached {}, external fragmentation {} %",
        Bytes(s.heap.heap_bytes),
        Bytes(s.heap.allocated_bytes),
        s.heap.allocated_blocks,
        Bytes(s.heap.free_bytes),
        s.heap.free_blocks,
        Bytes(s.large_bytes),
        s.large_blocks,
        Bytes(s.large_cached_bytes),
        // 1 − largest free / free bytes (0 when nothing is free).
        Ratio(
            (s.heap.free_bytes - s.heap.largest_free.min(s.heap.free_bytes)) as u128 * 100,
            (s.heap.free_bytes as u128).max(1),
            1
        )
    );
    b.write_to(fd);
}

/// Writes the summary of the process allocator to `fd`.
pub fn print(fd: i32) {
    let _q = hw::front::quiet_under_valgrind();
    write_summary(fd, &GLOBAL.stats());
}

/// One line `heapwise: <message>` on stderr, as [`hw::diag::report`], but without SIGPIPE
/// ([`NoSigpipe`]): the library's own notes (a bad option value at start-up, a trace or
/// statistics file it cannot open or write) never kill the program when its stderr is a
/// pipe nobody reads.
pub(crate) fn note(args: fmt::Arguments<'_>) {
    let _p = NoSigpipe::new();
    hw::diag::report(args);
}

/// SIGPIPE blocked for the calling thread while alive: the library's own writes to a pipe
/// nobody reads (a stderr whose reader has gone, a FIFO as statistics or trace file) fail
/// with `EPIPE` instead of killing the program, whose exit status stays its own. On drop,
/// a SIGPIPE those writes raised is taken off the pending set (one that was pending before
/// is left alone) and the thread's mask is restored.
pub(crate) struct NoSigpipe {
    old: libc::sigset_t,
    pipe: libc::sigset_t,
    was_pending: bool,
}

impl NoSigpipe {
    /// Blocks SIGPIPE for the calling thread.
    pub(crate) fn new() -> NoSigpipe {
        let _e = hw::sys::ErrnoGuard::new();
        // SAFETY: the sets are plain data, initialised by `sigemptyset` before any other use;
        // `pthread_sigmask` and `sigpending` write only to the sets given.
        unsafe {
            let mut pipe: libc::sigset_t = core::mem::zeroed();
            let mut old: libc::sigset_t = core::mem::zeroed();
            let mut pending: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
            libc::sigemptyset(&mut pending);
            let was_pending = libc::sigpending(&mut pending) == 0
                && libc::sigismember(&pending, libc::SIGPIPE) == 1;
            NoSigpipe {
                old,
                pipe,
                was_pending,
            }
        }
    }
}

impl Drop for NoSigpipe {
    fn drop(&mut self) {
        let _e = hw::sys::ErrnoGuard::new();
        // SAFETY: the sets were initialised in `new`; a zero timeout makes `sigtimedwait` a
        // poll that takes a pending SIGPIPE (one raised by our writes) or returns EAGAIN.
        unsafe {
            if !self.was_pending {
                let zero = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                libc::sigtimedwait(&self.pipe, core::ptr::null_mut(), &zero);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, core::ptr::null_mut());
        }
    }
}

/// The exit hook: finishes the trace, then prints the summary if asked to. A write that
/// finds a pipe with no reader fails quietly (no SIGPIPE: the program's exit status stays
/// its own).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn at_exit() {
    if !RECORDER.active() {
        return; // neither statistics nor a trace: nothing to do (and no heap walk)
    }
    let _p = NoSigpipe::new();
    let _q = hw::front::quiet_under_valgrind();
    let traced = RECORDER.finish(GLOBAL.peak_footprint());
    if STATS_AT_EXIT.load(Ordering::Relaxed) {
        let mut path_buf = [0u8; crate::options::PATH_MAX + 1];
        let fd = match crate::stats_file(&mut path_buf) {
            Some(path) => {
                // SAFETY: the path is NUL-terminated.
                let fd = unsafe {
                    libc::open(
                        path,
                        libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
                        0o644 as libc::c_uint,
                    )
                };
                if fd < 0 {
                    // SAFETY: `path` is a NUL-terminated string that lives for the process.
                    let shown = crate::options::shown_path(
                        unsafe { core::ffi::CStr::from_ptr(path) }.to_bytes(),
                    );
                    hw::diag::report(format_args!(
                        "cannot open HEAPWISE_STATS_FILE {shown:?} (errno {}); statistics \
                         on stderr",
                        hw::sys::errno()
                    ));
                    stderr_fd()
                } else {
                    fd
                }
            }
            None => stderr_fd(),
        };
        if fd < 0 {
            return;
        }
        print(fd);
        if let Some((ops, ids, dropped)) = traced {
            let mut b = StackBuf::<256>::new();
            prefix(&mut b);
            let _ = writeln!(
                b,
                "trace: {ops} operations, {ids} ids ({dropped} blocks untracked)"
            );
            b.write_to(fd);
        }
        if fd != 2 {
            // SAFETY: `fd` was opened above and is not used elsewhere.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn ratios_round_half_up_in_integers() {
        assert_eq!(Ratio(1, 3, 1).to_string(), "0.3");
        assert_eq!(Ratio(2, 3, 2).to_string(), "0.67");
        assert_eq!(Ratio(1, 8, 2).to_string(), "0.13");
        assert_eq!(Ratio(7, 7, 0).to_string(), "1");
        assert_eq!(Ratio(5, 0, 1).to_string(), "-");
        assert_eq!(Ratio(421, 1000, 1).to_string(), "0.4");
        assert_eq!(
            Ratio(u64::MAX as u128 * 100, 3, 1).to_string(),
            "614891469123651720500.0"
        );
    }

    #[test]
    fn errno_values_show_their_c_locale_text() {
        assert_eq!(
            ErrnoText(libc::ENOSPC).to_string(),
            "No space left on device (errno 28)"
        );
        assert_eq!(
            ErrnoText(libc::EFBIG).to_string(),
            "File too large (errno 27)"
        );
        assert_eq!(ErrnoText(4242).to_string(), "errno 4242");
        assert_eq!(ErrnoText(0).to_string(), "nothing was written");
    }

    #[test]
    fn bytes_take_a_binary_unit() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (1280, "1.3 KiB"),
            (1536, "1.5 KiB"),
            // Rounding that reaches 1024 of a unit is one of the next unit.
            (1_048_524, "1023.9 KiB"),
            (1_048_525, "1.0 MiB"),
            ((1 << 20) - 1, "1.0 MiB"),
            ((1 << 30) - 1, "1.00 GiB"),
            (3_355_443, "3.2 MiB"),
            (1_181_116_006, "1.10 GiB"),
        ];
        for (n, s) in cases {
            assert_eq!(Bytes(n).to_string(), s, "{n} bytes");
        }
        // GiB is the largest unit (64-bit targets only: 1 TiB is no `usize` on 32-bit ones).
        if let Ok(n) = usize::try_from(1u64 << 40) {
            assert_eq!(Bytes(n).to_string(), "1024.00 GiB");
        }
    }
}
