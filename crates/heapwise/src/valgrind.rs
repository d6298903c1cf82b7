//! Valgrind client requests: the "magic instruction sequence" valgrind's `valgrind.h` and
//! `memcheck.h` emit, written as inline assembly so that no valgrind headers are needed at
//! build time (x86_64 and aarch64; on other targets every request returns its default, as
//! it does natively).
//!
//! Natively the sequence is a few rotations that leave every register unchanged and the
//! request returns its default; under valgrind the core intercepts it. [`running`] asks
//! once and caches the answer, so callers can skip all of this with one predictable branch.
//!
//! The requests used by heapwise (see [`crate::front`]):
//! * [`malloclike`] / [`freelike`] (`VALGRIND_MALLOCLIKE_BLOCK` / `FREELIKE_BLOCK`): a
//!   block handed out / taken back: memcheck tracks it like a `malloc` block (leaks,
//!   accesses past its requested size, use after free, definedness);
//! * [`make_noaccess`] / [`make_defined`] / [`make_undefined`] (memcheck's
//!   `VALGRIND_MAKE_MEM_*`): the allocator's own memory is made inaccessible to the program;
//! * [`Quiet`] (`VALGRIND_DISABLE_ERROR_REPORTING` / `ENABLE`): the allocator's own accesses
//!   to that memory are not reported (per thread, nesting).
//!
//! Invariant: every request passes a pointer to a 6-word argument array on the stack and
//! reads back one word; nothing else is touched.

use core::sync::atomic::{AtomicU8, Ordering};

const RUNNING_ON_VALGRIND: usize = 0x1001;
const MALLOCLIKE_BLOCK: usize = 0x1301;
const FREELIKE_BLOCK: usize = 0x1302;
const CHANGE_ERR_DISABLEMENT: usize = 0x1801;
/// `VG_USERREQ_TOOL_BASE('M', 'C')`: memcheck's first request.
const MC_BASE: usize = (b'M' as usize) << 24 | (b'C' as usize) << 16;
const MAKE_MEM_NOACCESS: usize = MC_BASE;
const MAKE_MEM_UNDEFINED: usize = MC_BASE + 1;
const MAKE_MEM_DEFINED: usize = MC_BASE + 2;
/// `VG_USERREQ_TOOL_BASE('H', 'G')`: helgrind's `VALGRIND_HG_CLEAN_MEMORY`.
const HG_CLEAN_MEMORY: usize = (b'H' as usize) << 24 | (b'G' as usize) << 16;

/// Issues client request `req` with up to five arguments; returns `default` when not
/// running under valgrind.
#[inline(always)]
pub fn request(default: usize, req: usize, a: [usize; 5]) -> usize {
    let args: [usize; 6] = [req, a[0], a[1], a[2], a[3], a[4]];
    do_request(default, &args)
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn do_request(default: usize, args: &[usize; 6]) -> usize {
    let mut r = default;
    // SAFETY: the four rotations of `rdi` add up to 128 bits (a no-op) and `xchg rbx, rbx`
    // changes nothing, so natively nothing happens; under valgrind the core reads the six
    // words at `rax` and writes the result to `rdx`. `rdi` is declared clobbered anyway.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            in("rax") args.as_ptr(),
            inout("rdx") r,
            inout("rdi") 0usize => _,
            options(nostack),
        );
    }
    r
}

