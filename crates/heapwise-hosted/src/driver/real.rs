//! Real programs under each allocator: `python3.11` with `PYTHONMALLOC=malloc` on an
//! object-churning script, `sqlite3` on an in-memory database, `redis-server` (preloaded)
//! driven by `redis-benchmark -P 16` over 127.0.0.1 (not preloaded), and a `g++ -O2` compile.
//!
//! Verification: the Python script checks its objects and prints a checksum and the malloc
//! libraries mapped into it; the SQL script checks its row count and its output is hashed; the
//! Redis server must answer a SET/GET round trip of a 4 KiB value after the benchmark, and
//! the benchmark must report every test; the compiled program is run (under the time limit
//! of a run: a miscompiled program may loop) and its checksum compared.
//! All checksums must agree across allocators (see [`super::run_workload`]).
//! A preflight (untimed) checks that the preload is mapped into the program (`sqlite3` and
//! `g++` by reading `/proc/<pid>/maps` from inside them, redis-server from outside).
//!
//! Invariant: every server started here is shut down (or killed) and reaped before the run
//! returns; the driver talks to a redis-server only after `INFO server` named it as ours (its
//! port was merely free when picked); inputs are written into the scratch directory, never
//! into the source tree.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::alloc::Allocator;
use super::proc::{measure, Running};
use super::{Ctx, Sample};

const CHURN_PY: &str = include_str!("../../assets/churn.py");
const SQLITE_SQL: &str = include_str!("../../assets/sqlite.sql");
const COMPILE_CPP: &str = include_str!("../../assets/compile.cpp");
const PREFLIGHT_CPP: &str = "#include <map>\n#include <regex>\n\
int main() { std::map<int, int> m; m[1] = 2; std::regex r(\"a+\"); return m[1] + std::regex_match(\"aa\", r); }\n";

/// A real program workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `python3.11` with `PYTHONMALLOC=malloc`.
    Python,
    /// `sqlite3 :memory:`.
    Sqlite,
    /// `redis-server` + `redis-benchmark -P 16`.
    Redis,
    /// `g++ -O2`.
    Gxx,
}

impl Program {
    /// Every real program, in table order.
    pub const ALL: &'static [Program] = &[
        Program::Python,
        Program::Sqlite,
        Program::Redis,
        Program::Gxx,
    ];

    /// Row name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Python => "python",
            Program::Sqlite => "sqlite",
            Program::Redis => "redis",
            Program::Gxx => "g++",
        }
    }

    /// What it does.
    pub fn about(self) -> &'static str {
        match self {
            Program::Python => "python3.11, PYTHONMALLOC=malloc, object churn (dicts, lists, strings, slotted objects)",
            Program::Sqlite => "sqlite3 :memory:: insert, index, update, delete, group by",
            Program::Redis => "redis-server (preloaded) under redis-benchmark -P 16 over 127.0.0.1; time of the benchmark",
            Program::Gxx => "g++ -O2 of a template-heavy C++ file (the compiler is preloaded)",
        }
    }

    fn binaries(self) -> &'static [&'static str] {
        match self {
            Program::Python => &["python3.11"],
            Program::Sqlite => &["sqlite3"],
            Program::Redis => &["redis-server", "redis-benchmark"],
            Program::Gxx => &["g++"],
        }
    }
}

/// Finds `name`: `/usr/bin/NAME` first (a shim such as pyenv's would put a shell in front),
/// else the first match on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    let usr = Path::new("/usr/bin").join(name);
    if usr.exists() {
        return Some(usr);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|p| p.exists())
    })
}

/// `Ok` if the program's binaries are installed.
pub fn available(p: Program) -> Result<(), String> {
    for b in p.binaries() {
        if which(b).is_none() {
            return Err(format!(
                "{b} is not installed (see scripts/install-bench-deps.sh)"
            ));
        }
    }
    Ok(())
}

fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:#018x}")
}

fn n(ctx: &Ctx, base: usize) -> usize {
    ((base as f64 * ctx.scale) as usize).max(50)
}

fn scratch_file(ctx: &Ctx, name: &str, contents: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(&ctx.scratch).map_err(|e| format!("{}: {e}", ctx.scratch.display()))?;
    let p = ctx.scratch.join(name);
    std::fs::write(&p, contents).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(p)
}

fn maps_check(maps: &str, a: &Allocator) -> Result<(), String> {
    let others = ["libheapwise", "libjemalloc", "libmimalloc", "libtcmalloc"];
    match &a.preload {
        Some(_) if maps.contains(a.marker) => Ok(()),
        Some(_) => Err(format!("{} is not mapped into the program", a.marker)),
        None => match others.iter().find(|o| maps.contains(*o)) {
            Some(o) => Err(format!("{o} is mapped although no preload was asked for")),
            None => Ok(()),
        },
    }
}

