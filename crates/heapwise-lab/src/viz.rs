//! `heapwise viz`: a picture of one trace under one policy, as a self-contained SVG.
//!
//! * **(a) Heap map** at the moment of peak heap size, i.e. right after the first request
//!   that brought the heap to its final (largest) size. The address range `[start, brk)` is
//!   drawn as rows of equal byte length, left to right, top to bottom. Every block is one
//!   `<path class="block alloc|free">` (a block that wraps to the next row is one path with
//!   several rectangles). Allocated blocks are drawn in the overhead colour and the
//!   requested payload bytes of the live blocks inside them are painted over it
//!   (`class="payload"`), so what is left visible is overhead: header, alignment padding and
//!   size rounding. Bytes outside every block (policy metadata, prologue, epilogue) are
//!   `class="fixed"` overhead. Free blocks have their own colour.
//! * **(b) Heap size and live payload** after each request (x = request index), sampled to
//!   at most 1000 points by keeping the largest value in each bucket.
//!
//! The replay behind the picture is the validating one, so a broken heap is not drawn.

use std::collections::BTreeMap;

use heapwise_core::{BlockInfo, HeapLayout, PolicyKind};

use crate::alloc::{EngineAllocator, HeapMemory, TraceAllocator};
use crate::replay::{replay_checked_with, Checked, Failure};
use crate::svg::{bytes_label, exact_bytes_label, nice_bytes_step, nice_step, Svg};
use crate::trace::Trace;

/// Colour of requested payload bytes.
pub const PAYLOAD: &str = "#3b6fb6";
/// Colour of overhead: headers, padding, rounding, fixed parts.
pub const OVERHEAD: &str = "#f28e2b";
/// Colour of free blocks.
pub const FREE: &str = "#d9d9d9";

/// The heap at the moment of peak heap size, and the trace's history.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Request index of the moment.
    pub index: usize,
    /// The heap's fixed parts.
    pub layout: Option<HeapLayout>,
    /// Every block, in address order.
    pub blocks: Vec<BlockInfo>,
    /// Live payloads at that moment: start → end.
    pub live: BTreeMap<usize, usize>,
    /// Heap size after each request.
    pub heap_series: Vec<usize>,
    /// Live requested bytes after each request.
    pub live_series: Vec<usize>,
    /// What the validated replay measured.
    pub checked: Checked,
}

/// Replays `trace` under `policy` (twice: once to find the moment, once to capture it).
pub fn snapshot(
    trace: &Trace,
    policy: PolicyKind,
    mem: &mut HeapMemory,
) -> Result<Snapshot, Failure> {
    let mut snap = Snapshot::default();
    let size_of = |a: &EngineAllocator<'_>| a.heap_range().map_or(0, |(lo, hi)| hi - lo);
    let first = {
        let mut a = EngineAllocator::new(policy, mem);
        let (hs, ls) = (&mut snap.heap_series, &mut snap.live_series);
        replay_checked_with(trace, &mut a, |m, a| {
            hs.push(size_of(a));
            ls.push(m.live_bytes);
        })?
    };
    let top = snap.heap_series.iter().copied().max().unwrap_or(0);
    snap.index = snap.heap_series.iter().position(|&h| h == top).unwrap_or(0);
    let mut a = EngineAllocator::new(policy, mem);
    let want = snap.index;
    let (mut layout, mut blocks, mut live) = (None, Vec::new(), BTreeMap::new());
    replay_checked_with(trace, &mut a, |m, a| {
        if m.index == want {
            layout = a.layout();
            blocks = a.blocks().unwrap_or_default();
            live = m.live.clone();
        }
    })?;
    snap.layout = layout;
    snap.blocks = blocks;
    snap.live = live;
    snap.checked = first;
    Ok(snap)
}

const W: f64 = 1100.0;
const LEFT: f64 = 70.0;
const MAP_W: f64 = 1000.0;
const ROW_H: f64 = 14.0;
const ROW_GAP: f64 = 4.0;
const MAX_ROWS: usize = 40;

/// Row geometry of the heap map.
struct Rows {
    start: usize,
    per_row: usize,
    top: f64,
}

