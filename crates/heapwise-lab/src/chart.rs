//! The report chart `heapwise bench` writes (`heapwise-report.svg`): per policy, mean peak
//! utilisation and throughput (Kops/s) side by side, with the system allocator's throughput
//! in the same run as a reference line, and the per-workload utilisation as dots.
//! Self-contained SVG (see [`crate::svg`]).

use crate::lab::Report;
use crate::svg::{nice_step, Svg};

const LEFT: f64 = 230.0;
const BAR_W: f64 = 380.0;
const GAP: f64 = 90.0;
const ROW: f64 = 24.0;

/// Draws `report` with a title.
pub fn render(report: &Report, title: &str) -> String {
    let n = report.summary.len().max(1);
    let top = 90.0;
    let height = top + n as f64 * ROW + 80.0;
    let width = LEFT + 2.0 * BAR_W + GAP + 40.0;
    let mut svg = Svg::new(width, height);
    svg.text(20.0, 30.0, 18.0, "start", title);
    svg.text(
        LEFT,
        top - 22.0,
        13.0,
        "start",
        "mean peak utilisation (bar) and per-workload utilisation (dots)",
    );
    let kx = LEFT + BAR_W + GAP;
    svg.text(
        kx,
        top - 22.0,
        13.0,
        "start",
        "throughput, Kops/s (dashed: system allocator, same run)",
    );
    let kmax = report
        .summary
        .iter()
        .flat_map(|s| [s.kops, s.system_kops])
        .flatten()
        .filter(|k| k.is_finite())
        .fold(1.0f64, f64::max)
        * 1.05;
    let bottom = top + n as f64 * ROW;
    // Grids.
    for i in 0..=10 {
        let x = LEFT + i as f64 / 10.0 * BAR_W;
        svg.line(x, top - 4.0, x, bottom, "#eeeeee", 1.0);
        if i % 2 == 0 {
            svg.text(x, bottom + 14.0, 10.0, "middle", &format!("{}%", i * 10));
        }
    }
    let step = nice_step(kmax, 5);
    let mut v = 0.0;
    while v <= kmax {
        let x = kx + v / kmax * BAR_W;
        svg.line(x, top - 4.0, x, bottom, "#eeeeee", 1.0);
        svg.text(x, bottom + 14.0, 10.0, "middle", &format!("{v:.0}"));
        v += step;
    }
    for (i, s) in report.summary.iter().enumerate() {
        let y = top + i as f64 * ROW;
        svg.text(LEFT - 8.0, y + 15.0, 12.0, "end", &s.policy);
        if let Some(mu) = s.mean_util {
            let uw = mu.clamp(0.0, 1.0) * BAR_W;
            svg.rect(
                LEFT,
                y + 3.0,
                uw,
                ROW - 6.0,
                "#3b6fb6",
                "util",
                &format!("{}: mean utilisation {:.1}%", s.policy, mu * 100.0),
            );
            svg.text(
                LEFT + uw + 4.0,
                y + 15.0,
                10.0,
                "start",
                &format!("{:.1}%", mu * 100.0),
            );
        }
        for r in report.traces.iter().filter(|r| r.policy == s.policy) {
            if let Some(u) = r.util {
                let cx = LEFT + u.clamp(0.0, 1.0) * BAR_W;
                svg.raw(&format!(
                    "<circle cx=\"{cx:.2}\" cy=\"{:.2}\" r=\"2.5\" fill=\"#111\" fill-opacity=\"0.55\"><title>{}: {:.1}%</title></circle>\n",
                    y + ROW / 2.0,
                    crate::svg::esc(&r.trace),
                    u * 100.0
                ));
            }
        }
        if let Some(k) = s.kops.filter(|k| k.is_finite()) {
            let kw = k / kmax * BAR_W;
            svg.rect(
                kx,
                y + 3.0,
                kw,
                ROW - 6.0,
                "#59a14f",
                "kops",
                &format!("{}: {k:.0} Kops/s", s.policy),
            );
            svg.text(kx + kw + 4.0, y + 15.0, 10.0, "start", &format!("{k:.0}"));
        }
        if let Some(sk) = s.system_kops.filter(|k| k.is_finite()) {
            let x = kx + sk / kmax * BAR_W;
            svg.raw(&format!(
                "<line x1=\"{x:.2}\" y1=\"{:.2}\" x2=\"{x:.2}\" y2=\"{:.2}\" stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"3 2\"><title>system allocator: {sk:.0} Kops/s</title></line>\n",
                y + 1.0,
                y + ROW - 1.0
            ));
        }
    }
    svg.text(
        20.0,
        height - 20.0,
        11.0,
        "start",
        "Utilisation = peak live requested bytes / final heap size. Throughput = best of the timed repeats, without validation.",
    );
    svg.finish()
}
