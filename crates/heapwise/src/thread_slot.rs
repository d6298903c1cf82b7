//! The calling thread's slot: one pointer per thread, read on every fast-path call, without
//! `std`'s `thread_local!` (this crate is `no_std`, so that `libheapwise.so` links no
//! `std` and its panic and backtrace machinery).
//!
//! * On x86_64 and aarch64 Linux the slot is an 8-byte variable in the thread-local storage
//!   block, defined in assembly and reached through the initial-exec model: a load of its
//!   offset from the GOT and one load relative to the thread pointer (`%fs`, `tpidr_el0`),
//!   no `__tls_get_addr` call. A shared object using it needs static TLS, which the dynamic
//!   loader provides for libraries loaded at start-up (`LD_PRELOAD`, `DT_NEEDED`) and, from
//!   its surplus, for a `dlopen`.
//! * Elsewhere the slot is the value of a `pthread` key created by [`init`] (a library
//!   call per access). glibc stores the values of its first 32 keys without allocating;
//!   [`init`] refuses a later key, since setting it could allocate and re-enter the
//!   allocator before the slot can say so. `--cfg heapwise_slot_key` selects this
//!   variant on x86_64 too (CI tests it that way).
//!
//! # Invariants
//! * A new thread's slot is null.
//! * Only the thread itself reads or writes its slot.
//! * [`get`] and [`set`] never allocate and never fail once [`init`] returned `true`
//!   (before that, [`get`] answers null and [`set`] does nothing).

#[cfg(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux",
    not(heapwise_slot_key)
))]
mod imp {
    // (`%nobits`, `%object`: the spelling every ELF assembler takes; `@` starts a comment
    // in some, 32-bit Arm's.)
    core::arch::global_asm!(
        ".pushsection .tbss,\"awT\",%nobits",
        ".p2align 3",
        ".globl heapwise_thread_slot",
        ".hidden heapwise_thread_slot",
        ".type heapwise_thread_slot, %object",
        ".size heapwise_thread_slot, 8",
        "heapwise_thread_slot:",
        ".zero 8",
        ".popsection",
    );

