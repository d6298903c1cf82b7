//! `heapwise-bench`: the command line of the peer benchmark. Parses the options, runs
//! [`heapwise_bench::run`], prints the markdown table (stdout) and progress (stderr), and
//! writes CSV on request.

use std::process::ExitCode;

use heapwise_bench::{csv, markdown, notes, run, Config, Row, Subject};
use heapwise_core::PolicyKind;

const USAGE: &str = "\
usage: heapwise-bench [arena] [options]

Runs every heapwise policy and the peer allocators (talc, rlsf, dlmalloc,
buddy_system_allocator, linked_list_allocator) on the same fresh arena:
random actions (Mops/s of thread CPU time, median of the runs) and heap
efficiency (peak live requested bytes / arena bytes at the first failure).

options:
  --ops N          random-action operations per run (default 5000000)
  --linear-ops N   operations for linear-search allocators: implicit and
                   explicit lists, linked_list_allocator (default 500000)
  --runs N         runs per allocator, median reported (default 3)
  --only NAME      only these rows (repeatable, or comma-separated): a full row
                   name, `heapwise`, `heapwise-any`, a policy prefix such as
                   `implicit`, or a peer name
  --baseline       also measure the harness floor (power-of-two slabs): what
                   the workload loop costs without a real allocator
  --any-all        also measure every policy through AnyHeap (default: only
                   the default policy)
  --csv FILE       also write the results as CSV
  --seed N         seed of the random-actions trace
  --arena-mib N    arena size in MiB (default 64)
  --jobs N         threads for the (untimed) efficiency runs (default: cores)
  --no-throughput  skip the random-actions runs
  --no-efficiency  skip the efficiency runs
  --list           list the row names and exit
  -h, --help       this text";

struct Args {
    cfg: Config,
    csv: Option<String>,
    list: bool,
}

fn parse() -> Result<Args, String> {
    let mut cfg = Config::default();
    let mut only: Vec<String> = Vec::new();
    let mut any_all = false;
    let mut baseline = false;
    let mut csv = None;
    let mut list = false;
    let mut it = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.replace('_', "")
            .parse()
            .map_err(|_| format!("{flag}: not a number: {v}"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "arena" => {}
            "--ops" => cfg.actions.ops = num("--ops", it.next())?,
            "--linear-ops" => cfg.linear_ops = num("--linear-ops", it.next())?,
            "--runs" => cfg.runs = num::<usize>("--runs", it.next())?.max(1),
            "--jobs" => cfg.jobs = num("--jobs", it.next())?,
            "--seed" => cfg.actions.seed = num("--seed", it.next())?,
            "--arena-mib" => cfg.arena_bytes = num::<usize>("--arena-mib", it.next())? << 20,
            "--only" => only.extend(
                it.next()
                    .ok_or("--only needs a value")?
                    .split(',')
                    .map(str::to_owned),
            ),
            "--any-all" => any_all = true,
            "--baseline" => baseline = true,
            "--csv" => csv = Some(it.next().ok_or("--csv needs a file name")?),
            "--no-throughput" => cfg.run_throughput = false,
            "--no-efficiency" => cfg.run_efficiency = false,
            "--list" => list = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if any_all {
        cfg.subjects.extend(
            PolicyKind::ALL
                .iter()
                .filter(|&&k| k != PolicyKind::DEFAULT)
                .map(|&k| Subject::HeapwiseAny(k)),
        );
    }
    if baseline || only.iter().any(|p| p == "baseline") {
        cfg.subjects.push(Subject::Baseline);
    }
    if !only.is_empty() {
        let all = cfg.subjects.clone();
        cfg.subjects = all
            .into_iter()
            .filter(|s| {
                // `--baseline` keeps the harness floor whatever `--only` names.
                (baseline && matches!(s, Subject::Baseline)) || only.iter().any(|p| s.matches(p))
            })
            .collect();
        if cfg.subjects.is_empty() {
            return Err(format!(
                "--only {}: no such allocator (see --list)",
                only.join(",")
            ));
        }
    }
    Ok(Args { cfg, csv, list })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn targets(rows: &[Row]) -> Option<String> {
    let default = rows
        .iter()
        .find(|r| r.subject == Subject::Heapwise(PolicyKind::DEFAULT))?;
    let mut s = String::new();
    let talc = rows.iter().find(|r| r.subject == Subject::Talc);
    if let (Some((d, _, _)), Some((t, _, _))) = (default.mops(), talc.and_then(Row::mops)) {
        let ok = d >= 1.2 * t;
        s.push_str(&format!(
            "Target throughput >= 1.2x talc: {:.2}x -> {}\n",
            d / t,
            if ok { "met" } else { "MISSED" }
        ));
    }
    if let Some(e) = &default.eff {
        let ok = e.efficiency() >= 0.98;
        s.push_str(&format!(
            "Target efficiency >= 98 %: {:.2} % -> {}\n",
            e.efficiency() * 100.0,
            if ok { "met" } else { "MISSED" }
        ));
    }
    Some(s)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("heapwise-bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for s in &args.cfg.subjects {
            println!("{}", s.name());
        }
        return ExitCode::SUCCESS;
    }
    let cfg = &args.cfg;
    println!(
        "heapwise-bench: {} MiB arena, random actions {} ops ({} for linear searches), median of {}, seed {:#x}; {}",
        cfg.arena_bytes >> 20,
        cfg.actions.ops,
        cfg.linear_ops.min(cfg.actions.ops),
        cfg.runs,
        cfg.actions.seed,
        cpu_model()
    );
    let rows = run(cfg, |line| eprintln!("{line}"));
    println!();
    print!("{}", markdown(&rows));
    println!();
    print!("{}", notes(&rows));
    if let Some(t) = targets(&rows) {
        print!("{t}");
    }
    if let Some(path) = &args.csv {
        if let Err(e) = std::fs::write(path, csv(&rows)) {
            eprintln!("heapwise-bench: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {path}");
    }
    if rows.iter().any(|r| r.corruptions() > 0) {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
