//! The exported malloc family, with glibc's conventions:
//!
//! * failures return null (or an error number for `posix_memalign`) and set `errno` to
//!   `ENOMEM`, or `EINVAL` for a bad alignment; successes never change `errno`, and `free`
//!   never does;
//! * `malloc(0)`, `calloc(0, n)`, `realloc(NULL, 0)` return unique minimum blocks;
//!   `realloc(p, 0)` frees `p` and returns null without touching `errno`;
//! * `aligned_alloc` follows C17 DR 460 (glibc 2.38): any power of two, else `EINVAL`;
//!   `memalign` rounds a non-power-of-two alignment up and rejects alignments above
//!   `SIZE_MAX / 2 + 1` with `EINVAL`; `posix_memalign` wants a power-of-two multiple of
//!   `sizeof(void *)` and leaves `*memptr` alone on failure.
//!
//! Invariant: an entry point that forwards to another (`realloc(NULL, n)` to `malloc`,
//! `reallocarray` to `realloc`, `cfree` to `free`, `valloc` and `pvalloc` to `memalign`, and
//! the other names in [`crate::aliases`])
//! calls the private implementation, never the exported symbol: a call to the symbol goes
//! through the GOT and reaches whichever definition comes first in the process, which is
//! not this library when it is `dlopen`ed (`RTLD_LOCAL`) or preloaded behind another
//! malloc; the block would then come from (or go to) the wrong allocator.
//!
//! Invariant: every entry point makes sure the options were read (the same load says
//! whether the API layers of [`hw::front`] are on: valgrind, or canaries and guard pages),
//! then calls the [`Global`](hw::Global) directly or through those layers, and, when the
//! recorder is active, does so inside the recorder's lock together with the record.

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr;

use hw::front;
use hw::sys::{self, set_errno, ErrnoGuard};

use crate::{ensure_init, layered, GLOBAL, RECORDER};

#[inline]
fn recorded_alloc(size: usize, f: impl FnOnce() -> *mut u8) -> *mut u8 {
    if RECORDER.active() {
        record_alloc(size, f)
    } else {
        f()
    }
}

/// The recording half of [`recorded_alloc`], out of the fast path.
#[cold]
#[inline(never)]
fn record_alloc(size: usize, f: impl FnOnce() -> *mut u8) -> *mut u8 {
    RECORDER.with(|r| {
        let p = f();
        let _q = front::quiet_under_valgrind();
        if !p.is_null() {
            r.alloc(&GLOBAL, p, size);
        }
        p
    })
}

// The allocator behind the entry points: `GLOBAL` itself, or `GLOBAL` through the API
// layers of `hw::front` when `l` (valgrind; canaries and guard pages in full mode). `l` comes
// from the same load as the initialisation check, so the common case pays nothing.

// The common case (`GLOBAL` itself, whose thread-cache fast path is inlined) is inlined
// into the entry point; the layered case is a call, so that it does not inline a second
// copy of that fast path (through `front`) into every entry point.

#[inline(always)]
fn g_malloc(l: bool, n: usize) -> *mut u8 {
    if l {
        layered_malloc(n)
    } else {
        GLOBAL.malloc(n)
    }
}

#[cold]
#[inline(never)]
fn layered_malloc(n: usize) -> *mut u8 {
    front::malloc(&GLOBAL, n)
}

#[inline(always)]
fn g_calloc(l: bool, k: usize, n: usize) -> *mut u8 {
    if l {
        layered_calloc(k, n)
    } else {
        GLOBAL.calloc(k, n)
    }
}

#[cold]
#[inline(never)]
fn layered_calloc(k: usize, n: usize) -> *mut u8 {
    front::calloc(&GLOBAL, k, n)
}

#[inline]
fn g_aligned(l: bool, align: usize, n: usize) -> *mut u8 {
    if l {
        front::aligned_alloc(&GLOBAL, align, n)
    } else {
        GLOBAL.aligned_alloc(align, n)
    }
}

/// # Safety
/// As [`hw::Global::free`].
#[inline(always)]
unsafe fn g_free(l: bool, p: *mut u8) {
    // SAFETY: forwarded caller contract.
    unsafe {
        if l {
            layered_free(p)
        } else {
            GLOBAL.free(p)
        }
    }
}

/// # Safety
/// As [`hw::Global::free`].
#[cold]
#[inline(never)]
unsafe fn layered_free(p: *mut u8) {
    // SAFETY: forwarded caller contract.
    unsafe { front::free(&GLOBAL, p) }
}

/// # Safety
/// As [`hw::Global::realloc`].
#[inline]
unsafe fn g_realloc(l: bool, p: *mut u8, n: usize) -> *mut u8 {
    // SAFETY: forwarded caller contract.
    unsafe {
        if l {
            front::realloc(&GLOBAL, p, n)
        } else {
            GLOBAL.realloc(p, n)
        }
    }
}

#[inline]
fn nomem(p: *mut u8) -> *mut c_void {
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p as *mut c_void
}

/// Allocates with alignment `align` (any power of two) and records it.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
fn aligned(align: usize, size: usize) -> *mut u8 {
    let l = layered();
    recorded_alloc(size, move || g_aligned(l, align, size))
}

