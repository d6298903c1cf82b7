//! Options from the environment, read once at initialisation without allocating:
//!
//! | variable | values | default |
//! |---|---|---|
//! | `HEAPWISE_POLICY` | any engine policy name (`implicit-first`, ..., `segregated`) | `segregated` |
//! | `HEAPWISE_HARDEN` | `default` (quarantine of 128 blocks), `full` (256 blocks, junk fill checked on reuse, no thread cache, canaries after the requested size, guard pages around large blocks), `off` | `default` |
//! | `HEAPWISE_ARENAS` | `contention` (threads start on arena 0; a thread moves to a less used arena when a quarter of its refills find the lock held), `shared` (every thread uses arena 0), `per-thread` (one arena per thread, up to 4) | `contention` |
//! | `HEAPWISE_FAIL_AFTER` | test hook: after N more successful OS memory requests, every further one fails (also `heapwise_test_fail_os(n)`) | no limit |
//! | `HEAPWISE_STATS` | `1`/`yes`/`true`/`on`, or `0`/`no`/`false`/`off`/empty | off |
//! | `HEAPWISE_STATS_FILE` | a file path (`%p` = the pid of the process writing the summary, expanded when it writes: a forked child gets its own file): statistics on, the summary is appended there instead of stderr | unset |
//! | `HEAPWISE_TRACE` | a file path; `%p` in it is replaced by the process id | off |
//!
//! A bad value gives one line on stderr (`heapwise: ...; using ...`) and the default; never
//! a crash. A shared trace path (without `%p`) is recorded by one process at a time (see
//! `open_trace` in the crate root).
//!
//! Invariant: parsing uses only `getenv`, stack buffers and `write(2)`.

use core::ffi::CStr;
use core::fmt::Write;

use heapwise_core::PolicyKind;
use hw::diag::{report, StackBuf};

/// The parsed options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Heap policy.
    pub policy: PolicyKind,
    /// Print a summary on stderr at exit.
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

pub(crate) fn getenv(name: &CStr) -> Option<&'static [u8]> {
    // SAFETY: getenv returns null or a pointer to a NUL-terminated string in the
    // environment, which stays valid while nobody modifies the environment (options are
    // read once, at start-up).
    let p = unsafe { libc::getenv(name.as_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null getenv results are NUL-terminated.
    Some(unsafe { CStr::from_ptr(p) }.to_bytes())
}

/// Parses a `HEAPWISE_POLICY` value (a policy name; empty means the default). Every
/// option's value may carry surrounding whitespace.
pub fn parse_policy(v: &[u8]) -> Option<PolicyKind> {
    match core::str::from_utf8(v).ok()?.trim() {
        "" => Some(PolicyKind::DEFAULT),
        s => PolicyKind::from_name(s),
    }
}

/// Parses a `HEAPWISE_HARDEN` value (`default`/`on`/`1`, `full`, `off`/`0`).
pub fn parse_harden(v: &[u8]) -> Option<hw::harden::Harden> {
    use hw::harden::Harden;
    match v.trim_ascii() {
        b"default" | b"on" | b"1" | b"" => Some(Harden::DEFAULT),
        b"full" => Some(Harden::FULL),
        b"off" | b"0" => Some(Harden::OFF),
        _ => None,
    }
}

/// Parses a `HEAPWISE_ARENAS` value (`shared`, `contention`, `per-thread`).
pub fn parse_arenas(v: &[u8]) -> Option<hw::ArenaMode> {
    use hw::ArenaMode;
    match v.trim_ascii() {
        b"contention" | b"" => Some(ArenaMode::OnContention),
        b"shared" => Some(ArenaMode::Shared),
        b"per-thread" => Some(ArenaMode::PerThread),
        _ => None,
    }
}

/// Parses a boolean option (`1`/`0`, ...).
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    let s = core::str::from_utf8(v).ok()?.trim();
    match s {
        "1" | "yes" | "true" | "on" | "YES" | "TRUE" | "ON" => Some(true),
        "" | "0" | "no" | "false" | "off" | "NO" | "FALSE" | "OFF" => Some(false),
        _ => None,
    }
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

/// Reads `HEAPWISE_POLICY` and `HEAPWISE_STATS`, reporting bad values.
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
                report(format_args!(
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
            None => report(format_args!(
                "HEAPWISE_HARDEN={:?} is not default, full or off; using default",
                shown(v)
            )),
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_ARENAS") {
        match parse_arenas(v) {
            Some(m) => o.arenas = m,
            None => report(format_args!(
                "HEAPWISE_ARENAS={:?} is not contention, shared or per-thread; using contention",
                shown(v)
            )),
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_FAIL_AFTER") {
        match core::str::from_utf8(v)
            .ok()
            .and_then(|s| s.trim().parse::<isize>().ok())
        {
            Some(n) => hw::harden::fail_os_after(n),
            None => report(format_args!(
                "HEAPWISE_FAIL_AFTER={:?} is not a number; no faults injected",
                shown(v)
            )),
        }
    }
    if let Some(v) = getenv(c"HEAPWISE_STATS") {
        match parse_bool(v) {
            Some(b) => o.stats = b,
            None => report(format_args!(
                "HEAPWISE_STATS={:?} is not 1 or 0; statistics stay off",
                shown(v)
            )),
        }
    }
    o
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
    report(format_args!(
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
