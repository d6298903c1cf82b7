//! Options from the environment, read once at initialisation without allocating:
//!
//! | variable | values | default |
//! |---|---|---|
//! | `HEAPWISE_POLICY` | any engine policy name (`implicit-first`, ..., `segregated`) | `segregated` |
//! | `HEAPWISE_HARDEN` | `default` (quarantine of 128 blocks), `full` (256 blocks, junk fill checked on reuse, no thread cache, canaries after the requested size, guard pages around large blocks), `off` | `default` |
//! | `HEAPWISE_ARENAS` | `contention` (threads start on arena 0; a thread moves to a less used arena when a quarter of its refills find the lock held), `shared` (every thread uses arena 0), `per-thread` (one arena per thread, up to 4) | `contention` |
//! | `HEAPWISE_FAIL_AFTER` | test hook: after N more successful OS memory requests, every further one fails (also `heapwise_test_fail_os(n)`); a negative N: no limit | no limit |
//! | `HEAPWISE_STATS` | `1`/`yes`/`true`/`on` (the summary on stderr at exit), or `0`/`no`/`false`/`off` | off |
//! | `HEAPWISE_STATS_FILE` | a file path (`%p` = the pid of the process writing the summary, expanded when it writes: a forked child gets its own file): statistics on, the summary is appended there instead of stderr | unset |
//! | `HEAPWISE_TRACE` | a file path; `%p` in it is replaced by the process id | off |
//! | `HEAPWISE_TRACE_PID` | a process id (`heapwise record` sets it): only that process, and the programs it `exec`s, record a shared `HEAPWISE_TRACE` path (without `%p`) | unset |
//!
//! The same rules hold for every option, and for the `MALLOC_*` variables and `GLIBC_TUNABLES`
//! settings of [`crate::mallopt`]:
//! - surrounding ASCII whitespace is ignored ([`value`]), except in file paths, which are
//!   taken as given;
//! - an empty or blank value counts as unset: the default, silently;
//! - keywords (policy names, `full`, `on`, ...) match in any ASCII case;
//! - numbers are decimal, or hexadecimal after `0x` ([`parse_int`]), with an optional sign;
//! - a bad value (no keyword, not a number, negative where the option gives it no meaning, too
//!   large for it) gives one line on stderr (`heapwise: ...; using ...`) and the default;
//!   never a crash.
//!
//!  A shared trace path (without `%p`) is recorded by one process at a time (see
//! `open_trace` in the crate root).
//!
//! A secure-execution process (set-user-ID, set-group-ID, file capabilities: `AT_SECURE`)
//! reads none of them, nor the `MALLOC_*` variables and `GLIBC_TUNABLES`: every option has its
//! default there (see `secure_execution`).
//!
//! The options are read from the environment the process started with even when the first
//! `malloc` comes before the C library set `environ` (an IFUNC resolver, an early
//! constructor): see `env_vector`.
//!
//! Invariant: parsing uses only the environment's strings (no `getenv`, which sees nothing
//! before the C library's initialisation), stack buffers and `write(2)`.

use core::ffi::{c_char, CStr};
use core::fmt::Write;

use heapwise_core::PolicyKind;
use hw::diag::StackBuf;

use crate::report::note;

/// The parsed options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Heap policy.
    pub policy: PolicyKind,
    /// Print the summary at exit (on stderr, or appended to `HEAPWISE_STATS_FILE`).
    pub stats: bool,
    /// Misuse detection (`HEAPWISE_HARDEN`: `default`, `full` or `off`).
    pub harden: hw::harden::Harden,
    /// How threads are spread over the arenas (`HEAPWISE_ARENAS`).
    pub arenas: hw::ArenaMode,
}

/// Longest trace path accepted (bytes, after `%p` expansion).
pub const PATH_MAX: usize = 1024;

/// A trace path expanded into a NUL-terminated stack buffer.
pub struct TracePath {
    /// The bytes, NUL-terminated.
    pub buf: [u8; PATH_MAX + 1],
    /// Whether the path named a per-process file (`%p`).
    pub per_process: bool,
}

