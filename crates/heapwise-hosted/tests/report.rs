//! The hosted report's verdicts from hand-made results: a workload heapwise failed on makes
//! every suite-wide target "NOT met" and is named; a column without Rust-level rows is
//! shown as `–` there and left out of its geomean. No allocator runs.

use heapwise_hosted::driver::{self, alloc, report::Suite, Results, Sample};

fn ok(secs: f64, rss: u64) -> Result<Sample, String> {
    Ok(Sample {
        secs,
        maxrss_kib: rss,
        cpu_secs: secs,
        checksum: "0x1".into(),
        served_by: "x".into(),
    })
}

fn two_columns() -> Vec<alloc::Allocator> {
    let mut allocs = alloc::all(Ok("/nonexistent/libheapwise.so".into()));
    allocs.retain(|a| a.name == "heapwise" || a.name == "glibc");
    for a in &mut allocs {
        a.missing = None;
    }
    allocs
}

/// A suite of `rows` over `allocators`, `runs` runs each, at scale 1, as a run of this
/// machine would make it.
fn suite<'a>(
    allocators: &'a [alloc::Allocator],
    rows: Vec<(&'a driver::Workload, Results)>,
    runs: usize,
) -> Suite<'a> {
    Suite {
        allocators,
        rows,
        runs,
        scale: 1.0,
        command: "t".into(),
        machine: "m".into(),
        preloads_known: true,
    }
}

#[test]
fn a_failed_workload_fails_the_suite_targets() {
    let all = driver::workloads();
    let allocs = two_columns();
    // Row 0: heapwise at 0.5× glibc; row 1: heapwise crashed in every run.
    let mut r1 = Results::new();
    r1.insert("glibc", vec![ok(1.0, 1000), ok(1.0, 1000)]);
    r1.insert("heapwise", vec![ok(0.5, 900), ok(0.5, 900)]);
    let mut r2 = Results::new();
    r2.insert("glibc", vec![ok(1.0, 1000), ok(1.0, 1000)]);
    r2.insert(
        "heapwise",
        vec![
            Err("killed by signal 11".into()),
            Err("killed by signal 11".into()),
        ],
    );
    let failed = all[1].name.clone();
    let s = suite(&allocs, vec![(&all[0], r1), (&all[1], r2)], 2);
    let t = s.targets();
    assert!(
        t.contains(&format!("- heapwise FAILED on: {failed}")),
        "{t}"
    );
    for line in t
        .lines()
        .filter(|l| l.contains("geomean") || l.contains("no workload"))
    {
        assert!(
            line.contains("NOT met") && !line.contains("→ met"),
            "{line}\n{t}"
        );
    }
    assert!(t.contains("(1/2 workloads)"), "{t}");
}

#[test]
fn a_column_without_rust_rows_shows_a_dash_there() {
    let all = driver::workloads();
    let rust = all
        .iter()
        .position(|w| matches!(w.kind, driver::Kind::Rust(_)))
        .expect("a Rust-level workload");
    let mut allocs = two_columns();
    allocs.push(alloc::extra("old=/nonexistent/libheapwise-old.so").unwrap());
    for a in &mut allocs {
        a.missing = None;
    }
    let mut r = Results::new();
    r.insert("glibc", vec![ok(1.0, 1000)]);
    r.insert("heapwise", vec![ok(0.8, 900)]);
    let s = suite(&allocs, vec![(&all[rust], r)], 1);
    let md = s.markdown();
    let row = md
        .lines()
        .find(|l| l.starts_with(&format!("| {} |", all[rust].name)))
        .unwrap();
    assert!(row.trim_end().ends_with("| – |"), "{row}");
    assert!(md.contains("Rust-level rows not measured"), "{md}");
    assert_eq!(s.geo("old").n, 0);
    assert!(s.failures().is_empty());
}

#[test]
fn a_multi_line_failure_stays_in_its_table_row() {
    let all = driver::workloads();
    let allocs = two_columns();
    let mut r = Results::new();
    r.insert("glibc", vec![ok(1.0, 1000)]);
    // What real.rs reports when sqlite3's output lacks its check line: the output itself.
    r.insert(
        "heapwise",
        vec![Err("sqlite3 self-check failed: 1\n2\r\n3|4".into())],
    );
    let s = suite(&allocs, vec![(&all[0], r)], 1);
    let md = s.markdown();
    let name = &all[0].name;
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with(&format!("| {name} |")))
        .collect();
    assert_eq!(rows.len(), 3, "one row per table:\n{md}");
    for row in rows {
        // workload, heapwise, glibc: 3 cells, 4 bars.
        assert_eq!(row.matches('|').count(), 4, "{row}\n{md}");
    }
    // The failure list keeps one item per failed run, on one line.
    let item = md
        .lines()
        .find(|l| l.starts_with(&format!("- {name} under heapwise")))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(item.contains("3|4") || item.contains("3/4"), "{item}\n{md}");
}

