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

const CSV: &str =
    "workload,allocator,run,status,time_s,maxrss_kib,cpu_s,checksum,served_by,error\n\
st-small,glibc,1,ok,0.5,3000,0.4,0x1,libc.so.6,\n\
st-small,heapwise,1,ok,0.4,3100,0.3,0x1,libheapwise.so,\n\
large,glibc,1,ok,0.5,3000,0.4,0x2,libc.so.6,\n\
large,heapwise,1,ok,0.4,3100,0.3,0x2,libheapwise.so,\n\
no-such-row,glibc,1,ok,0.5,3000,0.4,0x2,libc.so.6,\n";

fn from_csv(extra: &[&str]) -> Output {
    // A directory per call (the tests run in parallel), removed with its file.
    let dir = std::env::temp_dir().join(format!(
        "hw-hosted-cli-{}-{}",
        std::process::id(),
        extra.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("runs.csv");
    std::fs::write(&csv, CSV).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_heapwise-hosted"))
        .arg("--from-csv")
        .arg(&csv)
        .args(extra)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn from_csv_with_only_names_just_the_rows_that_are_not_workloads() {
    let out = from_csv(&["--only", "st-small"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("no-such-row is not a workload"), "{err}");
    assert!(
        !err.contains("large"),
        "large is a workload, only not selected:\n{err}"
    );
}

#[test]
fn from_csv_does_not_claim_this_machines_preloads() {
    let out = from_csv(&[]);
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preloads = &md[md.find("Preloads").expect("a Preloads section")..];
    // The CSV does not record them: no path of this machine, no "(none)" for heapwise.
    assert!(!preloads.contains("- heapwise: (none)"), "{preloads}");
    assert!(!preloads.contains("/usr/lib"), "{preloads}");
    assert!(preloads.contains("not recorded"), "{preloads}");
}

#[test]
fn a_driver_stopped_by_a_signal_leaves_no_scratch_directory() {
    if heapwise_hosted::driver::real::available(heapwise_hosted::driver::real::Program::Sqlite)
        .is_err()
    {
        eprintln!("skipped: needs sqlite3");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_heapwise-hosted"))
        .args(["--heapwise-lib", "/nonexistent/libheapwise.so"])
        .args(["--scale", "0.05", "--runs", "1000"])
        .args(["--only", "sqlite", "--allocators", "glibc"])
        .env_remove("HEAPWISE_LIB")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let scratch = std::env::temp_dir().join(format!("heapwise-hosted-{}", child.id()));
    // Wait (bounded; not a timing assertion) for the driver to write its inputs.
    let start = std::time::Instant::now();
    while !scratch.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let made = scratch.exists();
    // SAFETY: kill has no memory preconditions; the id is our unreaped child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let left = scratch.exists();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(made, "the driver made no scratch directory within 60 s");
    assert!(!left, "{} left behind ({status})", scratch.display());
    assert!(!status.success(), "{status}");
}
