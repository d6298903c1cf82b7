//! The code a process runs is grouped, at the front of the code (peak RSS). Every page of
//! code a process executes maps its neighbourhood of the file (the kernel's fault-around:
//! 64 KiB, or the page cache's larger folios) into the process's resident set, so the ~90
//! functions a process runs must sit side by side rather than be scattered over the
//! library's ~300 KiB of code (every engine policy, the checker, statistics, tracing). They
//! carry `link_section = ".text.hot.heapwise"`, and the library is linked with a script
//! (`build.rs`) that gathers them in an output section placed before `.text`, where it
//! shares its first window with the C runtime's start-up and exit code. The engine's
//! entry points for the default policy have their own copies (`heapwise_core::any`'s
//! `default_policy`), and the engine's generic functions place only the default policy's
//! instances in the group (`heapwise_core`'s `section.rs`): a `link_section` on a generic
//! function would place every policy's copy.
//!
//! Measured (`docs/performance/steps-session9.md`, `steps-session10.md`): a small program
//! had 284–292 of the library's 292 KiB of code resident before session 8, 192–292 KiB with
//! the group after `.text` (session 8), 96–148 KiB with the group first. Session 10 took
//! the other policies' copies out of the group and the unwind tables from before the code
//! (the group's end moved from file offset 0x2564f to 0x18bbf); the whole library's
//! resident size then depends mostly on how the page cache holds the file (large folios).
//!
//! `an_ordinary_program_runs_no_code_outside_the_group` checks what a program runs: it
//! samples the page faults of a small C program (`tests/c/l01_common_paths.c`) and requires
//! every fault on the library's code to lie in the group.
//!
//! The first two tests check the layout itself, which does not depend on the machine's kernel: the
//! entry points of every common path lie in one span of the code that is a small part of
//! it and starts the executable code. A function on those paths that loses its attribute,
//! a change of linker that stops the grouping or the placement, or a default-policy path
//! that the compiler moves out of its wrapper makes the span as wide as the code or
//! moves it away from the front.

mod common;

use common::*;
use std::process::Command;

/// What the test reads from the library's symbols and section headers.
struct Layout {
    /// `(address, size, demangled name)` of every function.
    fns: Vec<(u64, u64, String)>,
    /// Total size of the executable sections.
    code: u64,
    /// Address of the first executable section.
    first: u64,
    /// Address of the PLT, if there is one.
    plt: Option<u64>,
    /// `[start, end)` of the hot group's output section (`.text.hot`), if there is one.
    hot: Option<(u64, u64)>,
}

fn functions() -> Layout {
    let out = Command::new("nm")
        .args(["-n", "-S", "-C", "--defined-only"])
        .arg(libheapwise())
        .output()
        .expect("nm (binutils)");
    assert!(out.status.success(), "nm failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut fns = Vec::new();
    for line in text.lines() {
        let mut w = line.splitn(4, ' ');
        let (Some(a), Some(s), Some(t), Some(name)) = (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        if !matches!(t, "T" | "t") {
            continue;
        }
        if let (Ok(a), Ok(s)) = (u64::from_str_radix(a, 16), u64::from_str_radix(s, 16)) {
            fns.push((a, s, name.to_owned()));
        }
    }
    let out = Command::new("readelf")
        .args(["-SW"])
        .arg(libheapwise())
        .output()
        .expect("readelf (binutils)");
    let sections = String::from_utf8_lossy(&out.stdout).into_owned();
    // Executable sections: flags containing X ("AX"); (address, size) of each.
    let exec: Vec<(u64, u64)> = sections
        .lines()
        .filter(|l| l.contains(" AX "))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
            let addr = u64::from_str_radix(f.get(2)?, 16).ok()?;
            Some((addr, u64::from_str_radix(f.get(4)?, 16).ok()?))
        })
        .collect();
    let code = exec.iter().map(|e| e.1).sum();
    let first = exec.iter().map(|e| e.0).min().unwrap_or(0);
    // `(address, size)` of the section called `name`.
    let section = |name: &str| {
        sections
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .and_then(|l| {
                let f: Vec<&str> = l.split(']').nth(1)?.split_whitespace().collect();
                let addr = u64::from_str_radix(f.get(2)?, 16).ok()?;
                Some((addr, u64::from_str_radix(f.get(4)?, 16).ok()?))
            })
    };
    Layout {
        fns,
        code,
        first,
        plt: section(".plt").map(|s| s.0),
        hot: section(".text.hot").map(|(a, s)| (a, a + s)),
    }
}