    pub fn init() -> bool {
        true
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub fn get() -> *const u8 {
        let v: *const u8;
        // SAFETY: reads this thread's 8-byte TLS variable defined above, at the offset the
        // dynamic linker put in the GOT (initial-exec model); no memory is written.
        unsafe {
            core::arch::asm!(
                "mov {v}, qword ptr [rip + heapwise_thread_slot@GOTTPOFF]",
                "mov {v}, qword ptr fs:[{v}]",
                v = out(reg) v,
                options(nostack, preserves_flags, readonly),
            );
        }
        v
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    pub fn set(p: *const u8) {
        // SAFETY: writes this thread's 8-byte TLS variable defined above; nothing else
        // lives there.
        unsafe {
            core::arch::asm!(
                "mov {o}, qword ptr [rip + heapwise_thread_slot@GOTTPOFF]",
                "mov qword ptr fs:[{o}], {p}",
                o = out(reg) _,
                p = in(reg) p,
                options(nostack, preserves_flags),
            );
        }
    }

    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub fn get() -> *const u8 {
        let v: *const u8;
        // SAFETY: reads this thread's 8-byte TLS variable defined above, at its offset from
        // the thread pointer that the dynamic linker put in the GOT (initial-exec model); no
        // memory is written.
        unsafe {
            core::arch::asm!(
                "mrs {t}, tpidr_el0",
                "adrp {o}, :gottprel:heapwise_thread_slot",
                "ldr {o}, [{o}, #:gottprel_lo12:heapwise_thread_slot]",
                "ldr {v}, [{t}, {o}]",
                t = out(reg) _,
                o = out(reg) _,
                v = lateout(reg) v,
                options(nostack, preserves_flags, readonly),
            );
        }
        v
    }

    #[cfg(target_arch = "aarch64")]
    #[inline]
    pub fn set(p: *const u8) {
        // SAFETY: writes this thread's 8-byte TLS variable defined above; nothing else
        // lives there.
        unsafe {
            core::arch::asm!(
                "mrs {t}, tpidr_el0",
                "adrp {o}, :gottprel:heapwise_thread_slot",
                "ldr {o}, [{o}, #:gottprel_lo12:heapwise_thread_slot]",
                "str {p}, [{t}, {o}]",
                t = out(reg) _,
                o = out(reg) _,
                p = in(reg) p,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(
    any(target_arch = "x86_64", target_arch = "aarch64"),
    target_os = "linux",
    not(heapwise_slot_key)
)))]
mod imp {
    use crate::once_key::OnceKey;

    /// The key (no destructor): usable once created below [`INLINE_KEYS`].
    pub(super) static KEY: OnceKey = OnceKey::new();
    /// glibc's `PTHREAD_KEY_2NDLEVEL_SIZE`: keys below it are stored without allocating.
    const INLINE_KEYS: usize = 32;

    pub fn init() -> bool {
        KEY.get(None, |key| key < INLINE_KEYS).is_ok()
    }

    #[inline(always)]
    pub fn get() -> *const u8 {
        let Some(key) = KEY.ready() else {
            return core::ptr::null();
        };
        // SAFETY: a created key; reading its value has no other precondition.
        let v = unsafe { libc::pthread_getspecific(key as libc::pthread_key_t) };
        v as *const u8
    }

    #[inline]
    pub fn set(p: *const u8) {
        let Some(key) = KEY.ready() else {
            return;
        };
        // SAFETY: a created key below `INLINE_KEYS`: glibc stores the value in the thread
        // descriptor without allocating, and cannot fail.
        unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, p as *const libc::c_void) };
    }
}

/// Makes the slot usable (once per process; cheap afterwards): `false` if this target's
/// slot cannot be had without allocating, and then the slot stays null.
#[inline]
pub fn init() -> bool {
    imp::init()
}

/// The calling thread's slot.
#[inline(always)]
pub fn get() -> *const u8 {
    imp::get()
}

/// Sets the calling thread's slot.
#[inline]
pub fn set(p: *const u8) {
    imp::set(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_starts_null_and_sees_only_its_own_value() {
        assert!(init());
        // The slot may hold this thread's cache (tests can share a thread): restore it.
        let saved = get();
        let a = 0x1000 as *const u8;
        set(a);
        assert_eq!(get(), a);
        let other = std::thread::spawn(|| {
            let before = get();
            set(0x2000 as *const u8);
            (before as usize, get() as usize)
        })
        .join()
        .unwrap();
        assert_eq!(other, (0, 0x2000));
        assert_eq!(get(), a);
        set(core::ptr::null());
        assert!(get().is_null());
        set(saved);
    }

    /// A `fork` child whose parent forked while one of its threads was creating the slot's
    /// key creates it itself (with the key that thread had created, or a new one). (The
    /// child found it "being created" for ever: no thread of it had a slot, nor a cache.)
    /// Played in a child process: the state is reset to a fresh process's, the claim taken
    /// as the creating thread takes it, then it forks.
    #[cfg(not(all(
        any(target_arch = "x86_64", target_arch = "aarch64"),
        target_os = "linux",
        not(heapwise_slot_key)
    )))]
    #[test]
    fn a_fork_child_of_a_parent_creating_the_key_creates_it() {
        use crate::fork::testing::run_in_child;
        assert!(init());
        let outcome = run_in_child(120, || {
            for made in [true, false] {
                imp::KEY.play_unfinished_setup(made);
                let child = run_in_child(60, || {
                    if !init() {
                        return 1;
                    }
                    set(0x3000 as *const u8);
                    (get() != 0x3000 as *const u8) as i32 * 2
                });
                assert_eq!(child, Some(0), "key made by the parent's thread: {made}");
            }
            0
        });
        assert_eq!(outcome, Some(0), "(what failed is on stderr)");
    }
}
