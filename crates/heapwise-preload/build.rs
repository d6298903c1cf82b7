//! Link layout of `libheapwise.so`: the code every process runs first, in one place.
//!
//! Every page of the library's code that a process executes maps its whole 64 KiB
//! neighbourhood (the kernel's fault-around maps the file's cached pages around a fault),
//! and all of it counts in the process's resident set. The code a process runs (start-up,
//! the allocation paths of the default policy, exit: about 90 functions, ~60 KiB) is marked
//! with `#[link_section = ".text.hot.heapwise"]` in the three crates. The linker script
//! written here (`hot.ld`) gathers those sections into an output section `.text.hot` and
//! inserts it before `.text`, so that it starts the executable segment: it then shares its
//! first window with the C runtime's `_init`/`_fini`. The functions the C runtime runs at
//! start-up and exit (`crtbegin`'s `frame_dummy` and `__do_global_dtors_aux`) and i686's PIC
//! thunks (`__x86.get_pc_thunk.*`) open the group: at the front of `.text` they sat just
//! past its end, in a window of their own whenever the group ended near a window's edge
//! (session 17; `tests/layout.rs` records the code a program runs). The PLT goes first
//! too: LLD puts it after all the code, and its one entry (`__cxa_finalize`, called at
//! exit) mapped the last window of the code into every process that exits. Without it, LLD
//! (Rust's linker on x86-64 Linux) scatters the marked functions over the ~300 KiB of code
//! (every policy of the engine, the checker, statistics, tracing), and GNU ld puts them
//! inside `.text`, after the cold code. `INSERT BEFORE` adds to the linker's default script
//! instead of replacing it; both linkers accept it.
//!
//! The unwind tables go after the code (`EH_FRAME_LD`) where the linker is LLD (Rust's
//! default on x86-64 Linux), which puts them before it, in the read-only segment that
//! precedes the code: 28 KiB that a process does not read (nothing unwinds through the
//! allocator) but that pushed the hot group 28 KiB further into the file, past the end of
//! its second 64 KiB window. GNU ld (the i686 and Arm builds) already puts them after the
//! code, in the read-only segment that follows it; given the script it would move them
//! into the executable segment, so they are left alone there.
//!
//! Measured in session 9 (`docs/performance/steps-session9.md`): code resident in a small
//! program 96–148 KiB, against 192–292 KiB with the group placed after `.text` by
//! `-z keep-text-section-prefix` (session 8) and 284–292 KiB before that. Session 10
//! (`steps-session10.md`): the group without the other policies' copies of the engine
//! (101 → 77 KiB) and the unwind tables after the code: the group ends 0x18bbf bytes
//! into the file instead of 0x2564f.

use std::path::PathBuf;

/// The script: the PLT and one output section for the hot code, before `.text`, starting
/// on a cache line. (Where the group starts moves with everything before it. In one such
/// layout `cache-scratch` ran 12–15 % slower in CPU time than in six others measured in
/// session 10, for a reason the measurements did not isolate — not the entry points'
/// offsets in their cache lines; a line-aligned start at least makes the group's layout
/// depend on its own content only.)
const HOT_LD: &str = "\
/* heapwise-preload build.rs: the code every process runs, first in the text. */
SECTIONS
{
  .plt : { *(.plt) }
  .text.hot : ALIGN(64) { *crtbegin*.o(.text .text.*) *(.text.__x86.get_pc_thunk.*) *(.text.hot .text.hot.*) }
}
INSERT BEFORE .text;
";

/// For LLD: the unwind tables after the code, in a read-only segment of their own.
const EH_FRAME_LD: &str = "\
/* heapwise-preload build.rs: the unwind tables after the code, not before it. */
SECTIONS
{
  .eh_frame_hdr : { *(.eh_frame_hdr) }
  .eh_frame : { KEEP(*(.eh_frame)) }
}
INSERT AFTER .text;
";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let script = out.join("hot.ld");
    // Rust links x86_64-unknown-linux-gnu with LLD unless told otherwise. A linker named
    // in `CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER` is taken for GNU ld; one chosen
    // another way still gets `EH_FRAME_LD`, which GNU ld accepts too, only putting the
    // tables in the executable segment after the code (correct either way).
    let var = |k: &str| std::env::var(k).ok();
    let lld = var("CARGO_CFG_TARGET_ARCH").as_deref() == Some("x86_64")
        && var("CARGO_CFG_TARGET_ENV").as_deref() == Some("gnu")
        && std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_none();
    let text = if lld {
        format!("{HOT_LD}{EH_FRAME_LD}")
    } else {
        HOT_LD.to_owned()
    };
    std::fs::write(&script, text).expect("write hot.ld to OUT_DIR");
    println!("cargo:rustc-link-arg-cdylib=-Wl,-T,{}", script.display());
    // Never unloaded: a `dlclose` of a `dlopen`ed copy would leave the thread-exit
    // destructor it registered (`pthread_key_create`) pointing into unmapped code, and every
    // later thread exit would crash.
    println!("cargo:rustc-link-arg-cdylib=-Wl,-z,nodelete");
}
