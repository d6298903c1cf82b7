//! The trace parser on good files (both header variants, detection, directories) and on
//! every kind of malformed input, which must give `file:line: reason`.

use std::path::{Path, PathBuf};

use heapwise_lab::trace::{expand_paths, Format, OpKind, Trace};

fn parse(text: &str) -> Result<Trace, String> {
    Trace::parse(Path::new("t.rep"), text, Format::Auto).map_err(|e| e.to_string())
}

fn err(text: &str) -> String {
    parse(text).expect_err("must be rejected")
}

#[test]
fn classic_header() {
    let t = parse("20000\n3\n6\n1\na 0 10\na 1 20\nr 0 40\nf 1\na 2 5\nf 0\n").unwrap();
    assert_eq!(t.format, Format::Classic);
    assert_eq!((t.num_ids, t.weight, t.ops.len()), (3, 1, 6));
    assert_eq!(t.ops[2].kind, OpKind::Realloc);
    assert_eq!((t.ops[2].id, t.ops[2].size, t.ops[2].line), (0, 40, 7));
    assert_eq!(t.ops[3].kind, OpKind::Free);
    // 10 + 20, then 40 + 20 = 60 after the realloc.
    assert_eq!(t.peak_live().bytes, 60);
    assert_eq!(t.name, "t");
}

#[test]
fn new_header_is_detected() {
    // weight, ids, ops, peak live payload.
    let t = parse("1\n2\n4\n30\na 0 10\na 1 20\nf 0\nf 1\n").unwrap();
    assert_eq!(t.format, Format::New);
    assert_eq!(t.weight, 1);
    // Weights 0 to 3 first and a large last number: still the new variant.
    for w in 0..=3 {
        let t = parse(&format!("{w} 2 4 30\na 0 10\na 1 20\nf 0\nf 1\n")).unwrap();
        assert_eq!((t.format, t.weight), (Format::New, w));
    }
    // A classic trace with a tiny suggested heap size is still classic (weight last).
    let t = parse("0 2 4 1\na 0 10\na 1 20\nf 0\nf 1\n").unwrap();
    assert_eq!((t.format, t.weight), (Format::Classic, 1));
    // Both numbers large: the last one equal to the body's peak means new...
    assert_eq!(
        parse("7 2 4 30\na 0 10\na 1 20\nf 0\nf 1\n")
            .unwrap()
            .format,
        Format::New
    );
    // ...and anything else classic.
    assert_eq!(
        parse("7 2 4 31\na 0 10\na 1 20\nf 0\nf 1\n")
            .unwrap()
            .format,
        Format::Classic
    );
}

#[test]
fn format_can_be_forced() {
    let text = "1\n2\n4\n30\na 0 10\na 1 20\nf 0\nf 1\n";
    let t = Trace::parse(Path::new("t.rep"), text, Format::Classic).unwrap();
    assert_eq!((t.format, t.weight), (Format::Classic, 30));
}

#[test]
fn header_may_share_lines_and_blank_lines_are_skipped() {
    let t = parse("0 2 2 1\n\na 0 5\n\nf 0\n\n").unwrap();
    assert_eq!(t.ops.len(), 2);
    assert_eq!(t.ops[1].line, 5);
}

/// Files edited on other systems: a UTF-8 byte-order mark, `\r\n` and lone-`\r` line ends
/// (all whitespace to mdriver's `fscanf`). The BOM was reported as part of the first number
/// (an invisible character in the message), and a lone-`\r` file as one long line.
#[test]
fn bom_and_every_line_end_parse_alike() {
    let lf = "20000\n6\n3\n1\na 0 2040\nr 0 4072\nf 0\n";
    let want = parse(lf).unwrap();
    for text in [
        format!("\u{feff}{lf}"),
        lf.replace('\n', "\r\n"),
        format!("\u{feff}{}", lf.replace('\n', "\r\n")),
        lf.replace('\n', "\r"),
    ] {
        let t = parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(
            (t.ops, t.format),
            (want.ops.clone(), want.format),
            "{text:?}"
        );
    }
    // Line numbers count `\r\n` once and a lone `\r` once.
    assert_eq!(
        err("0 1 1 1\r\na 0 1\r\nx\r\n"),
        "t.rep:3: unknown operation `x`"
    );
    assert_eq!(err("0 1 1 1\ra 0 1\rx\r"), "t.rep:3: unknown operation `x`");
}

