//! Plain-text output of a [`Report`]: an aligned table per trace and policy, then the
//! per-policy summary. Columns are padded to their widest cell; numbers are right-aligned.

use std::fmt::Write;

use crate::lab::{Report, REFERENCE_KOPS};

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn num(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.0}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

/// Lays out `rows` (the first is the heading) with columns padded; column 0 and
/// `left_cols` are left-aligned, the rest right-aligned.
fn layout(rows: &[Vec<String>], left_cols: usize, gap_before: &[usize]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut w = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (ri, r) in rows.iter().enumerate() {
        if gap_before.contains(&ri) {
            out.push('\n');
        }
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i < left_cols {
                let _ = write!(line, "{c:<width$}", width = w[i]);
            } else {
                let _ = write!(line, "{c:>width$}", width = w[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The whole report as text.
pub fn render(report: &Report) -> String {
    let mut rows = vec![[
        "trace",
        "policy",
        "ops",
        "util",
        "heap",
        "int.frag",
        "ext.frag",
        "Kops/s",
        "sys Kops/s",
        "vs sys",
        "status",
    ]
    .map(String::from)
    .to_vec()];
    let mut gaps = Vec::new();
    let mut prev = "";
    for r in &report.traces {
        if !prev.is_empty() && prev != r.trace {
            gaps.push(rows.len());
        }
        prev = &r.trace;
        rows.push(vec![
            r.trace.clone(),
            r.policy.clone(),
            r.ops.to_string(),
            pct(r.util),
            r.heap_bytes.map_or("-".into(), |h| h.to_string()),
            pct(r.internal_frag),
            pct(r.external_frag),
            num(r.kops),
            num(r.system_kops),
            ratio(r.kops, r.system_kops),
            r.error.clone().unwrap_or_else(|| "ok".into()),
        ]);
    }
    let mut out = layout(&rows, 2, &gaps);
    out.push_str(&format!(
        "\nSummary ({} traces; index = 100*(0.6*U + 0.4*min(1, T/{REFERENCE_KOPS:.0} Kops/s)))\n",
        report
            .traces
            .iter()
            .map(|r| r.trace.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    ));
    let mut s = vec![[
        "policy",
        "mean util",
        "Kops/s",
        "sys Kops/s",
        "vs sys",
        "index",
    ]
    .map(String::from)
    .to_vec()];
    for r in &report.summary {
        s.push(vec![
            r.policy.clone(),
            pct(r.mean_util),
            num(r.kops),
            num(r.system_kops),
            ratio(r.kops, r.system_kops),
            r.index.map_or("-".into(), |i| format!("{i:.1}")),
        ]);
    }
    out.push_str(&layout(&s, 1, &[]));
    out
}