impl Rows {
    fn y(&self, row: usize) -> f64 {
        self.top + row as f64 * (ROW_H + ROW_GAP)
    }
    /// Rectangles (x, y, w) covering `[a, b)`.
    fn segments(&self, a: usize, b: usize) -> Vec<(f64, f64, f64)> {
        let mut out = Vec::new();
        let mut cur = a;
        while cur < b {
            let off = cur - self.start;
            let row = off / self.per_row;
            let row_end = self.start + (row + 1) * self.per_row;
            let seg_end = b.min(row_end);
            let x = LEFT + (off % self.per_row) as f64 / self.per_row as f64 * MAP_W;
            let w = (seg_end - cur) as f64 / self.per_row as f64 * MAP_W;
            out.push((x, self.y(row), w));
            cur = seg_end;
        }
        out
    }
    fn path(&self, a: usize, b: usize) -> String {
        use std::fmt::Write;
        let mut d = String::new();
        for (x, y, w) in self.segments(a, b) {
            let _ = write!(d, "M{x:.2} {y:.2}h{w:.3}v{ROW_H}h{:.3}z", -w);
        }
        d
    }
}

fn path(svg: &mut Svg, d: &str, fill: &str, class: &str, title: &str) {
    svg.raw(&format!(
        "<path d=\"{d}\" fill=\"{fill}\" class=\"{class}\"><title>{}</title></path>\n",
        crate::svg::esc(title)
    ));
}

/// Draws `snap` of `trace` under `policy`.
pub fn render(trace: &Trace, policy: PolicyKind, snap: &Snapshot) -> String {
    let (start, end) = snap
        .layout
        .map_or((0, 16), |l| (l.start, l.end.max(l.start + 16)));
    let total = end - start;
    // A power of two per row (at least 64 bytes), as few rows as fit in MAX_ROWS.
    let per_row = total.div_ceil(MAX_ROWS).next_power_of_two().max(64);
    let rows_n = total.div_ceil(per_row);
    let rows = Rows {
        start,
        per_row,
        top: 110.0,
    };
    let map_bottom = rows.y(rows_n);
    let chart_top = map_bottom + 70.0;
    let chart_h = 260.0;
    let height = chart_top + chart_h + 70.0;
    let mut svg = Svg::new(W, height);

    let util = snap.checked.util().unwrap_or(0.0);
    svg.text(
        LEFT,
        28.0,
        18.0,
        "start",
        &format!(
            "heapwise viz — trace {}, policy {} — heap {} bytes, peak utilisation {:.1}%",
            trace.name,
            policy,
            total,
            util * 100.0
        ),
    );
    svg.text(
        LEFT,
        52.0,
        13.0,
        "start",
        &format!(
            "(a) heap map after request {} of {} (the moment the heap reached its peak size); {} bytes per row",
            snap.index + 1,
            trace.ops.len(),
            per_row
        ),
    );
    // Legend.
    let legend = [
        (PAYLOAD, "allocated payload (requested bytes)"),
        (
            OVERHEAD,
            "overhead (header, padding, rounding, fixed parts)",
        ),
        (FREE, "free block"),
    ];
    let mut lx = LEFT;
    for (c, label) in legend {
        svg.rect(lx, 66.0, 14.0, 14.0, c, "legend", "");
        svg.text(lx + 20.0, 78.0, 12.0, "start", label);
        lx += 30.0 + label.len() as f64 * 6.6;
    }
    // Byte axis: offsets at the start of each row, and across the top.
    for r in 0..rows_n {
        svg.text(
            LEFT - 6.0,
            rows.y(r) + ROW_H - 3.0,
            10.0,
            "end",
            &exact_bytes_label(r * per_row),
        );
    }
    let step = nice_bytes_step(per_row as f64, 8);
    let mut t = 0.0;
    while t <= per_row as f64 + 0.5 {
        let x = LEFT + t / per_row as f64 * MAP_W;
        svg.line(x, rows.top - 8.0, x, rows.top - 2.0, "#555", 1.0);
        svg.text(
            x,
            rows.top - 10.0,
            9.0,
            "middle",
            &format!("+{}", bytes_label(t)),
        );
        t += step;
    }
    // Fixed overhead: the whole range first, blocks drawn over it.
    path(
        &mut svg,
        &rows.path(start, end),
        OVERHEAD,
        "fixed",
        "fixed overhead: policy metadata, prologue, epilogue",
    );
    for b in &snap.blocks {
        let (a, e) = (b.addr, b.addr + b.size);
        if b.allocated {
            path(
                &mut svg,
                &rows.path(a, e),
                OVERHEAD,
                "block alloc",
                &format!("allocated block at +{} of {} bytes", a - start, b.size),
            );
            for (&ps, &pe) in snap.live.range(a..e) {
                path(
                    &mut svg,
                    &rows.path(ps, pe.min(e)),
                    PAYLOAD,
                    "payload",
                    &format!("payload of {} requested bytes", pe - ps),
                );
            }
        } else {
            path(
                &mut svg,
                &rows.path(a, e),
                FREE,
                "block free",
                &format!("free block at +{} of {} bytes", a - start, b.size),
            );
        }
    }
    draw_series(&mut svg, snap, chart_top, chart_h);
    svg.finish()
}

