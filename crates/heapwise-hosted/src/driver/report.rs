//! The reports of a suite run: a markdown table (time and peak RSS, with ratios to glibc and
//! geometric means), a CSV file with every run, and an SVG bar chart of the ratios.
//!
//! Invariant: a cell with any failed run is shown as a failure and left out of the geometric
//! means (which say over how many workloads they were taken); ratios only compare columns
//! measured in the same invocation. A workload that could not run here (a real program not
//! installed, [`super::SKIPPED`]) is shown as skipped: it is no failure of any allocator.

use std::fmt::Write as _;

use super::alloc::Allocator;
use super::stats::{geomean, median, min_max};
use super::{is_skip, Results, Workload};

/// The summary of one workload under one allocator.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// Median wall time (s) when every run succeeded.
    pub time: Option<f64>,
    /// Fastest and slowest run.
    pub range: Option<(f64, f64)>,
    /// Median peak RSS (KiB) when every run succeeded.
    pub rss: Option<f64>,
    /// Median CPU time (s) when every run succeeded.
    pub cpu: Option<f64>,
    /// The first failure, if any run failed.
    pub failure: Option<String>,
    /// Why the workload did not run here, if it did not (then `failure` is `None`).
    pub skipped: Option<String>,
    /// Number of runs.
    pub runs: usize,
}

fn cell(results: &Results, alloc: &str) -> Option<Cell> {
    let v = results.get(alloc)?;
    let mut c = Cell {
        runs: v.len(),
        ..Cell::default()
    };
    if let Some(Err(e)) = v
        .first()
        .filter(|_| v.iter().all(|s| s.as_ref().is_err_and(|e| is_skip(e))))
    {
        c.skipped = Some(e.clone());
        return Some(c);
    }
    if let Some(Err(e)) = v.iter().find(|s| s.is_err()) {
        let n = v.iter().filter(|s| s.is_err()).count();
        c.failure = Some(if n > 1 {
            format!("{e} ({n} runs)")
        } else {
            e.clone()
        });
        return Some(c);
    }
    let t: Vec<f64> = v.iter().flatten().map(|s| s.secs).collect();
    let r: Vec<f64> = v.iter().flatten().map(|s| s.maxrss_kib as f64).collect();
    c.time = median(&t);
    c.range = min_max(&t);
    c.rss = median(&r);
    c.cpu = median(&v.iter().flatten().map(|s| s.cpu_secs).collect::<Vec<_>>());
    Some(c)
}

/// Everything measured in one invocation.
pub struct Suite<'a> {
    /// The allocators (columns), available or not.
    pub allocators: &'a [Allocator],
    /// The workloads (rows) and their results.
    pub rows: Vec<(&'a Workload, Results)>,
    /// Runs per allocator.
    pub runs: usize,
    /// Work multiplier.
    pub scale: f64,
    /// The command line that produced it.
    pub command: String,
    /// The machine: CPUs and load average at the start and the end of the run.
    pub machine: String,
    /// Whether the columns' preloads are those of the run: false for a suite read back from
    /// a CSV file (`--from-csv`), which does not record them (the columns are this machine's
    /// defaults, not what that run preloaded).
    pub preloads_known: bool,
}

/// Geometric means of one allocator: (time ratio, RSS ratio, workloads counted).
#[derive(Clone, Copy, Debug, Default)]
pub struct Geo {
    /// Geometric mean of time ratios to glibc.
    pub time: Option<f64>,
    /// Geometric mean of peak RSS ratios to glibc.
    pub rss: Option<f64>,
    /// Geometric mean of CPU time (user + system) ratios to glibc.
    pub cpu: Option<f64>,
    /// Workloads in the mean.
    pub n: usize,
    /// Workloads in the suite.
    pub of: usize,
}