#[test]
fn a_real_program_missing_here_is_skipped_not_a_heapwise_failure() {
    let all = driver::workloads();
    let python = all.iter().find(|w| w.name == "python").unwrap();
    let allocs = two_columns();
    // Row 0: heapwise at 0.5× glibc; python: not installed (what run_workload records).
    let mut r1 = Results::new();
    r1.insert("glibc", vec![ok(1.0, 1000)]);
    r1.insert("heapwise", vec![ok(0.5, 900)]);
    let why = "skipped: python3.11 is not installed (see scripts/install-bench-deps.sh)";
    let mut r2 = Results::new();
    r2.insert("glibc", vec![Err(why.into())]);
    r2.insert("heapwise", vec![Err(why.into())]);
    let s = suite(&allocs, vec![(&all[0], r1), (python, r2)], 1);
    let t = s.targets();
    assert!(!t.contains("FAILED"), "{t}");
    assert!(t.contains("wall ×0.500 → met"), "{t}");
    assert!(s.failures().is_empty(), "{:?}", s.failures());
    let md = s.markdown();
    let row = md.lines().find(|l| l.starts_with("| python |")).unwrap();
    assert!(row.contains("skipped") && !row.contains("FAIL"), "{row}");
    // Said once, with the reason.
    assert_eq!(md.matches("python3.11 is not installed").count(), 1, "{md}");
    // The CSV keeps it, and a reload reads it back as skipped.
    let csv = s.csv();
    assert!(csv.contains("python,glibc,1,skipped,"), "{csv}");
    let back = driver::reload::parse(&csv).unwrap();
    assert_eq!(back["python"]["glibc"][0].as_ref().unwrap_err(), why);
}

#[test]
fn a_crash_on_st_small_is_not_at_least_as_fast_as_mimalloc() {
    let all = driver::workloads();
    let st_small = all.iter().find(|w| w.name == "st-small").unwrap();
    let mut allocs = alloc::all(Ok("/nonexistent/libheapwise.so".into()));
    allocs.retain(|a| ["heapwise", "glibc", "mimalloc"].contains(&a.name));
    for a in &mut allocs {
        a.missing = None;
    }
    let mut r = Results::new();
    r.insert("glibc", vec![ok(1.0, 1000)]);
    r.insert("mimalloc", vec![ok(0.9, 1000)]);
    r.insert("heapwise", vec![Err("killed by signal 11".into())]);
    let s = suite(&allocs, vec![(st_small, r)], 1);
    let t = s.targets();
    let line = t
        .lines()
        .find(|l| l.contains("at least as fast as mimalloc"))
        .unwrap();
    assert!(line.contains("NOT met") && !line.contains("n/a"), "{line}");
}

/// The `fill` colours of the chart's legend, in column order.
fn legend_fills(svg: &str) -> Vec<String> {
    svg.lines()
        .filter(|l| l.contains(r#"width="10" height="10""#))
        .map(|l| {
            let at = l.find("fill=\"").expect("a fill") + 6;
            l[at..at + l[at..].find('"').unwrap()].to_string()
        })
        .collect()
}

#[test]
fn every_chart_column_has_its_own_colour_and_legend_entry() {
    // The five columns and four --extra ones: nine columns, more than the chart's palette had.
    let mut allocs = alloc::all(Ok("/nonexistent/libheapwise.so".into()));
    for a in &mut allocs {
        a.missing = None;
    }
    let extras: Vec<String> = (1..=4).map(|k| format!("build{k}=/tmp/b{k}.so")).collect();
    let mut allocs = alloc::select(allocs, &[], &extras).unwrap();
    for a in &mut allocs {
        a.missing = None;
    }
    let all = driver::workloads();
    let mut r = Results::new();
    for a in &allocs {
        r.insert(a.name, vec![ok(1.0, 1000)]);
    }
    let s = suite(&allocs, vec![(&all[0], r)], 1);
    let svg = s.svg();
    let fills = legend_fills(&svg);
    assert_eq!(fills.len(), allocs.len(), "{svg}");
    let distinct: std::collections::BTreeSet<&String> = fills.iter().collect();
    assert_eq!(distinct.len(), fills.len(), "colours repeat: {fills:?}");
    // Every legend entry lies inside the picture.
    let width: f64 = {
        let at = svg.find("width=\"").unwrap() + 7;
        svg[at..at + svg[at..].find('"').unwrap()].parse().unwrap()
    };
    for l in svg
        .lines()
        .filter(|l| l.contains(r#"width="10" height="10""#))
    {
        let at = l.find("<text x=\"").unwrap() + 9;
        let x: f64 = l[at..at + l[at..].find('"').unwrap()].parse().unwrap();
        assert!(x + 60.0 <= width, "legend entry at x={x} of {width}: {l}");
    }
}
