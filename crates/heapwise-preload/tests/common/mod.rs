//! Shared harness of the `heapwise-preload` integration tests: it finds (or builds)
//! `libheapwise.so`, compiles the C programs of `tests/c/` into a private temporary folder, runs
//! programs with and without `LD_PRELOAD` under a timeout, and decides whether a missing external
//! program fails the test (under CI) or skips it loudly (locally).
//!
//! Invariants it keeps:
//! - the library every test preloads is the one built from this checkout: unless `HEAPWISE_LIB`
//!   names a file, the harness runs `cargo build --release -p heapwise-preload` once per test
//!   binary (a no-op when up to date) into the target dir this test binary lives in;
//! - the library and the C programs are built for the target this test binary was built for:
//!   `cargo test -p heapwise-preload --target i686-unknown-linux-gnu` builds a 32-bit
//!   `libheapwise.so` and compiles the C programs with `i686-linux-gnu-gcc` or `cc -m32`
//!   ([`CROSS`]); the tests that preload the host's own programs (`real_programs`,
//!   `valgrind*`) exist only where the test binary has the host's word size;
//! - no run hangs forever: every child gets a deadline and is killed (process group) when late;
//! - temporary folders are unique per process and per call, and removed when dropped.
#![allow(dead_code)] // every test target uses a different part of this module

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The crate folder (`crates/heapwise-preload`).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workspace root (two levels above the crate).
pub fn workspace_dir() -> PathBuf {
    crate_dir()
        .parent()
        .and_then(Path::parent)
        .expect("crate lives in <workspace>/crates/<name>")
        .to_path_buf()
}

/// The cargo target dir this test binary was built into: the binary is
/// `<target>/<profile>/deps/<name>-<hash>` (or `<target>/<triple>/<profile>/deps/...`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let p = PathBuf::from(dir);
        return if p.is_absolute() {
            p
        } else {
            workspace_dir().join(p)
        };
    }
    let exe = std::env::current_exe().expect("current_exe");
    // <target>/<profile>/deps/<bin>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in <target>/<profile>/deps");
    let mut target = profile_dir.parent().expect("profile dir has a parent");
    // Cross builds put one more level (<target>/<triple>/<profile>).
    if !target.join("CACHEDIR.TAG").exists() {
        if let Some(up) = target.parent() {
            if up.join("CACHEDIR.TAG").exists() {
                target = up;
            }
        }
    }
    target.to_path_buf()
}

/// True when running under CI (`CI` set to anything but empty/`false`/`0`).
pub fn in_ci() -> bool {
    match std::env::var("CI") {
        Ok(v) => !(v.is_empty() || v == "false" || v == "0"),
        Err(_) => false,
    }
}

/// How the library and the C programs are built when this test binary is a 32-bit x86
/// build: they must match it. `None` for a native build.
pub struct Cross {
    /// The cargo target of the library.
    pub triple: &'static str,
    /// Prefix of the GNU cross compilers (`i686-linux-gnu-gcc`, `-g++`), used when found.
    /// (Debian's `gcc-multilib` conflicts with every cross compiler, `aarch64-linux-gnu-gcc`
    /// too; CI installs these instead.)
    pub prefix: &'static str,
    /// Otherwise the host compiler with this flag (`cc -m32`, with `gcc-multilib`).
    pub flag: &'static str,
}

/// See [`Cross`].
pub const CROSS: Option<Cross> = if cfg!(target_arch = "x86") {
    Some(Cross {
        triple: "i686-unknown-linux-gnu",
        prefix: "i686-linux-gnu-",
        flag: "-m32",
    })
} else {
    None
};

/// The compiler for a build among `tools` (`["cc", "gcc"]` or `["c++", "g++"]`) and a flag to
/// pass it first, if any: the first on `PATH`, or for a [`CROSS`] build its cross compiler,
/// else the host's with the word-size flag.
fn compiler(tools: &[&str]) -> (PathBuf, Option<&'static str>) {
    if let Some(c) = &CROSS {
        let cross = tools.iter().find_map(|t| {
            let gnu = match *t {
                "cc" => "gcc",
                "c++" => "g++",
                t => t,
            };
            which(&format!("{}{gnu}", c.prefix))
        });
        if let Some(p) = cross {
            return (p, None);
        }
    }
    let tool = tools
        .iter()
        .find_map(|t| which(t))
        .unwrap_or_else(|| panic!("a compiler ({}) is needed for these tests", tools.join("/")));
    (tool, CROSS.as_ref().map(|c| c.flag))
}