/// Checks, untimed, that the preload of `a` is mapped into program `p`.
pub fn preflight(ctx: &Ctx, p: Program, a: &Allocator) -> Result<(), String> {
    match p {
        // The script reports its maps on every run.
        Program::Python | Program::Redis => Ok(()),
        Program::Sqlite => {
            let mut cmd = Command::new(which("sqlite3").ok_or("no sqlite3")?);
            cmd.arg(":memory:")
                .arg(".shell cat /proc/$PPID/maps")
                .stdin(Stdio::null());
            a.apply(&mut cmd);
            let f = measure(&mut cmd, ctx.timeout)?;
            f.success()?;
            maps_check(&f.stdout, a)
        }
        Program::Gxx => {
            // A wrapper (g++ -wrapper) starts each compiler pass and prints the maps of the
            // running cc1plus process: the pass that does the allocating.
            let wrap = scratch_file(
                ctx,
                "wrap.sh",
                "\"$@\" & p=$!\nsleep 0.05\ncat /proc/$p/maps\nwait $p\n",
            )?;
            let src = scratch_file(ctx, "pre.cpp", PREFLIGHT_CPP)?;
            let mut cmd = Command::new(which("g++").ok_or("no g++")?);
            cmd.args(["-O2", "-c", "-o", "/dev/null"])
                .arg(&src)
                .arg("-wrapper");
            cmd.arg(format!("/bin/sh,{}", wrap.display()))
                .stdin(Stdio::null());
            a.apply(&mut cmd);
            let f = measure(&mut cmd, ctx.timeout)?;
            f.success()?;
            let cc1: String = f
                .stdout
                .lines()
                .filter(|l| l.contains('/'))
                .collect::<Vec<_>>()
                .join("\n");
            if !cc1.contains("cc1plus") {
                return Err("could not read the maps of cc1plus".into());
            }
            maps_check(&cc1, a)
        }
    }
}

/// Runs program `p` once under `a`.
pub fn run(ctx: &Ctx, p: Program, a: &Allocator) -> Result<Sample, String> {
    match p {
        Program::Python => python(ctx, a),
        Program::Sqlite => sqlite(ctx, a),
        Program::Redis => redis(ctx, a),
        Program::Gxx => gxx(ctx, a),
    }
}

fn python(ctx: &Ctx, a: &Allocator) -> Result<Sample, String> {
    let script = scratch_file(ctx, "churn.py", CHURN_PY)?;
    let mut cmd = Command::new(which("python3.11").ok_or("no python3.11")?);
    cmd.arg("-I")
        .arg(&script)
        .arg(n(ctx, 100_000).to_string())
        .env("PYTHONMALLOC", "malloc");
    // The preloaded file's name, so that the script reports it whatever it is called.
    if a.preload.is_some() {
        cmd.arg(a.marker);
    }
    a.apply(&mut cmd);
    let f = measure(&mut cmd, ctx.timeout)?;
    f.success()?;
    let get = |k: &str| {
        f.stdout
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::to_string)
            .ok_or_else(|| format!("python printed no {k}"))
    };
    let maps = get("maps=")?;
    maps_check(&maps, a)?;
    Ok(Sample {
        secs: f.secs,
        maxrss_kib: f.maxrss_kib,
        cpu_secs: f.cpu_secs,
        checksum: get("checksum=")?,
        served_by: format!("maps: {maps}"),
    })
}

fn sqlite(ctx: &Ctx, a: &Allocator) -> Result<Sample, String> {
    let rows = n(ctx, 150_000);
    let sql = scratch_file(
        ctx,
        "workload.sql",
        &SQLITE_SQL.replace("@N@", &rows.to_string()),
    )?;
    let input = std::fs::File::open(&sql).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(which("sqlite3").ok_or("no sqlite3")?);
    cmd.arg(":memory:").stdin(input);
    a.apply(&mut cmd);
    let f = measure(&mut cmd, ctx.timeout)?;
    f.success()?;
    if !f.stdout.contains("check|ok") {
        return Err(format!("sqlite3 self-check failed: {}", f.stdout.trim()));
    }
    Ok(Sample {
        secs: f.secs,
        maxrss_kib: f.maxrss_kib,
        cpu_secs: f.cpu_secs,
        checksum: fnv(&f.stdout),
        served_by: "sqlite3 (maps checked in preflight)".into(),
    })
}

