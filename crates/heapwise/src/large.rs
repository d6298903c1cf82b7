//! Large blocks: requests of [`LARGE_THRESHOLD`] bytes or more get a mapping of their own
//! from `mmap`, released with `munmap` and resized with `mremap`.
//!
//! ```text
//!  base (page-aligned)              p - 2w        p - w         p (payload, aligned)
//!  |  alignment slack (aligned      | offset      | map_len|TAG  | payload ... | page tail |
//!  |  requests only)                | = p - base  |              |             |           |
//!  '--------------------------------------------- map_len bytes ---------------------------'
//! ```
//!
//! (`w` is the word size: 8 bytes on 64-bit targets, 4 on 32-bit ones.)
//! The word just before the payload sits where a heap block keeps its header; it holds the
//! mapping length (a multiple of the page size) with the low bits [`TAG`] = `0b101`: bit 0
//! (allocated) and bit 2, which the engine reserves and never sets in a well-formed heap
//! header. The word before it records the payload's offset from the mapping start, so
//! aligned large blocks can be unmapped whole.
//!
//! Invariants: `offset >= HEADER`, `offset % 16 == 0`, `base` page-aligned,
//! `offset < map_len`; the payload's usable size is `map_len - offset`. Routing between heap
//! and large blocks is done by address (a pointer no heap contains) and confirmed by
//! [`is_large`].

use core::ptr::NonNull;

use heapwise_core::block::ALIGN;

use crate::sys;

/// Requests of at least this many bytes (payload plus alignment) are large blocks.
pub const LARGE_THRESHOLD: usize = 256 * 1024;

/// Bytes of header before a large payload.
pub const HEADER: usize = 2 * core::mem::size_of::<usize>();

/// Offset of the payload from the start of its mapping at alignments up to [`ALIGN`]: the
/// header rounded up to the payload alignment (16 bytes on 64-bit and 32-bit targets alike;
/// on a 32-bit one the two header words are the last 8 of them).
pub const OFFSET: usize = HEADER.next_multiple_of(ALIGN);

/// Low bits of the length word of a large block.
pub const TAG: usize = 0b101;
const TAG_MASK: usize = 0b111;

/// Largest payload (and alignment) a large block may have: 1 MiB below `isize::MAX`
/// (`PTRDIFF_MAX`), so the sum of a payload, an alignment and a header never wraps a `usize`
/// (it is checked anyway) and larger sizes, which no mapping can have, are refused before
/// any system call. On a 32-bit target this admits blocks of up to ~2 GiB, as glibc does.
pub const MAX_LARGE: usize = isize::MAX as usize - (1 << 20);

/// Mapping length needed for `size` bytes at alignment `align`: room for the payload at
/// [`OFFSET`] (`align <= ALIGN`) or at the first `align` boundary past the header.
fn geometry(size: usize, align: usize) -> Option<usize> {
    let page = sys::page_size();
    if size > MAX_LARGE || align > MAX_LARGE {
        return None;
    }
    let slack = if align <= ALIGN {
        OFFSET
    } else {
        align + HEADER
    };
    sys::round_up(size.checked_add(slack)?, page)
}

/// Maps a large block of at least `size` bytes aligned to `align` (a power of two). The
/// payload is zero. `None` if the size is impossible or the kernel refuses.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub fn alloc(size: usize, align: usize) -> Option<NonNull<u8>> {
    let align = align.max(ALIGN);
    let len = geometry(size, align)?;
    let base = sys::map_anon(len, libc::PROT_READ | libc::PROT_WRITE, 0)?;
    let b = base.as_ptr() as usize;
    let p = sys::round_up(b + HEADER, align)?;
    let offset = p - b;
    // SAFETY: `[base, base + len)` is our fresh mapping; `p - HEADER >= base` and the
    // payload `[p, p + size)` ends within it (geometry reserved `align + HEADER` slack).
    unsafe { write_header(p as *mut u8, offset, len) };
    NonNull::new(p as *mut u8)
}

/// # Safety
/// `p - HEADER .. p` must be writable words of the mapping the block lives in.
pub(crate) unsafe fn write_header(p: *mut u8, offset: usize, len: usize) {
    // SAFETY: forwarded caller contract; `p` is 16-aligned so the words are aligned.
    unsafe {
        (p as *mut usize).sub(2).write(offset);
        (p as *mut usize).sub(1).write(len | TAG);
    }
}

