//! # libheapwise.so
//!
//! The heapwise allocator as the C `malloc` of any Linux program:
//!
//! ```sh
//! LD_PRELOAD=/path/to/libheapwise.so program args...
//! HEAPWISE_POLICY=implicit-first HEAPWISE_STATS=1 LD_PRELOAD=... program
//! HEAPWISE_TRACE=/tmp/prog.rep LD_PRELOAD=... program   # then: heapwise replay /tmp/prog.rep
//! LD_PRELOAD=... valgrind --soname-synonyms=somalloc=NOUSERINTERCEPTS program   # memcheck sees heapwise blocks
//! ```
//!
//! It exports the malloc family (`malloc`, `free`, `calloc`, `realloc`, `reallocarray`,
//! `posix_memalign`, `aligned_alloc`, `memalign`, `valloc`, `pvalloc`,
//! `malloc_usable_size`, `cfree`, `malloc_trim`, `mallinfo2`, `mallinfo`, `malloc_stats`,
//! `malloc_info`, `mallopt`) with glibc's `errno` and return conventions, glibc's tuning
//! variables (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_MMAP_MAX_`,
//! `MALLOC_TRIM_THRESHOLD_`, `MALLOC_PERTURB_`, `GLIBC_TUNABLES`), its other names (glibc's `__libc_malloc`
//! family, C23's `free_sized` and `free_aligned_sized`), and the `heapwise_*` extension API
//! declared in `include/heapwise.h`. The heap is the program break (`sbrk`), with reserved `mmap`
//! regions as fallback and `mmap` for large blocks (see the `heapwise` crate).
//!
//! ## Module map
//!
//! | module | owns |
//! |---|---|
//! | [`api`] | the exported malloc family and its `errno` semantics |
//! | [`aliases`] | glibc's `__libc_*` names of the family, C23 `free_sized` / `free_aligned_sized` |
//! | [`ext`] | `mallinfo`, `mallinfo2`, `malloc_stats`, `malloc_info`, `malloc_trim` and the `heapwise_*` API |
//! | [`mallopt`] | `mallopt` and glibc's tuning variables, mapped onto heapwise's knobs |
//! | [`options`] | the `HEAPWISE_*` options (`HEAPWISE_POLICY`, `HEAPWISE_STATS`, `HEAPWISE_STATS_FILE`, `HEAPWISE_TRACE`, ...), read once without allocating |
//! | [`recorder`] | exact requested bytes and the malloc-lab trace, in one global order |
//! | [`ptr_table`] | the mmap'd pointer → (id, size) table of the recorder |
//! | [`report`] | the statistics summary (at exit on stderr with `HEAPWISE_STATS=1`, or appended to `HEAPWISE_STATS_FILE`; and on request) |
//!
//! ## Invariants
//! Nothing here allocates, recurses into `malloc`, prints with `std`, uses thread-locals or
//! unwinds (the release profile aborts on panic, and the code avoids panicking operations).
//! Built with `panic = "abort"` (the release profile) the library is `no_std`: it links
//! `core`, `libc` and nothing of `std`, whose panic and backtrace machinery would be about
//! a third of its text, mapped into every process that preloads it (peak RSS). A panic then
//! prints `heapwise: internal error: <message>` and aborts.
//! Initialisation runs once, from an ELF constructor or the first call, whichever comes
//! first; anything that may call `malloc` (installing the `pthread_atfork` handlers) runs
//! only after initialisation is marked done.
#![cfg_attr(all(panic = "abort", not(test)), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// Without `std`, the C library is linked by name: the `heapwise` crate does it (see there,
// for why the name belongs to the crate that calls it); `crate::api` calls it too.
#[cfg(all(panic = "abort", not(test)))]
#[link(name = "c")]
extern "C" {}

/// The panic handler of the `no_std` build: one line on stderr, then `abort` (nothing in
/// the library is meant to panic; this is the last resort, without unwinding or
/// allocating).
#[cfg(all(panic = "abort", not(test)))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hw::diag::report(format_args!("internal error: {info}"));
    // SAFETY: abort has no preconditions; it never returns.
    unsafe { libc::abort() }
}

