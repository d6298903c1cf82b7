//! `heapwise-hosted`: the hosted benchmark suite driver. Runs every workload under heapwise,
//! glibc, jemalloc, mimalloc and tcmalloc in one invocation (median of `--runs`, allocators
//! interleaved) and prints a markdown table; `--csv`, `--svg` and `--md` write the reports.
//! Exits with status 1 when any run failed (the failures are listed in the report).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use heapwise_hosted::driver::{self, alloc, report::Suite, Ctx};

#[derive(Parser, Debug)]
#[command(
    version,
    about = "heapwise hosted benchmark suite: heapwise vs glibc, jemalloc, mimalloc, tcmalloc"
)]
struct Args {
    /// Runs per allocator and workload (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Only these workloads (comma-separated or repeated; a name or a prefix such as `larson`,
    /// or a group: `synthetic`, `real`, `rust`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these allocators (comma-separated; glibc is always added as the reference).
    #[arg(long, value_delimiter = ',')]
    allocators: Vec<String>,
    /// Cut every workload ~10x (smoke test of the suite).
    #[arg(long)]
    quick: bool,
    /// Work multiplier (overrides --quick).
    #[arg(long)]
    scale: Option<f64>,
    /// Write the CSV report (one line per run) here.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write the SVG bar chart here.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Write the markdown report here (it is always printed on stdout).
    #[arg(long)]
    md: Option<PathBuf>,
    /// libheapwise.so to preload (default: built with cargo into this target directory).
    #[arg(long)]
    heapwise_lib: Option<PathBuf>,
    /// An extra preloaded column NAME=PATH (repeatable), e.g. `before=/tmp/libheapwise-old.so`
    /// to compare two builds in the same run.
    #[arg(long)]
    extra: Vec<String>,
    /// HEAPWISE_POLICY for the heapwise runs (a seed policy such as `explicit-lifo-first`).
    #[arg(long)]
    heapwise_policy: Option<String>,
    /// Time limit of one run, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Measure nothing: render the reports again from the CSV of an earlier run.
    #[arg(long)]
    from_csv: Option<PathBuf>,
    /// List the workloads and allocators and exit.
    #[arg(long)]
    list: bool,
}

fn main() {
    let args = Args::parse();
    let exe = std::env::current_exe().expect("current_exe");
    let bin_dir = exe.parent().expect("binary directory").to_path_buf();
    let all = driver::workloads();
    if args.list {
        for w in &all {
            println!("{:<18} {}", w.name, w.about);
        }
        return;
    }
    if let Some(csv) = &args.from_csv {
        std::process::exit(rerender(&args, csv, &all));
    }
    let workloads = match driver::select(&all, &args.only) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("heapwise-hosted: {msg}");
            std::process::exit(64);
        }
    };
    let mut allocators = match alloc::select(
        alloc::all(alloc::heapwise_lib(args.heapwise_lib.as_deref(), &bin_dir)),
        &args.allocators,
        &args.extra,
    ) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("heapwise-hosted: {msg}");
            std::process::exit(64);
        }
    };
    if let Some(policy) = &args.heapwise_policy {
        for a in allocators.iter_mut().filter(|a| a.name == "heapwise") {
            a.env.push(("HEAPWISE_POLICY".into(), policy.clone()));
            a.rust_na = Some(alloc::POLICY_RUST_NA);
        }
    }
    for a in &allocators {
        if let Some(m) = &a.missing {
            eprintln!("heapwise-hosted: skipping {}: {m}", a.name);
        }
    }
    let scale = args.scale.unwrap_or(if args.quick { 0.1 } else { 1.0 });
    let ctx = Ctx {
        bin_dir,
        scale,
        timeout: Duration::from_secs(args.timeout),
        scratch: std::env::temp_dir().join(format!("heapwise-hosted-{}", std::process::id())),
    };
    remove_on_signal(ctx.scratch.clone());
    let runs = args.runs.max(1);
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    };
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let load_start = load();
    let mut rows = Vec::new();
    for w in &workloads {
        let res = driver::run_workload(&ctx, w, &allocators, runs, &mut |line| eprintln!("{line}"));
        rows.push((*w, res));
    }
    let _ = std::fs::remove_dir_all(&ctx.scratch);
    let machine = format!(
        "{cpus} CPUs; load average {load_start} at the start, {} at the end",
        load()
    );
    let suite = Suite {
        machine,
        allocators: &allocators,
        rows,
        runs,
        scale,
        command: std::iter::once("heapwise-hosted".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
        preloads_known: true,
    };
    let md = suite.markdown();
    println!("{md}");
    let write = |path: &Option<PathBuf>, text: String| {
        if let Some(p) = path {
            if let Err(e) = std::fs::write(p, text) {
                eprintln!("heapwise-hosted: cannot write {}: {e}", p.display());
            }
        }
    };
    write(&args.md, md);
    write(&args.csv, suite.csv());
    write(&args.svg, suite.svg());
    if !suite.failures().is_empty() {
        std::process::exit(1);
    }
}

