//! glibc's tuning interface: `mallopt(3)` and the environment settings glibc reads for it
//! (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, `MALLOC_MMAP_MAX_`, `MALLOC_TRIM_THRESHOLD_`,
//! `MALLOC_PERTURB_`, and the same five in `GLIBC_TUNABLES`), mapped onto heapwise's own knobs, so that a program or a
//! deployment tuned for glibc keeps its settings under `LD_PRELOAD`:
//!
//! | parameter | heapwise |
//! |---|---|
//! | `M_MMAP_THRESHOLD`, `glibc.malloc.mmap_threshold` | requests of this many bytes or more get a mapping of their own ([`hw::Global::set_mmap_threshold`]); a negative value is `SIZE_MAX` (never), as in glibc |
//! | `M_MMAP_MAX`, `MALLOC_MMAP_MAX_`, `glibc.malloc.mmap_max` | 0 (or, for `mallopt`, a negative value: glibc's count of mappings is never below it): every request goes to the heaps first (mapped only when they cannot serve it); a positive value brings back the threshold (an `M_MMAP_THRESHOLD` set in between included); no limit on the number of mappings otherwise |
//! | `M_ARENA_MAX`, `glibc.malloc.arena_max` | threads are spread over at most this many arenas (heapwise has 4) |
//! | `M_TRIM_THRESHOLD`, `glibc.malloc.trim_threshold` | free ranges of this many bytes or more go back to the OS on the automatic trims; -1 turns them off |
//! | `M_PERTURB`, `MALLOC_PERTURB_`, `glibc.malloc.perturb` | new blocks are filled with `value ^ 0xff` (not `calloc`'s), freed heap blocks past their first two words with `value` ([`hw::front::set_perturb`]); 0 turns it off |
//! | `M_MXFAST`, `M_TOP_PAD`, `M_CHECK_ACTION`, `M_ARENA_TEST`, others | accepted with no effect (heapwise has no fast bins, pads its heaps by its own growth chunk and reports misuse whatever the action) |
//!
//! `mallopt` returns 1 when it accepted the setting and 0 when it refused it, where glibc
//! (2.36) refuses it (`M_MXFAST` outside 0 ..= its limit); glibc too returns 1 for parameters it
//! ignores. The environment is read once, at initialisation, with the rules of every option
//! (see [`crate::options`]): numbers decimal or hexadecimal after `0x`, surrounding
//! whitespace ignored, an empty or blank value counts as unset. A negative threshold is
//! `SIZE_MAX` (never), as `mallopt`'s; a negative `arena_max`, `mmap_max` or `perturb`, a value too large
//! for a `size_t` or one that is not a number gives one line on stderr and is ignored.
//!
//! Invariant: nothing here allocates (`getenv`, stack buffers and `write(2)` only).

use core::ffi::c_int;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::report::note;

use crate::options::{getenv, parse_int, shown, value, NumError};
use crate::{ensure_init, GLOBAL};

/// `M_MXFAST` (glibc's `<malloc.h>`).
pub const M_MXFAST: c_int = 1;
/// `M_TRIM_THRESHOLD`.
pub const M_TRIM_THRESHOLD: c_int = -1;
/// `M_TOP_PAD`.
pub const M_TOP_PAD: c_int = -2;
/// `M_MMAP_THRESHOLD`.
pub const M_MMAP_THRESHOLD: c_int = -3;
/// `M_MMAP_MAX`.
pub const M_MMAP_MAX: c_int = -4;
/// `M_CHECK_ACTION`.
pub const M_CHECK_ACTION: c_int = -5;
/// `M_PERTURB`.
pub const M_PERTURB: c_int = -6;
/// `M_ARENA_TEST`.
pub const M_ARENA_TEST: c_int = -7;
/// `M_ARENA_MAX`.
pub const M_ARENA_MAX: c_int = -8;

/// Whether `M_MMAP_MAX` 0 turned mappings off (the allocator's threshold is then
/// `usize::MAX`).
static MMAP_OFF: AtomicBool = AtomicBool::new(false);
/// While mappings are off: the threshold they come back with (`M_MMAP_THRESHOLD` sets it).
static MMAP_SAVED: AtomicUsize = AtomicUsize::new(0);

