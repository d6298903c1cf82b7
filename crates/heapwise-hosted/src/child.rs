//! The child side of a measurement: the `main` shared by `hosted-work` and the `rust-work-*`
//! binaries. It runs one workload and prints one result line that the driver parses:
//!
//! ```text
//! hosted-work: workload=st-small global=libc malloc=/lib/x86_64-linux-gnu/libc.so.6 checksum=0x.. ops=.. hwm_kib=..
//! ```
//!
//! `malloc=` is the object `malloc` resolves to in this process (the driver checks that the
//! preload really took). `hwm_kib=` is this process's own peak resident set size
//! (`VmHWM` of `/proc/self/status`, read after the workload): unlike the `ru_maxrss` that
//! `wait4` reports, it does not include the resident size of the process that spawned
//! this one (Linux carries the pre-`exec` peak over into `ru_maxrss`, so every run of a
//! small workload showed at least the driver's own ~3 MiB). A verification failure prints `VERIFY FAILED: ...` on stderr and exits
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
            let hwm = peak_rss_kib().map_or(String::new(), |k| format!(" hwm_kib={k}"));
            println!(
                "{kind}: workload={} global={global} malloc={} checksum={:#018x} ops={}{hwm}",
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

/// This process's peak resident set size in KiB (`VmHWM:` of `/proc/self/status`), or
/// `None` where the file or the line is missing.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// The `VmHWM:` value (in kB) of a `/proc/<pid>/status` text.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_from_a_status_text() {
        let text =
            "Name:\thosted-work\nVmPeak:\t   12000 kB\nVmHWM:\t    2144 kB\nVmRSS:\t 2100 kB\n";
        assert_eq!(parse_vm_hwm(text), Some(2144));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        let before = peak_rss_kib().expect("VmHWM on Linux");
        // Touch 8 MiB: the peak must rise by at least most of it.
        let v = std::hint::black_box(vec![1u8; 8 << 20]);
        let after = peak_rss_kib().expect("VmHWM on Linux");
        assert!(after >= before.max(8 * 1024 - 512), "{before} -> {after}");
        drop(v);
    }
}
