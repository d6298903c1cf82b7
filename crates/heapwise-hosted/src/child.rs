//! The child side of a measurement: the `main` shared by `hosted-work` and the `rust-work-*`
//! binaries. It runs one workload and prints one result line that the driver parses:
//!
//! ```text
//! hosted-work: workload=st-small global=libc malloc=/lib/x86_64-linux-gnu/libc.so.6 checksum=0x.. ops=..
//! ```
//!
//! `malloc=` is the object `malloc` resolves to in this process (the driver checks that the
//! preload really took). A verification failure prints `VERIFY FAILED: ...` on stderr and exits
//! with status 2; a usage error exits with status 64.

use crate::cmem::malloc_provider;
use crate::work::{Params, Spec};

/// Parses `NAME [--scale X] [--threads N]`, runs the workload found by `find` and exits.
pub fn run_main(kind: &str, global: &str, find: fn(&str) -> Option<&'static Spec>) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: {kind} WORKLOAD [--scale X] [--threads N]");
        std::process::exit(64)
    };
    let Some(name) = args.first() else { usage() };
    let Some(spec) = find(name) else {
        eprintln!("{kind}: no workload called {name:?}");
        std::process::exit(64)
    };
    let mut params = Params {
        scale: 1.0,
        threads: spec.threads,
    };
    let mut it = args[1..].iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.next()) {
            ("--scale", Some(v)) => params.scale = v.parse().unwrap_or_else(|_| usage()),
            ("--threads", Some(v)) => params.threads = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    match (spec.run)(&params) {
        Ok(out) => {
            println!(
                "{kind}: workload={} global={global} malloc={} checksum={:#018x} ops={}",
                spec.name,
                malloc_provider(),
                out.checksum,
                out.ops
            );
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("VERIFY FAILED: {}: {e}", spec.name);
            std::process::exit(2)
        }
    }
}
