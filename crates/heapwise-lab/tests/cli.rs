//! The `heapwise` executable: behaviour, output and exit codes (assert_cmd).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use heapwise_core::PolicyKind;
use heapwise_lab::trace::{Format, Trace};

fn heapwise() -> Command {
    Command::cargo_bin("heapwise").unwrap()
}

/// `heapwise replay --json --repeat 1 --policy segregated FILE`, which must succeed: its
/// JSON report.
fn replay_json_segregated(f: &Path) -> serde_json::Value {
    let out = heapwise()
        .args([
            "replay",
            "--json",
            "--repeat",
            "1",
            "--policy",
            "segregated",
        ])
        .arg(f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const SMALL: &str = "0\n3\n6\n1\na 0 100\na 1 2000\nf 0\na 2 50\nf 1\nf 2\n";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn replay_prints_a_row_per_policy_and_a_summary() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "small.rep", SMALL);
    let out = heapwise()
        .args(["replay", "--repeat", "1"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = stdout(&out);
    for p in PolicyKind::ALL {
        assert!(
            s.lines()
                .any(|l| l.starts_with("small ") && l.contains(&format!(" {} ", p.name()))),
            "no row for {p}:\n{s}"
        );
    }
    assert!(s.contains("Summary (1 traces"));
    assert!(s.lines().next().unwrap().starts_with("trace"));
    // Piped: no progress bar, nothing on stderr.
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
}

/// Per-process traces (`HEAPWISE_TRACE=dir/%p.rep`) of processes that left through `_exit`
/// are empty files: replaying the directory skips them with a note instead of failing; a
/// replay of empty files only is an error.
/// The same processes after a longer run leave the recorder's placeholder header (heap 0,
/// 0 ids, 0 operations) followed by the 64 KiB blocks of lines it wrote, the last one
/// possibly cut: `replay` skips such a file with a note as it does an empty one (it named
/// line 5 of it, `id 0 out of range (header says 0 ids)`, and failed the whole run).
#[test]
fn replay_skips_unfinished_recordings_of_a_directory() {
    use heapwise_lab::trace::RECORDER_PLACEHOLDER;
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "1.rep", SMALL);
    let mut body = String::from(RECORDER_PLACEHOLDER);
    for i in 0..5000 {
        body.push_str(&format!("a {i} 24\n"));
    }
    body.push_str("f 4"); // cut in the middle of `f 4999`
    write(d.path(), "2.rep", &body);
    let out = heapwise()
        .args(["replay", "--repeat", "0", "--policy", "segregated"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Summary (1 traces"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("2.rep is an unfinished recording"),
        "{}",
        stderr(&out)
    );
    exits_2_saying(
        heapwise()
            .args(["replay", "--repeat", "0"])
            .arg(d.path().join("2.rep")),
        "no trace to replay",
    );
    // `viz` has nothing to draw either, and says why.
    exits_2_saying(
        heapwise()
            .args(["viz", "-o"])
            .arg(d.path().join("2.svg"))
            .arg(d.path().join("2.rep")),
        "2.rep:1: an unfinished recording",
    );
    // A finished recording of a process that never allocated is that header alone: a
    // trace without requests, replayed.
    write(d.path(), "3.rep", RECORDER_PLACEHOLDER);
    heapwise()
        .args(["replay", "--repeat", "0"])
        .arg(d.path().join("3.rep"))
        .assert()
        .code(0);
}

#[test]
fn replay_skips_empty_traces_of_a_directory() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "1.rep", SMALL);
    write(d.path(), "2.rep", "");
    let out = heapwise()
        .args(["replay", "--repeat", "1", "--policy", "segregated"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Summary (1 traces"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("2.rep is empty"), "{}", stderr(&out));
    let out = heapwise()
        .args(["replay", "--repeat", "1"])
        .arg(d.path().join("2.rep"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // The last line, as every message of `heapwise` is, starts with `heapwise:` (it said
    // `error:`).
    assert!(
        stderr(&out)
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("heapwise: no trace to replay")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn json_has_exactly_the_documented_schema() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "small.rep", SMALL);
    let v = replay_json_segregated(&f);
    let keys = |o: &serde_json::Value| -> BTreeSet<String> {
        o.as_object().unwrap().keys().cloned().collect()
    };
    let set = |k: &[&str]| -> BTreeSet<String> { k.iter().map(|s| s.to_string()).collect() };
    assert_eq!(keys(&v), set(&["traces", "summary"]));
    let traces = v["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 1);
    let t = &traces[0];
    assert_eq!(
        keys(t),
        set(&[
            "trace",
            "policy",
            "ops",
            "util",
            "heap_bytes",
            "internal_frag",
            "external_frag",
            "kops",
            "system_kops",
            "ok",
            "error"
        ])
    );
    assert_eq!(t["trace"], "small");
    assert_eq!(t["policy"], "segregated");
    assert_eq!(t["ops"], 6);
    assert_eq!(t["ok"], true);
    assert!(t["error"].is_null());
    let util = t["util"].as_f64().unwrap();
    let heap = t["heap_bytes"].as_u64().unwrap();
    assert!((util - 2100.0 / heap as f64).abs() < 1e-12);
    for k in ["internal_frag", "external_frag"] {
        let x = t[k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{k} = {x}");
    }
    assert!(t["kops"].as_f64().unwrap() > 0.0);
    assert!(t["system_kops"].as_f64().unwrap() > 0.0);
    let s = &v["summary"].as_array().unwrap()[0];
    assert_eq!(
        keys(s),
        set(&["policy", "mean_util", "kops", "system_kops", "index"])
    );
    assert_eq!(s["mean_util"].as_f64().unwrap(), util);
}

#[test]
fn malformed_trace_exits_2_with_file_line_reason() {
    let d = tempfile::tempdir().unwrap();
    let good = write(d.path(), "good.rep", SMALL);
    let bad = write(d.path(), "bad.rep", "0 2 2 1\na 0 5\nq 0\n");
    let out = heapwise()
        .arg("replay")
        .arg(&good)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr(&out).trim(),
        format!("{}:3: unknown operation `q`", bad.display())
    );
}

#[test]
fn out_of_memory_is_reported_per_trace_and_other_traces_run() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "a-big.rep", "0 2 3 1\na 0 100\na 1 100000\nf 0\n");
    write(d.path(), "b-small.rep", SMALL);
    let out = heapwise()
        .args(["replay", "--json", "--repeat", "1", "--heap-limit", "16K"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["traces"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * PolicyKind::ALL.len());
    for r in rows {
        if r["trace"] == "a-big" {
            assert_eq!(r["ok"], false);
            assert_eq!(r["error"], "out of memory at line 3");
            assert!(r["util"].is_null());
        } else {
            assert_eq!(r["trace"], "b-small");
            assert_eq!(r["ok"], true, "{r}");
        }
    }
}

/// `--heap-limit` bounds the system allocator's replay too: a request that would take the
/// bytes it holds above the limit is its out of memory, reported as a policy's is (the lab
/// allocated and filled whatever a trace asked for, a gigabyte for `a 0 1000000000`).
#[test]
fn the_system_allocator_respects_the_heap_limit() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "big.rep", "0 1 2 1\na 0 8388608\nf 0\n");
    write(
        d.path(),
        "grow.rep",
        "0 2 5 1\na 0 1048576\na 1 16\nr 1 4194304\nf 0\nf 1\n",
    );
    write(d.path(), "small.rep", SMALL);
    let out = heapwise()
        .args([
            "replay",
            "--json",
            "--repeat",
            "1",
            "--policy",
            "segregated",
        ])
        .args(["--heap-limit", "4M"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("heapwise: system allocator: big: out of memory at line 2\n"),
        "{err}"
    );
    assert!(
        err.contains("heapwise: system allocator: grow: out of memory at line 4\n"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for r in v["traces"].as_array().unwrap() {
        if r["trace"] == "small" {
            assert_eq!(r["ok"], true, "{r}");
            assert!(r["system_kops"].as_f64().unwrap() > 0.0, "{r}");
        } else {
            assert!(r["system_kops"].is_null(), "{r}");
            assert_eq!(r["ok"], false, "{r}");
            assert!(
                r["error"].as_str().unwrap().starts_with("out of memory"),
                "{r}"
            );
        }
    }
}

/// A trace may use the largest id its header allows: the tool must neither abort on the
/// tables (the old parser and replayers sized them by the id's value) nor reject it.
#[test]
fn a_huge_sparse_id_replays() {
    let d = tempfile::tempdir().unwrap();
    let big = u32::MAX - 1;
    let f = write(
        d.path(),
        "sparse.rep",
        &format!("0\n{}\n3\n1\na {big} 100\na 7 10\nf {big}\n", u32::MAX),
    );
    let v = replay_json_segregated(&f);
    assert_eq!(v["traces"][0]["ok"], true);
    assert_eq!(v["traces"][0]["ops"], 3);
    let svg = d.path().join("sparse.svg");
    heapwise()
        .args(["viz", "-o"])
        .arg(&svg)
        .arg(&f)
        .assert()
        .code(0);
}

/// `--help` says what the README says: `replay` and `bench` take a comma-separated list of
/// policies (the help said only "a policy name, or `all`").
#[test]
fn help_names_the_policy_list() {
    for sub in ["replay", "bench"] {
        let out = heapwise().args([sub, "--help"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert!(
            stdout(&out).contains("comma-separated list"),
            "{}",
            stdout(&out)
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    heapwise()
        .args(["replay", "--policy", "no-such-policy", "x.rep"])
        .assert()
        .code(2);
    heapwise().args(["replay"]).assert().code(2);
    heapwise().args(["frobnicate"]).assert().code(2);
    heapwise()
        .args(["replay", "--heap-limit", "lots", "x.rep"])
        .assert()
        .code(2);
    let out = heapwise()
        .args(["replay", "/nonexistent/x.rep"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("/nonexistent/x.rep:0: cannot read"));
    heapwise().arg("--help").assert().code(0);
}

#[test]
fn gen_is_deterministic_and_replayable() {
    let d = tempfile::tempdir().unwrap();
    for kind in ["churn", "two-size", "random", "realloc", "coalesce"] {
        let a = d.path().join(format!("{kind}-a.rep"));
        let b = d.path().join(format!("{kind}-b.rep"));
        let c = d.path().join(format!("{kind}-c.rep"));
        for (f, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
            heapwise()
                .args(["gen", "--kind", kind, "--seed", seed, "--ops", "3000", "-o"])
                .arg(f)
                .assert()
                .code(0);
        }
        let (ta, tb, tc) = (
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            std::fs::read(&c).unwrap(),
        );
        assert_eq!(ta, tb, "{kind}: same seed, same trace");
        assert_ne!(ta, tc, "{kind}: another seed, another trace");
        let t = Trace::read(&a, Format::Auto).unwrap();
        assert_eq!(t.ops.len(), 3000);
        assert_eq!(t.format, Format::Classic);
    }
    heapwise()
        .args(["gen", "--kind", "nope", "-o", "/dev/null"])
        .assert()
        .code(2);
}

#[test]
fn bench_writes_the_table_and_the_report() {
    let d = tempfile::tempdir().unwrap();
    let out = heapwise()
        .current_dir(d.path())
        .args([
            "bench",
            "--ops",
            "400",
            "--repeat",
            "1",
            "--policy",
            "segregated,implicit-first",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = stdout(&out);
    for kind in ["churn", "two-size", "random", "realloc", "coalesce"] {
        assert!(s.lines().any(|l| l.starts_with(kind)), "{kind}:\n{s}");
    }
    let svg = std::fs::read_to_string(d.path().join("heapwise-report.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bars = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("util"))
        .count();
    assert_eq!(bars, 2);
    assert!(!svg.contains("<script"));
}

/// Finds `libheapwise.so` the way `heapwise` does.
#[test]
fn resource_limits_are_one_line_errors_not_aborts() {
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "s.rep", SMALL);
    // A heap limit the system cannot reserve.
    let out = heapwise()
        .args(["replay", "--repeat", "0", "--heap-limit", "1048576G"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("heapwise: cannot reserve"),
        "{}",
        stderr(&out)
    );
    let out = heapwise()
        .args(["viz", "--heap-limit", "1048576G", "-o"])
        .arg(d.path().join("v.svg"))
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Request counts beyond what a trace can hold.
    for n in ["100000001", "18446744073709551615"] {
        exits_2_saying(
            heapwise().args(["gen", "--kind", "churn", "-o", "x.rep", "--ops", n]),
            "at most 100000000 requests",
        );
    }
}

/// `bench` holds its five workloads in memory (24 bytes a request): `--ops` is bounded by
/// `BENCH_MAX_OPS` (a million per workload, ~120 MB in all), and beyond it is a usage error
/// before anything is generated (it accepted up to 100 million, ~12 GB).
#[test]
fn bench_ops_are_bounded() {
    use heapwise_lab::cli::BENCH_MAX_OPS;
    let d = tempfile::tempdir().unwrap();
    let over = (BENCH_MAX_OPS + 1).to_string();
    for n in [over.as_str(), "100000000", "18446744073709551615"] {
        let out = exits_2_saying(
            heapwise()
                .current_dir(d.path())
                .args(["bench", "--repeat", "0", "--policy", "segregated", "--json"])
                .args(["--ops", n]),
            &format!("at most {BENCH_MAX_OPS} requests per workload"),
        );
        assert!(out.stdout.is_empty(), "{n}");
    }
    assert!(!d.path().join("heapwise-report.svg").exists());
}

#[test]
fn duplicate_names_and_policies_make_distinct_rows() {
    let d = tempfile::tempdir().unwrap();
    for sub in ["d1", "d2"] {
        std::fs::create_dir(d.path().join(sub)).unwrap();
        write(&d.path().join(sub), "t.rep", SMALL);
    }
    let out = heapwise()
        .current_dir(d.path())
        .args([
            "replay",
            "--repeat",
            "0",
            "--policy",
            "segregated,segregated",
            "d1",
            "d2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" segregated "))
        .collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].starts_with("d1/t.rep ") && rows[1].starts_with("d2/t.rep "),
        "{text}"
    );
    assert!(text.contains("Summary (2 traces;"), "{text}");
    // Without throughput (`--repeat 0`) there is no index.
    let summary = text.lines().last().unwrap();
    assert!(
        summary.starts_with("segregated") && summary.ends_with(" -"),
        "{summary}"
    );
}

/// One file given twice (`replay t.rep t.rep`, or a glob and its directory) makes two rows
/// that the table, its trace count and the JSON tell apart: the old names were the same,
/// the table counted one trace and the summary averaged two.
#[test]
fn a_file_given_twice_is_counted_twice() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "t.rep", SMALL);
    let args = [
        "replay",
        "--repeat",
        "0",
        "--policy",
        "segregated",
        "t.rep",
        "t.rep",
    ];
    let out = heapwise()
        .current_dir(d.path())
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Summary (2 traces;"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("t ")) && text.lines().any(|l| l.starts_with("t#2 ")),
        "{text}"
    );
    let out = heapwise()
        .current_dir(d.path())
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trace"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t", "t#2"]);
}

/// `record` of a process that never calls `malloc` gives a header-only trace: it has no
/// utilisation or throughput (table `-`, JSON null) and leaves the mean alone (it used to
/// show 0.0% and "0 Kops/s" and halve the mean of the real trace next to it).
#[test]
fn a_trace_without_requests_leaves_the_mean_alone() {
    let d = tempfile::tempdir().unwrap();
    let empty = write(d.path(), "true.rep", "0\n0\n0\n1\n");
    let real = write(d.path(), "small.rep", SMALL);
    let out = heapwise()
        .args(["replay", "--json", "--repeat", "1", "--policy", "compact"])
        .args([&empty, &real])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &v["traces"][0];
    assert_eq!(e["trace"], "true");
    assert_eq!(e["ok"], true);
    for k in ["util", "kops", "system_kops"] {
        assert!(e[k].is_null(), "{k}: {e}");
    }
    let u = v["traces"][1]["util"].as_f64().unwrap();
    assert_eq!(v["summary"][0]["mean_util"].as_f64(), Some(u));
    let out = heapwise()
        .args(["replay", "--repeat", "1", "--policy", "compact"])
        .arg(&empty)
        .output()
        .unwrap();
    let text = stdout(&out);
    let row = text.lines().find(|l| l.starts_with("true ")).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    // trace policy ops util heap int.frag ext.frag Kops/s sys-Kops/s vs-sys status
    assert_eq!(
        cells,
        ["true", "compact", "0", "-", "0", "-", "-", "-", "-", "-", "ok"]
    );
}

#[test]
fn replay_reads_a_pipe() {
    let out = heapwise()
        .args([
            "replay",
            "--repeat",
            "0",
            "--policy",
            "segregated",
            "/dev/stdin",
        ])
        .write_stdin(SMALL)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stdin  segregated"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_failing_stdout_is_an_error() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("note: no /dev/full; skipped");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let f = write(d.path(), "s.rep", SMALL);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("heapwise"))
        .args(["replay", "--repeat", "0", "--json"])
        .arg(&f)
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot write to standard output"),
        "{}",
        stderr(&out)
    );
}

/// The `libheapwise.so` the `run` and `record` tests preload: `$HEAPWISE_LIB` if set (it must
/// name a file), else the one beside the `heapwise` executable, built there from this
/// checkout (`cargo build -p heapwise-preload` with the executable's profile and target
/// directory, a no-op when up to date): `cargo test` builds no cdylib, and a clean `cargo
/// test --workspace` (CI) found none there, so that every `run`/`record` test skipped
/// itself. Panics when the library cannot be had: a `run`/`record` test that cannot preload
/// must fail, not pass.
fn preload_library() -> PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        if let Some(p) = std::env::var_os("HEAPWISE_LIB") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "HEAPWISE_LIB={} is not a file", p.display());
            return p;
        }
        let bin = assert_cmd::cargo::cargo_bin("heapwise");
        let profile_dir = bin.parent().expect("heapwise lives in <target>/<profile>");
        let lib = profile_dir.join("libheapwise.so");
        let target = profile_dir
            .parent()
            .expect("<target>/<profile> has a parent");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", "heapwise-preload", "--target-dir"]);
        build.arg(target);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let out = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            // The outer cargo's variables would send the build elsewhere.
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .output()
            .expect("spawn cargo build -p heapwise-preload");
        assert!(
            out.status.success(),
            "cargo build -p heapwise-preload failed:\n{}",
            stderr(&out)
        );
        assert!(
            lib.is_file(),
            "cargo built heapwise-preload but {} does not exist",
            lib.display()
        );
        lib
    })
    .clone()
}

/// Whether `prog` is a file in a directory of `PATH`.
fn on_path(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(prog).is_file()))
}

/// `heapwise replay F` exits 2 with `text` in its stderr.
fn replay_fails_saying(f: &Path, text: &str) {
    exits_2_saying(heapwise().arg("replay").arg(f), text);
}

/// Runs `cmd`, which must exit 2 with `text` in its stderr; its output.
fn exits_2_saying(cmd: &mut Command, text: &str) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(text), "{}", stderr(&out));
    out
}

/// For a `record` test: the library, a fresh directory and the trace file `name` in it.
fn record_setup(name: &str) -> (PathBuf, tempfile::TempDir, PathBuf) {
    let lib = preload_library();
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join(name);
    (lib, d, f)
}

/// `heapwise record -o F` with the library `lib` (the command's arguments follow).
fn record(lib: &Path, f: &Path) -> Command {
    let mut c = heapwise();
    c.env("HEAPWISE_LIB", lib).args(["record", "-o"]).arg(f);
    c
}

#[test]
fn run_and_record_say_clearly_when_the_library_is_missing() {
    for args in [
        &["run", "--", "true"][..],
        &["record", "-o", "/tmp/never.rep", "--", "true"][..],
    ] {
        let out = heapwise()
            .env("HEAPWISE_LIB", "/nonexistent/libheapwise.so")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(
            stderr(&out)
                .contains("HEAPWISE_LIB is /nonexistent/libheapwise.so, which is not a file"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn run_forwards_the_exit_status_under_the_real_library() {
    let lib = preload_library();
    heapwise()
        .env("HEAPWISE_LIB", &lib)
        .args([
            "run",
            "--policy",
            "implicit-first",
            "--",
            "sh",
            "-c",
            "exit 3",
        ])
        .assert()
        .code(3);
    heapwise()
        .env("HEAPWISE_LIB", &lib)
        .args([
            "run",
            "--stats",
            "--",
            "sh",
            "-c",
            "test \"$HEAPWISE_STATS\" = 1",
        ])
        .assert()
        .code(0);
}

/// `run` hands its process to the command (exec): a signal sent to the `heapwise` that a
/// supervisor started reaches the command, and no command is left running behind it (the
/// old `run` waited for a child, and died alone).
#[test]
fn a_signal_to_run_reaches_the_command() {
    use std::os::unix::process::ExitStatusExt;
    let lib = preload_library();
    let d = tempfile::tempdir().unwrap();
    let pid_file = d.path().join("pid");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("heapwise"))
        .env("HEAPWISE_LIB", &lib)
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; exec sleep 30",
        ])
        .arg(&pid_file)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let cmd_pid: libc::pid_t = loop {
        if let Ok(s) = std::fs::read_to_string(&pid_file) {
            break s.trim().parse().unwrap();
        }
        assert!(t0.elapsed().as_secs() < 20, "the command never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    // SAFETY: `kill` has no memory-safety preconditions.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    let t0 = std::time::Instant::now();
    // SAFETY: as above; signal 0 only asks whether the process exists.
    while unsafe { libc::kill(cmd_pid, 0) } == 0 {
        if t0.elapsed().as_secs() >= 3 {
            // SAFETY: as above (the orphan is ours to end).
            unsafe { libc::kill(cmd_pid, libc::SIGKILL) };
            panic!("the command (pid {cmd_pid}) outlived the heapwise that ran it");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        cmd_pid,
        child.id() as libc::pid_t,
        "the command is not in heapwise's place"
    );
}

/// A recorded command killed by a signal leaves an empty trace, and `replay` says that this
/// is a possible cause (the note named only `_exit`).
#[test]
fn replay_of_a_killed_command_s_trace_says_why_it_is_empty() {
    use std::os::unix::process::ExitStatusExt;
    let (lib, _d, f) = record_setup("k.rep");
    let out = record(&lib, &f)
        .args(["--", "sh", "-c", "kill -9 $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 0);
    replay_fails_saying(&f, "is killed by a signal");
}

/// A recorded command that leaves through `_exit` after more lines than the recorder
/// buffers leaves an unfinished trace, which `replay` recognises (python3 with its own
/// small-object allocator off, so that every object is a `malloc`; skipped without a
/// python3 on `PATH`, except under CI, which installs python3.11). The command's exit
/// status must come through: the test used to skip itself whenever it did not, so that a
/// `record` that lost the status, or a command that crashed under the library, passed.
#[test]
fn replay_of_an_exited_command_s_long_trace_says_it_is_unfinished() {
    let Some(python) = ["python3.11", "python3"].into_iter().find(|p| on_path(p)) else {
        let ci = std::env::var("CI").is_ok_and(|v| !(v.is_empty() || v == "false" || v == "0"));
        assert!(
            !ci,
            "no python3.11 or python3 on PATH; CI=true, so this is a failure"
        );
        eprintln!("note: no python3 on PATH; test skipped");
        return;
    };
    let (lib, _d, f) = record_setup("x.rep");
    let out = record(&lib, &f)
        .env("PYTHONMALLOC", "malloc")
        .args([
            "--",
            python,
            "-c",
            "import os\nl = [str(i) * 3 for i in range(50000)]\nos._exit(7)",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{python} under record: the command's exit status\n{}",
        stderr(&out)
    );
    assert!(std::fs::metadata(&f).unwrap().len() > 64 * 1024);
    replay_fails_saying(&f, "x.rep is an unfinished recording");
}

/// `record -o FILE` keeps the command's trace: a program that one of the command's
/// background children starts after the command exited leaves the file alone (it found the
/// file unlocked, truncated it and recorded itself in the command's place).
#[test]
fn record_keeps_the_command_s_trace_from_its_late_children() {
    let (lib, d, f) = record_setup("t.rep");
    let fifo = d.path().join("go");
    let c_fifo = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c_fifo` is a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    // The background subshell starts no program until the FIFO is opened after `record`
    // returned; then it runs `ls` and says so with a file (`:` is a shell builtin).
    record(&lib, &f)
        .args([
            "--",
            "sh",
            "-c",
            "(read x <\"$0\"; ls -la / /usr; : >\"$0.done\") </dev/null >/dev/null 2>&1 & exec ls /",
        ])
        .arg(&fifo)
        .assert()
        .code(0);
    let before = std::fs::read(&f).unwrap();
    assert!(Trace::read(&f, Format::Auto).is_ok_and(|t| !t.ops.is_empty()));
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The subshell may not have opened the FIFO yet (a loaded machine): a non-blocking
        // open for writing fails with ENXIO until a reader has it open.
        let t0 = std::time::Instant::now();
        let mut w = loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo)
            {
                Ok(w) => break w,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                    assert!(
                        t0.elapsed().as_secs() < 60,
                        "the subshell never opened the FIFO"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("opening the FIFO: {e}"),
            }
        };
        std::io::Write::write_all(&mut w, b"\n").unwrap();
    }
    let done = d.path().join("go.done");
    let t0 = std::time::Instant::now();
    while !done.exists() {
        assert!(t0.elapsed().as_secs() < 60, "the late ls never finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        std::fs::read(&f).unwrap() == before,
        "a later program rewrote the command's trace"
    );
}

#[test]
fn record_writes_a_trace_replay_can_read() {
    let (lib, d, f) = record_setup("ls.rep");
    record(&lib, &f).args(["--", "ls", "/"]).assert().code(0);
    let t = Trace::read(&f, Format::Auto).unwrap();
    assert!(!t.ops.is_empty());
    // A relative path is the caller's, even when the command runs elsewhere.
    std::fs::create_dir(d.path().join("elsewhere")).unwrap();
    heapwise()
        .env("HEAPWISE_LIB", &lib)
        .current_dir(d.path())
        .args([
            "record",
            "-o",
            "rel.rep",
            "--",
            "env",
            "-C",
            "elsewhere",
            "ls",
        ])
        .assert()
        .code(0);
    assert!(!Trace::read(&d.path().join("rel.rep"), Format::Auto)
        .unwrap()
        .ops
        .is_empty());
    assert!(!d.path().join("elsewhere/rel.rep").exists());
    // A file that cannot be written is an error before the command runs.
    exits_2_saying(
        heapwise().env("HEAPWISE_LIB", &lib).args([
            "record",
            "-o",
            "/nonexistent/dir/x.rep",
            "--",
            "true",
        ]),
        "cannot write /nonexistent/dir/x.rep",
    );
    heapwise()
        .args(["replay", "--repeat", "1", "--policy", "segregated"])
        .arg(&f)
        .assert()
        .code(0);
}

/// The CS:APP short traces under every policy (the long ones are exercised by the release
/// build, not by `cargo test`). Skipped when `../shared` is absent.
#[test]
fn csapp_short_traces_replay_under_every_policy() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/csapp");
    if !dir.is_dir() {
        eprintln!("note: {} absent, test skipped", dir.display());
        return;
    }
    let out = heapwise()
        .args(["replay", "--json", "--repeat", "1"])
        .arg(dir.join("short1-bal.rep"))
        .arg(dir.join("short2-bal.rep"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["traces"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * PolicyKind::ALL.len());
    for r in rows {
        assert_eq!(r["ok"], true, "{r}");
        let peak = if r["trace"] == "short1-bal" {
            8144.0
        } else {
            18314.0
        };
        let heap = r["heap_bytes"].as_f64().unwrap();
        assert!((r["util"].as_f64().unwrap() - peak / heap).abs() < 1e-12);
    }
}

/// Every CS:APP trace under every policy, validated (no timing). Long in a debug build:
/// opt-in with `cargo test --release -p heapwise-lab -- --ignored`.
#[test]
#[ignore]
fn csapp_all_traces_validate_under_every_policy() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces/csapp");
    if !dir.is_dir() {
        eprintln!("note: {} absent, test skipped", dir.display());
        return;
    }
    let out = heapwise()
        .args(["replay", "--json", "--repeat", "0"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["traces"].as_array().unwrap();
    assert_eq!(rows.len(), 13 * PolicyKind::ALL.len());
    for r in rows {
        assert_eq!(r["ok"], true, "{r}");
        assert!(r["kops"].is_null(), "no timing with --repeat 0");
        let u = r["util"].as_f64().unwrap();
        assert!(u > 0.0 && u <= 1.0, "{r}");
    }
}