/// The value of the environment variable `name`, as `getenv` finds it, but also before the
/// C library has set `environ`: see [`env_vector`]. `None` for every name in a
/// secure-execution process ([`secure_execution`]).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) fn getenv(name: &CStr) -> Option<&'static [u8]> {
    if secure_execution() {
        return None;
    }
    let name = name.to_bytes();
    let mut p = env_vector();
    if p.is_null() {
        return None;
    }
    loop {
        // SAFETY: `p` walks a NULL-terminated array of pointers to NUL-terminated strings
        // (see `env_vector`), which stay valid while nobody modifies the environment
        // (options are read once, at start-up); it stops at the NULL.
        let e = unsafe { *p };
        if e.is_null() {
            return None;
        }
        // SAFETY: `e` is a NUL-terminated string: comparing byte by byte stops at its NUL
        // at the latest (a name holds no NUL), and the value after `=` is NUL-terminated.
        unsafe {
            let e = e.cast::<u8>();
            let mut i = 0;
            while i < name.len() && *e.add(i) == *name.as_ptr().add(i) {
                i += 1;
            }
            if i == name.len() && *e.add(i) == b'=' {
                return Some(CStr::from_ptr(e.add(i + 1).cast::<c_char>()).to_bytes());
            }
            p = p.add(1);
        }
    }
}

/// Whether the process runs in secure-execution mode (`AT_SECURE`: set-user-ID or
/// set-group-ID, or file capabilities). Its environment comes from a less privileged user,
/// so no option is taken from it: `HEAPWISE_TRACE` and `HEAPWISE_STATS_FILE` would have the
/// process create, truncate or append to files with its privileges, `HEAPWISE_FAIL_AFTER`
/// make its allocations fail at a chosen point. glibc ignores its malloc tunables there too.
fn secure_execution() -> bool {
    let _e = hw::sys::ErrnoGuard::new();
    // SAFETY: getauxval has no preconditions (the dynamic loader has the auxiliary vector
    // before any code of the process runs).
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// The environment: `environ`, or, while it is still null, the vector the kernel put on the
/// initial stack, which the C library sets `environ` to later.
///
/// `environ` is null when something calls `malloc` before the C library's own
/// initialisation ran: an IFUNC resolver (run while the dynamic loader relocates the
/// program, before every constructor) or a constructor that runs before the C library's.
/// The options read then would all be lost, for the whole process. The initial vector
/// comes from the dynamic loader's `__libc_stack_end`, which points at `argc`, followed by
/// the `argv` pointers, a NULL, the `envp` pointers and a NULL; its strings live as long
/// as the process. (A program that set `environ` to NULL itself, `clearenv`, before its
/// first allocation gets the options it started with.)
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn env_vector() -> *const *const c_char {
    // SAFETY: reading the C library's `environ` pointer (a word it writes once at start-up
    // and on `setenv`; options are read once, at start-up).
    let e = unsafe { core::ptr::addr_of!(environ).read() };
    if !e.is_null() {
        return e;
    }
    initial_env()
}

extern "C" {
    /// The C library's environment (POSIX).
    static environ: *const *const c_char;
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" {
    /// The dynamic loader's record of the initial stack pointer: the address of `argc`.
    static __libc_stack_end: *const core::ffi::c_void;
}

/// The environment vector on the initial stack (see [`env_vector`]); null if the stack does
/// not look as expected.
#[cold]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn initial_env() -> *const *const c_char {
    // SAFETY: the dynamic loader sets `__libc_stack_end` before it runs any code of ours.
    let sp = unsafe { core::ptr::addr_of!(__libc_stack_end).read() } as *const usize;
    if sp.is_null() {
        return core::ptr::null();
    }
    // SAFETY: `sp` points at `argc`, followed by `argc` argument pointers and a NULL (the
    // check below), then the environment's pointers up to a NULL: all on the initial stack,
    // mapped for the whole process.
    unsafe {
        let argc = *sp;
        let end_of_argv = sp.wrapping_add(argc.wrapping_add(1));
        if argc > isize::MAX as usize / 8 || *end_of_argv != 0 {
            return core::ptr::null();
        }
        end_of_argv.add(1) as *const *const c_char
    }
}

