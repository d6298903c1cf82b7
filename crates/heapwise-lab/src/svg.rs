//! A tiny SVG writer: self-contained documents (no scripts, no external fonts or images,
//! only the generic `sans-serif` family), built as a string.
//!
//! Invariant: every text and attribute value goes through [`esc`], so the output is
//! well-formed XML whatever the trace names are.

use std::fmt::Write;

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values, and replaces
/// the characters XML 1.0 does not allow at all, even escaped (the control characters other
/// than tab, line feed and carriage return, U+FFFE and U+FFFF: a file name may hold them),
/// with U+FFFD.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\t' | '\n' | '\r' => o.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => o.push('\u{fffd}'),
            _ => o.push(c),
        }
    }
    o
}

/// An SVG document being written.
pub struct Svg {
    body: String,
    width: f64,
    height: f64,
}

impl Svg {
    /// An empty document of the given size in pixels.
    pub fn new(width: f64, height: f64) -> Svg {
        Svg {
            body: String::new(),
            width,
            height,
        }
    }

    /// Appends raw, already well-formed markup.
    pub fn raw(&mut self, s: &str) {
        self.body.push_str(s);
    }

    /// A filled rectangle with an optional CSS class and tooltip.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, class: &str, title: &str) {
        let _ = write!(
            self.body,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{}""#,
            esc(fill)
        );
        if !class.is_empty() {
            let _ = write!(self.body, r#" class="{}""#, esc(class));
        }
        if title.is_empty() {
            self.body.push_str("/>");
        } else {
            let _ = write!(self.body, "><title>{}</title></rect>", esc(title));
        }
        self.body.push('\n');
    }

    /// A line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{}" stroke-width="{width}"/>"#,
            esc(stroke)
        );
    }

    /// Text; `anchor` is `start`, `middle` or `end`.
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, s: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.2}" y="{y:.2}" font-size="{size}" text-anchor="{anchor}">{}</text>"#,
            esc(s)
        );
    }

    /// A polyline through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, class: &str) {
        let mut p = String::with_capacity(points.len() * 16);
        for (x, y) in points {
            let _ = write!(p, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            self.body,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5" class="{}"/>"#,
            p.trim_end(),
            esc(stroke),
            esc(class)
        );
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            concat!(
                r#"<?xml version="1.0" encoding="UTF-8"?>"#,
                "\n",
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif">"#,
                "\n",
                r#"<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>"#,
                "\n{body}</svg>\n"
            ),
            w = self.width,
            h = self.height,
            body = self.body
        )
    }
}

/// A "nice" axis step (1, 2 or 5 times a power of ten) giving about `n` ticks over `max`.
pub fn nice_step(max: f64, n: usize) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// A byte axis step: a "nice" step counted in bytes, KiB, MiB or GiB (whichever unit
/// `max` is in), so that labels read 256K, 512K, 768K rather than 488.3K.
pub fn nice_bytes_step(max: f64, n: usize) -> f64 {
    let unit = if max >= (1u64 << 30) as f64 {
        (1u64 << 30) as f64
    } else if max >= (1u64 << 20) as f64 {
        (1u64 << 20) as f64
    } else if max >= 1024.0 {
        1024.0
    } else {
        1.0
    };
    let raw = max / unit / n.max(1) as f64;
    let candidates = [
        0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
    ];
    let step = candidates.into_iter().find(|&c| c >= raw).unwrap_or(1024.0);
    (step * unit).max(1.0)
}

/// A byte count for an axis label: `512`, `4K`, `1.5M`.
pub fn bytes_label(b: f64) -> String {
    let (v, unit) = if b >= (1u64 << 30) as f64 {
        (b / (1u64 << 30) as f64, "G")
    } else if b >= (1u64 << 20) as f64 {
        (b / (1u64 << 20) as f64, "M")
    } else if b >= 1024.0 {
        (b / 1024.0, "K")
    } else {
        (b, "")
    };
    if (v - v.round()).abs() < 0.05 {
        format!("{:.0}{unit}", v)
    } else {
        format!("{v:.1}{unit}")
    }
}

/// An exact byte offset in the largest unit that divides it: `0`, `1088K`, `3M`, `96`
/// (row labels of the heap map, where rounding would print two rows alike).
///
/// ```
/// use heapwise_lab::svg::exact_bytes_label;
/// assert_eq!(exact_bytes_label(17 * 65536), "1088K");
/// assert_eq!(exact_bytes_label(3 << 20), "3M");
/// assert_eq!(exact_bytes_label(1280), "1280");
/// ```
pub fn exact_bytes_label(b: usize) -> String {
    match b {
        0 => "0".into(),
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b if b % 1024 == 0 => format!("{}K", b >> 10),
        b => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character a trace's file name may hold gives a well-formed document (a
    /// control character went through as is, which no XML parser accepts).
    #[test]
    fn any_text_gives_well_formed_xml() {
        let mut all: String = (0u32..0x80).filter_map(char::from_u32).collect();
        all.push_str("\u{fffe}\u{ffff}\u{fffd}é—");
        let mut svg = Svg::new(10.0, 10.0);
        svg.text(1.0, 1.0, 9.0, "start", &all);
        svg.rect(0.0, 0.0, 1.0, 1.0, "#000", &all, &all);
        let doc = svg.finish();
        let parsed = roxmltree::Document::parse(&doc).unwrap();
        let text = parsed
            .descendants()
            .find(|n| n.has_tag_name("text"))
            .and_then(|n| n.text())
            .unwrap();
        assert!(text.contains('\t') && text.ends_with("\u{fffd}\u{fffd}\u{fffd}é—"));
        assert!(['<', '&', '>', '"', '\''].iter().all(|&c| text.contains(c)));
    }
}
