//! Reading back the CSV report of an earlier run (`--from-csv`), so its tables, geometric means
//! and chart can be rendered again (e.g. after the report format grew a column) without
//! measuring anything.
//!
//! Invariant: only what the CSV says is used; rows whose workload is no longer in the suite are
//! skipped (and named on stderr by the caller).

use std::collections::BTreeMap;

use super::{Results, Sample};

/// Splits one CSV line (fields may be double-quoted with `""` escapes).
pub fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Per workload name, per allocator name, the runs in order.
pub type Loaded = BTreeMap<String, BTreeMap<String, Vec<Result<Sample, String>>>>;

/// Parses the CSV written by [`super::report::Suite::csv`].
///
/// ```
/// use heapwise_hosted::driver::reload::parse;
/// let csv = "workload,allocator,run,status,time_s,maxrss_kib,cpu_s,checksum,served_by,error\n\
///            st-small,glibc,1,ok,0.5,3000,0.4,0x1,libc.so.6,\n\
///            st-small,bad,1,fail,,,,,,\"exit status 2: x, y\"\n";
/// let t = parse(csv).unwrap();
/// assert_eq!(t["st-small"]["glibc"][0].as_ref().unwrap().maxrss_kib, 3000);
/// assert!(t["st-small"]["bad"][0].is_err());
/// ```
pub fn parse(text: &str) -> Result<Loaded, String> {
    let mut lines = text.lines();
    let header = split_line(lines.next().ok_or("empty CSV")?);
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("CSV has no column {name}"))
    };
    let (w, a, st, t, r, c, k, s, e) = (
        col("workload")?,
        col("allocator")?,
        col("status")?,
        col("time_s")?,
        col("maxrss_kib")?,
        col("cpu_s").ok(),
        col("checksum")?,
        col("served_by")?,
        col("error")?,
    );
    let mut out = Loaded::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f = split_line(line);
        let get = |j: usize| f.get(j).cloned().unwrap_or_default();
        let bad = |what: &str| format!("CSV line {}: bad {what}", i + 2);
        let sample = if get(st) == "ok" {
            Ok(Sample {
                secs: get(t).parse().map_err(|_| bad("time_s"))?,
                maxrss_kib: get(r).parse().map_err(|_| bad("maxrss_kib"))?,
                cpu_secs: c.map(|c| get(c).parse().unwrap_or(0.0)).unwrap_or(0.0),
                checksum: get(k),
                served_by: get(s),
            })
        } else {
            Err(get(e))
        };
        out.entry(get(w))
            .or_default()
            .entry(get(a))
            .or_default()
            .push(sample);
    }
    Ok(out)
}

/// Converts one workload's runs to [`Results`], keyed by the names of `allocators`.
pub fn results(
    runs: BTreeMap<String, Vec<Result<Sample, String>>>,
    allocators: &[&'static str],
) -> Results {
    runs.into_iter()
        .filter_map(|(a, v)| allocators.iter().find(|x| **x == a).map(|x| (*x, v)))
        .collect()
}