/// The block's `(offset, map_len)` if the words before `p` form a plausible large header.
///
/// # Safety
/// The two words before `p` must be readable.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub(crate) unsafe fn header(p: *const u8) -> Option<(usize, usize)> {
    if p as usize % ALIGN != 0 || (p as usize) < HEADER {
        return None;
    }
    // A pointer not known as a live large block may be a wild pointer passed to `free`:
    // its header is read without faulting (misuse detection).
    let [offset, word] = if crate::harden::known_large(p) {
        // SAFETY: `p` is a live large block: its two header words are mapped.
        unsafe {
            [
                (p as *const usize).sub(2).read(),
                (p as *const usize).sub(1).read(),
            ]
        }
    } else {
        crate::harden::read_before(p)?
    };
    if word & TAG_MASK != TAG {
        return None;
    }
    let len = word & !TAG_MASK;
    let page = sys::page_size();
    let base = (p as usize).wrapping_sub(offset);
    let sane = offset >= HEADER
        && offset % ALIGN == 0
        && offset < len
        && len % page == 0
        && base % page == 0
        && base <= p as usize;
    sane.then_some((offset, len))
}

/// Whether `p` looks like the payload of a live large block.
///
/// # Safety
/// The two words before `p` must be readable (true for any pointer this allocator returned).
pub unsafe fn is_large(p: *const u8) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { header(p).is_some() }
}

/// Usable bytes of the large block at `p` (0 if it is not one).
///
/// # Safety
/// As [`is_large`].
pub unsafe fn usable_size(p: *const u8) -> usize {
    // SAFETY: forwarded caller contract.
    match unsafe { header(p) } {
        Some((offset, len)) => len - offset,
        None => 0,
    }
}

/// Bytes mapped for the large block at `p` (0 if it is not one).
///
/// # Safety
/// As [`is_large`].
pub unsafe fn mapped_size(p: *const u8) -> usize {
    // SAFETY: forwarded caller contract.
    match unsafe { header(p) } {
        Some((_, len)) => len,
        None => 0,
    }
}

/// Unmaps the large block at `p`; returns the bytes released, or `None` (and does nothing)
/// if `p` is not a large block.
///
/// # Safety
/// `p` must be a live large block (or at least have 16 readable bytes before it), and is
/// dangling afterwards.
pub unsafe fn free(p: *mut u8) -> Option<usize> {
    // SAFETY: forwarded caller contract.
    let (offset, len) = unsafe { header(p)? };
    // Clear the tag so that a second free of the same pointer cannot pass as a live block
    // if the address is mapped again without a header.
    // SAFETY: the header words are inside the live mapping.
    unsafe {
        (p as *mut usize).sub(1).write(0);
        sys::unmap(p.sub(offset), len);
    }
    Some(len)
}

/// Resizes the large block at `p` to at least `size` bytes (alignment 16 kept), moving it
/// with `mremap` if needed. Returns the new payload and the mapping lengths `(old, new)`;
/// `None` leaves the block untouched.
///
/// # Safety
/// `p` must be a live large block; after success only the returned pointer may be used.
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe fn realloc(p: *mut u8, size: usize) -> Option<(NonNull<u8>, usize, usize)> {
    // SAFETY: forwarded caller contract.
    unsafe { realloc_or_why(p, size) }.ok()
}

/// [`realloc`], saying why it failed: `Err(true)` when the kernel refused for lack of
/// memory (so that memory given back might let a retry succeed), `Err(false)` otherwise.
///
/// # Safety
/// As [`realloc`].
#[cfg_attr(target_os = "linux", link_section = ".text.hot.heapwise")]
pub unsafe fn realloc_or_why(p: *mut u8, size: usize) -> Result<(NonNull<u8>, usize, usize), bool> {
    // SAFETY: forwarded caller contract.
    let (offset, len) = unsafe { header(p) }.ok_or(false)?;
    let new_len = size
        .checked_add(offset)
        .and_then(|n| sys::round_up(n, sys::page_size()))
        .ok_or(false)?;
    if size > MAX_LARGE {
        return Err(false);
    }
    if new_len == len {
        return NonNull::new(p).map(|p| (p, len, len)).ok_or(false);
    }
    // SAFETY: `[p - offset, p - offset + len)` is the whole mapping of a live block.
    let base = unsafe { sys::remap_or_why(p.sub(offset), len, new_len)? };
    // SAFETY: the new mapping starts with the old bytes, so the header is at the same
    // offset; the length word is updated to the new length.
    unsafe {
        let q = base.as_ptr().add(offset);
        write_header(q, offset, new_len);
        Ok((NonNull::new_unchecked(q), len, new_len))
    }
}
