//! Stamped blocks through the C allocator: `malloc`, `free` and `realloc` of libc, called
//! directly (not through Rust's global allocator), so an `LD_PRELOAD`ed malloc serves them.
//!
//! A [`Block`] of `size >= 16` bytes carries its stamp in its first and last 8 bytes of
//! payload; [`Block::free`] checks both before it frees, so a block that an allocator hands out
//! twice, overlaps with another or fails to keep is reported instead of timed.
//!
//! Invariant: a `Block` owns its pointer (live, from `malloc`/`realloc`, `size` bytes) until
//! `free` consumes it; `Block` is `Send` because ownership moves with it.

use std::ptr::NonNull;

/// The smallest block size the stamps fit in.
pub const MIN_STAMPED: usize = 16;

/// A live `malloc`ed block with a stamp at both ends of its payload.
///
/// ```
/// use heapwise_hosted::cmem::Block;
/// let b = Block::new(64, 0xfeed).unwrap();
/// assert_eq!(b.free().unwrap(), 0xfeed);
/// ```
#[derive(Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    size: usize,
    stamp: u64,
}

// SAFETY: a Block is the only owner of its payload; moving it to another thread moves that
// ownership, and the C allocator's free may be called from any thread.
unsafe impl Send for Block {}

impl Block {
    /// `malloc(size)` (at least [`MIN_STAMPED`]) and stamp it; an error if `malloc` fails or
    /// returns a misaligned pointer.
    pub fn new(size: usize, stamp: u64) -> Result<Block, String> {
        let size = size.max(MIN_STAMPED);
        // SAFETY: malloc has no preconditions.
        let p = unsafe { libc::malloc(size) } as *mut u8;
        let ptr = NonNull::new(p).ok_or_else(|| format!("malloc({size}) returned NULL"))?;
        if (p as usize) % 16 != 0 {
            return Err(format!(
                "malloc({size}) returned {p:p}, not 16-byte aligned"
            ));
        }
        let b = Block { ptr, size, stamp };
        b.write_stamps();
        Ok(b)
    }

    fn write_stamps(&self) {
        let p = self.ptr.as_ptr();
        // SAFETY: the payload is `size >= 16` bytes, so [0, 8) and [size-8, size) lie inside it.
        unsafe {
            p.cast::<u64>().write_unaligned(self.stamp);
            p.add(self.size - 8)
                .cast::<u64>()
                .write_unaligned(!self.stamp);
        }
    }

    /// Checks both stamps; an error names the block.
    pub fn check(&self) -> Result<(), String> {
        let p = self.ptr.as_ptr();
        // SAFETY: as in `write_stamps`: both words lie inside the live payload.
        let (a, b) = unsafe {
            (
                p.cast::<u64>().read_unaligned(),
                p.add(self.size - 8).cast::<u64>().read_unaligned(),
            )
        };
        if a != self.stamp || b != !self.stamp {
            return Err(format!(
                "block {p:p} size {} corrupted: stamp {a:#x}/{:#x}, expected {:#x}",
                self.size, !b, self.stamp
            ));
        }
        Ok(())
    }

    /// The payload size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The stamp.
    pub fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The payload address.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Checks the stamps, frees the block and returns its stamp (for the checksum).
    pub fn free(self) -> Result<u64, String> {
        self.check()?;
        let stamp = self.stamp;
        // SAFETY: the pointer came from malloc/realloc and is freed exactly once (self is
        // consumed).
        unsafe { libc::free(self.ptr.as_ptr().cast()) };
        Ok(stamp)
    }

    /// `realloc` to `new_size` (at least [`MIN_STAMPED`]): the first stamp must survive the
    /// move; the tail stamp is rewritten at the new end.
    pub fn realloc(&mut self, new_size: usize) -> Result<(), String> {
        self.check()?;
        let new_size = new_size.max(MIN_STAMPED);
        // SAFETY: the pointer is live and owned; on failure realloc leaves it untouched.
        let p = unsafe { libc::realloc(self.ptr.as_ptr().cast(), new_size) } as *mut u8;
        let ptr =
            NonNull::new(p).ok_or_else(|| format!("realloc(.., {new_size}) returned NULL"))?;
        self.ptr = ptr;
        self.size = new_size;
        // SAFETY: the first 8 bytes were copied by realloc (old and new sizes are >= 16).
        let a = unsafe { p.cast::<u64>().read_unaligned() };
        if a != self.stamp {
            return Err(format!(
                "realloc lost the payload: {a:#x} != {:#x}",
                self.stamp
            ));
        }
        self.write_stamps();
        Ok(())
    }
}

/// Frees every block of `blocks`, summing their stamps.
pub fn free_all(blocks: impl IntoIterator<Item = Block>) -> Result<u64, String> {
    let mut sum = 0u64;
    for b in blocks {
        sum = sum.wrapping_add(b.free()?);
    }
    Ok(sum)
}

/// The shared object that `malloc` resolves to in this process (via `dladdr`), e.g.
/// `/lib/x86_64-linux-gnu/libc.so.6` or the preloaded library: the driver checks it against
/// the allocator it meant to preload.
pub fn malloc_provider() -> String {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    let f = libc::malloc as *const libc::c_void;
    // SAFETY: dladdr only reads the address and fills the out-parameter.
    let ok = unsafe { libc::dladdr(f, info.as_mut_ptr()) };
    if ok == 0 {
        return "unknown".to_string();
    }
    // SAFETY: dladdr succeeded, so the struct is initialised.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return "unknown".to_string();
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the dynamic loader.
    unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned()
}
