//! Link layout of `libheapwise.so`: the code every process runs first, in one place.
//!
//! Every page of the library's code that a process executes maps its whole 64 KiB
//! neighbourhood (the kernel's fault-around maps the file's cached pages around a fault),
//! and all of it counts in the process's resident set. The code a process runs (start-up,
//! the allocation paths of the default policy, exit: about 90 functions, ~60 KiB) is marked
//! with `#[link_section = ".text.hot.heapwise"]` in the three crates. The linker script
//! written here (`hot.ld`) gathers those sections into an output section `.text.hot` and
//! inserts it before `.text`, so that it starts the executable segment: it then shares its
//! first window with the C runtime's `_init`/`_fini`, and the functions the C runtime runs
//! at start-up and exit (the first ones of `.text`) follow it directly. The PLT goes first
//! too: LLD puts it after all the code, and its one entry (`__cxa_finalize`, called at
//! exit) mapped the last window of the code into every process that exits. Without it, LLD
//! (Rust's linker on x86-64 Linux) scatters the marked functions over the ~300 KiB of code
//! (every policy of the engine, the checker, statistics, tracing), and GNU ld puts them
//! inside `.text`, after the cold code. `INSERT BEFORE` adds to the linker's default script
//! instead of replacing it; both linkers accept it.
//!
//! Measured in session 9 (`docs/performance/steps-session9.md`): code resident in a small
//! program 96–148 KiB, against 192–292 KiB with the group placed after `.text` by
//! `-z keep-text-section-prefix` (session 8) and 284–292 KiB before that.

use std::path::PathBuf;

/// The script: the PLT and one output section for the hot code, before `.text`.
const HOT_LD: &str = "\
/* heapwise-preload build.rs: the code every process runs, first in the text. */
SECTIONS
{
  .plt : { *(.plt) }
  .text.hot : { *(.text.hot .text.hot.*) }
}
INSERT BEFORE .text;
";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("hot.ld");
    std::fs::write(&script, HOT_LD).expect("write hot.ld to OUT_DIR");
    println!("cargo:rustc-link-arg-cdylib=-Wl,-T,{}", script.display());
}