#[test]
fn the_code_every_process_runs_is_grouped() {
    // The entry points of the paths every process takes: start-up, small and large
    // blocks, the thread cache, the arenas, the engine's default policy, exit.
    const HOT: &[&str] = &[
        "malloc",
        "free",
        "calloc",
        "realloc",
        "posix_memalign",
        "aligned_alloc",
        "malloc_usable_size",
        "heapwise::init_slow",
        "heapwise::options::read",
        "heapwise::report::at_exit",
        "heapwise::tcache::malloc",
        "heapwise::tcache::free",
        "heapwise::tcache::refill",
        "heapwise::tcache::setup",
        "heapwise::global::Global::malloc_slow",
        "heapwise::global::Global::free_slow",
        "heapwise::global::Global::refill",
        "heapwise::global::Global::realloc",
        "heapwise::large_cache::alloc",
        "heapwise::large_cache::free",
        "heapwise_core::any::default_policy::malloc",
        "heapwise_core::any::default_policy::free",
        "heapwise_core::any::default_policy::realloc_in_place",
        "heapwise_core::policy::segregated::other_fit",
    ];
    let Layout {
        fns,
        code,
        first,
        plt,
        ..
    } = functions();
    assert!(code > 0, "no executable sections found");
    let mut span = (u64::MAX, 0u64);
    let mut missing = Vec::new();
    for want in HOT {
        // Exported names exactly; Rust paths without the `::h<hash>` suffix.
        let found: Vec<&(u64, u64, String)> = fns
            .iter()
            .filter(|(_, _, n)| {
                n == want || n.strip_prefix(want).is_some_and(|r| r.starts_with("::h"))
            })
            .collect();
        if found.is_empty() {
            missing.push(*want);
        }
        for (a, s, _) in found {
            span = (span.0.min(*a), span.1.max(a + s));
        }
    }
    assert!(
        missing.is_empty(),
        "not in the library (renamed?): {missing:?}"
    );
    let width = span.1 - span.0;
    // Grouped: ~77 KiB of ~370 KiB (~95 of ~330 before session 10). Scattered (before
    // session 8): ~250 KiB.
    assert!(
        width * 100 <= code * 45,
        "the hot functions span {} KiB of the library's {} KiB of code: a function on the \
         allocation paths lost `link_section = \".text.hot.heapwise\"`, or the linker no \
         longer groups them (build.rs)",
        width / 1024,
        code / 1024
    );
    // First: after the C runtime's `_init`/`_fini` and the PLT (i686's holds ~35 entries),
    // within the first page or so of the code.
    assert!(
        span.0 - first <= 0x1000,
        "the hot functions start {:#x} bytes into the code instead of at its front: the \
         linker script of build.rs no longer places `.text.hot` before `.text`",
        span.0 - first
    );
    // The PLT (`__cxa_finalize`, at exit) is not left at the far end of the code.
    if let Some(plt) = plt {
        assert!(
            plt < span.0,
            "the PLT ({plt:#x}) comes after the hot functions ({:#x}): build.rs's script no \
             longer places it first",
            span.0
        );
    }
}

#[test]
fn the_group_holds_the_default_policys_engine_code_only() {
    // The engine's generic functions are instantiated for all fifteen policies; only the
    // default policy's copies belong in the group (`heapwise_core`'s `section.rs`). The
    // out-of-line ones run their bodies in `section::never_hot` / `cold_hot` for the
    // default policy and in `*_other` elsewhere; the small `#[inline]` ones (`take`,
    // `alloc`, `grow`) keep every copy in the group. Measured on x86-64: 145 engine
    // functions in the group when every copy was placed, 38 now.
    let Layout { fns, hot, .. } = functions();
    let Some((lo, hi)) = hot else {
        panic!("no .text.hot section: the linker script of build.rs was not used");
    };
    let in_group = |a: u64| (lo..hi).contains(&a);
    let engine: Vec<&String> = fns
        .iter()
        .filter(|(a, _, n)| {
            in_group(*a)
                && (n.starts_with("heapwise_core::heap::Heap<S,P>::")
                    || n.starts_with("heapwise_core::section::"))
        })
        .map(|(_, _, n)| n)
        .collect();
    let placed = |name: &str| engine.iter().filter(|n| n.starts_with(name)).count();
    assert!(
        placed("heapwise_core::section::never_hot") >= 1
            && placed("heapwise_core::section::cold_hot") >= 1,
        "the default policy's out-of-line engine paths are not in the group: {engine:#?}"
    );
    assert_eq!(
        placed("heapwise_core::section::never_other")
            + placed("heapwise_core::section::cold_other"),
        0,
        "another policy's engine paths are in the group"
    );
    assert!(
        engine.len() <= 60,
        "{} engine functions in the hot group (38 when written): other policies' copies of \
         a generic engine function are placed with the default policy's (a \
         `link_section` on a generic function of `heapwise_core::heap` instead of \
         `section::placed!`?)",
        engine.len()
    );
}