fn sample(v: &[usize], n: usize) -> Vec<(usize, usize)> {
    if v.len() <= n {
        return v.iter().copied().enumerate().collect();
    }
    let per = v.len().div_ceil(n);
    v.chunks(per)
        .enumerate()
        .map(|(i, c)| (i * per, c.iter().copied().max().unwrap_or(0)))
        .collect()
}

fn draw_series(svg: &mut Svg, snap: &Snapshot, top: f64, h: f64) {
    svg.text(
        LEFT,
        top - 36.0,
        13.0,
        "start",
        "(b) heap size and live payload after each request",
    );
    let n = snap.heap_series.len().max(1);
    let ymax = snap
        .heap_series
        .iter()
        .chain(&snap.live_series)
        .copied()
        .max()
        .unwrap_or(0)
        .max(16) as f64;
    let x = |i: usize| LEFT + i as f64 / n as f64 * MAP_W;
    let y = |b: f64| top + h - b / ymax * h;
    svg.line(LEFT, top + h, LEFT + MAP_W, top + h, "#333", 1.0);
    svg.line(LEFT, top, LEFT, top + h, "#333", 1.0);
    let step = nice_bytes_step(ymax, 5);
    let mut v = 0.0;
    while v <= ymax * 1.0001 {
        svg.line(LEFT - 4.0, y(v), LEFT + MAP_W, y(v), "#e6e6e6", 1.0);
        svg.text(LEFT - 6.0, y(v) + 3.0, 10.0, "end", &bytes_label(v));
        v += step;
    }
    let xstep = nice_step(n as f64, 8).max(1.0);
    let mut i = 0.0;
    while i <= n as f64 {
        svg.text(
            x(i as usize),
            top + h + 14.0,
            10.0,
            "middle",
            &format!("{i:.0}"),
        );
        i += xstep;
    }
    svg.text(
        LEFT + MAP_W / 2.0,
        top + h + 32.0,
        11.0,
        "middle",
        "request index",
    );
    let heap: Vec<(f64, f64)> = sample(&snap.heap_series, 1000)
        .into_iter()
        .map(|(i, b)| (x(i), y(b as f64)))
        .collect();
    let live: Vec<(f64, f64)> = sample(&snap.live_series, 1000)
        .into_iter()
        .map(|(i, b)| (x(i), y(b as f64)))
        .collect();
    svg.polyline(&heap, "#c0392b", "series heap");
    svg.polyline(&live, PAYLOAD, "series live");
    let mx = x(snap.index);
    svg.raw(&format!(
        "<line x1=\"{mx:.2}\" y1=\"{top:.2}\" x2=\"{mx:.2}\" y2=\"{:.2}\" stroke=\"#777\" stroke-dasharray=\"4 3\"/>\n",
        top + h
    ));
    let ly = top - 14.0;
    svg.rect(LEFT + 10.0, ly - 5.0, 14.0, 3.0, "#c0392b", "legend", "");
    svg.text(LEFT + 30.0, ly, 11.0, "start", "heap size (brk − start)");
    svg.rect(LEFT + 200.0, ly - 5.0, 14.0, 3.0, PAYLOAD, "legend", "");
    svg.text(
        LEFT + 220.0,
        ly,
        11.0,
        "start",
        "live payload (sum of requested sizes)",
    );
    svg.text(
        LEFT + 470.0,
        ly,
        11.0,
        "start",
        "dashed: the moment of the heap map",
    );
}
