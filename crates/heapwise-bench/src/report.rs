//! Presenting the measurements: a markdown table (for the terminal and the README) and CSV.
//!
//! Ratios are against `talc` measured in the same invocation; without a `talc` row the
//! ratio column says `n/a`.

use std::fmt::Write as _;

use crate::bench::Row;
use crate::contender::Subject;

fn talc_median(rows: &[Row]) -> Option<f64> {
    rows.iter()
        .find(|r| r.subject == Subject::Talc)
        .and_then(|r| r.mops())
        .map(|m| m.0)
}

fn ops_label(n: usize) -> String {
    if n >= 1_000_000 && n % 100_000 == 0 {
        format!("{} M", n as f64 / 1e6)
    } else if n >= 1000 && n % 1000 == 0 {
        format!("{} k", n / 1000)
    } else {
        n.to_string()
    }
}

/// The markdown table: allocator, operations per replay, median Mops/s, min–max, ratio to
/// talc, heap efficiency.
pub fn markdown(rows: &[Row]) -> String {
    let talc = talc_median(rows);
    let mut s = String::new();
    s.push_str("| allocator | ops | Mops/s (median) | min–max | × talc | efficiency % |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let (ops, med, range, ratio) = match r.mops() {
            Some((med, lo, hi)) => (
                ops_label(r.ops().unwrap_or(0)),
                format!("{med:.2}"),
                format!("{lo:.2}–{hi:.2}"),
                talc.map_or("n/a".into(), |t| format!("{:.2}", med / t)),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let eff = r.eff.as_ref().map_or("–".into(), |e| {
            let mark = if e.failed { "" } else { " (no failure)" };
            format!("{:.2}{mark}", e.efficiency() * 100.0)
        });
        let _ = writeln!(
            s,
            "| {} | {ops} | {med} | {range} | {ratio} | {eff} |",
            r.subject.name()
        );
    }
    s
}

/// Notes under the table: integrity checks, and any allocation failure in a replay.
pub fn notes(rows: &[Row]) -> String {
    let mut s = String::new();
    let checks: u64 = rows.iter().map(Row::checks).sum();
    let bad: u64 = rows.iter().map(Row::corruptions).sum();
    let _ = writeln!(
        s,
        "Integrity: {checks} blocks verified (first/last byte tags, alignment, bounds) by the untimed validating replays and the efficiency runs, {bad} corruptions. The timed replays stamp every block they get but verify nothing."
    );
    for r in rows {
        if let Some(first) = r.first_corruption() {
            let _ = writeln!(s, "  {}: CORRUPTION: {first}", r.subject.name());
        }
        if r.failures() > 0 {
            let _ = writeln!(
                s,
                "  {}: {} allocations failed during the replays (arena exhausted or fragmented)",
                r.subject.name(),
                r.failures()
            );
        }
    }
    s
}

/// CSV with one line per contender (Mops/s of every replay, the efficiency figures and the
/// integrity counts).
pub fn csv(rows: &[Row]) -> String {
    let talc = talc_median(rows);
    let runs = rows.iter().map(|r| r.runs.len()).max().unwrap_or(0);
    let mut s = String::from("allocator,ops,mops_median,mops_min,mops_max,ratio_to_talc");
    for i in 0..runs {
        let _ = write!(s, ",mops_run{}", i + 1);
    }
    s.push_str(",replay_failures,efficiency,peak_live_bytes,arena_bytes,efficiency_ops,efficiency_failed,blocks_verified,corruptions\n");
    for r in rows {
        let _ = write!(s, "{}", r.subject.name());
        match r.mops() {
            Some((med, lo, hi)) => {
                let ratio = talc.map_or(String::new(), |t| format!("{:.4}", med / t));
                let _ = write!(
                    s,
                    ",{},{med:.4},{lo:.4},{hi:.4},{ratio}",
                    r.ops().unwrap_or(0)
                );
            }
            None => s.push_str(",,,,,"),
        }
        for i in 0..runs {
            match r.runs.get(i) {
                Some(x) => {
                    let _ = write!(s, ",{:.4}", x.mops());
                }
                None => s.push(','),
            }
        }
        let _ = write!(s, ",{}", r.failures());
        match &r.eff {
            Some(e) => {
                let _ = write!(
                    s,
                    ",{:.6},{},{},{},{}",
                    e.efficiency(),
                    e.peak_live,
                    e.arena,
                    e.ops,
                    e.failed
                );
            }
            None => s.push_str(",,,,,"),
        }
        let _ = writeln!(s, ",{},{}", r.checks(), r.corruptions());
    }
    s
}