fn gxx(ctx: &Ctx, a: &Allocator) -> Result<Sample, String> {
    let units = ((30.0 * ctx.scale) as usize).max(2);
    let mut src = COMPILE_CPP.to_string();
    for k in 0..units {
        src.push_str(&format!(
            "unsigned long hw_unit_{k}(unsigned long s) {{ return Unit<{k}>::run(s); }}\n"
        ));
    }
    src.push_str("int main() {\n    unsigned long h = 0;\n");
    for k in 0..units {
        src.push_str(&format!("    h = h * 3 + hw_unit_{k}({k});\n"));
    }
    src.push_str("    std::printf(\"checksum=%lu\\n\", h);\n    return 0;\n}\n");
    let file = scratch_file(ctx, "compile.cpp", &src)?;
    let exe = ctx.scratch.join(format!("compile-{}", a.name));
    let _ = std::fs::remove_file(&exe);
    let mut cmd = Command::new(which("g++").ok_or("no g++")?);
    cmd.arg("-O2")
        .arg("-o")
        .arg(&exe)
        .arg(&file)
        .stdin(Stdio::null());
    a.apply(&mut cmd);
    let f = measure(&mut cmd, ctx.timeout)?;
    f.success()?;
    let checksum = compiled_checksum(&exe, ctx.timeout)?;
    Ok(Sample {
        secs: f.secs,
        maxrss_kib: f.maxrss_kib,
        cpu_secs: f.cpu_secs,
        checksum,
        served_by: "g++/cc1plus (maps checked in preflight)".into(),
    })
}

/// Runs the program g++ compiled (not preloaded; its time is not the row's) under the time
/// limit of a run, and returns the checksum it prints: its output checks the compiler's work.
/// A miscompiled program may loop for ever: that is a failed run, not a hung suite.
fn compiled_checksum(exe: &Path, limit: Duration) -> Result<String, String> {
    let mut cmd = Command::new(exe);
    cmd.env_remove("LD_PRELOAD").stdin(Stdio::null());
    let f = measure(&mut cmd, limit).map_err(|e| format!("the compiled program: {e}"))?;
    f.success()
        .map_err(|e| format!("the compiled program failed: {e}"))?;
    f.stdout
        .lines()
        .find_map(|l| l.strip_prefix("checksum="))
        .map(str::to_string)
        .ok_or_else(|| "the compiled program printed no checksum".into())
}

/// The path of glibc's `libc.so.6`.
fn libc_so() -> Result<PathBuf, String> {
    [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .ok_or_else(|| "libc.so.6 not found".to_string())
}

/// A minimal RESP client: sends `args` as one command and reads one reply line (and the bulk
/// payload of a `$` reply).
fn resp(stream: &mut BufReader<TcpStream>, args: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        req.extend_from_slice(a);
        req.extend_from_slice(b"\r\n");
    }
    stream
        .get_mut()
        .write_all(&req)
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    stream.read_line(&mut line).map_err(|e| e.to_string())?;
    if let Some(len) = line.strip_prefix('$') {
        let len: i64 = len
            .trim()
            .parse()
            .map_err(|_| format!("bad reply {line:?}"))?;
        if len < 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; len as usize + 2];
        stream.read_exact(&mut buf).map_err(|e| e.to_string())?;
        buf.truncate(len as usize);
        return Ok(buf);
    }
    Ok(line.trim_end().as_bytes().to_vec())
}

