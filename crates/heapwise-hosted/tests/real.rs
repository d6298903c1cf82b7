//! Real programs under a preload whose file name is none of the known allocators' (an
//! `--extra` column such as `before=/tmp/before.so`): the run must see the library mapped.
//! Needs python3.11 and an installed libjemalloc.so.2 (copied under another name); without
//! them the test says so and passes. No timing assertions.

use std::path::Path;
use std::time::Duration;

use heapwise_hosted::driver::{alloc, real, Ctx};

#[test]
fn python_sees_an_extra_library_whatever_its_name() {
    let jemalloc = Path::new("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
    if real::available(real::Program::Python).is_err() || !jemalloc.exists() {
        eprintln!("skipped: needs python3.11 and {}", jemalloc.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("hw-hosted-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("before.so");
    std::fs::copy(jemalloc, &lib).unwrap();
    let a = alloc::extra(&format!("before={}", lib.display())).unwrap();
    let ctx = Ctx {
        bin_dir: dir.clone(),
        scale: 0.001,
        timeout: Duration::from_secs(120),
        scratch: dir.join("scratch"),
    };
    let r = real::run(&ctx, real::Program::Python, &a);
    let _ = std::fs::remove_dir_all(&dir);
    let s = r.unwrap();
    assert!(s.served_by.contains("before.so"), "{}", s.served_by);
}