/// Elsewhere: no environment before the C library sets `environ`.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn initial_env() -> *const *const c_char {
    core::ptr::null()
}

/// An option's value without its surrounding ASCII whitespace; `None` when nothing is left:
/// an empty or blank value counts as unset, for every option.
pub fn value(v: &[u8]) -> Option<&[u8]> {
    let v = v.trim_ascii();
    (!v.is_empty()).then_some(v)
}

/// Why [`parse_int`] refused a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumError {
    /// Not digits (after an optional sign and `0x`).
    NotANumber,
    /// More than 64 bits, or more than the option takes.
    TooLarge,
    /// Below zero where the option takes none.
    Negative,
}

/// Parses a number as every numeric option takes it: an optional `+` or `-`, then decimal
/// digits, or hexadecimal ones after `0x`/`0X` (as glibc's tunables). Returns whether it was
/// negative (not for zero) and its magnitude. The value is trimmed by [`value`] first.
pub fn parse_int(v: &[u8]) -> Result<(bool, u64), NumError> {
    let (neg, v) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, v),
    };
    let (radix, digits) = match v {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        _ => (10, v),
    };
    if digits.is_empty() {
        return Err(NumError::NotANumber);
    }
    let mut n = Some(0u64);
    for &c in digits {
        let d = (c as char).to_digit(radix).ok_or(NumError::NotANumber)?;
        n = n
            .and_then(|n| n.checked_mul(u64::from(radix)))
            .and_then(|n| n.checked_add(u64::from(d)));
    }
    // (Every digit is checked before the value counts as too large: `1...1x` is no number.)
    let n = n.ok_or(NumError::TooLarge)?;
    Ok((neg && n != 0, n))
}

/// Whether the keyword `v` is one of `words`, in any ASCII case.
fn is_one_of(v: &[u8], words: &[&[u8]]) -> bool {
    words.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// Parses a `HEAPWISE_POLICY` value (a policy name, in any case; blank means the
/// default). Every option's value may carry surrounding whitespace.
pub fn parse_policy(v: &[u8]) -> Option<PolicyKind> {
    let Some(v) = value(v) else {
        return Some(PolicyKind::DEFAULT);
    };
    let mut lower = [0u8; 64];
    let dst = lower.get_mut(..v.len())?;
    for (d, s) in dst.iter_mut().zip(v) {
        *d = s.to_ascii_lowercase();
    }
    PolicyKind::from_name(core::str::from_utf8(dst).ok()?)
}

/// Parses a `HEAPWISE_HARDEN` value (`default`/`on`/`1`, `full`, `off`/`0`; blank: the
/// default).
pub fn parse_harden(v: &[u8]) -> Option<hw::harden::Harden> {
    use hw::harden::Harden;
    let Some(v) = value(v) else {
        return Some(Harden::DEFAULT);
    };
    if is_one_of(v, &[b"default", b"on", b"1"]) {
        Some(Harden::DEFAULT)
    } else if is_one_of(v, &[b"full"]) {
        Some(Harden::FULL)
    } else if is_one_of(v, &[b"off", b"0"]) {
        Some(Harden::OFF)
    } else {
        None
    }
}

/// Parses a `HEAPWISE_ARENAS` value (`shared`, `contention`, `per-thread`; blank: the
/// default, `contention`).
pub fn parse_arenas(v: &[u8]) -> Option<hw::ArenaMode> {
    use hw::ArenaMode;
    let Some(v) = value(v) else {
        return Some(ArenaMode::OnContention);
    };
    if is_one_of(v, &[b"contention"]) {
        Some(ArenaMode::OnContention)
    } else if is_one_of(v, &[b"shared"]) {
        Some(ArenaMode::Shared)
    } else if is_one_of(v, &[b"per-thread"]) {
        Some(ArenaMode::PerThread)
    } else {
        None
    }
}

/// Parses a boolean option (`1`/`yes`/`true`/`on`, `0`/`no`/`false`/`off`, in any case;
/// blank: false).
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    let Some(v) = value(v) else {
        return Some(false);
    };
    if is_one_of(v, &[b"1", b"yes", b"true", b"on"]) {
        Some(true)
    } else if is_one_of(v, &[b"0", b"no", b"false", b"off"]) {
        Some(false)
    } else {
        None
    }
}