/// Path of `libheapwise.so` for this checkout; builds it on first use (see module docs).
/// Panics with the build's stderr when it cannot be had: a test that cannot preload must fail.
pub fn libheapwise() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        if let Some(p) = std::env::var_os("HEAPWISE_LIB") {
            let p = PathBuf::from(p);
            assert!(
                p.is_file(),
                "HEAPWISE_LIB={} does not name a file",
                p.display()
            );
            return std::fs::canonicalize(&p).expect("canonicalize HEAPWISE_LIB");
        }
        let target = target_dir();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(&cargo);
        build
            .args([
                "build",
                "--release",
                "-p",
                "heapwise-preload",
                "--target-dir",
            ])
            .arg(&target);
        let mut release = target.join("release");
        if let Some(c) = &CROSS {
            build.args(["--target", c.triple]);
            release = target.join(c.triple).join("release");
        }
        let out = build
            .current_dir(workspace_dir())
            // Don't let the outer cargo's per-crate variables leak into the nested build.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .stdin(Stdio::null())
            .output()
            .expect("spawn cargo build -p heapwise-preload");
        assert!(
            out.status.success(),
            "cargo build --release -p heapwise-preload failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for name in ["libheapwise.so", "libheapwise_preload.so"] {
            let p = release.join(name);
            if p.is_file() {
                return p;
            }
        }
        panic!(
            "cargo built heapwise-preload but {}/libheapwise.so does not exist",
            release.display()
        );
    })
}

/// A private temporary folder, removed on drop (kept when `HEAPWISE_KEEP_TMP` is set).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "heapwise-conformance-{}-{}-{}",
            std::process::id(),
            tag,
            n
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("HEAPWISE_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Looks `prog` up in `PATH` (or takes it as a path when it contains a `/`).
pub fn which(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        let p = PathBuf::from(prog);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Finds the first of `candidates` that exists. When none does: under CI the test fails
/// (panics); locally it prints a loud SKIP message and returns `None`.
pub fn require_program(what: &str, candidates: &[&str], package: &str) -> Option<PathBuf> {
    for c in candidates {
        if let Some(p) = which(c) {
            return Some(p);
        }
    }
    let msg = format!(
        "{what}: none of {candidates:?} is installed (Debian package `{package}`; \
         `sudo scripts/install-ci-deps.sh` installs everything the tests need)"
    );
    skip_loudly(&msg);
    None
}

/// Fails under CI, otherwise prints `msg` as a SKIPPED banner straight to the process's
/// stderr (not through the test harness's capture, so it shows even for a passing test).
pub fn skip_loudly(msg: &str) {
    if in_ci() {
        panic!("{msg}; CI=true, so this is a failure");
    }
    use std::io::Write;
    let banner = format!("\n**************** SKIPPED (not under CI) ****************\n{msg}\n\n");
    let _ = std::io::stderr().write_all(banner.as_bytes());
}

/// What a finished child did.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Outcome {
    /// A readable dump for assertion messages (output tails only).
    pub fn describe(&self) -> String {
        fn tail(s: &str, n: usize) -> &str {
            if s.len() <= n {
                s
            } else {
                let mut i = s.len() - n;
                while !s.is_char_boundary(i) {
                    i += 1;
                }
                &s[i..]
            }
        }
        format!(
            "status: {:?}{} after {:.1?}\n--- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}",
            self.status,
            if self.timed_out {
                " (TIMED OUT, killed)"
            } else {
                ""
            },
            self.elapsed,
            tail(&self.stdout, 6000),
            tail(&self.stderr, 6000)
        )
    }

    pub fn success(&self) -> bool {
        !self.timed_out && self.status.success()
    }
}

/// Runs `cmd` to completion with stdin from `/dev/null` (or `input`), capturing stdout and
/// stderr; kills its whole process group after `timeout`.
pub fn run(cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Outcome {
    spawn(cmd, input).wait(timeout)
}

/// A child started by [`spawn`], in its own process group. Dropping it without
/// [`Running::wait`] (e.g. when a test panics) kills the group, so no server outlives a test.
pub struct Running {
    child: Option<std::process::Child>,
    pid: i32,
    start: Instant,
    threads: Vec<std::thread::JoinHandle<Vec<u8>>>,
}

/// Starts `cmd` in a new process group with stdout/stderr captured by reader threads.
pub fn spawn(mut cmd: Command, input: Option<&[u8]>) -> Running {
    use std::os::unix::process::CommandExt;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.process_group(0);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    let mut threads = Vec::new();
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    threads.push(std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    }));
    threads.push(std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    }));
    if let Some(data) = input {
        let data = data.to_vec();
        let mut stdin = child.stdin.take().expect("piped stdin");
        threads.push(std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&data);
            Vec::new()
        }));
    }
    let pid = child.id() as i32;
    Running {
        child: Some(child),
        pid,
        start,
        threads,
    }
}

