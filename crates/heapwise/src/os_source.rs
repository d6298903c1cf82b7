//! [`OsSource`]: the memory source of the OS faces' heaps, either the program break
//! ([`Sbrk`]) or a reserved mapping ([`MmapRegion`]), chosen when the heap is created.
//!
//! Invariant: a source never changes kind; the fallback from `sbrk` to `mmap` happens by
//! creating a *new* heap over a region (see [`crate::global`]), since one heap must stay
//! contiguous.

use core::ptr::NonNull;

use heapwise_core::Source;

use crate::region::MmapRegion;
use crate::sbrk::Sbrk;

/// Either kind of OS memory source.
#[derive(Debug)]
pub enum OsSource {
    /// The program break.
    Brk(Sbrk),
    /// A reserved mapping.
    Region(MmapRegion),
}

impl OsSource {
    /// `"sbrk"` or `"mmap"`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            OsSource::Brk(_) => "sbrk",
            OsSource::Region(_) => "mmap",
        }
    }
}

// SAFETY: delegates to the wrapped source, which upholds the contract.
unsafe impl Source for OsSource {
    #[inline]
    fn start(&self) -> NonNull<u8> {
        match self {
            OsSource::Brk(s) => s.start(),
            OsSource::Region(s) => s.start(),
        }
    }
    #[inline]
    fn brk(&self) -> NonNull<u8> {
        match self {
            OsSource::Brk(s) => s.brk(),
            OsSource::Region(s) => s.brk(),
        }
    }
    #[inline]
    fn sbrk(&mut self, incr: usize) -> Option<NonNull<u8>> {
        if incr != 0 && !crate::harden::os_request_allowed() {
            return None;
        }
        match self {
            OsSource::Brk(s) => s.sbrk(incr),
            OsSource::Region(s) => s.sbrk(incr),
        }
    }
    #[inline]
    fn fresh_is_zeroed(&self) -> bool {
        true
    }
}
