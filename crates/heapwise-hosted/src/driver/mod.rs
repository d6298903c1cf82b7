//! The measuring side of the suite: which workloads run under which allocators, in what order,
//! how each run is verified, and how the samples become tables.
//!
//! Order: for each workload, run 1 of every allocator, then run 2 of every allocator, ...
//! (the allocator order rotates from one run to the next), so machine noise spreads over all
//! columns instead of landing on one.
//!
//! Verification of a run: exit status 0; the result line of the child (checksum; for the
//! synthetic workloads the object `malloc` resolved to, which must be the allocator meant);
//! and, after all runs of a workload, one checksum for every run of every allocator (the
//! checksums do not depend on timing). A run that fails any of these is a failure in the
//! tables, never a time.

pub mod alloc;
pub mod proc;
pub mod real;
pub mod reload;
pub mod report;
pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::work::Spec;
use alloc::Allocator;

/// What a workload is made of.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// A synthetic workload of [`crate::work`], run by `hosted-work` under a preload.
    Synthetic(&'static Spec),
    /// A Rust-level workload of [`crate::rustwork`], run by one `rust-work-*` binary per
    /// allocator.
    Rust(&'static Spec),
    /// A real program.
    Real(real::Program),
}

/// One row of the tables.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Row name.
    pub name: String,
    /// What it does.
    pub about: String,
    /// How it runs.
    pub kind: Kind,
}

/// Every workload of the suite, in table order.
pub fn workloads() -> Vec<Workload> {
    let mut v: Vec<Workload> = crate::work::ALL
        .iter()
        .map(|s| Workload {
            name: s.name.into(),
            about: s.about.into(),
            kind: Kind::Synthetic(s),
        })
        .collect();
    for p in real::Program::ALL {
        v.push(Workload {
            name: p.name().into(),
            about: p.about().into(),
            kind: Kind::Real(*p),
        });
    }
    for s in crate::rustwork::ALL {
        v.push(Workload {
            name: s.name.into(),
            about: s.about.into(),
            kind: Kind::Rust(s),
        });
    }
    v
}

/// Whether `w` is named by one of `only` (empty: every workload): its name, a prefix of it
/// such as `larson`, or its group, `synthetic`, `real` or `rust`.
fn named(only: &str, w: &Workload) -> bool {
    let group = match w.kind {
        Kind::Synthetic(_) => "synthetic",
        Kind::Real(_) => "real",
        Kind::Rust(_) => "rust",
    };
    if ["synthetic", "real", "rust"].contains(&only) {
        only == group
    } else {
        w.name.starts_with(only)
    }
}

/// The workloads of `all` that `--only` selects (all of them when `only` is empty), in table
/// order. An error when an entry of `only` names no workload: a typo (`larsen`) would
/// otherwise drop its rows without a word.
///
/// ```
/// use heapwise_hosted::driver::{select, workloads};
/// let all = workloads();
/// let v = select(&all, &["larson".into(), "g++".into()]).unwrap();
/// assert_eq!(v.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["larson-2t", "larson-4t", "g++"]);
/// assert!(select(&all, &["larsen".into()]).is_err());
/// ```
pub fn select<'a>(all: &'a [Workload], only: &[String]) -> Result<Vec<&'a Workload>, String> {
    if let Some(bad) = only.iter().find(|o| !all.iter().any(|w| named(o, w))) {
        return Err(format!(
            "--only {bad:?}: no workload is called so (see --list)"
        ));
    }
    Ok(all
        .iter()
        .filter(|w| only.is_empty() || only.iter().any(|o| named(o, w)))
        .collect())
}

/// One measured run.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Wall time in seconds.
    pub secs: f64,
    /// Peak RSS in KiB.
    pub maxrss_kib: u64,
    /// CPU time (user + system) in seconds.
    pub cpu_secs: f64,
    /// Checksum reported by the workload.
    pub checksum: String,
    /// What served `malloc` (or the global allocator), as the workload reported it.
    pub served_by: String,
}

/// Settings of one invocation.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Directory of the driver and workload binaries.
    pub bin_dir: PathBuf,
    /// Work multiplier.
    pub scale: f64,
    /// Per-run time limit.
    pub timeout: Duration,
    /// Scratch directory for real-program inputs.
    pub scratch: PathBuf,
}