/// glibc's `MAX_FAST_SIZE`: the largest `M_MXFAST` it accepts.
const MAX_FAST_SIZE: c_int = (80 * core::mem::size_of::<usize>() / 4) as c_int;

/// The settings read from the environment (`None`: not set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `MALLOC_ARENA_MAX` / `glibc.malloc.arena_max`.
    pub arena_max: Option<usize>,
    /// `MALLOC_MMAP_THRESHOLD_` / `glibc.malloc.mmap_threshold`.
    pub mmap_threshold: Option<usize>,
    /// `MALLOC_MMAP_MAX_` / `glibc.malloc.mmap_max` (0: no mappings while the heaps can
    /// serve).
    pub mmap_max: Option<usize>,
    /// `MALLOC_TRIM_THRESHOLD_` / `glibc.malloc.trim_threshold`.
    pub trim_threshold: Option<usize>,
    /// `MALLOC_PERTURB_` / `glibc.malloc.perturb`.
    pub perturb: Option<usize>,
}

/// Parses the value of a setting: `Ok(None)` when blank (unset); a negative number is
/// `usize::MAX` where `negative_is_never` (the thresholds, as `mallopt` takes them) and
/// refused elsewhere; a number above `max` is refused (glibc ignores a tunable outside its
/// range).
pub fn parse_setting(
    v: &[u8],
    negative_is_never: bool,
    max: usize,
) -> Result<Option<usize>, NumError> {
    let Some(v) = value(v) else {
        return Ok(None);
    };
    match parse_int(v)? {
        (true, _) if negative_is_never => Ok(Some(usize::MAX)),
        (true, _) => Err(NumError::Negative),
        (false, n) => match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some(n)),
            _ => Err(NumError::TooLarge),
        },
    }
}

impl Tuning {
    /// Applies one setting by its tunable name (`arena_max`, `mmap_threshold`, `mmap_max`,
    /// `trim_threshold`, `perturb`); other names are not heapwise's business and are
    /// skipped. A refused value is reported as `{shown_as}{shown_name}=value`: the
    /// variable (`MALLOC_PERTURB_`) with an empty `shown_name`, or `GLIBC_TUNABLES setting `
    /// before the tunable's full name (`glibc.malloc.perturb`).
    fn set(&mut self, name: &[u8], value: &[u8], shown_as: &str, shown_name: &[u8]) {
        let (slot, negative_is_never, max) = match name {
            b"arena_max" => (&mut self.arena_max, false, usize::MAX),
            b"mmap_threshold" => (&mut self.mmap_threshold, true, usize::MAX),
            // glibc's tunable is an `int` (a value outside is ignored).
            b"mmap_max" => (&mut self.mmap_max, false, i32::MAX as usize),
            b"trim_threshold" => (&mut self.trim_threshold, true, usize::MAX),
            // glibc's tunable takes 0 to 0xff, and ignores a value outside.
            b"perturb" => (&mut self.perturb, false, 0xff),
            _ => return,
        };
        match parse_setting(value, negative_is_never, max) {
            Ok(Some(n)) => *slot = Some(n),
            Ok(None) => {}
            Err(e) => note(format_args!(
                "{shown_as}{}={:?} {}; ignored",
                shown(shown_name),
                shown(value),
                e.what()
            )),
        }
    }

    /// Reads the settings from `GLIBC_TUNABLES`'s value (`name=value` pairs separated by
    /// `:`; only the `glibc.malloc.` names above count).
    pub fn read_tunables(&mut self, v: &[u8]) {
        for pair in v.split(|&c| c == b':') {
            let Some(eq) = pair.iter().position(|&c| c == b'=') else {
                continue;
            };
            let (name, value) = (
                pair.get(..eq).unwrap_or(&[]),
                pair.get(eq + 1..).unwrap_or(&[]),
            );
            if let Some(short) = name.strip_prefix(b"glibc.malloc.") {
                self.set(short, value, "GLIBC_TUNABLES setting ", name);
            }
        }
    }