/// The `process_id:` of an `INFO server` reply.
fn info_pid(info: &[u8]) -> Option<u32> {
    String::from_utf8_lossy(info)
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A connection to `server` on `port`, once it answers: `PING`, then `INFO server`, whose
/// `process_id` must be the server's (another process's redis-server may hold the port, which
/// was only free when it was picked; ours then fails to bind and exits). An error when the
/// server exits first or does not answer within `limit`.
fn connect(port: u16, server: &Running, limit: Duration) -> Result<BufReader<TcpStream>, String> {
    let start = Instant::now();
    let mut other = None;
    loop {
        if server.has_exited() {
            return Err(match other {
                Some(p) => format!("redis-server exited; 127.0.0.1:{port} is pid {p}'s"),
                None => "redis-server exited before it answered".into(),
            });
        }
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let mut r = BufReader::new(s);
            if resp(&mut r, &[b"PING"]).is_ok_and(|x| x == b"+PONG") {
                match resp(&mut r, &[b"INFO", b"server"])
                    .ok()
                    .and_then(|i| info_pid(&i))
                {
                    Some(p) if p == server.pid() => return Ok(r),
                    p => other = p,
                }
            }
        }
        if start.elapsed() > limit {
            return Err(format!("redis-server did not answer on 127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Makes the process `cmd` starts get SIGKILL when the driver's thread that starts it (the
/// main thread, which lives as long as the driver) ends: a server must not outlive a driver
/// that was killed (by an outer time limit, the OOM killer, a second Ctrl-C) and go on
/// listening and taking CPU time from the next measurements.
fn die_with_the_driver(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let driver = unsafe { libc::getpid() };
    // SAFETY: the closure calls only prctl and getppid, both async-signal-safe, and touches
    // no memory of the parent but the copied pid.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The driver may have died before the prctl took: then nobody would kill us.
            if libc::getppid() != driver {
                return Err(std::io::Error::other("the driver is gone"));
            }
            Ok(())
        });
    }
}

/// A port that was free a moment ago (another process may take it before the server binds
/// it: [`redis_on`] checks and retries).
fn free_port() -> Result<u16, String> {
    Ok(TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port())
}

fn redis(ctx: &Ctx, a: &Allocator) -> Result<Sample, String> {
    redis_on(ctx, a, &mut free_port)
}

/// The redis row, its server's port chosen by `pick`.
fn redis_on(
    ctx: &Ctx,
    a: &Allocator,
    pick: &mut dyn FnMut() -> Result<u16, String>,
) -> Result<Sample, String> {
    // A port taken between the pick and the server's bind (another suite's server, say): our
    // server exits, and the run tries another port.
    const TRIES: usize = 5;
    let mut tries = 0;
    let (running, port, mut conn) = loop {
        tries += 1;
        let port = pick()?;
        let running = start_redis(ctx, a, port)?;
        match connect(port, &running, Duration::from_secs(10)) {
            Ok(conn) => break (running, port, conn),
            Err(e) => {
                // SAFETY: kill has no memory preconditions; the id is our unreaped child.
                unsafe { libc::kill(running.pid() as libc::pid_t, libc::SIGKILL) };
                let fin = running.wait(Duration::from_secs(20))?;
                let said = format!("{}\n{}", fin.stdout, fin.stderr);
                if said.contains("Address already in use") && tries < TRIES {
                    continue;
                }
                let said: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
                let tail = said[said.len().saturating_sub(2)..].join(" | ");
                return Err(format!("{e} (port {port}, try {tries}): {tail}"));
            }
        }
    };
    let pid = running.pid();
    let result = bench_redis(ctx, a, port, pid, &mut conn);
    if result.is_err() {
        // SAFETY: kill has no memory preconditions; pid is our unreaped child.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    let fin = running.wait(Duration::from_secs(20))?;
    let (secs, checksum) = result?;
    if fin.timed_out {
        return Err("redis-server did not shut down".into());
    }
    // SHUTDOWN NOSAVE exits 0: anything else (an abort in a destructor, a corruption
    // caught at exit) is a failed run, not a sample.
    fin.success().map_err(|e| format!("redis-server: {e}"))?;
    Ok(Sample {
        secs,
        maxrss_kib: fin.maxrss_kib,
        cpu_secs: fin.cpu_secs,
        checksum,
        served_by: if a.preload.is_some() {
            format!("redis-server pid {pid} (maps checked)")
        } else {
            "redis-server with libc.so.6 preloaded ahead of its libjemalloc".into()
        },
    })
}

/// Starts redis-server under `a`, listening on 127.0.0.1:`port`.
fn start_redis(ctx: &Ctx, a: &Allocator, port: u16) -> Result<Running, String> {
    let mut server = Command::new(which("redis-server").ok_or("no redis-server")?);
    server
        .args([
            "--bind",
            "127.0.0.1",
            "--protected-mode",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args([
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            "--port",
            &port.to_string(),
        ])
        .current_dir(&ctx.scratch)
        .stdin(Stdio::null());
    a.apply(&mut server);
    die_with_the_driver(&mut server);
    if a.preload.is_none() {
        // Debian's redis-server links libjemalloc.so.2; preloading libc.so.6 puts glibc's
        // malloc ahead of it in the lookup order, so the glibc column really is glibc.
        server.env("LD_PRELOAD", libc_so()?);
    }
    std::fs::create_dir_all(&ctx.scratch).map_err(|e| e.to_string())?;
    Running::spawn(&mut server)
}

/// The measured part of a redis run, against our server (pid `pid`, connected as `conn`) on
/// `port`: the benchmark, then the checks; the server is told to shut down. Returns the
/// benchmark's wall time and the checksum.
fn bench_redis(
    ctx: &Ctx,
    a: &Allocator,
    port: u16,
    pid: u32,
    conn: &mut BufReader<TcpStream>,
) -> Result<(f64, String), String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| e.to_string())?;
    if a.preload.is_some() {
        maps_check(&maps, a)?;
    }
    let requests = n(ctx, 60_000);
    let mut bench = Command::new(which("redis-benchmark").ok_or("no redis-benchmark")?);
    bench
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-P",
            "16",
            "-c",
            "20",
            "-q",
        ])
        .args(["-n", &requests.to_string(), "-r", "100000", "-d", "128"])
        .args(["-t", "set,get,incr,lpush,lpop,sadd,hset"])
        .stdin(Stdio::null())
        .env_remove("LD_PRELOAD");
    let f = measure(&mut bench, ctx.timeout)?;
    f.success()?;
    let tests = f.stdout.matches("requests per second").count();
    if tests < 7 {
        return Err(format!(
            "redis-benchmark reported {tests} of 7 tests: {}",
            f.stdout.trim()
        ));
    }
    // A round trip of a 4 KiB value after the benchmark.
    let value: Vec<u8> = (0..4096u32).map(|i| b'a' + (i * 7 % 26) as u8).collect();
    let ok = resp(conn, &[b"SET", b"heapwise:check", &value])?;
    let back = resp(conn, &[b"GET", b"heapwise:check"])?;
    if ok != b"+OK" || back != value {
        return Err("redis-server lost a 4 KiB value after the benchmark".into());
    }
    let size = resp(conn, &[b"DBSIZE"])?;
    if size.first() != Some(&b':') || size == b":0" {
        return Err(format!(
            "redis-server DBSIZE {:?} after the benchmark",
            String::from_utf8_lossy(&size)
        ));
    }
    let _ = resp(conn, &[b"SHUTDOWN", b"NOSAVE"]);
    Ok((f.secs, fnv(&String::from_utf8_lossy(&back))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pid` is a live process (not gone, not a zombie).
    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
            state != Some("Z") && state != Some("X")
        })
    }

    #[test]
    fn a_redis_run_uses_its_own_server_when_its_port_was_taken() {
        if available(Program::Redis).is_err() {
            eprintln!("skipped: needs redis-server and redis-benchmark");
            return;
        }
        let dir = std::env::temp_dir().join(format!("hw-hosted-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Another redis-server (another suite's, say) holds the port the run picks first.
        let taken = free_port().unwrap();
        let mut other = Command::new(which("redis-server").unwrap());
        other
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &taken.to_string()])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut other = other.spawn().unwrap();
        let mut probe = connect_any(taken);
        let glibc = super::super::alloc::all(Err("unused".into()))
            .into_iter()
            .find(|a| a.name == "glibc")
            .unwrap();
        let ctx = Ctx {
            bin_dir: dir.clone(),
            scale: 0.001,
            timeout: Duration::from_secs(120),
            scratch: dir.join("scratch"),
        };
        let mut first = true;
        let r = redis_on(&ctx, &glibc, &mut || {
            if std::mem::take(&mut first) {
                Ok(taken)
            } else {
                free_port()
            }
        });
        // The other server must be untouched: still running, none of the run's keys.
        let still = alive(other.id());
        let key = probe
            .as_mut()
            .map(|c| resp(c, &[b"EXISTS", b"heapwise:check"]));
        let _ = other.kill();
        let _ = other.wait();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(probe.is_some(), "the other redis-server never answered");
        assert!(still, "the run shut down another process's redis-server");
        assert_eq!(
            key,
            Some(Ok(b":0".to_vec())),
            "the run wrote into another server"
        );
        r.unwrap();
    }

    #[test]
    fn a_compiled_program_that_hangs_is_a_failed_run() {
        let dir = std::env::temp_dir().join(format!("hw-hosted-cc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let hangs = script("hangs", "exec sleep 300");
        let good = script("good", "echo checksum=42");
        let limit = Duration::from_millis(500);
        let r = compiled_checksum(&hangs, limit);
        let g = compiled_checksum(&good, limit);
        let _ = std::fs::remove_dir_all(&dir);
        let e = r.unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert_eq!(g.unwrap(), "42");
    }

    /// A connection to whatever answers PING on `port` (bounded wait).
    fn connect_any(port: u16) -> Option<BufReader<TcpStream>> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                let mut r = BufReader::new(s);
                if resp(&mut r, &[b"PING"]).is_ok_and(|x| x == b"+PONG") {
                    return Some(r);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}