impl Running {
    /// Whether the child has exited (without reaping it).
    pub fn is_finished(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Waits for the child (killing its group after `timeout`), then collects its output.
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let mut child = self.child.take().expect("not waited yet");
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if self.start.elapsed() > timeout {
                timed_out = true;
                kill_group(self.pid);
                break child.wait().expect("wait after kill");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // Children the program left behind (workers, daemons) would keep the pipes open.
        kill_group(self.pid);
        let mut bufs: Vec<Vec<u8>> = self
            .threads
            .drain(..)
            .map(|t| t.join().unwrap_or_default())
            .collect();
        bufs.truncate(2);
        let stderr = String::from_utf8_lossy(&bufs.pop().unwrap_or_default()).into_owned();
        let stdout = String::from_utf8_lossy(&bufs.pop().unwrap_or_default()).into_owned();
        Outcome {
            status,
            stdout,
            stderr,
            timed_out,
            elapsed: self.start.elapsed(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill_group(self.pid);
            let _ = c.wait();
        }
    }
}

/// SIGKILL to the process group `pgid` (which the harness created for one child).
pub fn kill_group(pgid: i32) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Adds `LD_PRELOAD=<libheapwise.so>` (plus `HEAPWISE_STATS=1`) to `cmd`.
pub fn preload(cmd: &mut Command) {
    cmd.env("LD_PRELOAD", libheapwise());
    cmd.env("HEAPWISE_STATS", "1");
}

/// Runs the compiler [`compiler`] picks among `tools` as `tool ARGS -o OUT SRC TAIL` and
/// returns `out`. Panics with the compiler's output when it fails.
pub fn run_compiler(
    tools: &[&str],
    args: &[std::ffi::OsString],
    src: &Path,
    out: &Path,
    tail: &[&str],
) -> PathBuf {
    let (tool, flag) = compiler(tools);
    let res = Command::new(tool)
        .args(flag)
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(src)
        .args(tail)
        .output()
        .expect("spawn the compiler");
    assert!(
        res.status.success(),
        "compiling {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&res.stderr)
    );
    out.to_path_buf()
}

/// Compiler arguments from string literals.
pub fn os_args(a: &[&str]) -> Vec<std::ffi::OsString> {
    a.iter().map(Into::into).collect()
}

/// Compiles `tests/c/<name>.c` (with `tests/c/hw_test.h` on the include path) into `dir`
/// and returns the executable. Panics with the compiler's output when it fails.
pub fn compile_c(name: &str, dir: &Path) -> PathBuf {
    let mut args = os_args(&[
        "-std=gnu11",
        "-O1",
        "-g",
        "-fno-builtin",
        "-Wall",
        "-Wextra",
        "-Wno-alloc-size-larger-than",
        "-Wno-unused-result",
        "-Wno-use-after-free",
        "-I",
    ]);
    args.push(crate_dir().join("tests/c").into());
    args.push("-I".into());
    args.push(crate_dir().join("include").into());
    let src = crate_dir().join("tests/c").join(format!("{name}.c"));
    run_compiler(
        &["cc", "gcc"],
        &args,
        &src,
        &dir.join(name),
        &["-pthread", "-ldl"],
    )
}

/// Compiles `tests/c/<name>.cpp` with `c++`/`g++` into `dir/<name>`.
pub fn compile_cxx(name: &str, dir: &Path) -> PathBuf {
    let args = os_args(&[
        "-std=c++17",
        "-O1",
        "-g",
        "-fno-builtin",
        "-Wall",
        "-Wextra",
    ]);
    let src = crate_dir().join("tests/c").join(format!("{name}.cpp"));
    run_compiler(
        &["c++", "g++"],
        &args,
        &src,
        &dir.join(name),
        &["-pthread", "-ldl"],
    )
}

/// Compiles `tests/c/<name>.c` into the shared library `dir/<name>.so`.
pub fn compile_c_shared(name: &str, dir: &Path) -> PathBuf {
    let args = os_args(&[
        "-std=gnu11",
        "-O1",
        "-g",
        "-fno-builtin",
        "-fPIC",
        "-shared",
        "-Wall",
    ]);
    let src = crate_dir().join("tests/c").join(format!("{name}.c"));
    run_compiler(
        &["cc", "gcc"],
        &args,
        &src,
        &dir.join(format!("{name}.so")),
        &["-pthread"],
    )
}

/// Environment knob the C programs read: when set they fail unless `malloc` resolves into a
/// library whose file name contains `heapwise`.
pub const EXPECT_ENV: &str = "HW_EXPECT_HEAPWISE";

/// Runs a compiled C conformance program under the preload and asserts that it passed, that
/// heapwise served it (the program's own `allocator: heapwise` line) and returns the outcome.
pub fn run_c_preloaded(exe: &Path, args: &[&str], timeout: Duration) -> Outcome {
    let mut cmd = Command::new(exe);
    cmd.args(args);
    preload(&mut cmd);
    cmd.env(EXPECT_ENV, "1");
    let o = run(cmd, None, timeout);
    let name = exe.file_name().unwrap_or(OsStr::new("?")).to_string_lossy();
    assert!(
        o.success(),
        "{name} under libheapwise.so failed\n{}",
        o.describe()
    );
    assert!(
        o.stdout.contains("allocator: heapwise"),
        "{name}: malloc was not served by heapwise\n{}",
        o.describe()
    );
    assert!(
        o.stdout.contains(" 0 failed"),
        "{name}: no summary line with 0 failures\n{}",
        o.describe()
    );
    o
}

/// One `HEAPWISE_STATS` summary found on a stderr: the process name heapwise printed and the
/// operations it counted (malloc + calloc + realloc + aligned + free).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub process: String,
    pub calls: u64,
    pub line: String,
}

/// Parses every summary line of the form
/// `heapwise[<pid> <name>]: policy <p>: <n> malloc, <n> calloc, <n> realloc, <n> aligned, <n> free, ...`.
pub fn summaries(stderr: &str) -> Vec<Summary> {
    let mut out = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.trim_start().strip_prefix("heapwise[") else {
            continue;
        };
        let Some((who, tail)) = rest.split_once("]:") else {
            continue;
        };
        if !tail.contains(" malloc") {
            continue;
        }
        let process = who.split_once(' ').map_or("", |(_, n)| n).to_string();
        let words: Vec<&str> = tail
            .split(|c: char| c == ',' || c == ':' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .collect();
        let mut calls = 0u64;
        for pair in words.windows(2) {
            if matches!(
                pair[1],
                "malloc" | "calloc" | "realloc" | "aligned" | "free"
            ) {
                calls += pair[0].parse::<u64>().unwrap_or(0);
            }
        }
        out.push(Summary {
            process,
            calls,
            line: line.to_string(),
        });
    }
    out
}

/// The number before `word` in a summary line (`... 12 malloc, 3 calloc, ...`).
pub fn summary_field(line: &str, word: &str) -> Option<u64> {
    let words: Vec<&str> = line
        .split(|c: char| c == ',' || c == ':' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|p| p[1] == word)
        .and_then(|p| p[0].parse().ok())
}

/// Asserts that heapwise printed a summary for a process whose name contains `process` with
/// at least `min_calls` operations; returns the largest such count.
pub fn assert_served(what: &str, o: &Outcome, process: &str, min_calls: u64) -> u64 {
    let found: Vec<Summary> = summaries(&o.stderr)
        .into_iter()
        .filter(|s| s.process.contains(process))
        .collect();
    let best = found.iter().map(|s| s.calls).max().unwrap_or(0);
    assert!(
        best >= min_calls,
        "{what}: no heapwise summary for a `{process}` process with >= {min_calls} calls \
         (found {found:?}); the preload did not serve it\n{}",
        o.describe()
    );
    best
}

/// Checks a malloc-lab replay trace as `HEAPWISE_TRACE` writes it: a header of four numbers
/// (heap size, ids, operations, weight), then `a id size` / `r id size` / `f id` lines whose
/// count equals the header's, ids below the header's, each id allocated once, reallocated and
/// freed only while live. Returns (allocations, reallocations, frees); panics on a violation.
pub fn check_trace(text: &str) -> (u64, u64, u64) {
    let mut tokens = text.split_whitespace();
    let header: Vec<u64> = (0..4)
        .map(|_| {
            tokens
                .next()
                .and_then(|t| t.parse().ok())
                .expect("header of four numbers")
        })
        .collect();
    let (ids, ops) = (header[1], header[2]);
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with(['a', 'r', 'f']))
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(body.len() as u64, ops, "header says {ops} operations");
    let mut live = std::collections::HashSet::new();
    let mut seen = std::collections::HashSet::new();
    let (mut allocs, mut reallocs, mut frees) = (0, 0, 0);
    for l in &body {
        let f: Vec<&str> = l.split_whitespace().collect();
        let id: u64 = f.get(1).and_then(|t| t.parse().ok()).expect("id");
        assert!(id < ids, "id {id} >= header ids {ids}: {l}");
        let sized = f.get(2).is_some_and(|t| t.parse::<u64>().is_ok());
        match f[0] {
            "a" => {
                assert!(sized, "allocation without a size: {l}");
                assert!(seen.insert(id), "id {id} allocated twice");
                live.insert(id);
                allocs += 1;
            }
            "r" => {
                assert!(sized, "realloc without a size: {l}");
                assert!(live.contains(&id), "realloc of a dead id: {l}");
                reallocs += 1;
            }
            "f" => {
                assert!(live.remove(&id), "free of a dead id: {l}");
                frees += 1;
            }
            other => panic!("unknown op {other:?} in {l:?}"),
        }
    }
    (allocs, reallocs, frees)
}