    /// Reads the environment: the `MALLOC_*` variables, then `GLIBC_TUNABLES` (which
    /// wins, as in glibc).
    #[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
    pub fn from_env() -> Tuning {
        let mut t = Tuning::default();
        for (var, name) in [
            (c"MALLOC_ARENA_MAX", &b"arena_max"[..]),
            (c"MALLOC_MMAP_THRESHOLD_", &b"mmap_threshold"[..]),
            (c"MALLOC_MMAP_MAX_", &b"mmap_max"[..]),
            (c"MALLOC_TRIM_THRESHOLD_", &b"trim_threshold"[..]),
            (c"MALLOC_PERTURB_", &b"perturb"[..]),
        ] {
            if let Some(v) = getenv(var) {
                t.set(name, v, var.to_str().unwrap_or("MALLOC_*"), b"");
            }
        }
        if let Some(v) = getenv(c"GLIBC_TUNABLES") {
            t.read_tunables(v);
        }
        t
    }

    /// Applies the settings to the allocator (at initialisation, before the first block;
    /// the perturb byte goes to the API layers once they are decided:
    /// [`Tuning::apply_perturb`]).
    pub fn apply(&self) {
        if let Some(n) = self.arena_max {
            GLOBAL.set_arena_max(n);
        }
        if let Some(n) = self.mmap_threshold {
            GLOBAL.set_mmap_threshold(n);
        }
        if let Some(n) = self.mmap_max {
            set_mappings(n > 0);
        }
        if let Some(n) = self.trim_threshold {
            GLOBAL.set_trim_threshold(n);
        }
    }

    /// Sets the perturb byte, if the environment gave one, on top of the API layers in
    /// force (`layers`); returns the layers then in force.
    pub fn apply_perturb(&self, layers: u8) -> u8 {
        match self.perturb {
            // glibc keeps the int; only its low byte is ever written.
            Some(v) => hw::front::set_perturb(&GLOBAL, v as i32),
            None => layers,
        }
    }
}

/// Turns the mappings of large blocks off (`M_MMAP_MAX` 0: the threshold becomes
/// `usize::MAX`, the one in force is kept) or back on (the kept threshold, or the one
/// `M_MMAP_THRESHOLD` set since).
fn set_mappings(on: bool) {
    if !on {
        if !MMAP_OFF.swap(true, Ordering::Relaxed) {
            MMAP_SAVED.store(GLOBAL.mmap_threshold(), Ordering::Relaxed);
        }
        GLOBAL.set_mmap_threshold(usize::MAX);
    } else if MMAP_OFF.swap(false, Ordering::Relaxed) {
        GLOBAL.set_mmap_threshold(MMAP_SAVED.load(Ordering::Relaxed));
    }
}

