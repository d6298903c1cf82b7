//! The `heapwise` command line (clap derive): argument definitions and one function per
//! subcommand.
//!
//! Exit status: 0 success; 1 an allocator broke a correctness rule; 2 bad usage, malformed
//! trace, unreadable or unwritable file, missing preload library, a command `run`/`record`
//! cannot start (once started, the command replaces `heapwise`: its status is its own). A
//! trace that runs out of memory under `--heap-limit` is reported in its row and does not
//! change the status.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use heapwise_core::PolicyKind;

use crate::alloc::HeapMemory;
use crate::gen::{generate, Kind, MAX_OPS};
use crate::lab::{self, Config, DEFAULT_HEAP_LIMIT};
use crate::progress::Progress;
use crate::trace::{expand_paths, Format, Trace};

/// Measure the heapwise allocator: replay malloc traces, generate workloads, draw the heap.
#[derive(Parser, Debug)]
#[command(name = "heapwise", version)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Cmd,
}

/// Header variant of trace files.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// Detect from the numbers.
    Auto,
    /// `sugg_heapsize num_ids num_ops weight` (CS:APP 2002).
    Classic,
    /// `weight num_ids num_ops peak_live_payload` (later editions).
    New,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Auto => Format::Auto,
            FormatArg::Classic => Format::Classic,
            FormatArg::New => Format::New,
        }
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Replay malloc-lab traces under each policy and the system allocator.
    Replay {
        /// Trace files, or directories (their *.rep files, sorted).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// A policy name, a comma-separated list of them, or `all`.
        #[arg(long, default_value = "all", value_parser = parse_policies)]
        policy: PolicySel,
        /// Timed runs per trace and allocator; the best one is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Header variant of the trace files.
        #[arg(long, value_enum, default_value = "auto")]
        format: FormatArg,
        /// Maximum heap size per replay (bytes; suffixes K, M, G).
        #[arg(long, value_parser = parse_size, default_value = "256M")]
        heap_limit: usize,
    },
    /// Write a synthetic trace (classic format).
    Gen {
        /// The workload.
        #[arg(long, value_enum)]
        kind: Kind,
        /// Seed of the random generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of requests (at most 100000000).
        #[arg(long, default_value_t = 20_000, value_parser = parse_ops)]
        ops: usize,
        /// Output file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// The main job: built-in workloads under every policy and the system allocator;
    /// prints the table and writes an SVG report.
    Bench {
        /// Requests per workload (at most 1000000: the five workloads are held in memory).
        #[arg(long, default_value_t = BENCH_OPS, value_parser = parse_bench_ops)]
        ops: usize,
        /// Timed runs per workload and allocator; the best one is reported.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// A policy name, a comma-separated list of them, or `all`.
        #[arg(long, default_value = "all", value_parser = parse_policies)]
        policy: PolicySel,
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
        /// Where to write the SVG report.
        #[arg(short = 'o', long = "output", default_value = "heapwise-report.svg")]
        output: PathBuf,
        /// Maximum heap size per replay (bytes; suffixes K, M, G).
        #[arg(long, value_parser = parse_size, default_value = "256M")]
        heap_limit: usize,
    },
    /// Draw the heap map at peak heap size and the heap/payload curves as SVG.
    Viz {
        /// The trace file.
        trace: PathBuf,
        /// The policy.
        #[arg(long, default_value = "segregated", value_parser = parse_policy)]
        policy: PolicyKind,
        /// Output SVG file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Header variant of the trace file.
        #[arg(long, value_enum, default_value = "auto")]
        format: FormatArg,
        /// Maximum heap size (bytes; suffixes K, M, G).
        #[arg(long, value_parser = parse_size, default_value = "256M")]
        heap_limit: usize,
    },
    /// Run a command with libheapwise.so preloaded.
    Run {
        /// Policy for the preloaded allocator (HEAPWISE_POLICY).
        #[arg(long, value_parser = parse_policy)]
        policy: Option<PolicyKind>,
        /// Print the allocator's statistics at exit (HEAPWISE_STATS=1).
        #[arg(long)]
        stats: bool,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<OsString>,
    },
    /// Run a command with libheapwise.so preloaded and record its malloc trace.
    Record {
        /// The trace file to write (HEAPWISE_TRACE).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true)]
        cmd: Vec<OsString>,
    },
}

/// Requests per built-in workload of `bench`.
pub const BENCH_OPS: usize = 20_000;

/// Most requests per built-in workload of `bench` (`--ops`): the five workloads are
/// generated up front and held in memory (24 bytes a request, ~120 MB in all at this
/// bound, besides the replayers' tables). Longer traces are for `gen` and `replay`.
pub const BENCH_MAX_OPS: usize = 1_000_000;

/// Fixed seeds of the built-in workloads (one per [`Kind`], in [`Kind::ALL`] order).
pub const BENCH_SEEDS: [u64; 5] = [11, 12, 13, 14, 15];

