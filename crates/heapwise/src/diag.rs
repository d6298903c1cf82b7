//! Diagnostics without allocation: [`StackBuf`], a fixed-capacity text buffer that
//! implements [`core::fmt::Write`] on the stack, and the corruption hook of the OS faces,
//! which prints one line through `write(2)` and aborts.
//!
//! Invariant: nothing here allocates or unwinds; text that does not fit in the buffer is cut
//! off (and the buffer remembers that it was).

use core::fmt;

use heapwise_core::HeapError;

use crate::sys;

/// A fixed-capacity text buffer on the stack.
///
/// ```
/// use core::fmt::Write;
/// let mut b = heapwise::diag::StackBuf::<64>::new();
/// write!(b, "{} blocks, {:.1} %", 12, 97.25).unwrap();
/// assert_eq!(b.as_str(), "12 blocks, 97.2 %");
/// ```
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The text written so far (cut at a character boundary if it was truncated).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => s,
            Err(e) => {
                let ok = self.buf.get(..e.valid_up_to()).unwrap_or(&[]);
                // SAFETY: `valid_up_to` is the length of the longest valid UTF-8 prefix.
                unsafe { core::str::from_utf8_unchecked(ok) }
            }
        }
    }

    /// Whether some text did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Appends raw bytes (cut off at capacity).
    pub fn push_bytes(&mut self, b: &[u8]) {
        let room = N - self.len;
        let n = b.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), b.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < b.len() {
            self.truncated = true;
        }
    }

    /// Writes the buffer to file descriptor `fd`.
    pub fn write_to(&self, fd: i32) {
        sys::write_all(fd, self.as_bytes())
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// Writes one line `heapwise: <message>` to stderr.
pub fn report(args: fmt::Arguments<'_>) {
    let mut b = StackBuf::<1024>::new();
    b.push_bytes(b"heapwise: ");
    let _ = fmt::write(&mut b, args);
    if b.truncated() {
        b.len = b.len.min(1023);
    }
    b.push_bytes(b"\n");
    b.write_to(2);
}

/// The corruption hook of the OS faces: prints `heapwise: <error>` (e.g.
/// `heapwise: double free of 0x5555deadbee0 (block of 48 bytes)`) on stderr and aborts,
/// after releasing the allocator's locks the calling thread holds (the engine calls it with
/// an arena's lock held), so that a `SIGABRT` handler may still allocate.
pub fn abort_on_corruption(e: &HeapError) {
    report(format_args!("{e}"));
    crate::fork::release_held_by_me();
    // SAFETY: abort has no preconditions; it never returns.
    unsafe { libc::abort() }
}
