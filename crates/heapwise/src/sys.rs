//! Thin wrappers over the few OS calls heapwise makes: page size, anonymous mappings,
//! protection changes, `mremap`, `madvise`, `errno` and writes to stderr.
//!
//! Invariant: no wrapper here allocates, and every wrapper leaves `errno` as it found it
//! (an allocator that succeeds after an internal fallback must not leave a stale `ENOMEM`
//! behind, and `free` must never change `errno`).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

static PAGE: AtomicUsize = AtomicUsize::new(0);

/// The system page size (cached after the first call).
#[inline]
pub fn page_size() -> usize {
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no memory-safety preconditions.
    let s = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let s = if s > 0 { s as usize } else { 4096 };
    PAGE.store(s, Ordering::Relaxed);
    s
}

/// A word that identifies the calling thread while it lives: its thread pointer (the
/// address of its thread control block; `pthread_self()` where no instruction reads it).
/// One instruction on x86-64 and aarch64.
#[inline(always)]
pub fn thread_id() -> usize {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let v: usize;
        // SAFETY: reads the first word of the thread control block, which holds its own
        // address (the x86-64 TLS ABI); no memory is written.
        unsafe {
            core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) v,
                options(nostack, preserves_flags, readonly));
        }
        v
    }
    #[cfg(all(target_arch = "aarch64", target_os = "linux"))]
    {
        let v: usize;
        // SAFETY: reads the thread pointer register; no memory is touched.
        unsafe {
            core::arch::asm!("mrs {}, tpidr_el0", out(reg) v,
                options(nomem, nostack, preserves_flags));
        }
        v
    }
    #[cfg(not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux"
    )))]
    {
        // SAFETY: `pthread_self` has no preconditions.
        unsafe { libc::pthread_self() as usize }
    }
}

/// Rounds `n` up to a multiple of `a` (a power of two); `None` on overflow.
#[inline]
pub fn round_up(n: usize, a: usize) -> Option<usize> {
    Some(n.checked_add(a - 1)? & !(a - 1))
}

/// The calling thread's `errno`.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: `__errno_location` returns a valid pointer to the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
#[inline]
pub fn set_errno(e: i32) {
    // SAFETY: `__errno_location` returns a valid pointer to the calling thread's errno.
    unsafe { *libc::__errno_location() = e }
}

/// Restores `errno` to its value at construction when dropped.
pub struct ErrnoGuard(i32);

impl ErrnoGuard {
    /// Saves the current `errno`.
    #[inline]
    pub fn new() -> Self {
        ErrnoGuard(errno())
    }
}

impl Default for ErrnoGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ErrnoGuard {
    #[inline]
    fn drop(&mut self) {
        set_errno(self.0)
    }
}

/// Maps `len` bytes of private anonymous memory with protection `prot` (plus `extra`
/// flags); `None` on failure.
pub fn map_anon(len: usize, prot: i32, extra: i32) -> Option<NonNull<u8>> {
    if !crate::harden::os_request_allowed() {
        return None;
    }
    let _e = ErrnoGuard::new();
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches no existing
    // memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | extra,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        NonNull::new(p as *mut u8)
    }
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range must be a mapping (or part of one) that nothing uses any more.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    let _e = ErrnoGuard::new();
    // SAFETY: the caller guarantees nothing uses the range.
    unsafe { libc::munmap(p as *mut libc::c_void, len) };
}

/// Changes the protection of `[p, p + len)`; `false` on failure.
///
/// # Safety
/// The range must be page-aligned and part of a mapping the caller owns; making it
/// inaccessible must not break anyone using it.
pub unsafe fn protect(p: *mut u8, len: usize, prot: i32) -> bool {
    let _e = ErrnoGuard::new();
    // SAFETY: forwarded caller contract.
    unsafe { libc::mprotect(p as *mut libc::c_void, len, prot) == 0 }
}

/// Resizes the mapping at `p` from `old` to `new` bytes, moving it if needed; `None` on
/// failure (the old mapping is then unchanged).
///
/// # Safety
/// `[p, p + old)` must be a whole mapping owned by the caller; after success the old range
/// must no longer be used.
pub unsafe fn remap(p: *mut u8, old: usize, new: usize) -> Option<NonNull<u8>> {
    // SAFETY: forwarded caller contract.
    unsafe { remap_or_why(p, old, new) }.ok()
}

/// [`remap`], saying why the kernel refused: `Err(true)` for lack of memory (`ENOMEM`:
/// address space, a limit, the overcommit policy), `Err(false)` for anything else (a range
/// that spans two kernel mappings, say).
///
/// # Safety
/// As [`remap`].
pub unsafe fn remap_or_why(p: *mut u8, old: usize, new: usize) -> Result<NonNull<u8>, bool> {
    let _e = ErrnoGuard::new();
    // SAFETY: forwarded caller contract.
    let q = unsafe { libc::mremap(p as *mut libc::c_void, old, new, libc::MREMAP_MAYMOVE) };
    if q == libc::MAP_FAILED {
        Err(errno() == libc::ENOMEM)
    } else {
        NonNull::new(q as *mut u8).ok_or(false)
    }
}

/// Tells the kernel that the pages of `[p, p + len)` may be discarded (they read as zero
/// afterwards); `false` on failure.
///
/// # Safety
/// The range must be page-aligned, inside a private anonymous mapping the caller owns, and
/// hold no data anyone needs.
pub unsafe fn discard(p: *mut u8, len: usize) -> bool {
    let _e = ErrnoGuard::new();
    // SAFETY: forwarded caller contract.
    unsafe { libc::madvise(p as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 }
}

/// Writes all of `bytes` to file descriptor `fd` with `write(2)`, retrying on short
/// writes and `EINTR`; gives up silently on other errors.
pub fn write_all(fd: i32, bytes: &[u8]) {
    let _ = try_write_all(fd, bytes);
}

/// [`write_all`], saying whether every byte was written. The system call is made directly,
/// not through libc's `write`, which is a cancellation point: a thread cancelled there
/// while it holds an allocator lock (the trace recorder's) would never release it.
pub fn try_write_all(fd: i32, bytes: &[u8]) -> bool {
    write_all_or_errno(fd, bytes).is_ok()
}

/// [`try_write_all`], giving the `errno` of the write that failed (0 for a write that
/// wrote nothing without an error). The caller's `errno` is left as it was.
pub fn write_all_or_errno(fd: i32, mut bytes: &[u8]) -> Result<(), i32> {
    let _e = ErrnoGuard::new();
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a valid readable buffer of the given length.
        let n = unsafe {
            libc::syscall(
                libc::SYS_write,
                fd,
                bytes.as_ptr() as *const libc::c_void,
                bytes.len(),
            )
        };
        if n > 0 {
            bytes = bytes.get(n as usize..).unwrap_or(&[]);
        } else if n < 0 && errno() == libc::EINTR {
            continue;
        } else if n < 0 {
            return Err(errno());
        } else {
            return Err(0);
        }
    }
    Ok(())
}

/// Writes `bytes` to standard error.
pub fn write_stderr(bytes: &[u8]) {
    write_all(2, bytes)
}