// The unwinding personality of the `no_std` build. Nothing in the library unwinds, but
// the precompiled `core` carries unwind tables that name `rust_eh_personality`; should an
// unwinder ever walk through those frames (a forced unwind), it is told to go on
// (`_URC_CONTINUE_UNWIND` = 8): there is nothing to clean up. The symbol is hidden (defined
// in assembly, since Rust has no stable visibility attribute): exported, it would interpose
// on the personality of any Rust code in the process that looks it up dynamically (a
// program linked against a shared `libstd`), whose panics would then not unwind.
#[cfg(all(
    panic = "abort",
    not(test),
    any(target_arch = "x86_64", target_arch = "x86")
))]
macro_rules! return_8 {
    () => {
        "mov eax, 8"
    };
}
#[cfg(all(panic = "abort", not(test), target_arch = "aarch64"))]
macro_rules! return_8 {
    () => {
        "mov w0, #8"
    };
}
#[cfg(all(
    panic = "abort",
    not(test),
    any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")
))]
core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",@progbits",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality, @function",
    "rust_eh_personality:",
    return_8!(),
    "ret",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
);
/// Other targets: the same routine in Rust (exported, with the caveat above).
#[cfg(all(
    panic = "abort",
    not(test),
    not(any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64"))
))]
#[no_mangle]
extern "C" fn rust_eh_personality(
    _version: i32,
    _actions: i32,
    _class: u64,
    _exception: *mut core::ffi::c_void,
    _context: *mut core::ffi::c_void,
) -> i32 {
    8
}

use core::cell::UnsafeCell;
use core::ffi::c_char;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use hw::{Config, Global};

pub mod aliases;
pub mod api;
pub mod ext;
pub mod mallopt;
pub mod options;
pub mod ptr_table;
pub mod recorder;
pub mod report;

use recorder::Recorder;

/// The process's allocator: first heap at the program break, per-thread caches of small
/// blocks in front (default policy only).
pub(crate) static GLOBAL: Global = Global::with_thread_cache(Config {
    use_sbrk: true,
    ..Config::DEFAULT
});

/// The recorder (active with `HEAPWISE_STATS=1`, `HEAPWISE_STATS_FILE` or `HEAPWISE_TRACE`).
pub(crate) static RECORDER: Recorder = Recorder::new();

/// Whether to print the summary at exit.
pub(crate) static STATS_AT_EXIT: AtomicBool = AtomicBool::new(false);

/// 0: not initialised, 1: initialising, 2: done, 3: done and the API layers of `hw::front`
/// are on (valgrind, or canaries and guard pages, or the perturb byte, which `mallopt` may
/// turn on and off later): one load tells the entry points both.
static INIT: AtomicU8 = AtomicU8::new(0);

/// [`INIT`] when initialisation is done and no API layer is on.
const READY: u8 = 2;
/// [`INIT`] when initialisation is done and API layers are on.
const READY_LAYERED: u8 = 3;

/// Longest policy name kept for `heapwise_policy_name` (names are far shorter).
const NAME_MAX: usize = 63;

/// A NUL-terminated string written once during initialisation, read-only after.
struct InitText<const N: usize>(UnsafeCell<[u8; N]>);

// SAFETY: written only by the initialising thread before `INIT` is set to 2 or 3 (release),
// and read only after `ensure_init` observed it (acquire).
unsafe impl<const N: usize> Sync for InitText<N> {}

/// The policy's name.
static POLICY_NAME: InitText<{ NAME_MAX + 1 }> = InitText(UnsafeCell::new([0; NAME_MAX + 1]));

/// `HEAPWISE_STATS_FILE` as given, `%p` not expanded, NUL-terminated (empty: the summary
/// goes to stderr). A forked child inherits it and expands it with its own pid.
static STATS_FILE: InitText<{ options::PATH_MAX + 1 }> =
    InitText(UnsafeCell::new([0; options::PATH_MAX + 1]));

