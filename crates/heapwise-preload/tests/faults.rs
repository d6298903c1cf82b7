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
    let src = crate_dir().join("tests/c/faults/f01_os_faults.c");
    let exe = run_compiler(
        &["cc", "gcc"],
        &os_args(&["-std=gnu11", "-O1", "-fno-builtin", "-w"]),
        &src,
        &dir.path().join("f01_os_faults"),
        &["-ldl"],
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
