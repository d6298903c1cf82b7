//! Issue 6, "Proof": under valgrind, memcheck understands heapwise blocks. C programs of
//! `tests/c/valgrind/` run as
//!
//! ```sh
//! LD_PRELOAD=libheapwise.so valgrind --soname-synonyms=somalloc=NOUSERINTERCEPTS \
//!     --leak-check=full --error-exitcode=97 ./prog
//! ```
//!
//! (`NOUSERINTERCEPTS` keeps memcheck from replacing heapwise's `malloc` with its own) and
//! must get memcheck's real reports: leaks with their byte counts, invalid accesses just
//! past a block, use after free naming the freed block, branches on uninitialised malloc
//! memory; and a correct threaded program and `sqlite3` must get none (no false positives
//! from heapwise's work on its own metadata), nor under helgrind (which must still report a
//! real race of the program). Each memcheck test also checks that the blocks were
//! heapwise's (announced with client requests from `libheapwise.so`, not memcheck's own
//! `malloc`). Skipped with a loud message when valgrind is not installed (fails under CI).

// These runs preload the library into the host's own (64-bit) programs: a 32-bit test
// build (`--target i686-unknown-linux-gnu`) has nothing to run them on.
#![cfg(target_pointer_width = "64")]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(300);
const ERROR_EXIT: i32 = 97;

fn valgrind() -> Option<PathBuf> {
    require_program("valgrind tests", &["valgrind"], "valgrind")
}

fn compile(name: &str, dir: &Path) -> PathBuf {
    let args = os_args(&["-std=gnu11", "-O0", "-g", "-fno-builtin", "-w", "-pthread"]);
    let src = crate_dir()
        .join("tests/c/valgrind")
        .join(format!("{name}.c"));
    run_compiler(&["cc", "gcc"], &args, &src, &dir.join(name), &[])
}

/// Runs `prog` under helgrind with heapwise preloaded.
fn helgrind(vg: &Path, prog: &Path) -> Outcome {
    let mut cmd = Command::new(vg);
    cmd.args([
        "--tool=helgrind",
        "--soname-synonyms=somalloc=NOUSERINTERCEPTS",
    ])
    .arg(prog)
    .env("LD_PRELOAD", libheapwise());
    let o = run(cmd, None, T);
    assert!(!o.timed_out, "valgrind run hung\n{}", o.describe());
    o
}

/// Runs `prog args` under memcheck with heapwise preloaded.
fn memcheck(vg: &Path, prog: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new(vg);
    cmd.args([
        "--soname-synonyms=somalloc=NOUSERINTERCEPTS",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--num-callers=30",
    ])
    .arg(format!("--error-exitcode={ERROR_EXIT}"))
    .arg(prog)
    .args(args)
    .env("LD_PRELOAD", libheapwise());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = run(cmd, None, T);
    assert!(!o.timed_out, "valgrind run hung\n{}", o.describe());
    o
}

fn run_c(name: &str) -> Option<Outcome> {
    let vg = valgrind()?;
    let dir = TempDir::new(name);
    let exe = compile(name, dir.path());
    Some(memcheck(&vg, &exe, &[], &[]))
}

/// The blocks memcheck reports on were announced by heapwise, not made by memcheck's own
/// replacement `malloc`.
/// A correct program's run: served by heapwise, no error reported, exit status 0.
fn assert_clean(o: &Outcome) {
    assert_heapwise_blocks(o);
    assert_eq!(error_count(o), 0, "{}", o.describe());
    assert!(o.success(), "{}", o.describe());
}

fn assert_heapwise_blocks(o: &Outcome) {
    assert!(
        !o.stderr.contains("vgpreload_memcheck"),
        "memcheck's own malloc served the program (not heapwise)\n{}",
        o.describe()
    );
    assert!(
        o.stderr.contains("total heap usage:") && !o.stderr.contains("total heap usage: 0 allocs"),
        "memcheck saw no heap blocks\n{}",
        o.describe()
    );
}

fn assert_has(o: &Outcome, needles: &[&str]) {
    for n in needles {
        assert!(
            o.stderr.contains(n),
            "memcheck did not report `{n}`\n{}",
            o.describe()
        );
    }
}

fn error_count(o: &Outcome) -> u64 {
    o.stderr
        .lines()
        .find_map(|l| l.split("ERROR SUMMARY: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no ERROR SUMMARY\n{}", o.describe()))
}

#[test]
fn leaks_are_definitely_lost_with_their_sizes() {
    let Some(o) = run_c("v01_leak") else { return };
    assert_heapwise_blocks(&o);
    assert_has(
        &o,
        &[
            "100 bytes in 1 blocks are definitely lost",
            "300,000 bytes in 1 blocks are definitely lost",
            "definitely lost: 300,100 bytes in 2 blocks",
            "still reachable: 0 bytes in 0 blocks",
        ],
    );
    assert_eq!(o.status.code(), Some(ERROR_EXIT), "{}", o.describe());
}

