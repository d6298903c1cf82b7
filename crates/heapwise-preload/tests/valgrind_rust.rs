//! The Rust face under valgrind (issue 6, "Proof"): this test binary uses
//! `heapwise::Heapwise` as its `#[global_allocator]`; the test re-runs the binary itself
//! under memcheck with only the `child` test selected, which leaks one 4000-byte `Box` and
//! otherwise uses the heap correctly. memcheck must report the leak as definitely lost with
//! its size and nothing else (the Rust face announces its blocks with client requests once
//! it sees valgrind).
//! Skipped with a loud message when valgrind is not installed (fails under CI).

// These runs preload the library into the host's own (64-bit) programs: a 32-bit test
// build (`--target i686-unknown-linux-gnu`) has nothing to run them on.
#![cfg(target_pointer_width = "64")]

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[global_allocator]
static A: hw::Heapwise = hw::Heapwise;

const CHILD: &str = "HEAPWISE_VALGRIND_RUST_CHILD";

#[inline(never)]
fn leak_one_box() {
    let b = Box::new([7u8; 4000]);
    let p = Box::into_raw(b);
    // Keep only a disguised copy: the block is unreachable.
    std::hint::black_box((p as usize) ^ 0x5a5a);
}

#[test]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    leak_one_box();
    // A correct use of the heap meanwhile: no report.
    let v: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    assert_eq!(v.iter().map(String::len).sum::<usize>(), 2890);
}

#[test]
fn memcheck_sees_the_rust_faces_blocks() {
    let Some(vg) = require_program("valgrind tests", &["valgrind"], "valgrind") else {
        return;
    };
    let me = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(vg);
    cmd.args([
        "--leak-check=full",
        "--errors-for-leak-kinds=definite",
        "--num-callers=40",
        "--soname-synonyms=somalloc=NOUSERINTERCEPTS",
    ])
    .arg(&me)
    .args(["--exact", "child", "--nocapture", "--test-threads=1"])
    .env(CHILD, "1");
    let o = run(cmd, None, Duration::from_secs(300));
    assert!(!o.timed_out, "{}", o.describe());
    assert!(o.success(), "{}", o.describe());
    for needle in [
        "4,000 bytes in 1 blocks are definitely lost",
        "leak_one_box",
    ] {
        assert!(
            o.stderr.contains(needle),
            "memcheck did not report `{needle}`\n{}",
            o.describe()
        );
    }
    // The leaked block was announced by heapwise's Rust face (std's own `System`
    // allocations, e.g. the main thread's handle, go to memcheck's `malloc`).
    let record = o
        .stderr
        .split("4,000 bytes in 1 blocks are definitely lost")
        .nth(1)
        .and_then(|r| {
            r.split("\n==")
                .take(6)
                .find(|l| l.contains("heapwise::front"))
        })
        .is_some();
    assert!(
        record,
        "the leak's allocation stack does not start in heapwise\n{}",
        o.describe()
    );
    assert!(
        o.stderr.contains("ERROR SUMMARY: 1 errors from 1 contexts"),
        "only the leak is an error\n{}",
        o.describe()
    );
}
