//! `HEAPWISE_HARDEN=full` beyond the twelve misuse cases (issue 6): canaries after the
//! requested size of small blocks and guard pages around large blocks. C programs of
//! `tests/c/harden/` run under `LD_PRELOAD=libheapwise.so`:
//!
//! * a one-byte overflow into a block's slack (`malloc(33)`: 40 usable bytes natively) dies
//!   with SIGABRT and the one line `heapwise: heap overflow past the requested size of
//!   0x… (block of 33 bytes)` at `free`, `realloc` and `malloc_usable_size`; in full mode
//!   `malloc_usable_size` is the requested size and correct programs are unaffected;
//! * a write one byte past a 1 MiB block dies with SIGSEGV *at that write* in full mode (the
//!   payload ends at a `PROT_NONE` page), while the default mode is unchanged (the byte lands
//!   in the mapping's page tail); a read of a freed large block faults; a header overwritten
//!   by an underflow is reported at `free`.

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn compile(name: &str, dir: &Path) -> PathBuf {
    let args = os_args(&["-std=gnu11", "-O1", "-g", "-fno-builtin", "-w"]);
    let src = crate_dir().join("tests/c/harden").join(format!("{name}.c"));
    run_compiler(&["cc", "gcc"], &args, &src, &dir.join(name), &[])
}

fn run_prog(exe: &Path, arg: &str, full: bool) -> Outcome {
    let mut cmd = Command::new(exe);
    cmd.arg(arg).env("LD_PRELOAD", libheapwise());
    if full {
        cmd.env("HEAPWISE_HARDEN", "full");
    } else {
        cmd.env_remove("HEAPWISE_HARDEN");
    }
    let o = run(cmd, None, T);
    assert!(!o.timed_out, "{arg}: hung\n{}", o.describe());
    o
}

fn heapwise_lines(o: &Outcome) -> Vec<&str> {
    o.stderr
        .lines()
        .filter(|l| l.starts_with("heapwise: "))
        .collect()
}

#[test]
fn canaries_catch_a_one_byte_overflow_into_the_slack() {
    let dir = TempDir::new("h01");
    let exe = compile("h01_canary_slack", dir.path());
    for mode in ["free", "realloc", "usable"] {
        let o = run_prog(&exe, mode, true);
        let expect = o
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("EXPECT "))
            .unwrap_or_else(|| panic!("{mode}: no EXPECT line\n{}", o.describe()))
            .to_string();
        assert!(!o.stdout.contains("SURVIVED"), "{mode}\n{}", o.describe());
        assert_eq!(
            o.status.signal(),
            Some(libc::SIGABRT),
            "{mode}\n{}",
            o.describe()
        );
        assert_eq!(
            heapwise_lines(&o),
            [format!("heapwise: {expect} (block of 33 bytes)")],
            "{mode}\n{}",
            o.describe()
        );
    }
}

#[test]
fn the_slack_overflow_goes_unseen_by_default() {
    // The reason canaries exist: the default mode cannot see a byte inside the slack.
    let dir = TempDir::new("h01d");
    let exe = compile("h01_canary_slack", dir.path());
    let o = run_prog(&exe, "free", false);
    assert!(
        o.success() && o.stdout.contains("SURVIVED"),
        "{}",
        o.describe()
    );
}

#[test]
fn correct_use_passes_and_usable_size_is_the_request_in_full_mode() {
    let dir = TempDir::new("h01ok");
    let exe = compile("h01_canary_slack", dir.path());
    let o = run_prog(&exe, "ok", true);
    assert!(
        o.success() && o.stdout.contains("SURVIVED"),
        "{}",
        o.describe()
    );
    assert!(heapwise_lines(&o).is_empty(), "{}", o.describe());
}

#[test]
fn an_overflow_past_a_large_block_faults_at_the_write_in_full_mode() {
    let dir = TempDir::new("h02");
    let exe = compile("h02_large_guard", dir.path());
    let o = run_prog(&exe, "overflow", true);
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{}", o.describe());
    assert!(o.stdout.contains("BEFORE"), "{}", o.describe());
    assert!(
        !o.stdout.contains("AFTER"),
        "the write did not fault at once\n{}",
        o.describe()
    );
}

#[test]
fn the_default_mode_keeps_large_blocks_unguarded() {
    let dir = TempDir::new("h02d");
    let exe = compile("h02_large_guard", dir.path());
    let o = run_prog(&exe, "overflow", false);
    assert!(o.success(), "{}", o.describe());
    assert!(o.stdout.contains("AFTER") && o.stdout.contains("SURVIVED"));
}

#[test]
fn a_read_of_a_freed_large_block_faults_in_full_mode() {
    let dir = TempDir::new("h02a");
    let exe = compile("h02_large_guard", dir.path());
    let o = run_prog(&exe, "after", true);
    assert_eq!(o.status.signal(), Some(libc::SIGSEGV), "{}", o.describe());
    assert!(!o.stdout.contains("AFTER"), "{}", o.describe());
}

#[test]
fn an_underflow_over_a_large_header_is_reported_at_free_in_full_mode() {
    let dir = TempDir::new("h02u");
    let exe = compile("h02_large_guard", dir.path());
    let o = run_prog(&exe, "underflow", true);
    assert_eq!(o.status.signal(), Some(libc::SIGABRT), "{}", o.describe());
    assert!(!o.stdout.contains("SURVIVED"), "{}", o.describe());
    assert_eq!(heapwise_lines(&o).len(), 1, "{}", o.describe());
}
