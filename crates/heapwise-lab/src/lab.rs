//! The measurement run behind `replay` and `bench`: every trace under every chosen policy
//! and under the system allocator, in one invocation, and the per-policy summary.
//!
//! For each trace:
//! 1. the system allocator replays it once with every check on ([`crate::replay`]), under
//!    the same limit as the simulated heaps (a request past it is its out of memory);
//! 2. each policy replays it once with every check on, on a fresh `SimBrk` heap; this run
//!    gives the utilisation, heap size and fragmentation figures;
//! 3. `repeat` rounds follow, each timing every policy that passed and then the system
//!    allocator with the unchecked replayer ([`crate::timing`]), a fresh heap per run;
//!    a trace's throughput is its best round (shortest time).
//!
//! The timed runs never include validation, so Kops/s compare allocators, not checkers.
//! A failed trace (out of memory or a violation) counts as utilisation 0 in its policy's
//! mean and is left out of the throughput sums. A trace without requests (the recorded trace
//! of a process that never called `malloc`) has no utilisation and no throughput, and is
//! left out of both.

use std::time::Duration;

use heapwise_core::PolicyKind;
use serde::Serialize;

use crate::alloc::{EngineAllocator, HeapMemory, SystemAllocator};
use crate::progress::Progress;
use crate::replay::{replay_checked, Checked, Failure};
use crate::timing::replay_timed;
use crate::trace::Trace;

/// The lab's reference throughput for the performance index: 600 Kops/s
/// (mdriver's `AVG_LIBC_THRUPUT`).
pub const REFERENCE_KOPS: f64 = 600.0;

/// The weight of utilisation in the performance index (mdriver's `UTIL_WEIGHT`).
pub const UTIL_WEIGHT: f64 = 0.6;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// The policies, in report order.
    pub policies: Vec<PolicyKind>,
    /// Timed rounds per trace (best of them is reported); 0 skips timing.
    pub repeat: usize,
    /// Maximum size of each simulated heap, in bytes, and the most the system allocator
    /// may hold at a time in a replay.
    pub heap_limit: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            policies: PolicyKind::ALL.to_vec(),
            repeat: 3,
            heap_limit: DEFAULT_HEAP_LIMIT,
        }
    }
}

/// Default `--heap-limit`: 256 MiB (the classic lab's own limit is 20 MiB).
pub const DEFAULT_HEAP_LIMIT: usize = 256 << 20;

/// One trace under one policy. Serialises to exactly the `--json` fields.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct TraceRow {
    /// Trace name (file stem).
    pub trace: String,
    /// Policy name.
    pub policy: String,
    /// Requests in the trace.
    pub ops: usize,
    /// Peak utilisation, 0..1 (null when the trace failed, or has no requests).
    pub util: Option<f64>,
    /// Final heap size in bytes.
    pub heap_bytes: Option<usize>,
    /// Internal fragmentation at the peak live payload, 0..1.
    pub internal_frag: Option<f64>,
    /// External fragmentation at the peak live payload, 0..1.
    pub external_frag: Option<f64>,
    /// Best-of-repeat throughput, thousands of requests per second (null without timing,
    /// after a failure, or for a trace without requests).
    pub kops: Option<f64>,
    /// The system allocator's throughput on the same trace in the same run.
    pub system_kops: Option<f64>,
    /// Whether the trace ran to its end with every check passing.
    pub ok: bool,
    /// Why not, when `ok` is false.
    pub error: Option<String>,
    /// Best time of the policy (not serialised).
    #[serde(skip)]
    pub secs: Option<f64>,
    /// Best time of the system allocator (not serialised).
    #[serde(skip)]
    pub system_secs: Option<f64>,
    /// Whether the failure is a correctness violation (not serialised).
    #[serde(skip)]
    pub violation: bool,
}

/// One policy over all traces. Serialises to exactly the `--json` fields.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SummaryRow {
    /// Policy name.
    pub policy: String,
    /// Mean of per-trace utilisations (failed traces count 0; traces without requests,
    /// which have no utilisation, are left out); null when no trace is left.
    pub mean_util: Option<f64>,
    /// Total requests / total seconds of the traces that passed, in Kops/s.
    pub kops: Option<f64>,
    /// The same for the system allocator on those traces.
    pub system_kops: Option<f64>,
    /// `100 · (0.6 · U + 0.4 · min(1, T / 600 Kops/s))`; null without a throughput
    /// (`--repeat 0`, or every trace failed) or a mean utilisation.
    pub index: Option<f64>,
}

/// A whole run. Serialises to exactly the `--json` object.
#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct Report {
    /// Per trace and policy, trace-major.
    pub traces: Vec<TraceRow>,
    /// Per policy.
    pub summary: Vec<SummaryRow>,
    /// Failures of the system allocator, one line each (not serialised; the CLI prints
    /// them on stderr).
    #[serde(skip)]
    pub system_failures: Vec<String>,
    /// Whether one of `system_failures` is a correctness violation (not serialised).
    #[serde(skip)]
    pub system_violation: bool,
}

impl Report {
    /// Whether some trace broke a correctness rule (under a policy or the system allocator).
    pub fn has_violation(&self) -> bool {
        self.system_violation || self.traces.iter().any(|r| r.violation)
    }
}