#[test]
fn malformed_inputs_name_file_line_and_reason() {
    let cases: &[(&str, &str)] = &[
        ("0 2 2 1\na 0 5\nx 0\n", "t.rep:3: unknown operation `x`"),
        (
            "0 2 2 1\na 2 5\nf 2\n",
            "t.rep:2: id 2 out of range (header says 2 ids)",
        ),
        (
            "0 2 2 1\na 0 5\nf 1\n",
            "t.rep:3: free of id 1, which is not live",
        ),
        (
            "0 2 3 1\na 0 5\nf 0\nf 0\n",
            "t.rep:4: free of id 0, which is not live",
        ),
        (
            "0 2 2 1\na 0 5\na 0 6\n",
            "t.rep:3: allocation of id 0, which is live",
        ),
        (
            "0 2 3 1\na 0 5\nf 0\n",
            "t.rep:3: header says 3 operations, the file has 2",
        ),
        (
            "0 2 1 1\na 0 5\nf 0\n",
            "t.rep:3: more requests than the header's 1 operations",
        ),
        (
            "0 2 2 1\na zero 5\nf 0\n",
            "t.rep:2: id `zero` is not a non-negative number",
        ),
        (
            "0 2 2 1\na 0 -5\nf 0\n",
            "t.rep:2: size `-5` is not a non-negative number",
        ),
        (
            "0 2 2 1\na 0 5x\nf 0\n",
            "t.rep:2: size `5x` is not a non-negative number",
        ),
        (
            "0 2 2 1\na 0 99999999999999999999999\nf 0\n",
            "t.rep:2: size 99999999999999999999999 is too large",
        ),
        // Numbers too large even for `u128` / `u64` are numbers too (they were "not a
        // non-negative number").
        (
            "0 2 2 1\na 0 9999999999999999999999999999999999999999\nf 0\n",
            "t.rep:2: size 9999999999999999999999999999999999999999 is too large",
        ),
        (
            "0 2 2 1\na 99999999999999999999999 5\nf 0\n",
            "t.rep:2: id 99999999999999999999999 out of range (header says 2 ids)",
        ),
        (
            "0 99999999999999999999999 2 1\n",
            "t.rep:1: header: 99999999999999999999999 is too large",
        ),
        ("0 2 2 1\na 0\nf 0\n", "t.rep:2: `a` needs a size"),
        (
            "0 2 2 1\na 0 5 7\nf 0\n",
            "t.rep:2: unexpected `7` after the request",
        ),
        ("0 2 2 1\nf\n", "t.rep:2: `f` needs an id"),
        ("0 2\n", "t.rep:1: header: expected 4 numbers, found 2"),
        (
            "0 two 2 1\n",
            "t.rep:1: header: expected a non-negative number, found `two`",
        ),
        ("", "t.rep:1: header: expected 4 numbers, found 0"),
        (
            "20000 2 2 1 a 0 10\nf 0\n",
            "t.rep:1: unexpected `a` after the header's 4 numbers",
        ),
        (
            "0 1 3 1\nr 0 0\na 0 10\nf 0\n",
            "t.rep:3: allocation of id 0, which is live",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        // (A too-large number's message goes on with the largest one allowed.)
        let e = e.split(" (at most").next().unwrap();
        assert_eq!(e, *want, "input {text:?}");
    }
}

#[test]
fn realloc_of_a_dead_id_allocates_even_zero_bytes() {
    // `realloc(NULL, 0)` is `malloc(0)`: the id is live until freed (as the replayers hold
    // it); `realloc(p, 0)` frees.
    let t = parse("0 1 4 1\nr 0 0\nr 0 8\nr 0 0\na 0 4\n").unwrap();
    assert_eq!(t.ops.len(), 4);
    assert_eq!(t.peak_live().bytes, 8);
}

#[test]
fn tables_are_as_long_as_the_ids_used_not_the_header_says() {
    // A header may announce any number of ids; memory follows the ids the requests use.
    let t = parse("0 4000000000 2 1\na 0 10\nf 0\n").unwrap();
    assert_eq!(t.num_ids, 1);
    // Sparse ids are renumbered in order of first use: the tables hold 2 ids, not 6.
    let t = parse("0 9 4 1\na 5 10\na 2 1\nf 5\nf 2\n").unwrap();
    assert_eq!(t.num_ids, 2);
    assert_eq!(t.ops.iter().map(|o| o.id).collect::<Vec<_>>(), [0, 1, 0, 1]);
    assert_eq!(t.peak_live().bytes, 11);
    // Ids that first appear in order keep their numbers.
    let t = parse("0 3 6 1\na 0 1\na 1 2\nf 0\na 2 3\nf 2\nf 1\n").unwrap();
    assert_eq!(
        t.ops.iter().map(|o| o.id).collect::<Vec<_>>(),
        [0, 1, 0, 2, 2, 1]
    );
}

#[test]
fn a_huge_sparse_id_costs_one_table_entry() {
    // Tables sized by the id's value would take 256 MiB here, and 36 GiB (an abort) for the
    // largest id a header allows (see the CLI test `a_huge_sparse_id_replays`).
    let big = 1u32 << 28;
    let t = parse(&format!(
        "0 {} 4 1\na {big} 7\nr {big} 9\na 3 1\nf {big}\n",
        u32::MAX
    ))
    .unwrap();
    assert_eq!(t.num_ids, 2);
    assert_eq!(t.peak_live().bytes, 10);
    // The file's ids still name the line in errors.
    let e = err(&format!("0 {} 2 1\na {big} 7\na {big} 7\n", u32::MAX));
    assert!(
        e.ends_with(&format!("allocation of id {big}, which is live")),
        "{e}"
    );
}

#[test]
fn a_size_larger_than_isize_max_is_rejected_but_a_huge_one_is_not() {
    let max = isize::MAX as u64;
    assert!(parse(&format!("0 1 2 1\na 0 {max}\nf 0\n")).is_ok());
    let e = err(&format!("0 1 2 1\na 0 {}\nf 0\n", max + 1));
    assert_eq!(
        e,
        format!("t.rep:2: size {} is too large (at most {max})", max + 1)
    );
}

#[test]
fn directories_mean_their_rep_files_sorted() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["b.rep", "a.rep", "c.txt"] {
        std::fs::write(dir.path().join(n), "0 1 2 1\na 0 1\nf 0\n").unwrap();
    }
    let files = expand_paths(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.rep", "b.rep"]);
    let empty = tempfile::tempdir().unwrap();
    let e = expand_paths(&[empty.path().to_path_buf()]).unwrap_err();
    assert!(e
        .to_string()
        .ends_with(":0: directory holds no *.rep files"));
}

#[test]
fn unreadable_file_is_an_error_not_a_panic() {
    let e = Trace::read(Path::new("/nonexistent/x.rep"), Format::Auto).unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/nonexistent/x.rep:0: cannot read"));
}

/// The CS:APP traces (skipped when `../shared` is absent): all parse, the classic header is
/// detected, and the counts match the table in the traces' README.
#[test]
fn csapp_traces_parse_with_their_documented_counts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/csapp");
    if !dir.is_dir() {
        eprintln!("note: {} absent, test skipped", dir.display());
        return;
    }
    let want: &[(&str, usize, usize)] = &[
        ("amptjp-bal", 5694, 2012279),
        ("binary-bal", 12000, 1152000),
        ("binary2-bal", 24000, 576000),
        ("cccp-bal", 5848, 1679165),
        ("coalescing-bal", 14400, 8190),
        ("cp-decl-bal", 6648, 3165325),
        ("expr-bal", 5380, 3421135),
        ("random-bal", 4800, 15612491),
        ("random2-bal", 4800, 14432586),
        ("realloc-bal", 14401, 615040),
        ("realloc2-bal", 14401, 28119),
        ("short1-bal", 12, 8144),
        ("short2-bal", 12, 18314),
    ];
    let files = expand_paths(&[dir]).unwrap();
    assert_eq!(files.len(), want.len());
    for (f, &(name, ops, peak)) in files.iter().zip(want) {
        let t = Trace::read(f, Format::Auto).unwrap();
        assert_eq!(t.name, name);
        assert_eq!(t.format, Format::Classic, "{name}");
        assert_eq!(t.ops.len(), ops, "{name}");
        assert_eq!(t.peak_live().bytes, peak, "{name}");
    }
}