impl Suite<'_> {
    fn cols(&self) -> Vec<&Allocator> {
        self.allocators.iter().filter(|a| a.available()).collect()
    }

    /// Summary cell of `row` under `alloc`.
    pub fn cell(&self, row: usize, alloc: &str) -> Option<Cell> {
        cell(&self.rows[row].1, alloc)
    }

    /// `(time ratio, rss ratio)` of `alloc` to glibc on `row`, when both succeeded.
    pub fn ratio(&self, row: usize, alloc: &str) -> Option<(f64, f64)> {
        let a = self.cell(row, alloc)?;
        let g = self.cell(row, "glibc")?;
        Some((a.time? / g.time?, a.rss? / g.rss?))
    }

    /// CPU time ratio of `alloc` to glibc on `row`, when both succeeded.
    pub fn cpu_ratio(&self, row: usize, alloc: &str) -> Option<f64> {
        let a = self.cell(row, alloc)?.cpu?;
        let g = self.cell(row, "glibc")?.cpu?;
        (g > 0.0 && a > 0.0).then(|| a / g)
    }

    /// Geometric means of `alloc`'s ratios over the workloads where it and glibc succeeded.
    pub fn geo(&self, alloc: &str) -> Geo {
        let ratios: Vec<(f64, f64)> = (0..self.rows.len())
            .filter_map(|r| self.ratio(r, alloc))
            .collect();
        let t: Vec<f64> = ratios.iter().map(|x| x.0).collect();
        let m: Vec<f64> = ratios.iter().map(|x| x.1).collect();
        let c: Vec<f64> = (0..self.rows.len())
            .filter_map(|r| self.cpu_ratio(r, alloc))
            .collect();
        Geo {
            time: geomean(&t),
            rss: geomean(&m),
            cpu: geomean(&c),
            n: ratios.len(),
            of: self.rows.len(),
        }
    }

    /// One markdown table: a row per workload, a column per allocator in `cols` (a cell made
    /// by `failed` for a failed run, by `cell` otherwise, "–" when the allocator has no run),
    /// then the geometric-mean row made by `geo`.
    fn table(
        &self,
        s: &mut String,
        cols: &[&Allocator],
        failed: impl Fn(&str) -> String,
        cell: impl Fn(usize, &str, &Cell) -> String,
        geo: impl Fn(&Geo) -> String,
    ) {
        let _ = write!(s, "| workload |");
        for a in cols {
            let _ = write!(s, " {} |", a.name);
        }
        let _ = write!(s, "\n|---|");
        for _ in cols {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for (i, (w, _)) in self.rows.iter().enumerate() {
            let _ = write!(s, "| {} |", w.name);
            for a in cols {
                let txt = match self.cell(i, a.name) {
                    None => "–".to_string(),
                    Some(Cell {
                        skipped: Some(_), ..
                    }) => "skipped".to_string(),
                    Some(Cell {
                        failure: Some(e), ..
                    }) => failed(&e),
                    Some(c) => cell(i, a.name, &c),
                };
                let _ = write!(s, " {txt} |");
            }
            s.push('\n');
        }
        let _ = write!(s, "| **geomean ×glibc** |");
        for a in cols {
            let _ = write!(s, " {} |", geo(&self.geo(a.name)));
        }
    }

    /// The markdown report.
    pub fn markdown(&self) -> String {
        let cols = self.cols();
        let mut s = String::new();
        let _ = writeln!(s, "Command: `{}`  ", self.command);
        let _ = writeln!(s, "Machine: {}  ", self.machine);
        let _ = writeln!(
            s,
            "Median of {} runs per cell (allocators interleaved), scale {}; wall time with min–max, ×ratio to glibc.\n",
            self.runs, self.scale
        );
        let _ = writeln!(s, "### Wall time (lower is better)\n");
        self.table(
            &mut s,
            &cols,
            |e| format!("**FAIL** ({})", short(e)),
            |i, a, c| {
                let (lo, hi) = c.range.unwrap_or_default();
                let r = self
                    .ratio(i, a)
                    .map(|r| format!(" ×{:.2}", r.0))
                    .unwrap_or_default();
                format!("{:.3} s ({:.3}–{:.3}){r}", c.time.unwrap_or(0.0), lo, hi)
            },
            |g| format!("**{}** ({}/{})", fmt_ratio(g.time), g.n, g.of),
        );
        let _ = writeln!(s, "\n\n### Peak RSS (lower is better)\n");
        let _ = writeln!(
            s,
            "Synthetic and Rust workloads: the workload process's own peak (`VmHWM`, which it \
             reports); real programs: `ru_maxrss` from `wait4`, which also counts the \
             driver's resident size at spawn (~3 MiB, below every real program's peak).\n"
        );
        self.table(
            &mut s,
            &cols,
            |_| "**FAIL**".to_string(),
            |i, a, c| {
                let r = self
                    .ratio(i, a)
                    .map(|r| format!(" ×{:.2}", r.1))
                    .unwrap_or_default();
                format!("{:.1} MiB{r}", c.rss.unwrap_or(0.0) / 1024.0)
            },
            |g| format!("**{}** ({}/{})", fmt_ratio(g.rss), g.n, g.of),
        );
        let _ = writeln!(
            s,
            "\n\n### CPU time, user + system (for reference; the machine is shared, so wall time is noisier)\n"
        );
        self.table(
            &mut s,
            &cols,
            |_| "**FAIL**".to_string(),
            |i, _, c| {
                let cpu = c.cpu.unwrap_or(0.0);
                let r = self
                    .cell(i, "glibc")
                    .and_then(|g| g.cpu)
                    .filter(|g| *g > 0.0)
                    .map(|g| format!(" ×{:.2}", cpu / g))
                    .unwrap_or_default();
                format!("{cpu:.3} s{r}")
            },
            |g| format!("**{}**", fmt_ratio(g.cpu)),
        );
        s.push_str("\n\n");
        s.push_str(&self.targets());
        let skipped: Vec<&Allocator> = self.allocators.iter().filter(|a| !a.available()).collect();
        if !skipped.is_empty() {
            let _ = writeln!(s, "\nSkipped allocators:");
            for a in skipped {
                let _ = writeln!(s, "- {}: {}", a.name, a.missing.as_deref().unwrap_or(""));
            }
        }
        let not_run = self.skipped();
        if !not_run.is_empty() {
            let _ = writeln!(s, "\nSkipped workloads (not measured on this machine):");
            for f in not_run {
                let _ = writeln!(s, "- {}", one_line(&f));
            }
        }
        let failures = self.failures();
        if !failures.is_empty() {
            let _ = writeln!(s, "\nFailures:");
            for f in failures {
                let _ = writeln!(s, "- {}", one_line(&f));
            }
        }
        let _ = writeln!(s, "\nPreloads:");
        if !self.preloads_known {
            let _ = writeln!(
                s,
                "- not recorded in the CSV file: see the original report (each run's `served_by` \
                 field says what served `malloc`)"
            );
        }
        for a in cols.iter().filter(|_| self.preloads_known) {
            let what = a
                .preload
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(none)".into());
            let env: Vec<String> = a.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let env = if env.is_empty() {
                String::new()
            } else {
                format!(" ({})", env.join(" "))
            };
            let _ = writeln!(s, "- {}: {}{env}", a.name, what);
            if let Some(why) = a.rust_na {
                let _ = writeln!(s, "  - Rust-level rows not measured (`–`): {why}");
            }
        }
        let _ = writeln!(
            s,
            "- Rust-level rows: heapwise = `#[global_allocator] heapwise::Heapwise`, glibc = `System`, \
             jemalloc = `tikv-jemallocator`, mimalloc = the `mimalloc` crate, tcmalloc = `System` with the preload"
        );
        let _ = writeln!(
            s,
            "- redis: Debian's redis-server links libjemalloc.so.2; its glibc column preloads libc.so.6 so that glibc's malloc serves it"
        );
        s
    }

    /// Every workload that did not run here, with the reason, one line each.
    pub fn skipped(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (w, res) in &self.rows {
            if let Some(e) = res.values().flatten().find_map(|r| r.as_ref().err()) {
                if let Some(why) = e.strip_prefix(super::SKIPPED) {
                    v.push(format!("{}: {why}", w.name));
                }
            }
        }
        v
    }

    /// Every failed run, one line each (skipped workloads are not runs).
    pub fn failures(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (w, res) in &self.rows {
            for (a, runs) in res {
                for (i, r) in runs.iter().enumerate() {
                    match r {
                        Err(e) if !is_skip(e) => {
                            v.push(format!("{} under {a}, run {}: {e}", w.name, i + 1));
                        }
                        _ => {}
                    }
                }
            }
        }
        v
    }

    /// heapwise against the issue's targets, as markdown lines.
    pub fn targets(&self) -> String {
        let mut s = String::from("Targets for heapwise (this run):\n");
        let g = self.geo("heapwise");
        // A workload heapwise failed on is in no ratio: every suite-wide target is then
        // not met (a crash is not fast), and the lines say where.
        let failed: Vec<&str> = (0..self.rows.len())
            .filter(|&r| {
                self.cell(r, "heapwise")
                    .is_some_and(|c| c.failure.is_some())
            })
            .map(|r| self.rows[r].0.name.as_str())
            .collect();
        let mark = |ok: Option<bool>| match ok {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "n/a",
        };
        let suite = |ok: Option<bool>| {
            if failed.is_empty() {
                mark(ok)
            } else {
                "NOT met"
            }
        };
        if !failed.is_empty() {
            let _ = writeln!(s, "- heapwise FAILED on: {}", failed.join(", "));
        }
        let _ = writeln!(
            s,
            "- time geomean ≤ 0.75× glibc ({}/{} workloads): wall {} → {}; CPU {} → {}",
            g.n,
            g.of,
            fmt_ratio(g.time),
            suite(g.time.map(|t| t <= 0.75)),
            fmt_ratio(g.cpu),
            suite(g.cpu.map(|t| t <= 0.75))
        );
        let worst = (0..self.rows.len())
            .filter_map(|r| {
                self.ratio(r, "heapwise")
                    .map(|x| (x.0, self.rows[r].0.name.clone()))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let worst_cpu = (0..self.rows.len())
            .filter_map(|r| {
                self.cpu_ratio(r, "heapwise")
                    .map(|x| (x, self.rows[r].0.name.clone()))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let show = |w: &Option<(f64, String)>| {
            w.as_ref()
                .map(|(r, n)| format!("×{r:.2} ({n})"))
                .unwrap_or("n/a".into())
        };
        let _ = writeln!(
            s,
            "- no workload > 1.25× glibc: wall worst {} → {}; CPU worst {} → {}",
            show(&worst),
            suite(worst.as_ref().map(|w| w.0 <= 1.25)),
            show(&worst_cpu),
            suite(worst_cpu.as_ref().map(|w| w.0 <= 1.25))
        );
        let over = |cpu: bool| -> String {
            let v: Vec<String> = (0..self.rows.len())
                .filter_map(|r| {
                    let x = if cpu {
                        self.cpu_ratio(r, "heapwise")
                    } else {
                        self.ratio(r, "heapwise").map(|x| x.0)
                    }?;
                    (x > 1.25).then(|| format!("{} ×{x:.2}", self.rows[r].0.name))
                })
                .collect();
            if v.is_empty() {
                "none".into()
            } else {
                v.join(", ")
            }
        };
        let _ = writeln!(s, "  - over 1.25× glibc (wall): {}", over(false));
        let _ = writeln!(s, "  - over 1.25× glibc (CPU): {}", over(true));
        let _ = writeln!(
            s,
            "- peak RSS geomean ≤ 1.0× glibc ({}/{} workloads): {} → {}",
            g.n,
            g.of,
            fmt_ratio(g.rss),
            suite(g.rss.map(|r| r <= 1.0))
        );
        let row = self.rows.iter().position(|(w, _)| w.name == "st-small");
        let cmp = row.and_then(|r| {
            Some((
                self.cell(r, "heapwise")?.time?,
                self.cell(r, "mimalloc")?.time?,
            ))
        });
        let cmp_cpu = row.and_then(|r| {
            Some((
                self.cell(r, "heapwise")?.cpu?,
                self.cell(r, "mimalloc")?.cpu?,
            ))
        });
        // heapwise failed on st-small: not met, whatever mimalloc did (a crash is not fast).
        let st_failed = failed.contains(&"st-small");
        let vs = |c: Option<(f64, f64)>| {
            c.map(|(h, m)| format!("{h:.3} s vs {m:.3} s"))
                .unwrap_or(if st_failed { "FAILED" } else { "n/a" }.into())
        };
        let judge = |c: Option<(f64, f64)>| {
            if st_failed {
                "NOT met"
            } else {
                mark(c.map(|(h, m)| h <= m))
            }
        };
        let _ = writeln!(
            s,
            "- st-small (malloc/free 16–256 B) at least as fast as mimalloc: wall {} → {}; CPU {} → {}",
            vs(cmp),
            judge(cmp),
            vs(cmp_cpu),
            judge(cmp_cpu)
        );
        let _ = writeln!(
            s,
            "- (CPU time is the steadier measure of the single-thread rows on a loaded machine; \
             for threaded rows it also counts spinning and misses blocking, so wall time decides there)"
        );
        s
    }

    /// The CSV report: one line per run.
    pub fn csv(&self) -> String {
        let mut s = String::from(
            "workload,allocator,run,status,time_s,maxrss_kib,cpu_s,checksum,served_by,error\n",
        );
        for (w, res) in &self.rows {
            for (a, runs) in res {
                for (i, r) in runs.iter().enumerate() {
                    match r {
                        Ok(x) => {
                            let _ = writeln!(
                                s,
                                "{},{a},{},ok,{:.6},{},{:.6},{},{},",
                                w.name,
                                i + 1,
                                x.secs,
                                x.maxrss_kib,
                                x.cpu_secs,
                                x.checksum,
                                csv_field(&x.served_by)
                            );
                        }
                        Err(e) => {
                            let status = if is_skip(e) { "skipped" } else { "fail" };
                            let _ = writeln!(
                                s,
                                "{},{a},{},{status},,,,,,{}",
                                w.name,
                                i + 1,
                                csv_field(e)
                            );
                        }
                    }
                }
            }
        }
        s
    }

    /// The SVG chart: two panels (time and peak RSS), one group of bars per workload plus the
    /// geometric means, each bar the ratio to glibc (a dashed line marks 1.0).
    pub fn svg(&self) -> String {
        let cols = self.cols();
        let mut rows: Vec<ChartRow> = (0..self.rows.len())
            .map(|r| {
                (
                    self.rows[r].0.name.clone(),
                    cols.iter().map(|a| self.ratio(r, a.name)).collect(),
                )
            })
            .collect();
        rows.push((
            "geomean".into(),
            cols.iter()
                .map(|a| {
                    let g = self.geo(a.name);
                    Some((g.time?, g.rss?))
                })
                .collect(),
        ));
        let bar_h = 7.0;
        let group_h = bar_h * cols.len() as f64 + 8.0;
        let label_w = 130.0;
        let panel_w = 330.0;
        let width = label_w + 2.0 * (panel_w + 40.0);
        // The legend: entries 90 px apart, in as many lines as the columns need.
        let per_line = (((width - 10.0) / 90.0) as usize).max(1);
        let legend_lines = cols.len().div_ceil(per_line).max(1);
        let top = 50.0 + 14.0 * (legend_lines - 1) as f64;
        let height = top + group_h * rows.len() as f64 + 30.0;
        let max_ratio = 3.0;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="10" y="16" font-size="13">heapwise hosted suite: ratio to glibc (median of {} runs; lower is better; bars clipped at {max_ratio}×)</text>"#,
            self.runs
        );
        for (k, a) in cols.iter().enumerate() {
            let x = 10.0 + (k % per_line) as f64 * 90.0;
            let y = 26.0 + 14.0 * (k / per_line) as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
                color(k),
                x + 14.0,
                y + 9.0,
                xml(a.name)
            );
        }
        for (panel, title) in ["wall time", "peak RSS"].iter().enumerate() {
            let x0 = label_w + panel as f64 * (panel_w + 40.0);
            let scale = panel_w / max_ratio;
            let _ = writeln!(
                s,
                r#"<text x="{x0}" y="{}" font-weight="bold">{title}</text>"#,
                top - 2.0
            );
            for t in [0.5, 1.0, 1.5, 2.0, 2.5, 3.0] {
                let x = x0 + t * scale;
                let dash = if t == 1.0 {
                    r#" stroke-dasharray="4,3""#
                } else {
                    ""
                };
                let color = if t == 1.0 { "#000" } else { "#ddd" };
                let _ = writeln!(
                    s,
                    r#"<line x1="{x}" y1="{top}" x2="{x}" y2="{}" stroke="{color}"{dash}/><text x="{x}" y="{}" text-anchor="middle">{t}×</text>"#,
                    height - 25.0,
                    height - 12.0
                );
            }
            for (g, (name, vals)) in rows.iter().enumerate() {
                let y0 = top + g as f64 * group_h + 4.0;
                if panel == 0 {
                    let _ = writeln!(
                        s,
                        r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                        label_w - 6.0,
                        y0 + group_h / 2.0,
                        xml(name)
                    );
                }
                for (k, v) in vals.iter().enumerate() {
                    let y = y0 + k as f64 * bar_h;
                    match v {
                        Some(r) => {
                            let r = if panel == 0 { r.0 } else { r.1 };
                            let w = (r.min(max_ratio) * scale).max(1.0);
                            let _ = writeln!(
                                s,
                                r#"<rect x="{x0}" y="{y}" width="{w:.1}" height="{:.1}" fill="{}"><title>{} {}: {r:.3}×</title></rect>"#,
                                bar_h - 1.0,
                                color(k),
                                xml(name),
                                xml(cols[k].name)
                            );
                            if r > max_ratio {
                                let _ = writeln!(
                                    s,
                                    r#"<text x="{}" y="{}" font-size="7">{r:.1}×</text>"#,
                                    x0 + w + 2.0,
                                    y + bar_h - 1.0
                                );
                            }
                        }
                        None => {
                            let _ = writeln!(
                                s,
                                r#"<text x="{x0}" y="{}" font-size="7" fill="{}">n/a</text>"#,
                                y + bar_h - 1.0,
                                color(k)
                            );
                        }
                    }
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }
}

/// The chart colour of column `k`: a fixed palette for the usual columns, then hues a golden
/// angle apart, so that no two columns share a colour however many `--extra` columns there
/// are.
fn color(k: usize) -> String {
    const COLORS: [&str; 6] = [
        "#d62728", "#7f7f7f", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
    ];
    match COLORS.get(k) {
        Some(c) => (*c).to_string(),
        None => {
            let j = (k - COLORS.len()) as f64;
            // Lightness alternates too, so that neighbouring extra columns differ more.
            let light = if (k - COLORS.len()) % 2 == 0 { 40 } else { 60 };
            format!("hsl({:.1},70%,{light}%)", (20.0 + j * 137.508) % 360.0)
        }
    }
}

/// One group of bars: a workload and, per allocator, its (time, RSS) ratio to glibc.
type ChartRow = (String, Vec<Option<(f64, f64)>>);

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("×{r:.3}"))
        .unwrap_or_else(|| "n/a".into())
}

/// `s` on one line: each line break (`\n`, `\r\n`, `\r`) becomes ` / `. Failure texts carry
/// program output (sqlite3's, redis-benchmark's), and a line break inside a markdown table
/// row or list item ends it.
fn one_line(s: &str) -> String {
    s.trim_end()
        .replace("\r\n", "\n")
        .replace(['\r', '\n'], " / ")
}

fn short(e: &str) -> String {
    let e = one_line(e).replace('|', "/");
    if e.chars().count() > 60 {
        format!("{}…", e.chars().take(60).collect::<String>())
    } else {
        e
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"").replace('\n', " "))
    } else {
        s.to_string()
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