fn parse_result(stdout: &str, prefix: &str) -> Result<BTreeMap<String, String>, String> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with(prefix))
        .ok_or_else(|| format!("no result line ({prefix}...) in the output"))?;
    Ok(line[prefix.len()..]
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn rust_binary(a: &Allocator) -> (&'static str, bool) {
    // (binary, whether the allocator's preload applies to it)
    match a.name {
        "heapwise" => ("rust-work-heapwise", false),
        "jemalloc" => ("rust-work-jemalloc", false),
        "mimalloc" => ("rust-work-mimalloc", false),
        _ => ("rust-work-system", true), // glibc (no preload), tcmalloc (System + preload)
    }
}

/// Runs `w` once under `a`.
pub fn run_once(ctx: &Ctx, w: &Workload, a: &Allocator) -> Result<Sample, String> {
    match w.kind {
        Kind::Synthetic(spec) | Kind::Rust(spec) => {
            let rust = matches!(w.kind, Kind::Rust(_));
            let (bin, preload) = if rust {
                rust_binary(a)
            } else {
                ("hosted-work", true)
            };
            let mut cmd = Command::new(ctx.bin_dir.join(bin));
            cmd.arg(spec.name);
            // Scale 1 is the workloads' default: the argument is left out. With it,
            // mimalloc 2.0.9 (Debian's) took a slow path on `st-small` that depends on the
            // process's start-up stack (2.0 s instead of 0.40 s, 7× the instructions;
            // `docs/performance/steps-session9.md`), an artefact of the command line, not
            // of the workload.
            if ctx.scale != 1.0 {
                cmd.arg("--scale").arg(ctx.scale.to_string());
            }
            if preload {
                a.apply(&mut cmd);
            } else {
                alloc::Allocator {
                    preload: None,
                    ..a.clone()
                }
                .apply(&mut cmd);
            }
            let f = proc::measure(&mut cmd, ctx.timeout)?;
            f.success()?;
            let kv = parse_result(
                &f.stdout,
                if rust { "rust-work: " } else { "hosted-work: " },
            )?;
            let checksum = kv.get("checksum").cloned().ok_or("no checksum")?;
            let malloc = kv.get("malloc").cloned().unwrap_or_default();
            let global = kv.get("global").cloned().unwrap_or_default();
            let served_by = if preload {
                let file = Path::new(&malloc)
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned());
                match file {
                    Some(f) if f.contains(a.marker) => f,
                    _ => {
                        return Err(format!(
                            "preload did not take: malloc resolves to {malloc:?}, expected {}",
                            a.marker
                        ))
                    }
                }
            } else {
                format!("#[global_allocator] {global}")
            };
            // The child's own peak (`hwm_kib`, see `crate::child`); `ru_maxrss` only from
            // a child that does not report it.
            let maxrss_kib = kv
                .get("hwm_kib")
                .and_then(|v| v.parse().ok())
                .unwrap_or(f.maxrss_kib);
            Ok(Sample {
                secs: f.secs,
                maxrss_kib,
                cpu_secs: f.cpu_secs,
                checksum,
                served_by,
            })
        }
        Kind::Real(p) => real::run(ctx, p, a),
    }
}

/// How the entry of a workload that did not run here begins (a real program that is not
/// installed): such an entry is no failed run; the reports show the workload as skipped and
/// leave it out of the verdicts and of the exit status.
pub const SKIPPED: &str = "skipped: ";

/// Whether a failed entry is a [`SKIPPED`] workload rather than a failed run.
pub fn is_skip(e: &str) -> bool {
    e.starts_with(SKIPPED)
}

/// All samples of one workload: per allocator, one entry per run.
pub type Results = BTreeMap<&'static str, Vec<Result<Sample, String>>>;

/// Runs `w` `runs` times under every available allocator, interleaved, then cross-checks the
/// checksums. `progress` is told about every run.
pub fn run_workload(
    ctx: &Ctx,
    w: &Workload,
    allocators: &[Allocator],
    runs: usize,
    progress: &mut dyn FnMut(&str),
) -> Results {
    // A column without Rust-level rows gets no entry there (shown as `–`).
    let rust = matches!(w.kind, Kind::Rust(_));
    let avail: Vec<&Allocator> = allocators
        .iter()
        .filter(|a| a.available() && !(rust && a.rust_na.is_some()))
        .collect();
    let mut res: Results = BTreeMap::new();
    if let Kind::Real(p) = w.kind {
        if let Err(e) = real::available(p) {
            progress(&format!("{:<18} skipped: {e}", w.name));
            for a in &avail {
                res.insert(a.name, vec![Err(format!("{SKIPPED}{e}"))]);
            }
            return res;
        }
    }
    // Real programs: a preload that does not take is found once, untimed, per allocator.
    let mut blocked: BTreeMap<&str, String> = BTreeMap::new();
    if let Kind::Real(p) = w.kind {
        for a in &avail {
            if let Err(e) = real::preflight(ctx, p, a) {
                progress(&format!(
                    "{:<18} {:<9} preflight FAILED: {e}",
                    w.name, a.name
                ));
                blocked.insert(a.name, e);
            }
        }
    }
    for r in 0..runs {
        for k in 0..avail.len() {
            let a = avail[(k + r) % avail.len()];
            let entry = res.entry(a.name).or_default();
            if let Some(e) = blocked.get(a.name) {
                if r == 0 {
                    entry.push(Err(format!("preflight: {e}")));
                }
                continue;
            }
            let s = run_once(ctx, w, a);
            progress(&match &s {
                Ok(s) => format!(
                    "{:<18} {:<9} run {}: {:8.3} s {:8.1} MiB  [{}]",
                    w.name,
                    a.name,
                    r + 1,
                    s.secs,
                    s.maxrss_kib as f64 / 1024.0,
                    s.served_by
                ),
                Err(e) => format!("{:<18} {:<9} run {}: FAILED: {e}", w.name, a.name, r + 1),
            });
            entry.push(s);
        }
    }
    cross_check(&mut res);
    res
}

/// Marks as failed every run whose checksum differs from glibc's (or, without glibc, from the
/// most common one).
fn cross_check(res: &mut Results) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for s in res.values().flatten().flatten() {
        *counts.entry(s.checksum.clone()).or_default() += 1;
    }
    let reference = res
        .get("glibc")
        .and_then(|v| v.iter().flatten().next().map(|s| s.checksum.clone()))
        .or_else(|| {
            counts
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|(c, _)| c.clone())
        });
    let Some(reference) = reference else { return };
    for v in res.values_mut() {
        for s in v.iter_mut() {
            if let Ok(x) = s {
                if x.checksum != reference {
                    *s = Err(format!(
                        "checksum {} differs from the reference {reference}",
                        x.checksum
                    ));
                }
            }
        }
    }
}