/// The signals that stop the driver (Ctrl-C, `kill`, a closed terminal).
const STOP: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The write end of the pipe [`on_stop`] tells the signal number through (-1: none yet).
static STOP_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// The handler of [`STOP`]: passes the signal number to the thread of [`remove_on_signal`].
extern "C" fn on_stop(sig: libc::c_int) {
    let fd = STOP_PIPE.load(std::sync::atomic::Ordering::Relaxed);
    let byte = sig as u8;
    // SAFETY: write is async-signal-safe; fd is the pipe's write end, which stays open for
    // the life of the process, and byte is a valid one-byte buffer.
    unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
}

/// Makes a driver stopped by one of [`STOP`] remove the scratch directory (the real
/// programs' inputs and compiled programs) before it exits with status 128 + the signal, as
/// the default action would have. A handler (which an `exec` resets: the processes the
/// driver starts keep the default actions and an unchanged signal mask) writes the signal
/// number into a close-on-exec pipe; a thread of its own reads it, removes the directory and
/// exits. A redis-server dies with the driver (`PR_SET_PDEATHSIG`); the workload process of
/// the moment gets the same Ctrl-C from the terminal.
fn remove_on_signal(scratch: PathBuf) {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two descriptors for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    STOP_PIPE.store(fds[1], std::sync::atomic::Ordering::Relaxed);
    let read = fds[0];
    std::thread::spawn(move || {
        let mut byte = 0u8;
        // SAFETY: read is the pipe's read end, owned by this thread; byte is a valid buffer.
        while unsafe { libc::read(read, (&mut byte as *mut u8).cast(), 1) } != 1 {}
        let _ = std::fs::remove_dir_all(&scratch);
        std::process::exit(128 + byte as i32);
    });
    for sig in STOP {
        // SAFETY: sigaction is plain old data; zeroed is a valid value, filled in below.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        act.sa_flags = libc::SA_RESTART;
        // SAFETY: act is a valid sigaction whose handler only calls write (async-signal-safe);
        // sa_mask is left empty.
        unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
    }
}

/// `--from-csv`: the reports of an earlier run, rendered again.
fn rerender(args: &Args, csv: &std::path::Path, all: &[driver::Workload]) -> i32 {
    let text = match std::fs::read_to_string(csv) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("heapwise-hosted: {}: {e}", csv.display());
            return 64;
        }
    };
    let mut loaded = match driver::reload::parse(&text) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("heapwise-hosted: {}: {e}", csv.display());
            return 64;
        }
    };
    // Columns: the usual five (whatever their state on this machine) plus any other names.
    let mut allocators = alloc::all(Err("not measured".into()));
    for a in &mut allocators {
        a.missing = None;
    }
    let names: std::collections::BTreeSet<String> =
        loaded.values().flat_map(|m| m.keys().cloned()).collect();
    for n in names {
        if !allocators.iter().any(|a| a.name == n) {
            allocators.push(alloc::Allocator {
                name: Box::leak(n.into_boxed_str()),
                preload: None,
                missing: None,
                marker: "",
                env: Vec::new(),
                rust_na: None,
            });
        }
    }
    let keys: Vec<&'static str> = allocators.iter().map(|a| a.name).collect();
    allocators.retain(|a| loaded.values().any(|m| m.contains_key(a.name)));
    let mut rows = Vec::new();
    let wanted = match driver::select(all, &args.only) {
        Ok(v) => v,
        Err(msg) => {
            eprintln!("heapwise-hosted: {msg}");
            return 64;
        }
    };
    for w in all {
        let Some(runs) = loaded.remove(&w.name) else {
            continue;
        };
        if wanted.iter().any(|x| x.name == w.name) {
            rows.push((w, driver::reload::results(runs, &keys)));
        }
    }
    // What is left: rows of the CSV that are no workload of this suite (those not selected
    // by --only were taken out above).
    for name in loaded.keys() {
        eprintln!("heapwise-hosted: {name} is not a workload of this suite; skipped");
    }
    let runs = rows
        .iter()
        .flat_map(|(_, r)| r.values().map(|v| v.len()))
        .max()
        .unwrap_or(0);
    let suite = Suite {
        allocators: &allocators,
        rows,
        runs,
        // The CSV does not record the scale: the one given now, or the default (--quick's
        // included), is what the report can say.
        scale: args.scale.unwrap_or(if args.quick { 0.1 } else { 1.0 }),
        command: format!("heapwise-hosted --from-csv {}", csv.display()),
        machine: "(rendered from a CSV file; see the original report)".into(),
        preloads_known: false,
    };
    let md = suite.markdown();
    println!("{md}");
    for (path, text) in [
        (&args.md, md),
        (&args.csv, suite.csv()),
        (&args.svg, suite.svg()),
    ] {
        if let Some(p) = path {
            if let Err(e) = std::fs::write(p, text) {
                eprintln!("heapwise-hosted: cannot write {}: {e}", p.display());
            }
        }
    }
    0
}
