//! Resource faults under `LD_PRELOAD=libheapwise.so`: OS memory requests made to fail through
//! the `heapwise_test_fail_os` hook (`tests/c/faults/`). The C program asserts that every
//! function fails with ENOMEM, the heap checker stays clean, freed memory serves new requests,
//! and allocation works again once the failures stop.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn injected_os_failures_give_enomem_and_recover() {
    let dir = TempDir::new("faults");
    let cc = which("cc").or_else(|| which("gcc")).expect("a C compiler");
    let src = crate_dir().join("tests/c/faults/f01_os_faults.c");
    let exe = dir.path().join("f01_os_faults");
    let out = Command::new(cc)
        .args(["-std=gnu11", "-O1", "-fno-builtin", "-w", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-ldl")
        .output()
        .expect("spawn cc");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for harden in ["default", "full", "off"] {
        let mut cmd = Command::new(&exe);
        cmd.env("LD_PRELOAD", libheapwise());
        cmd.env("HEAPWISE_HARDEN", harden);
        let o = run(cmd, None, Duration::from_secs(60));
        assert!(
            o.success() && o.stdout.contains("OK "),
            "HEAPWISE_HARDEN={harden}\n{}",
            o.describe()
        );
    }
}
