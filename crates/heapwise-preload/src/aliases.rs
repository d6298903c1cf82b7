//! The other names programs call the malloc family by: glibc's public `__libc_*` entry
//! points and C23's sized deallocation.
//!
//! * `__libc_malloc`, `__libc_calloc`, `__libc_realloc`, `__libc_free`,
//!   `__libc_memalign`, `__libc_valloc` and `__libc_pvalloc` are exported by glibc
//!   (`GLIBC_2.2.5`) as the allocator's "real" names; libraries that wrap `malloc`
//!   (tracers, language runtimes, old `ld.so` TLS code) call them directly. Left to glibc,
//!   such a call would allocate from glibc's heap a block that the program then hands to
//!   heapwise's `free`, which reports it as an invalid pointer and aborts (or the other way
//!   round). Here they are heapwise's, as jemalloc, tcmalloc and mimalloc do.
//! * `free_sized(p, size)` and `free_aligned_sized(p, align, size)` (C23) free `p`. The size
//!   and alignment are the caller's promise about the block; heapwise reads the block's
//!   size from its header, as glibc's own implementation does, so they are not needed.
//!
//! They are not in the hot code group (`link_section = ".text.hot.heapwise"`, see
//! `build.rs`): each is a copy of its function's body, and programs rarely call them, so
//! the group keeps to the code every process runs (the nine copies weighed 4.6 KiB).
//!
//! Invariant (the [`crate::api`] module's): each alias calls the private implementation of
//! the function it names, never the exported symbol, so a block never goes to another
//! allocator that comes first in the process's symbol order.
//!
//! glibc's `__libc_mallopt` and `__libc_mallinfo` are not defined here (they tune and
//! describe glibc's own heap, which heapwise does not use); the public `mallopt` and
//! `malloc_info` are heapwise's ([`crate::mallopt`], [`crate::ext`]).

use core::ffi::c_void;

use crate::api;

/// glibc's `__libc_malloc`: [`api::malloc`].
#[no_mangle]
pub extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
    api::malloc_impl(size)
}

/// glibc's `__libc_calloc`: [`api::calloc`].
#[no_mangle]
pub extern "C" fn __libc_calloc(n: usize, size: usize) -> *mut c_void {
    api::calloc_impl(n, size)
}

/// glibc's `__libc_realloc`: [`api::realloc`].
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded caller contract.
    unsafe { api::realloc_impl(p, size) }
}

/// glibc's `__libc_free`: [`api::free`].
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn __libc_free(p: *mut c_void) {
    // SAFETY: forwarded caller contract.
    unsafe { api::free_impl(p) }
}

/// glibc's `__libc_memalign`: [`api::memalign`].
#[no_mangle]
pub extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
    api::memalign_impl(align, size)
}

/// glibc's `__libc_valloc`: [`api::valloc`].
#[no_mangle]
pub extern "C" fn __libc_valloc(size: usize) -> *mut c_void {
    api::valloc_impl(size)
}

/// glibc's `__libc_pvalloc`: [`api::pvalloc`].
#[no_mangle]
pub extern "C" fn __libc_pvalloc(size: usize) -> *mut c_void {
    api::pvalloc_impl(size)
}

/// C23 `free_sized`: frees `p` (null: nothing), a block of `size` requested bytes from
/// `malloc`, `calloc` or `realloc`.
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn free_sized(p: *mut c_void, _size: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { api::free_impl(p) }
}

/// C23 `free_aligned_sized`: frees `p` (null: nothing), a block of `size` requested bytes
/// from `aligned_alloc(align, size)`.
///
/// # Safety
/// `p` must be null or a live block from this allocator.
#[no_mangle]
pub unsafe extern "C" fn free_aligned_sized(p: *mut c_void, _align: usize, _size: usize) {
    // SAFETY: forwarded caller contract.
    unsafe { api::free_impl(p) }
}
