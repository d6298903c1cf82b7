//! Link layout of `libheapwise.so`: its hot code in one place.
//!
//! Every page of the library's code that a process executes maps its whole 64 KiB
//! neighbourhood (the kernel's fault-around maps the file's cached pages around a fault),
//! and all of it counts in the process's resident set. The code a process runs (start-up,
//! the allocation paths of the default policy, exit: about 40 functions) is marked with
//! `#[link_section = ".text.hot.heapwise"]` in the three crates; this keeps the
//! `.text.hot` prefix as an output section of its own, so that those functions sit side by
//! side instead of scattered over the ~290 KiB of code (every policy of the engine, the
//! checker, statistics, tracing). GNU ld's default script groups `.text.hot.*` without
//! being asked; LLD (Rust's default linker on x86-64 Linux) only with this option. (A
//! `#[cold]` function goes to `.text.unlikely`, placed next to it.)

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-cdylib=-Wl,-z,keep-text-section-prefix");
    }
}
