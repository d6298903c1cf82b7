//! The driver's command line: names that select nothing are errors (exit 64) instead of
//! silently shrinking the report. Runs at scale 0.001 under glibc only, or nothing at all;
//! `--heapwise-lib` points at a missing file so the driver never builds the preload here. No
//! timing assertions.

use std::process::{Command, Output};

fn driver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_heapwise-hosted"))
        .args(["--heapwise-lib", "/nonexistent/libheapwise.so"])
        .args(["--scale", "0.001", "--runs", "1"])
        .args(args)
        .env_remove("HEAPWISE_LIB")
        .output()
        .unwrap()
}

#[test]
fn an_only_entry_that_names_no_workload_is_an_error() {
    let out = driver(&["--allocators", "glibc", "--only", "st-small,larsen"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("larsen"), "{err}");
}

#[test]
fn an_unknown_allocator_is_an_error() {
    let out = driver(&["--allocators", "jemaloc", "--only", "st-small"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("jemaloc"), "{err}");
}

#[test]
fn only_selects_by_name_prefix_and_group() {
    let out = driver(&["--allocators", "glibc", "--only", "st-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| st-small |") && md.contains("| st-random |"),
        "{md}"
    );
    assert!(!md.contains("| symbolic |"), "{md}");
}

#[test]
fn a_missing_heapwise_lib_from_the_environment_skips_the_column() {
    let out = Command::new(env!("CARGO_BIN_EXE_heapwise-hosted"))
        .args(["--scale", "0.001", "--runs", "1", "--only", "st-small"])
        .args(["--allocators", "heapwise"])
        .env("HEAPWISE_LIB", "/nonexistent/libheapwise.so")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        err.contains("skipping heapwise: /nonexistent/libheapwise.so"),
        "{err}"
    );
    assert!(!md.contains("FAIL"), "{md}");
    assert!(out.status.success(), "{err}\n{md}");
}