/// `malloc(3)`.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    malloc_impl(size)
}

/// [`malloc`], for the entry points that forward to it (see the module invariant).
#[inline(always)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) fn malloc_impl(size: usize) -> *mut c_void {
    let l = layered();
    nomem(recorded_alloc(size, move || g_malloc(l, size)))
}

/// `free(3)`.
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded caller contract.
    unsafe { free_impl(p) }
}

/// [`free`], for the entry points that forward to it (see the module invariant).
///
/// # Safety
/// As [`free`].
#[inline(always)]
pub(crate) unsafe fn free_impl(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let l = layered();
    // `errno` is kept: every OS call inside (futex, munmap, write) preserves it.
    let p = p as *mut u8;
    if RECORDER.active() {
        // SAFETY: forwarded caller contract.
        unsafe { record_free(l, p) }
    } else {
        // SAFETY: forwarded caller contract.
        unsafe { g_free(l, p) }
    }
}

/// The recording `free`, out of the fast path.
///
/// # Safety
/// As [`free`], `p` non-null.
#[cold]
#[inline(never)]
unsafe fn record_free(l: bool, p: *mut u8) {
    RECORDER.with(|r| {
        {
            let _q = front::quiet_under_valgrind();
            r.free(&GLOBAL, p);
        }
        // SAFETY: forwarded caller contract.
        unsafe { g_free(l, p) }
    })
}

/// `cfree(3)`: an old name of `free` (outside the hot code group, as the
/// [`crate::aliases`]).
///
/// # Safety
/// As [`free`].
#[no_mangle]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: forwarded caller contract.
    unsafe { free_impl(p) }
}

/// `calloc(3)`.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    calloc_impl(n, size)
}

/// [`calloc`], for the entry points that forward to it (see the module invariant).
#[inline(always)]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) fn calloc_impl(n: usize, size: usize) -> *mut c_void {
    let l = layered();
    nomem(recorded_alloc(n.saturating_mul(size), move || {
        g_calloc(l, n, size)
    }))
}

/// `realloc(3)`.
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded caller contract.
    unsafe { realloc_impl(p, size) }
}

/// [`realloc`], for the entry points that forward to it (see the module invariant).
///
/// # Safety
/// As [`realloc`].
#[inline]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) unsafe fn realloc_impl(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return malloc_impl(size);
    }
    if size == 0 {
        // SAFETY: forwarded caller contract.
        unsafe { free_impl(p) };
        return ptr::null_mut();
    }
    let l = layered();
    let p = p as *mut u8;
    let q = if RECORDER.active() {
        RECORDER.with(|r| {
            // SAFETY: forwarded caller contract.
            let q = unsafe { g_realloc(l, p, size) };
            if !q.is_null() {
                let _q = front::quiet_under_valgrind();
                r.realloc(&GLOBAL, p, q, size);
            }
            q
        })
    } else {
        // SAFETY: forwarded caller contract.
        unsafe { g_realloc(l, p, size) }
    };
    nomem(q)
}

/// `reallocarray(3)`: `realloc(p, n * size)`, failing with `ENOMEM` on overflow.
///
/// # Safety
/// As [`realloc`].
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded caller contract.
        Some(total) => unsafe { realloc_impl(p, total) },
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// `posix_memalign(3)`: returns 0, `EINVAL` or `ENOMEM`; `errno` is left alone.
///
/// # Safety
/// `memptr` must be valid for a pointer write.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    align: usize,
    size: usize,
) -> c_int {
    if !align.is_power_of_two() || align % size_of::<*mut c_void>() != 0 {
        return libc::EINVAL;
    }
    ensure_init();
    let _e = ErrnoGuard::new();
    let p = aligned(align, size);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller guarantees `memptr` is writable.
    unsafe { *memptr = p as *mut c_void };
    0
}

/// `aligned_alloc(3)` (C17 DR 460: any power of two; otherwise `EINVAL`).
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() || align > isize::MAX as usize {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    ensure_init();
    nomem(aligned(align, size))
}

/// `memalign(3)` (glibc: alignments above `SIZE_MAX / 2 + 1` are `EINVAL`, others are
/// rounded up to a power of two).
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    memalign_impl(align, size)
}

/// [`memalign`], for the entry points that forward to it (see the module invariant).
#[inline]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) fn memalign_impl(align: usize, size: usize) -> *mut c_void {
    if align > usize::MAX / 2 + 1 {
        set_errno(libc::EINVAL);
        return ptr::null_mut();
    }
    ensure_init();
    let align = align.max(1).next_power_of_two();
    nomem(aligned(align, size))
}

/// `valloc(3)`: page-aligned.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    valloc_impl(size)
}

/// [`valloc`], for the entry points that forward to it (see the module invariant).
#[inline]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) fn valloc_impl(size: usize) -> *mut c_void {
    memalign_impl(sys::page_size(), size)
}

/// `pvalloc(3)`: page-aligned, size rounded up to whole pages (at least one).
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    pvalloc_impl(size)
}