#[cfg(target_arch = "aarch64")]
#[inline(always)]
fn do_request(default: usize, args: &[usize; 6]) -> usize {
    let mut r = default;
    // SAFETY: the four rotations of `x12` add up to 128 bits and `orr x10, x10, x10` is a
    // no-op, so natively nothing happens; under valgrind the core reads the six words at
    // `x4` and writes the result to `x3`. `x12` is declared clobbered anyway.
    unsafe {
        core::arch::asm!(
            "ror x12, x12, #3",
            "ror x12, x12, #13",
            "ror x12, x12, #51",
            "ror x12, x12, #61",
            "orr x10, x10, x10",
            in("x4") args.as_ptr(),
            inout("x3") r,
            inout("x12") 0usize => _,
            options(nostack),
        );
    }
    r
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
#[inline(always)]
fn do_request(default: usize, _args: &[usize; 6]) -> usize {
    default
}

/// 0: not asked yet, 1: native, 2: under valgrind.
static RUNNING: AtomicU8 = AtomicU8::new(0);

/// Whether the process runs under valgrind (asked once, then cached).
///
/// ```
/// // Natively every request returns its default.
/// if !heapwise::valgrind::running() {
///     assert_eq!(heapwise::valgrind::request(7, 0x1001, [0; 5]), 7);
/// }
/// ```
#[inline]
pub fn running() -> bool {
    match RUNNING.load(Ordering::Relaxed) {
        0 => {
            let on = request(0, RUNNING_ON_VALGRIND, [0; 5]) != 0;
            RUNNING.store(if on { 2 } else { 1 }, Ordering::Relaxed);
            on
        }
        s => s == 2,
    }
}

/// `VALGRIND_MALLOCLIKE_BLOCK(p, size, 0, zeroed)`: `[p, p + size)` is a new heap block
/// (undefined, or defined when `zeroed`).
#[inline]
pub fn malloclike(p: *const u8, size: usize, zeroed: bool) {
    request(
        0,
        MALLOCLIKE_BLOCK,
        [p as usize, size, 0, zeroed as usize, 0],
    );
}

/// `VALGRIND_FREELIKE_BLOCK(p, 0)`: the block at `p` is freed (memcheck reports an invalid
/// free if it knows no such block).
#[inline]
pub fn freelike(p: *const u8) {
    request(0, FREELIKE_BLOCK, [p as usize, 0, 0, 0, 0]);
}

/// `VALGRIND_HG_CLEAN_MEMORY(p, len)` (helgrind and drd; other tools ignore it): the bytes
/// have no access history, so a block handed to another thread after a free is not a data
/// race with its previous owner (the allocator's own lock is a futex these tools do not see).
#[inline]
pub fn hg_clean_memory(p: *const u8, len: usize) {
    if len != 0 {
        request(0, HG_CLEAN_MEMORY, [p as usize, len, 0, 0, 0]);
    }
}

/// `VALGRIND_MAKE_MEM_NOACCESS(p, len)`.
#[inline]
pub fn make_noaccess(p: *const u8, len: usize) {
    if len != 0 {
        request(0, MAKE_MEM_NOACCESS, [p as usize, len, 0, 0, 0]);
    }
}

/// `VALGRIND_MAKE_MEM_UNDEFINED(p, len)`.
#[inline]
pub fn make_undefined(p: *const u8, len: usize) {
    if len != 0 {
        request(0, MAKE_MEM_UNDEFINED, [p as usize, len, 0, 0, 0]);
    }
}

/// `VALGRIND_MAKE_MEM_DEFINED(p, len)`.
#[inline]
pub fn make_defined(p: *const u8, len: usize) {
    if len != 0 {
        request(0, MAKE_MEM_DEFINED, [p as usize, len, 0, 0, 0]);
    }
}

/// Error reporting of the current thread is off while a `Quiet` lives
/// (`VALGRIND_DISABLE_ERROR_REPORTING` on creation, `ENABLE` on drop; nesting counts).
pub struct Quiet(());

impl Quiet {
    /// Disables error reporting for this thread until the value is dropped.
    #[inline]
    pub fn new() -> Quiet {
        request(0, CHANGE_ERR_DISABLEMENT, [1, 0, 0, 0, 0]);
        Quiet(())
    }
}

impl Default for Quiet {
    fn default() -> Self {
        Quiet::new()
    }
}

impl Drop for Quiet {
    #[inline]
    fn drop(&mut self) {
        request(0, CHANGE_ERR_DISABLEMENT, [usize::MAX, 0, 0, 0, 0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natively_every_request_returns_its_default() {
        // `cargo test` does not run under valgrind (if it does, skip).
        if request(0, RUNNING_ON_VALGRIND, [0; 5]) != 0 {
            return;
        }
        assert!(!running());
        assert_eq!(request(7, MALLOCLIKE_BLOCK, [1, 2, 3, 4, 5]), 7);
        let x = [1u8; 32];
        make_noaccess(x.as_ptr(), 32);
        let _q = Quiet::new();
        assert_eq!(x.iter().map(|&b| b as usize).sum::<usize>(), 32);
    }
}