/// Parses a `HEAPWISE_FAIL_AFTER` value: `Ok(None)` when blank (no limit), a negative
/// number also meaning no limit.
pub fn parse_fail_after(v: &[u8]) -> Result<Option<isize>, NumError> {
    let Some(v) = value(v) else {
        return Ok(None);
    };
    let (neg, n) = parse_int(v)?;
    if neg {
        return Ok(Some(-1));
    }
    isize::try_from(n).map(Some).map_err(|_| NumError::TooLarge)
}

/// An expanded path (a buffer NUL-terminated or not) as quoted in a message: up to its NUL,
/// if that is UTF-8.
pub(crate) fn shown_path(buf: &[u8]) -> &str {
    let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    core::str::from_utf8(buf.get(..n).unwrap_or(&[])).unwrap_or("?")
}

/// A value as quoted in a message: its first 64 bytes, if they are UTF-8.
pub(crate) fn shown(v: &[u8]) -> &str {
    let v = v.get(..v.len().min(64)).unwrap_or(&[]);
    core::str::from_utf8(v).unwrap_or("<not UTF-8>")
}

/// Reads `HEAPWISE_POLICY`, `HEAPWISE_HARDEN`, `HEAPWISE_ARENAS`, `HEAPWISE_FAIL_AFTER`
/// and `HEAPWISE_STATS`, reporting bad values (the paths: [`trace_path`],
/// [`stats_pattern`]).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn read() -> Options {
    let mut o = Options {
        policy: PolicyKind::DEFAULT,
        stats: false,
        harden: hw::harden::Harden::DEFAULT,
        arenas: hw::ArenaMode::OnContention,
    };
    if let Some(v) = getenv(c"HEAPWISE_POLICY") {
        match parse_policy(v) {
            Some(p) => o.policy = p,
            None => {
                let mut names = StackBuf::<512>::new();
                for (i, k) in PolicyKind::ALL.iter().enumerate() {
                    let _ = write!(names, "{}{}", if i == 0 { "" } else { ", " }, k.name());
                }
                note(format_args!(
                    "HEAPWISE_POLICY={:?} is not a policy (one of: {}); using {}",
                    shown(v),
                    names.as_str(),
                    PolicyKind::DEFAULT.name()
                ));
            }
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_HARDEN") {
        match parse_harden(v) {
            Some(h) => o.harden = h,
            None => note(format_args!(
                "HEAPWISE_HARDEN={:?} is not default, full or off; using default",
                shown(v)
            )),
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_ARENAS") {
        match parse_arenas(v) {
            Some(m) => o.arenas = m,
            None => note(format_args!(
                "HEAPWISE_ARENAS={:?} is not contention, shared or per-thread; using contention",
                shown(v)
            )),
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_FAIL_AFTER") {
        match parse_fail_after(v) {
            Ok(Some(n)) => hw::harden::fail_os_after(n),
            Ok(None) => {}
            Err(e) => note(format_args!(
                "HEAPWISE_FAIL_AFTER={:?} {}; no faults injected",
                shown(v),
                e.what()
            )),
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_STATS") {
        match parse_bool(v) {
            Some(b) => o.stats = b,
            None => note(format_args!(
                "HEAPWISE_STATS={:?} is not 1 or 0; statistics stay off",
                shown(v)
            )),
        }
    }
    o
}

impl NumError {
    /// The complaint, as the messages word it (`is not a number`, `is too large`, `is negative`).
    pub fn what(self) -> &'static str {
        match self {
            NumError::NotANumber => "is not a number",
            NumError::TooLarge => "is too large",
            NumError::Negative => "is negative",
        }
    }
}

/// Expands `%p` in `v` to `pid` into `out` (NUL-terminated). `None` if it does not fit or
/// holds a NUL.
pub fn expand_path(v: &[u8], pid: u32, out: &mut [u8; PATH_MAX + 1]) -> Option<bool> {
    let mut b = StackBuf::<PATH_MAX>::new();
    let mut per_process = false;
    let mut i = 0;
    while i < v.len() {
        let c = *v.get(i)?;
        if c == 0 {
            return None;
        }
        if c == b'%' && v.get(i + 1) == Some(&b'p') {
            let _ = write!(b, "{pid}");
            per_process = true;
            i += 2;
            continue;
        }
        b.push_bytes(&[c]);
        i += 1;
    }
    if b.truncated() || b.as_bytes().is_empty() {
        return None;
    }
    let n = b.as_bytes().len();
    out.get_mut(..n)?.copy_from_slice(b.as_bytes());
    *out.get_mut(n)? = 0;
    Some(per_process)
}

/// Reads `HEAPWISE_TRACE`: `None` when unset or empty (or bad, after a message).
#[inline]
pub fn trace_path() -> Option<TracePath> {
    path_option(c"HEAPWISE_TRACE")
}

/// Reads `HEAPWISE_TRACE_PID`: the process that records a shared trace path, `None` when
/// unset or blank (or bad, after a message: then the path's lock decides alone).
pub fn trace_owner() -> Option<u64> {
    let v = getenv(c"HEAPWISE_TRACE_PID")?;
    let v = value(v)?;
    match parse_int(v) {
        Ok((false, n)) => Some(n),
        Ok((true, _)) | Err(_) => {
            note(format_args!(
                "HEAPWISE_TRACE_PID={:?} is not a process id; ignored",
                shown(v)
            ));
            None
        }
    }
}

/// Reads `HEAPWISE_STATS_FILE`: its value as given, `%p` not expanded (the summary goes to
/// the file of the process that writes it, which for a forked child is not the process
/// that read the option: see [`expand_stats_path`]). `None` when unset or empty, or too
/// long (after a message).
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn stats_pattern() -> Option<&'static [u8]> {
    let v = getenv(c"HEAPWISE_STATS_FILE")?;
    if v.is_empty() {
        return None;
    }
    let mut out = [0; PATH_MAX + 1];
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    if v.len() > PATH_MAX || expand_path(v, pid, &mut out).is_none() {
        too_long(c"HEAPWISE_STATS_FILE");
        return None;
    }
    Some(v)
}

/// Expands a `HEAPWISE_STATS_FILE` value kept by [`stats_pattern`] (NUL-terminated or
/// not) for the calling process (`%p` = its pid, now) into `out`; `false` after a message
/// if it does not fit.
pub fn expand_stats_path(pattern: &[u8], out: &mut [u8; PATH_MAX + 1]) -> bool {
    let n = pattern
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(pattern.len());
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    let ok = expand_path(pattern.get(..n).unwrap_or(&[]), pid, out).is_some();
    if !ok {
        too_long(c"HEAPWISE_STATS_FILE");
    }
    ok
}

#[cold]
fn too_long(name: &CStr) {
    note(format_args!(
        "{} is longer than {PATH_MAX} bytes; ignored",
        name.to_str().unwrap_or("?")
    ));
}

#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn path_option(name: &CStr) -> Option<TracePath> {
    let v = getenv(name)?;
    if v.is_empty() {
        return None;
    }
    let mut t = TracePath {
        buf: [0; PATH_MAX + 1],
        per_process: false,
    };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u32;
    match expand_path(v, pid, &mut t.buf) {
        Some(pp) => {
            t.per_process = pp;
            Some(t)
        }
        None => {
            too_long(name);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_booleans_parse() {
        assert_eq!(
            parse_policy(b"implicit-first"),
            Some(PolicyKind::ImplicitFirst)
        );
        assert_eq!(parse_policy(b" segregated "), Some(PolicyKind::Segregated));
        assert_eq!(parse_policy(b"fastest"), None);
        assert_eq!(parse_policy(b""), Some(PolicyKind::DEFAULT));
        assert_eq!(parse_harden(b" full\n"), Some(hw::harden::Harden::FULL));
        assert_eq!(
            parse_arenas(b" per-thread "),
            Some(hw::ArenaMode::PerThread)
        );
        assert_eq!(parse_arenas(b"perthread"), None);
        assert_eq!(parse_policy(b"\xff"), None);
        assert_eq!(parse_bool(b"1"), Some(true));
        assert_eq!(parse_bool(b"off"), Some(false));
        assert_eq!(parse_bool(b"maybe"), None);
    }

    /// The same rules for every option: blank is unset, keywords in any case, numbers
    /// decimal or hexadecimal with a sign.
    #[test]
    fn values_follow_one_set_of_rules() {
        use hw::harden::Harden;
        for blank in [&b""[..], b"  ", b"\t\n"] {
            assert_eq!(value(blank), None);
            assert_eq!(parse_policy(blank), Some(PolicyKind::DEFAULT));
            assert_eq!(parse_harden(blank), Some(Harden::DEFAULT));
            assert_eq!(parse_arenas(blank), Some(hw::ArenaMode::OnContention));
            assert_eq!(parse_bool(blank), Some(false));
            assert_eq!(parse_fail_after(blank), Ok(None));
        }
        assert_eq!(value(b" x\t"), Some(&b"x"[..]));
        assert_eq!(parse_bool(b"True"), Some(true));
        assert_eq!(parse_bool(b" oFf "), Some(false));
        assert_eq!(parse_harden(b"FULL"), Some(Harden::FULL));
        assert_eq!(parse_arenas(b"Shared"), Some(hw::ArenaMode::Shared));
        assert_eq!(
            parse_policy(b"Implicit-First"),
            Some(PolicyKind::ImplicitFirst)
        );
        assert_eq!(parse_policy(&[b'a'; 65]), None);
        assert_eq!(parse_int(b"42"), Ok((false, 42)));
        assert_eq!(parse_int(b"+42"), Ok((false, 42)));
        assert_eq!(parse_int(b"-42"), Ok((true, 42)));
        assert_eq!(parse_int(b"-0"), Ok((false, 0)));
        assert_eq!(parse_int(b"0x1F"), Ok((false, 31)));
        assert_eq!(parse_int(b"18446744073709551615"), Ok((false, u64::MAX)));
        assert_eq!(parse_int(b"18446744073709551616"), Err(NumError::TooLarge));
        let long_bad = b"99999999999999999999999x";
        for bad in [
            &b"-"[..],
            b"0x",
            b"--1",
            b"+-1",
            b"1 2",
            b"12x",
            b"lots",
            b"1e3",
            long_bad,
        ] {
            assert_eq!(parse_int(bad), Err(NumError::NotANumber), "{bad:?}");
        }
        assert_eq!(parse_fail_after(b" 3 "), Ok(Some(3)));
        assert_eq!(parse_fail_after(b"0x10"), Ok(Some(16)));
        assert_eq!(parse_fail_after(b"-5"), Ok(Some(-1)));
        assert_eq!(
            parse_fail_after(b"99999999999999999999999"),
            Err(NumError::TooLarge)
        );
        assert_eq!(parse_fail_after(b"soon"), Err(NumError::NotANumber));
    }

    #[test]
    fn trace_paths_expand_pid() {
        let mut out = [0u8; PATH_MAX + 1];
        assert_eq!(expand_path(b"/tmp/t.%p.rep", 42, &mut out), Some(true));
        assert_eq!(&out[..15], b"/tmp/t.42.rep\0\0");
        assert_eq!(expand_path(b"plain", 42, &mut out), Some(false));
        assert_eq!(&out[..6], b"plain\0");
        let long = [b'a'; PATH_MAX + 1];
        assert_eq!(expand_path(&long, 1, &mut out), None);
    }
}