/// [`pvalloc`], for the entry points that forward to it (see the module invariant).
#[inline]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) fn pvalloc_impl(size: usize) -> *mut c_void {
    let page = sys::page_size();
    match sys::round_up(size, page) {
        Some(n) => memalign_impl(page, n.max(page)),
        None => {
            set_errno(libc::ENOMEM);
            ptr::null_mut()
        }
    }
}

/// `malloc_usable_size(3)`: 0 for null.
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    if p.is_null() {
        return 0;
    }
    let l = layered();
    // SAFETY: forwarded caller contract.
    unsafe {
        if l {
            front::usable_size(&GLOBAL, p as *const u8)
        } else {
            GLOBAL.usable_size(p as *const u8)
        }
    }
}

/// These run in the library's unit-test binary, which exports the functions above: they
/// are the process's malloc there, so the whole test harness runs on them too.
#[cfg(test)]
mod tests {
    use super::*;
    use std::hint::black_box;

    // Results of failing requests go through `black_box` before their null test: these
    // functions are the crate's own `malloc` family, which an optimised build of the test
    // treats as the C builtins (an allocation nothing uses may be elided, and with it the
    // call whose refusal is under test).

    fn errno_after(f: impl FnOnce()) -> i32 {
        set_errno(0);
        f();
        sys::errno()
    }

    #[test]
    fn malloc_family_errno_conventions() {
        let a = malloc(0);
        let b = malloc(0);
        assert!(!a.is_null() && !b.is_null() && a != b);
        for huge in [
            usize::MAX,
            isize::MAX as usize + 1,
            0usize.wrapping_sub(512 << 10),
        ] {
            set_errno(0);
            assert!(black_box(malloc(huge)).is_null());
            assert_eq!(sys::errno(), libc::ENOMEM);
        }
        set_errno(0);
        assert!(black_box(calloc(usize::MAX, 2)).is_null());
        assert_eq!(sys::errno(), libc::ENOMEM);
        // SAFETY: `a`, `b` are live blocks; each freed once.
        unsafe {
            set_errno(77);
            free(a);
            free(ptr::null_mut());
            assert_eq!(sys::errno(), 77, "free keeps errno");
            let r = realloc(b, usize::MAX);
            assert!(r.is_null() && sys::errno() == libc::ENOMEM);
            assert_eq!(
                errno_after(|| assert!(black_box(realloc(b, 0)).is_null())),
                0
            );
            let z = reallocarray(ptr::null_mut(), 0, 16);
            assert!(!z.is_null());
            assert!(black_box(reallocarray(z, 2, usize::MAX)).is_null());
            free(z);
        }
    }

    #[test]
    fn alignment_functions() {
        let sentinel = ptr::dangling_mut::<c_void>();
        let mut p = sentinel;
        // Not a power of two, or below the size of a pointer (4 on 64-bit, 2 on 32-bit).
        for bad in [0, 3, size_of::<*mut c_void>() / 2, 24] {
            // SAFETY: `p` is a valid out-pointer.
            assert_eq!(unsafe { posix_memalign(&mut p, bad, 8) }, libc::EINVAL);
            assert_eq!(p, sentinel, "memptr untouched");
        }
        // SAFETY: as above.
        let rc = unsafe { posix_memalign(&mut p, 8, usize::MAX) };
        assert_eq!(rc, libc::ENOMEM);
        for shift in size_of::<*mut c_void>().trailing_zeros()..=26 {
            let a = 1usize << shift;
            // SAFETY: as above; the block is freed once.
            unsafe {
                assert_eq!(posix_memalign(&mut p, a, 100), 0);
                assert_eq!(p as usize % a, 0);
                free(p);
            }
        }
        for (a, n) in [(64, 64), (1, 64), (16, 10)] {
            let q = aligned_alloc(a, n);
            assert!(!q.is_null() && q as usize % a == 0);
            // SAFETY: freed once.
            unsafe { free(q) };
        }
        for a in [0, 65, usize::MAX / 2 + 1] {
            assert_eq!(
                errno_after(|| assert!(black_box(aligned_alloc(a, 8)).is_null())),
                libc::EINVAL
            );
        }
        let pg = sys::page_size();
        assert_eq!(
            errno_after(|| assert!(black_box(memalign(usize::MAX, pg)).is_null())),
            libc::EINVAL
        );
        assert_eq!(
            errno_after(|| assert!(black_box(memalign(8, usize::MAX)).is_null())),
            libc::ENOMEM
        );
        assert_eq!(
            errno_after(|| assert!(black_box(memalign(pg, pg.wrapping_neg())).is_null())),
            libc::ENOMEM
        );
        assert_eq!(
            errno_after(|| assert!(black_box(pvalloc(usize::MAX)).is_null())),
            libc::ENOMEM
        );
        let v = pvalloc(32);
        assert_eq!(v as usize % pg, 0);
        // SAFETY: live block, freed once.
        unsafe {
            assert!(malloc_usable_size(v) >= pg);
            assert_eq!(malloc_usable_size(ptr::null_mut()), 0);
            free(v);
        }
    }
}