/// The file the exit summary is appended to, if `HEAPWISE_STATS_FILE` named one: expanded
/// into `out` for the calling process (`%p` = its pid). `None` when the option is unset,
/// or when the expansion does not fit (after a message).
pub(crate) fn stats_file(out: &mut [u8; options::PATH_MAX + 1]) -> Option<*const c_char> {
    // SAFETY: read after initialisation (see `InitText`).
    let pattern = unsafe { &*STATS_FILE.0.get() };
    if pattern[0] == 0 || !options::expand_stats_path(pattern, out) {
        return None;
    }
    Some(out.as_ptr() as *const c_char)
}

/// The configured policy's name as a C string (valid after initialisation).
pub(crate) fn policy_cname() -> *const c_char {
    POLICY_NAME.0.get() as *const c_char
}

/// Makes sure the options were read (cheap after the first call).
#[inline]
pub(crate) fn ensure_init() {
    let _ = layered();
}

/// Makes sure the options were read; returns whether the allocation functions must go
/// through the API layers of `hw::front` (false in the common case: one load, one branch).
#[inline]
pub(crate) fn layered() -> bool {
    let s = INIT.load(Ordering::Acquire);
    if s == READY {
        return false;
    }
    layered_slow(s)
}

/// Sends the allocation functions through the API layers of `hw::front` or not, after
/// initialisation (`mallopt(M_PERTURB)` turns its layer on and off at any time).
pub(crate) fn set_layered(on: bool) {
    INIT.store(if on { READY_LAYERED } else { READY }, Ordering::Release);
}

#[cold]
fn layered_slow(s: u8) -> bool {
    if s < READY {
        init_slow();
    }
    INIT.load(Ordering::Acquire) == READY_LAYERED
}

#[cold]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn init_slow() {
    if INIT
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Another thread is reading the options; nothing it does can call malloc.
        while INIT.load(Ordering::Acquire) < READY {
            // SAFETY: sched_yield has no preconditions.
            unsafe { libc::sched_yield() };
        }
        return;
    }
    let mut o = options::read();
    if let Some(p) = options::stats_pattern() {
        o.stats = true;
        // SAFETY: only this thread (the initialiser) writes the path, before INIT becomes 2 or 3.
        let buf = unsafe { &mut *STATS_FILE.0.get() };
        // (`stats_pattern` checked that it fits, leaving the NUL.)
        if let Some(dst) = buf.get_mut(..p.len()) {
            dst.copy_from_slice(p);
        }
    }
    // SAFETY: only this thread (the initialiser) writes the name, before INIT becomes 2 or 3.
    unsafe {
        let buf = &mut *POLICY_NAME.0.get();
        let name = o.policy.name().as_bytes();
        let n = name.len().min(NAME_MAX);
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), name.get(..n)) {
            dst.copy_from_slice(src);
        }
    }
    // Under valgrind the heaps live in mapped regions (valgrind's own brk segment is small)
    // and every block goes through the client requests of `hw::front` (no thread cache).
    let valgrind = hw::valgrind::running();
    GLOBAL.configure(Config {
        policy: o.policy,
        use_sbrk: !valgrind,
        harden: o.harden,
        ..Config::DEFAULT
    });
    GLOBAL.set_arena_mode(o.arenas);
    let tuning = mallopt::Tuning::from_env();
    tuning.apply();
    if o.harden.junk || valgrind {
        // Full hardening: every free goes through the engine's quarantine.
        GLOBAL.set_thread_cache(false);
    }
    // The API layers (valgrind client requests; canaries and guard pages in full mode),
    // decided before the first block; last, because under valgrind it hides `GLOBAL`.
    let layers = tuning.apply_perturb(hw::front::configure(&GLOBAL, o.harden.junk));
    let trace = options::trace_path();
    let fd = trace.as_ref().map_or(-1, open_trace);
    if o.stats || fd >= 0 {
        RECORDER.start(fd, trace.as_ref().map_or(&[][..], |t| &t.buf[..]));
    }
    if o.stats {
        report::note_stderr();
    }
    STATS_AT_EXIT.store(o.stats, Ordering::Relaxed);
    INIT.store(
        if layers != 0 { READY_LAYERED } else { READY },
        Ordering::Release,
    );
    // May allocate (pthread_atfork): only now that initialisation is done.
    RECORDER.register_fork();
}