/// The classic performance index for mean utilisation `util` (0..1) and throughput `kops`.
///
/// ```
/// assert_eq!(heapwise_lab::lab::perf_index(0.5, 300.0), 50.0);
/// ```
pub fn perf_index(util: f64, kops: f64) -> f64 {
    100.0 * (UTIL_WEIGHT * util + (1.0 - UTIL_WEIGHT) * (kops / REFERENCE_KOPS).min(1.0))
}

fn kops(ops: usize, secs: f64) -> f64 {
    if secs > 0.0 {
        ops as f64 / secs / 1e3
    } else {
        f64::INFINITY
    }
}

fn best(cur: Option<Duration>, d: Duration) -> Option<Duration> {
    Some(cur.map_or(d, |c| c.min(d)))
}

/// Units of progress [`run`] reports for `traces` under `cfg`.
pub fn work_units(traces: &[Trace], cfg: &Config) -> u64 {
    (traces.len() * (cfg.policies.len() + 1) * (1 + cfg.repeat)) as u64
}

/// Runs every trace under every policy of `cfg` and the system allocator. Fails only when
/// the simulated heaps' memory (`cfg.heap_limit`) cannot be reserved.
pub fn run(traces: &[Trace], cfg: &Config, progress: &Progress) -> Result<Report, String> {
    let mut mem = HeapMemory::new(cfg.heap_limit)?;
    let mut report = Report::default();
    for t in traces {
        progress.step(1, &format!("{} system", t.name));
        let sys = replay_checked(t, &mut SystemAllocator::new(cfg.heap_limit));
        if let Err(f) = &sys {
            report
                .system_failures
                .push(format!("system allocator: {}: {f}", t.name));
            report.system_violation |= f.is_violation();
        }
        let sys_ok = sys.is_ok();
        let mut checked: Vec<Result<Checked, Failure>> = Vec::new();
        for &p in &cfg.policies {
            progress.step(1, &format!("{} {p}", t.name));
            checked.push(replay_checked(t, &mut EngineAllocator::new(p, &mut mem)));
        }
        let mut times: Vec<Option<Duration>> = vec![None; cfg.policies.len()];
        let mut sys_time = None;
        for _ in 0..cfg.repeat {
            for (i, &p) in cfg.policies.iter().enumerate() {
                progress.step(1, &format!("{} {p} (timing)", t.name));
                if checked[i].is_ok() {
                    if let Ok(d) = replay_timed(t, &mut EngineAllocator::new(p, &mut mem)) {
                        times[i] = best(times[i], d);
                    }
                }
            }
            progress.step(1, &format!("{} system (timing)", t.name));
            if sys_ok {
                if let Ok(d) = replay_timed(t, &mut SystemAllocator::new(cfg.heap_limit)) {
                    sys_time = best(sys_time, d);
                }
            }
        }
        let system_secs = sys_time.map(|d| d.as_secs_f64());
        for (i, &p) in cfg.policies.iter().enumerate() {
            let secs = times[i].map(|d| d.as_secs_f64());
            let ops = t.ops.len();
            let mut row = TraceRow {
                trace: t.name.clone(),
                policy: p.name().to_string(),
                ops,
                util: None,
                heap_bytes: None,
                internal_frag: None,
                external_frag: None,
                // No requests, no throughput (0 requests in some nanoseconds is not 0/s).
                kops: secs.filter(|_| ops > 0).map(|s| kops(ops, s)),
                system_kops: system_secs.filter(|_| ops > 0).map(|s| kops(ops, s)),
                ok: false,
                error: None,
                secs,
                system_secs,
                violation: false,
            };
            match &checked[i] {
                Ok(c) => {
                    row.ok = true;
                    row.util = c.util();
                    row.heap_bytes = c.heap_bytes;
                    row.internal_frag = c.internal_frag();
                    row.external_frag = c.external_frag();
                }
                Err(f) => {
                    row.error = Some(f.to_string());
                    row.violation = f.is_violation();
                    row.kops = None;
                    row.secs = None;
                }
            }
            report.traces.push(row);
        }
    }
    report.summary = summarise(&report.traces, &cfg.policies);
    Ok(report)
}

/// The per-policy summary of `rows`.
pub fn summarise(rows: &[TraceRow], policies: &[PolicyKind]) -> Vec<SummaryRow> {
    policies
        .iter()
        .map(|p| {
            let mine: Vec<&TraceRow> = rows.iter().filter(|r| r.policy == p.name()).collect();
            // A failed trace counts 0; one that ran without a utilisation (no requests) is
            // left out.
            let utils: Vec<f64> = mine
                .iter()
                .filter(|r| !r.ok || r.util.is_some())
                .map(|r| r.util.unwrap_or(0.0))
                .collect();
            let mean_util =
                (!utils.is_empty()).then(|| utils.iter().sum::<f64>() / utils.len() as f64);
            let (mut ops, mut secs, mut sys_ops, mut sys_secs) = (0usize, 0.0, 0usize, 0.0);
            for r in &mine {
                if let Some(s) = r.secs {
                    ops += r.ops;
                    secs += s;
                    if let Some(ss) = r.system_secs {
                        sys_ops += r.ops;
                        sys_secs += ss;
                    }
                }
            }
            let kops_v = (ops > 0).then(|| kops(ops, secs));
            SummaryRow {
                policy: p.name().to_string(),
                mean_util,
                kops: kops_v,
                system_kops: (sys_ops > 0).then(|| kops(sys_ops, sys_secs)),
                index: kops_v.zip(mean_util).map(|(k, u)| perf_index(u, k)),
            }
        })
        .collect()
}
