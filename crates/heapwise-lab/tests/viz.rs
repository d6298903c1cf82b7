//! `heapwise viz`: the SVG parses as XML, is self-contained, and draws one shape per block
//! of the heap at the moment of peak heap size.

use assert_cmd::Command;
use heapwise_core::PolicyKind;
use heapwise_lab::alloc::HeapMemory;
use heapwise_lab::trace::{Format, Trace};
use heapwise_lab::viz::{render, snapshot};

fn mem(limit: usize) -> HeapMemory {
    HeapMemory::new(limit).unwrap()
}

fn shapes<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| n.attribute("class") == Some(class))
        .collect()
}

#[test]
fn one_allocated_block_and_the_rest_free() {
    // One 100-byte request: the heap grows once, the block is split, the tail is free.
    let t = Trace::parse("one.rep".as_ref(), "0 1 1 1\na 0 100\n", Format::Auto).unwrap();
    let snap = snapshot(&t, PolicyKind::ImplicitFirst, &mut mem(1 << 20)).unwrap();
    assert_eq!(snap.index, 0);
    assert_eq!(snap.blocks.len(), 2, "{:?}", snap.blocks);
    let svg = render(&t, PolicyKind::ImplicitFirst, &snap);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(shapes(&doc, "block alloc").len(), 1);
    assert_eq!(shapes(&doc, "block free").len(), 1);
    assert_eq!(shapes(&doc, "payload").len(), 1);
}

#[test]
fn one_shape_per_block_at_peak_heap_size() {
    // Grows the heap in steps; its peak size is reached at `a 4 6000` (index 5).
    let text = "0\n6\n10\n1\n\
a 0 100\na 1 200\na 2 3000\nf 1\na 3 40\na 4 6000\nf 0\na 5 10\nf 2\nf 3\n";
    let t = Trace::parse("steps.rep".as_ref(), text, Format::Auto).unwrap();
    let first = snapshot(&t, PolicyKind::ImplicitFirst, &mut mem(1 << 20)).unwrap();
    assert_eq!(first.index, 5);
    assert_eq!(first.live_series[5], 100 + 3000 + 40 + 6000);
    for &p in PolicyKind::ALL {
        let snap = snapshot(&t, p, &mut mem(1 << 20)).unwrap();
        // The moment is the first request after which the heap had its final size.
        let top = *snap.heap_series.last().unwrap();
        assert_eq!(snap.heap_series.len(), t.ops.len());
        assert_eq!(snap.heap_series[snap.index], top, "{p}");
        assert!(
            snap.heap_series[..snap.index].iter().all(|&h| h < top),
            "{p}"
        );
        // Live ids after that request, from the trace itself.
        let mut live = std::collections::BTreeSet::new();
        for op in &t.ops[..=snap.index] {
            match op.kind {
                heapwise_lab::trace::OpKind::Free => live.remove(&op.id),
                _ => live.insert(op.id),
            };
        }
        let svg = render(&t, p, &snap);
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let alloc = snap.blocks.iter().filter(|b| b.allocated).count();
        let free = snap.blocks.len() - alloc;
        assert_eq!(shapes(&doc, "block alloc").len(), alloc, "{p}");
        assert_eq!(shapes(&doc, "block free").len(), free, "{p}");
        assert_eq!(shapes(&doc, "payload").len(), live.len(), "{p}");
        assert_eq!(shapes(&doc, "series heap").len(), 1);
        assert_eq!(shapes(&doc, "series live").len(), 1);
    }
}

#[test]
fn cli_writes_a_self_contained_svg() {
    let d = tempfile::tempdir().unwrap();
    let trace = d.path().join("t.rep");
    std::fs::write(
        &trace,
        "0 3 6 1\na 0 100\na 1 2000\nf 0\na 2 50\nf 1\nf 2\n",
    )
    .unwrap();
    let out = d.path().join("t.svg");
    Command::cargo_bin("heapwise")
        .unwrap()
        .args(["viz", "--policy", "explicit-lifo-first", "-o"])
        .arg(&out)
        .arg(&trace)
        .assert()
        .code(0);
    let svg = std::fs::read_to_string(&out).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    assert!(!svg.contains("<script") && !svg.contains("@font-face") && !svg.contains("href"));
    // Legend: the three colours are named.
    for label in ["allocated payload", "overhead", "free block"] {
        assert!(svg.contains(label), "{label}");
    }
    Command::cargo_bin("heapwise")
        .unwrap()
        .args(["viz", "--policy", "bogus", "-o"])
        .arg(&out)
        .arg(&trace)
        .assert()
        .code(2);
}

/// A trace without requests has no heap to draw: a clean error and status 2, no file (the
/// old `viz` drew a made-up 16-byte heap "after request 1 of 0").
#[test]
fn cli_refuses_a_trace_without_requests() {
    let d = tempfile::tempdir().unwrap();
    let trace = d.path().join("true.rep");
    std::fs::write(&trace, "0\n0\n0\n1\n").unwrap();
    let out = d.path().join("t.svg");
    let o = Command::cargo_bin("heapwise")
        .unwrap()
        .args(["viz", "-o"])
        .arg(&out)
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8(o.stderr).unwrap();
    assert!(
        err.contains("true.rep: no requests: nothing to draw"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn row_labels_are_exact_and_distinct() {
    // A heap of ~1.3 MB: 64 KiB rows, whose offsets rounded to 0.1 MiB would repeat.
    let t = Trace::parse(
        "big.rep".as_ref(),
        "0 1 2 1\na 0 1300000\nf 0\n",
        Format::Auto,
    )
    .unwrap();
    let snap = snapshot(&t, PolicyKind::Segregated, &mut mem(1 << 24)).unwrap();
    let svg = render(&t, PolicyKind::Segregated, &snap);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    // The map's row labels come first among the right-aligned texts, from "0" up to the
    // chart's axis, which starts at "0" again.
    let mut labels: Vec<&str> = Vec::new();
    for s in doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("text-anchor") == Some("end"))
        .filter_map(|n| n.text())
    {
        if s == "0" && !labels.is_empty() {
            break;
        }
        labels.push(s);
    }
    assert!(labels.len() >= 20, "{labels:?}");
    assert!(labels.contains(&"1088K"), "{labels:?}");
    let distinct: std::collections::BTreeSet<&str> = labels.iter().copied().collect();
    assert_eq!(distinct.len(), labels.len(), "{labels:?}");
}
