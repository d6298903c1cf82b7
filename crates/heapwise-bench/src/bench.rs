//! One benchmark invocation: every selected contender on a fresh arena, the validating
//! random-actions replay once per contender (untimed: every pointer and block tag checked),
//! then the timed replay `runs` times (round-robin over the contenders, so slow drifts of a
//! shared machine hit all of them alike, on one thread), then the efficiency run once per
//! contender (it is deterministic and untimed, so these run in parallel, one arena per
//! thread).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use crate::arena::Arena;
use crate::contender::{with_subject, Subject};
use crate::efficiency::{EffStats, Efficiency};
use crate::random_actions::{Replay, RunStats};
use crate::trace::RandomActions;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The rows, in report order.
    pub subjects: Vec<Subject>,
    /// The random-actions workload (its `ops` is the full length).
    pub actions: RandomActions,
    /// Operations for contenders whose search is linear ([`Subject::is_linear`]).
    pub linear_ops: usize,
    /// Replays per contender (the median is reported).
    pub runs: usize,
    /// The heap-efficiency workload.
    pub efficiency: Efficiency,
    /// Arena size in bytes.
    pub arena_bytes: usize,
    /// Run the random-actions workload.
    pub run_throughput: bool,
    /// Run the heap-efficiency workload.
    pub run_efficiency: bool,
    /// Threads for the efficiency runs (they are not timed, so they run in parallel, each
    /// on its own arena).
    pub jobs: usize,
}

impl Default for Config {
    /// The full benchmark: every contender, 5 M operations (500 k for linear searches),
    /// median of 3, 64 MiB arena.
    fn default() -> Self {
        Config {
            subjects: Subject::all(),
            actions: RandomActions::default(),
            linear_ops: 500_000,
            runs: 3,
            efficiency: Efficiency::default(),
            arena_bytes: 64 << 20,
            run_throughput: true,
            run_efficiency: true,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// The measurements of one contender.
#[derive(Clone, Debug)]
pub struct Row {
    /// The contender.
    pub subject: Subject,
    /// Timed random-actions replays (empty when not run).
    pub runs: Vec<RunStats>,
    /// The untimed validating replay of the same trace (none when not run): its integrity
    /// counts are the row's random-actions checks.
    pub validation: Option<RunStats>,
    /// Efficiency run (none when not run).
    pub eff: Option<EffStats>,
}

impl Row {
    /// Operations per replay.
    pub fn ops(&self) -> Option<usize> {
        self.runs.first().map(|r| r.ops)
    }

    /// Median, minimum and maximum Mops/s over the replays.
    pub fn mops(&self) -> Option<(f64, f64, f64)> {
        let mut v: Vec<f64> = self.runs.iter().map(RunStats::mops).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let med = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some((med, v[0], v[n - 1]))
    }

    /// Allocation failures over all replays (timed and validating).
    pub fn failures(&self) -> u64 {
        self.runs
            .iter()
            .chain(&self.validation)
            .map(|r| r.failures)
            .sum()
    }

    fn integrity(&self) -> impl Iterator<Item = &crate::verify::Integrity> {
        self.runs
            .iter()
            .chain(&self.validation)
            .map(|r| &r.integrity)
            .chain(self.eff.as_ref().map(|e| &e.integrity))
    }

    /// Blocks verified, over the validating replay and the efficiency run (the timed
    /// replays verify nothing).
    pub fn checks(&self) -> u64 {
        self.integrity().map(|i| i.checks).sum()
    }

    /// Corruptions found, over the validating replay and the efficiency run.
    pub fn corruptions(&self) -> u64 {
        self.integrity().map(|i| i.corruptions).sum()
    }

    /// The first corruption found, if any.
    pub fn first_corruption(&self) -> Option<&str> {
        self.integrity().find_map(|i| i.first.as_deref())
    }
}

/// Runs the benchmark; `progress` is told about each finished measurement.
pub fn run(cfg: &Config, mut progress: impl FnMut(&str)) -> Vec<Row> {
    let mut arena = Arena::new(cfg.arena_bytes);
    let mut rows: Vec<Row> = cfg
        .subjects
        .iter()
        .map(|&subject| Row {
            subject,
            runs: Vec::new(),
            validation: None,
            eff: None,
        })
        .collect();
    if cfg.run_throughput {
        let full = cfg.actions.trace();
        let short = cfg.linear_ops.min(full.len());
        let trace_of = |s: Subject| {
            if s.is_linear() {
                &full[..short]
            } else {
                &full[..]
            }
        };
        for row in rows.iter_mut() {
            let trace = trace_of(row.subject);
            let v = with_subject(row.subject, arena.fresh(), Replay::validating(trace));
            progress(&format!(
                "validate {:<34} {:>9} ops, {} blocks verified, {} corruptions",
                row.subject.name(),
                v.ops,
                v.integrity.checks,
                v.integrity.corruptions
            ));
            row.validation = Some(v);
        }
        for run in 0..cfg.runs {
            for row in rows.iter_mut() {
                let trace = trace_of(row.subject);
                let r = with_subject(row.subject, arena.fresh(), Replay::timed(trace));
                progress(&format!(
                    "run {}/{} {:<34} {:>9} ops {:>8.2} Mops/s",
                    run + 1,
                    cfg.runs,
                    row.subject.name(),
                    r.ops,
                    r.mops()
                ));
                row.runs.push(r);
            }
        }
    }
    if cfg.run_efficiency {
        // Not timed and deterministic: run on every core, slowest (linear searches) first.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| !rows[i].subject.is_linear());
        let subjects: Vec<Subject> = rows.iter().map(|r| r.subject).collect();
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|sc| {
            for _ in 0..cfg.jobs.clamp(1, order.len().max(1)) {
                let (tx, next, order, subjects) = (tx.clone(), &next, &order, &subjects);
                sc.spawn(move || {
                    let mut arena = Arena::new(cfg.arena_bytes);
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let t0 = Instant::now();
                        let e = with_subject(subjects[i], arena.fresh(), cfg.efficiency);
                        if tx.send((i, e, t0.elapsed())).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            for (i, e, took) in rx {
                progress(&format!(
                    "efficiency {:<34} {:>6.2} % after {} ops ({:.1} s)",
                    rows[i].subject.name(),
                    e.efficiency() * 100.0,
                    e.ops,
                    took.as_secs_f64()
                ));
                rows[i].eff = Some(e);
            }
        });
    }
    rows
}