/// What [`faults_of_an_ordinary_program`] saw: where the library was loaded and every page
/// fault `(instruction address, faulting address)` of the program, its threads and child.
struct Faults {
    base: u64,
    faults: Vec<(u64, u64)>,
}

/// Runs `tests/c/l01_common_paths.c` (start-up, small and large blocks, realloc, aligned
/// requests, a second thread, a fork, exit) with the library preloaded under
/// `tests/c/perf_faults.c`, which samples every page fault through `perf_event_open`.
/// `None` (after [`skip_loudly`]) where the kernel offers no such event to this process.
fn faults_of_an_ordinary_program() -> Option<Faults> {
    let dir = TempDir::new("layout-faults");
    let perf = compile_c("perf_faults", dir.path());
    let prog = compile_c("l01_common_paths", dir.path());
    let mut cmd = Command::new(&perf);
    cmd.arg(libheapwise()).arg(&prog);
    let o = run(cmd, None, std::time::Duration::from_secs(120));
    if o.status.code() == Some(3) {
        skip_loudly(&format!(
            "page faults cannot be sampled here ({}): perf_event_open(2) of the software \
             page-fault event is refused (kernel.perf_event_paranoid, a seccomp filter)",
            o.stderr.trim()
        ));
        return None;
    }
    assert!(
        o.success(),
        "perf_faults / l01_common_paths failed\n{}",
        o.describe()
    );
    let hex =
        |w: Option<&str>| w.and_then(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok());
    let mut base = None;
    let mut faults = Vec::new();
    for line in o.stdout.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("heapwise_base") => base = hex(w.next()),
            Some("fault") => {
                if let (Some(ip), Some(addr)) = (hex(w.next()), hex(w.next())) {
                    faults.push((ip, addr));
                }
            }
            _ => {}
        }
    }
    let base = base.unwrap_or_else(|| panic!("no heapwise_base line\n{}", o.describe()));
    assert!(
        faults.len() > 100,
        "only {} page faults sampled: the event did not follow the program\n{}",
        faults.len(),
        o.describe()
    );
    Some(Faults { base, faults })
}

#[test]
fn an_ordinary_program_runs_no_code_outside_the_group() {
    // The layout test above checks a list of entry points; this one checks what a program
    // really runs. A page of code the process executes outside the group maps a whole
    // fault-around window (64 KiB, or a large folio of the page cache) of cold code into
    // its resident set. Before session 17, three functions every process calls once
    // (`fork::install_handlers`, `Global::note_caching`, `large_cache::shrink_to`) kept
    // 230–320 KiB of the library's code resident in a small program, against 104 KiB
    // since; this test then found the fork handlers, the large-block paths, `crtbegin`'s
    // functions and an iterator adapter of `shrink_to` running outside the group too. The
    // first execution in each window takes a page fault whose address is the
    // instruction's own: every such fault in the library's code must lie in the group (or
    // in the C runtime's `_init` and the PLT before it).
    let Some(Faults { base, faults }) = faults_of_an_ordinary_program() else {
        return;
    };
    let Layout {
        fns, first, hot, ..
    } = functions();
    let Some((_, hi)) = hot else {
        panic!("no .text.hot section: the linker script of build.rs was not used");
    };
    let code_end = fns.iter().map(|(a, s, _)| a + s).max().unwrap_or(0);
    let name_of = |a: u64| {
        fns.iter()
            .find(|(f, s, _)| (*f..f + s.max(&1)).contains(&a))
            .map_or("?", |(_, _, n)| n.as_str())
    };
    let mut in_code = 0;
    let mut outside = Vec::new();
    for (ip, addr) in faults {
        let Some(off) = addr.checked_sub(base) else {
            continue;
        };
        // An instruction fetch from the library's code.
        if ip != addr || !(first..code_end).contains(&off) {
            continue;
        }
        in_code += 1;
        if off >= hi {
            outside.push(format!("{off:#x} {}", name_of(off)));
        }
    }
    assert!(
        in_code >= 1,
        "no fault in the library's code: were the addresses turned into the library's \
         (base {base:#x})?"
    );
    assert!(
        outside.is_empty(),
        "an ordinary program runs code of the library outside its hot group (each of these \
         maps a window of cold code into every process; give the function \
         `link_section = \".text.hot.heapwise\"`, or `section::placed!` in the engine):\n{}",
        outside.join("\n")
    );
}