/// Opens the trace file. A per-process path (`%p`) is simply truncated. A shared path is
/// recorded by one process at a time: the one holding a POSIX write lock (`fcntl`) on it.
/// The lock belongs to the process and is released when it closes the file: a program that
/// `exec`s (a wrapper script) releases it (the descriptor is close-on-exec) and the new
/// image takes over the file; children of a recording process find it locked and do not
/// trace (a forked child that does not `exec` stops writing through the fork hook). A
/// forked child does not inherit the lock, so one still running when its parent `exec`s
/// does not keep the new image from the file (an `flock` went with the open file, which the
/// child's inherited copy kept locked). With `HEAPWISE_TRACE_PID` (`heapwise record` sets
/// it to the command's process id, which `exec` keeps), a shared path is recorded by that
/// process only: its other descendants do not open the file, so none of them takes it in
/// the moment between an `exec` and the new image's start, or after the command exited
/// (and truncates the command's finished trace).
fn open_trace(t: &options::TracePath) -> i32 {
    if !t.per_process {
        if let Some(owner) = options::trace_owner() {
            // SAFETY: getpid has no preconditions.
            if owner != u64::from(unsafe { libc::getpid() } as u32) {
                return -1;
            }
        }
    }
    let path = t.buf.as_ptr() as *const c_char;
    let trunc = if t.per_process { libc::O_TRUNC } else { 0 };
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe {
        libc::open(
            path,
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | trunc,
            0o644 as libc::c_uint,
        )
    };
    if fd < 0 {
        let shown = options::shown_path(&t.buf);
        report::note(format_args!(
            "cannot open HEAPWISE_TRACE file {shown:?} (errno {}); not tracing",
            hw::sys::errno()
        ));
        return -1;
    }
    let fd = high_fd(fd);
    if t.per_process {
        return fd;
    }
    // SAFETY: `fd` is an open descriptor of ours; `lock` is a valid `flock` record (all
    // zero: offset 0, length 0 = the whole file), which `F_SETLK` only reads.
    let locked = unsafe {
        let mut lock: libc::flock = core::mem::zeroed();
        lock.l_type = libc::F_WRLCK as _;
        lock.l_whence = libc::SEEK_SET as _;
        libc::fcntl(fd, libc::F_SETLK, &lock) == 0
    };
    // A file another process holds is its trace (silently); any other failure is said,
    // as the file that cannot be opened is: a file that cannot be truncated (`/dev/full`,
    // a FIFO: a trace is a regular file, its header rewritten at exit) or locked.
    let failed = if locked {
        // SAFETY: `fd` is an open descriptor of ours.
        if unsafe { libc::ftruncate(fd, 0) } == 0 {
            return fd;
        }
        Some(("truncate", hw::sys::errno()))
    } else {
        let e = hw::sys::errno();
        (e != libc::EACCES && e != libc::EAGAIN).then_some(("lock", e))
    };
    if let Some((what, e)) = failed {
        report::note(format_args!(
            "cannot {what} HEAPWISE_TRACE file {:?}: {}; not tracing",
            options::shown_path(&t.buf),
            report::ErrnoText(e)
        ));
    }
    // SAFETY: the descriptor is ours and not used elsewhere.
    unsafe { libc::close(fd) };
    -1
}

/// Moves `fd` to a high number (at least [`HIGH_FD`], when the limit allows), so that a
/// program that closes and reopens its low descriptors does not get our trace file under a
/// number it thinks is its own.
fn high_fd(fd: i32) -> i32 {
    // SAFETY: duplicating and closing a descriptor we own.
    unsafe {
        let h = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD);
        if h < 0 {
            return fd;
        }
        libc::close(fd);
        h
    }
}

/// The lowest descriptor number the trace file is moved to.
const HIGH_FD: i32 = 900;

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn constructor() {
    ensure_init();
}

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
extern "C" fn destructor() {
    report::at_exit();
}

#[used]
#[link_section = ".init_array"]
static INIT_ARRAY: extern "C" fn() = constructor;

#[used]
#[link_section = ".fini_array"]
static FINI_ARRAY: extern "C" fn() = destructor;