/// The `--policy` choice.
#[derive(Clone, Debug)]
pub struct PolicySel(pub Vec<PolicyKind>);

fn names() -> String {
    PolicyKind::ALL
        .iter()
        .map(|p| p.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_policy(s: &str) -> Result<PolicyKind, String> {
    PolicyKind::from_name(s).ok_or_else(|| format!("unknown policy `{s}` (known: {})", names()))
}

/// `all`, or a comma-separated list of policy names (a name given twice counts once).
fn parse_policies(s: &str) -> Result<PolicySel, String> {
    if s == "all" {
        return Ok(PolicySel(PolicyKind::ALL.to_vec()));
    }
    let mut v = Vec::new();
    for n in s.split(',') {
        let p = parse_policy(n.trim())?;
        if !v.contains(&p) {
            v.push(p);
        }
    }
    Ok(PolicySel(v))
}

/// Parses a request count of `gen` (at most [`MAX_OPS`]).
fn parse_ops(s: &str) -> Result<usize, String> {
    parse_count(s, MAX_OPS, || format!("at most {MAX_OPS} requests"))
}

/// Parses a request count of `bench` (at most [`BENCH_MAX_OPS`]).
fn parse_bench_ops(s: &str) -> Result<usize, String> {
    parse_count(s, BENCH_MAX_OPS, || {
        format!(
            "at most {BENCH_MAX_OPS} requests per workload (the five workloads are held in \
             memory; for longer runs, `heapwise gen` a trace and `heapwise replay` it)"
        )
    })
}

/// Parses a request count of at most `max`: a count beyond it, even one beyond `usize`, is
/// too many (`too_many` says so), not a non-number.
fn parse_count(s: &str, max: usize, too_many: impl FnOnce() -> String) -> Result<usize, String> {
    let t = s.trim();
    match t.parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ if crate::trace::is_number(t) => Err(too_many()),
        _ => Err(format!("`{s}` is not a number of requests")),
    }
}

/// Parses a byte count with an optional K/M/G suffix (powers of 1024; `KiB` etc. too).
///
/// ```
/// assert_eq!(heapwise_lab::cli::parse_size("20M"), Ok(20 << 20));
/// assert_eq!(heapwise_lab::cli::parse_size("4096"), Ok(4096));
/// ```
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: usize = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 4096, 64K, 20M, 1G)"))?;
    n.checked_mul(1usize << shift)
        .filter(|&v| v >= 4096 && v <= isize::MAX as usize / 2)
        .ok_or_else(|| format!("size `{s}` out of range (4K or more)"))
}

