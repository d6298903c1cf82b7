//! Smoke test of the suite: every synthetic and Rust-level workload runs once, tiny, in this
//! process (the system allocator serves it) and must pass its own verification with a
//! deterministic checksum; the workload binary reports glibc as the provider of `malloc`.
//! No timing assertions.

use heapwise_hosted::work::{self, Params, Spec};

const SCALE: f64 = 0.002;

/// Runs every workload of `specs` twice, tiny: each passes its own verification, does work,
/// and gives the same checksum both times.
fn verify_all(specs: &[Spec]) {
    for spec in specs {
        let p = Params {
            scale: SCALE,
            threads: spec.threads,
        };
        let a = (spec.run)(&p).unwrap_or_else(|e| panic!("{}: {e}", spec.name));
        assert!(a.ops > 0, "{} did no work", spec.name);
        let b = (spec.run)(&p).unwrap();
        assert_eq!(
            a.checksum, b.checksum,
            "{}: checksum depends on timing",
            spec.name
        );
    }
}

#[test]
fn every_synthetic_workload_verifies() {
    verify_all(work::ALL);
}

#[test]
fn every_rust_workload_verifies() {
    verify_all(heapwise_hosted::rustwork::ALL);
}

#[test]
fn workload_binary_reports_its_malloc_and_checksum() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hosted-work"))
        .args(["st-small", "--scale", "0.001"])
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("hosted-work: workload=st-small"), "{text}");
    assert!(
        text.contains("malloc=") && text.contains("libc.so"),
        "{text}"
    );
    assert!(text.contains("checksum=0x"), "{text}");
}

#[test]
fn unknown_workload_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hosted-work"))
        .arg("no-such-workload")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