#[test]
fn accesses_just_past_a_block_are_reported_at_the_access() {
    let Some(o) = run_c("v02_overflow") else {
        return;
    };
    assert_heapwise_blocks(&o);
    assert_has(
        &o,
        &[
            "Invalid read of size 1",
            "0 bytes after a block of size 33 alloc'd",
            "Invalid write of size 1",
            "0 bytes after a block of size 40 alloc'd",
            "0 bytes after a block of size 100 alloc'd",
            "v02_overflow.c:12",
            "v02_overflow.c:15",
            "v02_overflow.c:20",
            "v02_overflow.c:23",
        ],
    );
    // z[63] (line 20): memcheck names the nearest block within its redzone distance, which
    // may be the block that follows z, depending on the absolute addresses.
    assert!(
        o.stderr
            .contains("0 bytes after a block of size 63 alloc'd")
            || o.stderr
                .contains("bytes before a block of size 100 alloc'd"),
        "memcheck did not describe z[63]\n{}",
        o.describe()
    );
    assert_eq!(error_count(&o), 4, "{}", o.describe());
    assert_eq!(o.status.code(), Some(ERROR_EXIT), "{}", o.describe());
}

#[test]
fn use_after_free_names_the_freed_block() {
    let Some(o) = run_c("v03_use_after_free") else {
        return;
    };
    assert_heapwise_blocks(&o);
    assert_has(
        &o,
        &[
            "Invalid read of size 1",
            "8 bytes inside a block of size 48 free'd",
            "Invalid write of size 1",
            "150 bytes inside a block of size 200 free'd",
        ],
    );
    assert_eq!(error_count(&o), 2, "{}", o.describe());
}

#[test]
fn uninitialised_malloc_memory_is_undefined_and_realloc_keeps_definedness() {
    let Some(o) = run_c("v04_uninit") else { return };
    assert_heapwise_blocks(&o);
    assert_has(
        &o,
        &[
            "Conditional jump or move depends on uninitialised value(s)",
            "v04_uninit.c:10",
            "v04_uninit.c:17",
        ],
    );
    assert_eq!(error_count(&o), 2, "{}", o.describe());
}

#[test]
fn introspection_and_tuning_calls_get_no_reports() {
    // mallopt, mallinfo(2), malloc_stats, malloc_info and malloc_trim read or write the
    // allocator's state, which is NOACCESS to the program under valgrind: each must do so
    // with error reporting off.
    let Some(o) = run_c("v07_introspection") else {
        return;
    };
    assert_clean(&o);
    assert!(o.stdout.ends_with("clean\n"), "{}", o.describe());
}

/// With `HEAPWISE_STATS` (or `HEAPWISE_TRACE`) the recorder keeps a table of the live
/// blocks' addresses: hidden from memcheck, it must not keep a leaked block reachable.
#[test]
fn leaks_stay_definitely_lost_while_the_recorder_runs() {
    let Some(vg) = valgrind() else { return };
    let dir = TempDir::new("v01stats");
    let exe = compile("v01_leak", dir.path());
    let trace = dir.path().join("trace.rep");
    let trace = trace.to_str().expect("utf-8 temp path");
    for env in [("HEAPWISE_STATS", "1"), ("HEAPWISE_TRACE", trace)] {
        let o = memcheck(&vg, &exe, &[], &[env]);
        assert_heapwise_blocks(&o);
        assert_has(
            &o,
            &[
                "100 bytes in 1 blocks are definitely lost",
                "300,000 bytes in 1 blocks are definitely lost",
                "definitely lost: 300,100 bytes in 2 blocks",
                "still reachable: 0 bytes in 0 blocks",
            ],
        );
        assert_eq!(error_count(&o), 2, "{env:?}\n{}", o.describe());
    }
}

#[test]
fn a_correct_threaded_program_gets_no_reports() {
    let Some(o) = run_c("v05_clean_threads") else {
        return;
    };
    assert_clean(&o);
    assert_has(&o, &["All heap blocks were freed -- no leaks are possible"]);
    assert!(o.stdout.contains("clean"), "{}", o.describe());
}

#[test]
fn a_correct_program_in_full_hardening_mode_gets_no_reports() {
    // Under valgrind, canaries and guard pages are off: memcheck does their work.
    let Some(vg) = valgrind() else { return };
    let dir = TempDir::new("v05full");
    let exe = compile("v05_clean_threads", dir.path());
    let o = memcheck(&vg, &exe, &[], &[("HEAPWISE_HARDEN", "full")]);
    assert_clean(&o);
}

#[test]
fn sqlite3_gets_no_reports() {
    let Some(vg) = valgrind() else { return };
    let Some(sqlite) = require_program("sqlite3 under valgrind", &["sqlite3"], "sqlite3") else {
        return;
    };
    let sql = "create table t(a, b); \
               with recursive c(x) as (select 1 union all select x + 1 from c where x < 1500) \
               insert into t select x, hex(randomblob(x % 300)) from c; \
               create index i on t(b); \
               select count(*), sum(length(b)) from t;";
    let o = memcheck(&vg, &sqlite, &[":memory:", sql], &[]);
    assert_clean(&o);
    assert!(o.stdout.starts_with("1500|"), "{}", o.describe());
}

/// helgrind (and drd) do not see heapwise's futex lock: blocks are announced with
/// `VALGRIND_HG_CLEAN_MEMORY` when handed out, so a block reused by another thread is not a
/// race with its previous owner, while a real race of the program still is.
#[test]
fn helgrind_sees_a_real_race_and_no_false_one() {
    let Some(vg) = valgrind() else { return };
    let dir = TempDir::new("hg");
    let clean = helgrind(&vg, &compile("v05_clean_threads", dir.path()));
    assert_eq!(error_count(&clean), 0, "{}", clean.describe());
    assert!(clean.success(), "{}", clean.describe());
    let race = helgrind(&vg, &compile("v06_race", dir.path()));
    assert!(
        race.stderr
            .contains("Possible data race during write of size 8"),
        "{}",
        race.describe()
    );
    assert!(error_count(&race) >= 1, "{}", race.describe());
}