/// Writes to stdout; a closed pipe (`heapwise ... | head`) is not an error, any other
/// failure (a full disk) is.
fn out(s: &str) -> Result<(), String> {
    let mut o = std::io::stdout().lock();
    match o.write_all(s.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

fn fail(msg: impl std::fmt::Display) -> i32 {
    eprintln!("heapwise: {msg}");
    2
}

/// Parses `std::env::args` and runs; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    run(cli)
}

/// Runs a parsed command line; returns the exit status.
pub fn run(cli: Cli) -> i32 {
    match cli.command {
        Cmd::Replay {
            paths,
            policy,
            repeat,
            json,
            format,
            heap_limit,
        } => {
            let files = match expand_paths(&paths) {
                Ok(f) => f,
                Err(e) => return fail(e),
            };
            let mut traces = Vec::new();
            let mut bad = false;
            for f in &files {
                // (Only a regular file's length says it is empty: a pipe's is always 0.)
                if std::fs::metadata(f).is_ok_and(|m| m.is_file() && m.len() == 0) {
                    // A process that left through `_exit` (no exit handlers), or was killed
                    // by a signal, wrote no trace.
                    eprintln!(
                        "note: {} is empty (a process that leaves through _exit or is killed \
                         by a signal writes no trace): skipped",
                        f.display()
                    );
                    continue;
                }
                let parsed = crate::trace::read_text(f).and_then(|text| {
                    if crate::trace::unfinished_recording(&text) {
                        // The same processes, after more than the recorder's buffer of
                        // lines, and those whose trace could not be written to the end: the
                        // placeholder header, and a body that may be cut.
                        eprintln!(
                            "note: {} is an unfinished recording (a process that leaves \
                             through _exit or is killed by a signal, or whose trace could not \
                             be written, as the library then said on its stderr, writes no \
                             header): skipped",
                            f.display()
                        );
                        return Ok(None);
                    }
                    Trace::parse(f, &text, format.into()).map(Some)
                });
                match parsed {
                    Ok(Some(t)) => traces.push(t),
                    Ok(None) => {}
                    Err(e) => {
                        eprintln!("{e}");
                        bad = true;
                    }
                }
            }
            if bad {
                return 2;
            }
            if traces.is_empty() {
                return fail(
                    "no trace to replay (every file given is empty or an unfinished recording)",
                );
            }
            crate::trace::unique_names(&mut traces);
            measure(&traces, policy.0, repeat, heap_limit, json, None)
        }
        Cmd::Bench {
            ops,
            repeat,
            policy,
            json,
            output,
            heap_limit,
        } => {
            let traces: Vec<Trace> = Kind::ALL
                .iter()
                .zip(BENCH_SEEDS)
                .map(|(&k, s)| generate(k, s, ops))
                .collect();
            measure(&traces, policy.0, repeat, heap_limit, json, Some(output))
        }
        Cmd::Gen {
            kind,
            seed,
            ops,
            output,
        } => {
            let t = generate(kind, seed, ops);
            match std::fs::write(&output, t.to_classic()) {
                Ok(()) => 0,
                Err(e) => fail(format!("cannot write {}: {e}", output.display())),
            }
        }
        Cmd::Viz {
            trace,
            policy,
            output,
            format,
            heap_limit,
        } => {
            let t = match Trace::read(&trace, format.into()) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{e}");
                    return 2;
                }
            };
            if t.ops.is_empty() {
                return fail(format!("{}: no requests: nothing to draw", trace.display()));
            }
            let mut mem = match HeapMemory::new(heap_limit) {
                Ok(m) => m,
                Err(e) => return fail(e),
            };
            let snap = match crate::viz::snapshot(&t, policy, &mut mem) {
                Ok(s) => s,
                Err(f) => {
                    eprintln!("heapwise: {}: {policy}: {f}", trace.display());
                    return if f.is_violation() { 1 } else { 2 };
                }
            };
            let svg = crate::viz::render(&t, policy, &snap);
            match std::fs::write(&output, svg) {
                Ok(()) => 0,
                Err(e) => fail(format!("cannot write {}: {e}", output.display())),
            }
        }
        Cmd::Run { policy, stats, cmd } => {
            let mut env = Vec::new();
            if let Some(p) = policy {
                env.push(("HEAPWISE_POLICY", OsString::from(p.name())));
            }
            if stats {
                env.push(("HEAPWISE_STATS", OsString::from("1")));
            }
            preloaded(&cmd, &env)
        }
        Cmd::Record { output, cmd } => {
            // The library opens the path in the recorded process, which may run elsewhere
            // (`env -C`, a script that `cd`s) and reports a file it cannot open only on its
            // stderr: the path goes absolute, and is tried here first.
            let output = match std::path::absolute(&output) {
                Ok(p) => p,
                Err(e) => return fail(format!("bad output path {}: {e}", output.display())),
            };
            let per_process = output.to_string_lossy().contains("%p");
            if !per_process {
                if let Err(e) = std::fs::File::create(&output) {
                    return fail(format!("cannot write {}: {e}", output.display()));
                }
            } else if let Some(dir) = output.parent().filter(|d| !d.is_dir()) {
                return fail(format!("no such directory: {}", dir.display()));
            }
            let mut env = vec![("HEAPWISE_TRACE", output.into_os_string())];
            if !per_process {
                // The command's own trace: it runs in this process (`exec`), and its other
                // descendants (children, background jobs that outlive it) do not record into
                // the file, whenever they start.
                env.push((
                    "HEAPWISE_TRACE_PID",
                    OsString::from(std::process::id().to_string()),
                ));
            }
            preloaded(&cmd, &env)
        }
    }
}

fn preloaded(cmd: &[OsString], env: &[(&str, OsString)]) -> i32 {
    let lib = match crate::preload::find_library() {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    fail(crate::preload::exec_preloaded(&lib, cmd, env))
}

fn measure(
    traces: &[Trace],
    policies: Vec<PolicyKind>,
    repeat: usize,
    heap_limit: usize,
    json: bool,
    svg: Option<PathBuf>,
) -> i32 {
    let cfg = Config {
        policies,
        repeat,
        heap_limit,
    };
    let progress = Progress::new(lab::work_units(traces, &cfg));
    let report = lab::run(traces, &cfg, &progress);
    progress.finish();
    let report = match report {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for f in &report.system_failures {
        eprintln!("heapwise: {f}");
    }
    let text = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => return fail(e),
        }
    } else {
        crate::table::render(&report)
    };
    if let Err(e) = out(&text) {
        return fail(e);
    }
    if let Some(path) = svg {
        let title = format!(
            "heapwise bench: {} workloads x {} requests, best of {} timed runs",
            traces.len(),
            traces.first().map_or(0, |t| t.ops.len()),
            repeat
        );
        if let Err(e) = std::fs::write(&path, crate::chart::render(&report, &title)) {
            return fail(format!("cannot write {}: {e}", path.display()));
        }
        if !json {
            if let Err(e) = out(&format!("\nreport written to {}\n", path.display())) {
                return fail(e);
            }
        }
    }
    if report.has_violation() {
        eprintln!("heapwise: some allocator broke a correctness rule (see the status column)");
        1
    } else {
        0
    }
}

const _: () = assert!(DEFAULT_HEAP_LIMIT == 256 << 20);