/// `mallopt(3)`: see the module's table. Returns 1 if the setting was accepted, 0 if
/// refused.
#[no_mangle]
pub extern "C" fn mallopt(param: c_int, value: c_int) -> c_int {
    ensure_init();
    // Under valgrind the allocator's state is NOACCESS to the program: the settings are
    // written with error reporting off.
    let _q = hw::front::quiet_under_valgrind();
    let accepted = match param {
        // glibc converts the int to size_t: a negative threshold is SIZE_MAX.
        M_MMAP_THRESHOLD => {
            let t = usize::try_from(value).unwrap_or(usize::MAX);
            if MMAP_OFF.load(Ordering::Relaxed) {
                MMAP_SAVED.store(t, Ordering::Relaxed);
            } else {
                GLOBAL.set_mmap_threshold(t);
            }
            true
        }
        // glibc maps while its count of mappings is below the value: never for 0 or less.
        M_MMAP_MAX => {
            set_mappings(value > 0);
            true
        }
        // -1 (any negative value) becomes SIZE_MAX in glibc: no trimming.
        M_TRIM_THRESHOLD => {
            GLOBAL.set_trim_threshold(usize::try_from(value).unwrap_or(usize::MAX));
            true
        }
        M_ARENA_MAX => {
            if let Ok(n) = usize::try_from(value) {
                GLOBAL.set_arena_max(n);
            }
            true
        }
        M_PERTURB => {
            crate::set_layered(hw::front::set_perturb(&GLOBAL, value) != 0);
            true
        }
        // glibc takes the value as a `size_t`: a negative one is huge, and refused.
        M_MXFAST => (0..=MAX_FAST_SIZE).contains(&value),
        _ => true,
    };
    accepted as c_int
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_glibc_tunables_do() {
        let any = usize::MAX;
        assert_eq!(parse_setting(b"131072", false, any), Ok(Some(131072)));
        assert_eq!(parse_setting(b"0x20000", false, any), Ok(Some(0x20000)));
        assert_eq!(parse_setting(b" 2 ", false, any), Ok(Some(2)));
        assert_eq!(
            parse_setting(b"lots", false, any),
            Err(NumError::NotANumber)
        );
        // Blank: unset, as for every option.
        assert_eq!(parse_setting(b"", false, any), Ok(None));
        assert_eq!(parse_setting(b"  ", true, any), Ok(None));
        // Negative: never for the thresholds (as `mallopt`), refused elsewhere.
        assert_eq!(parse_setting(b"-1", true, any), Ok(Some(usize::MAX)));
        assert_eq!(parse_setting(b"-1", false, any), Err(NumError::Negative));
        assert_eq!(
            parse_setting(b"99999999999999999999999", true, any),
            Err(NumError::TooLarge)
        );
        // Above the setting's range: refused (the perturb byte's is 0 to 0xff).
        assert_eq!(parse_setting(b"0xff", false, 0xff), Ok(Some(0xff)));
        assert_eq!(parse_setting(b"256", false, 0xff), Err(NumError::TooLarge));
    }

    #[test]
    fn a_perturb_value_outside_a_byte_is_ignored_as_glibc_ignores_it() {
        let mut t = Tuning::default();
        t.set(b"perturb", b"300", "MALLOC_PERTURB_", b"");
        assert_eq!(t.perturb, None);
        t.read_tunables(b"glibc.malloc.perturb=0x100");
        assert_eq!(t.perturb, None);
        t.read_tunables(b"glibc.malloc.perturb=0xa5");
        assert_eq!(t.perturb, Some(0xa5));
    }

    #[test]
    fn tunables_pick_the_malloc_names_only() {
        let mut t = Tuning::default();
        t.read_tunables(b"glibc.malloc.arena_max=2:glibc.pthread.rseq=0:glibc.malloc.mmap_threshold=0x10000:glibc.malloc.tcache_count=0:junk");
        assert_eq!(
            t,
            Tuning {
                arena_max: Some(2),
                mmap_threshold: Some(0x10000),
                mmap_max: None,
                trim_threshold: None,
                perturb: None,
            }
        );
        t.read_tunables(
            b"glibc.malloc.trim_threshold=4096:glibc.malloc.arena_max=3:glibc.malloc.perturb=165",
        );
        assert_eq!(
            (t.arena_max, t.trim_threshold, t.perturb),
            (Some(3), Some(4096), Some(165))
        );
        // A bad value leaves the earlier one, and so does an empty one.
        t.read_tunables(b"glibc.malloc.arena_max=many");
        assert_eq!(t.arena_max, Some(3));
        t.read_tunables(b"glibc.malloc.arena_max=:glibc.malloc.mmap_threshold=-1");
        assert_eq!((t.arena_max, t.mmap_threshold), (Some(3), Some(usize::MAX)));
    }

    #[test]
    fn mmap_max_is_an_int_that_is_not_negative() {
        let mut t = Tuning::default();
        t.read_tunables(b"glibc.malloc.mmap_max=0");
        assert_eq!(t.mmap_max, Some(0));
        t.set(b"mmap_max", b"65536", "MALLOC_MMAP_MAX_", b"");
        assert_eq!(t.mmap_max, Some(65536));
        // Negative, or beyond an int: ignored (as glibc's tunable ignores them).
        t.set(b"mmap_max", b"-1", "MALLOC_MMAP_MAX_", b"");
        t.read_tunables(b"glibc.malloc.mmap_max=0x80000000");
        assert_eq!(t.mmap_max, Some(65536));
    }
}
