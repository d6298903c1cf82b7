//! The C API of the shipped `libheapwise.so`: `malloc`, `calloc`, `realloc` (with
//! `realloc(NULL, n)` and `realloc(p, 0)`), `reallocarray`, `free`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc`, `malloc_usable_size` and
//! `malloc_trim`, driven by an action list against a shadow model of the live blocks.
//!
//! # How the target reaches the C API
//! It `dlopen`s the release library (`RTLD_NOW | RTLD_LOCAL`) and takes every function with
//! `dlsym` from that handle, so heapwise is *not* the process's malloc: libFuzzer, the
//! sanitizer runtime and this target keep the system (ASan) allocator, and only the calls
//! below go to heapwise. The other way, linking the preload crate so that its symbols
//! replace the process's malloc, would need an rlib crate type in the shipped crate and
//! `-s none` (ASan intercepts malloc), and a heap bug would then take libFuzzer itself down
//! before it could report. Heapwise works when it is not the process malloc: its heap falls
//! back from the program break to reserved `mmap` regions, and nothing else in a sanitized
//! process moves the break.
//!
//! The library uses initial-exec TLS (the thread cache's slot: one `%fs`-relative load per
//! call, which matters when it is the process malloc). A `dlopen`ed library gets such TLS
//! from glibc's static-TLS surplus (512 bytes by default); the library needs one 8-byte
//! word, so no tunable is needed.
//!
//! The library is `$HEAPWISE_LIB`, by default `../target/release/libheapwise.so` next to
//! this crate (`cargo build --release -p heapwise-preload` in the main workspace;
//! `scripts/fuzz-ci.sh` builds it). A missing library is a panic on the first input, with
//! the path in the message. The library's code is not instrumented, so ASan sees neither
//! its accesses nor its blocks; the model's fill patterns, `heapwise_check()` and the
//! library's own misuse reports (an abort) stand in for that. `HEAPWISE_POLICY` in the
//! environment picks the policy fuzzed (default: segregated with the thread cache).
//!
//! # Invariants checked
//! Every action is valid use (misuse aborts by design and is not generated):
//! * each live block keeps its fill pattern until it is freed; `realloc` keeps the first
//!   `min(old, new)` bytes; `calloc` blocks are zeroed; blocks never overlap;
//! * alignment: 16 for the plain functions, the requested one for the aligned ones, a page
//!   for `valloc`/`pvalloc`; `malloc_usable_size(p)` is at least the requested size (and the
//!   whole usable size may be written);
//! * failures: huge sizes and overflowing `calloc`/`reallocarray` products return null with
//!   `errno == ENOMEM` (a failed `realloc` keeps the old block); bad alignments give `EINVAL`
//!   (`posix_memalign` returns it, leaving `*memptr` and `errno` alone); `realloc(p, 0)`
//!   frees `p` and returns null; successes and `free` never change `errno`;
//! * with the fault-injection hook `heapwise_test_fail_os` armed, an allocation may fail
//!   (null, `ENOMEM`, the old block intact); otherwise a reasonable request must succeed;
//! * after every input (everything freed), `heapwise_check()` returns 0.
#![no_main]

use std::ffi::{c_int, c_long, c_void, CString};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use heapwise_fuzz::{fill, verify, Live};
use libfuzzer_sys::fuzz_target;

/// The functions of `libheapwise.so`, resolved from a `dlopen` handle.
struct Api {
    malloc: unsafe extern "C" fn(usize) -> *mut c_void,
    calloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    reallocarray: unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    posix_memalign: unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int,
    aligned_alloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    memalign: unsafe extern "C" fn(usize, usize) -> *mut c_void,
    valloc: unsafe extern "C" fn(usize) -> *mut c_void,
    pvalloc: unsafe extern "C" fn(usize) -> *mut c_void,
    usable: unsafe extern "C" fn(*mut c_void) -> usize,
    trim: unsafe extern "C" fn(usize) -> c_int,
    check: unsafe extern "C" fn() -> c_int,
    fail_os: unsafe extern "C" fn(c_long),
}

/// The library's path: `$HEAPWISE_LIB`, else the main workspace's release build.
fn lib_path() -> String {
    std::env::var("HEAPWISE_LIB").unwrap_or_else(|_| {
        format!(
            "{}/../target/release/libheapwise.so",
            env!("CARGO_MANIFEST_DIR")
        )
    })
}

fn load() -> Api {
    let path = lib_path();
    assert!(
        std::path::Path::new(&path).is_file(),
        "capi fuzz target: {path} is missing; build it with `cargo build --release -p \
         heapwise-preload` in the main workspace or set HEAPWISE_LIB"
    );
    let c = CString::new(path.clone()).expect("path without NUL");
    // SAFETY: `c` is a NUL-terminated path; loading runs the library's constructor, which
    // only initialises its own state.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        // SAFETY: dlerror returns null or a NUL-terminated message valid until the next
        // dl* call on this thread.
        let e = unsafe { std::ffi::CStr::from_ptr(libc::dlerror()) };
        panic!("capi fuzz target: dlopen({path}) failed: {e:?}");
    }
    let sym = |name: &str| {
        let n = CString::new(name).expect("name without NUL");
        // SAFETY: `h` is a live handle (never closed), `n` a NUL-terminated name.
        let p = unsafe { libc::dlsym(h, n.as_ptr()) };
        assert!(
            !p.is_null(),
            "capi fuzz target: {name} not exported by {path}"
        );
        p
    };
    // The symbol `$name` is the exported C function of that name, whose signature (api.rs,
    // ext.rs, crates/heapwise-preload/include/heapwise.h) is `$t`.
    macro_rules! func {
        ($name:literal, $t:ty) => {{
            let p = sym($name);
            // SAFETY: `p` is the address of the C function `$name`, of type `$t` (above).
            unsafe { std::mem::transmute::<*mut c_void, $t>(p) }
        }};
    }
    Api {
        malloc: func!("malloc", unsafe extern "C" fn(usize) -> *mut c_void),
        calloc: func!("calloc", unsafe extern "C" fn(usize, usize) -> *mut c_void),
        realloc: func!(
            "realloc",
            unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void
        ),
        reallocarray: func!(
            "reallocarray",
            unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void
        ),
        free: func!("free", unsafe extern "C" fn(*mut c_void)),
        posix_memalign: func!(
            "posix_memalign",
            unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int
        ),
        aligned_alloc: func!(
            "aligned_alloc",
            unsafe extern "C" fn(usize, usize) -> *mut c_void
        ),
        memalign: func!(
            "memalign",
            unsafe extern "C" fn(usize, usize) -> *mut c_void
        ),
        valloc: func!("valloc", unsafe extern "C" fn(usize) -> *mut c_void),
        pvalloc: func!("pvalloc", unsafe extern "C" fn(usize) -> *mut c_void),
        usable: func!(
            "malloc_usable_size",
            unsafe extern "C" fn(*mut c_void) -> usize
        ),
        trim: func!("malloc_trim", unsafe extern "C" fn(usize) -> c_int),
        check: func!("heapwise_check", unsafe extern "C" fn() -> c_int),
        fail_os: func!("heapwise_test_fail_os", unsafe extern "C" fn(c_long)),
    }
}

fn api() -> &'static Api {
    static API: OnceLock<Api> = OnceLock::new();
    API.get_or_init(load)
}

fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

fn errno() -> c_int {
    // SAFETY: the calling thread's errno location is always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(v: c_int) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = v }
}

/// What `errno` holds before every call; a success must leave it there.
const SENTINEL: c_int = 4242;

/// Sizes no allocator can serve (at least `isize::MAX + 1`).
fn huge(k: u8) -> usize {
    match k % 4 {
        0 => usize::MAX - k as usize,
        1 => isize::MAX as usize + 1 + ((k as usize) << 12),
        2 => usize::MAX - (512 << 10) - k as usize,
        _ => usize::MAX - ((k as usize) << 20),
    }
}

#[derive(Arbitrary, Debug)]
enum Action {
    Malloc(u16),
    MallocLarge(u8),
    Calloc(u8, u16),
    CallocOverflow(u8),
    Free(u16),
    FreeNull,
    Realloc(u16, u32),
    ReallocNull(u16),
    ReallocZero(u16),
    ReallocHuge(u16, u8),
    ReallocArray(u16, u8, u16),
    ReallocArrayNull(u8, u16),
    ReallocArrayOverflow(u16, u8),
    PosixMemalign(u8, u16),
    PosixMemalignBad(u16, u16),
    AlignedAlloc(u8, u16),
    AlignedAllocBad(u16),
    Memalign(u16, u16),
    MemalignBad(u16),
    Valloc(u16),
    Pvalloc(u16),
    Huge(u8, u8),
    Usable(u16),
    Trim,
    FailOsAfter(u8),
    FailOsLift,
}

/// The model and the fault-injection state of one input.
struct Model {
    live: Vec<Live>,
    /// Whether `heapwise_test_fail_os` is armed (so an allocation may fail).
    failing: bool,
    serial: u8,
}

impl Model {
    /// Checks a fresh block (or a failure) and adds it to the model with a new fill.
    fn added(&mut self, p: *mut c_void, size: usize, align: usize, what: &str) {
        let p = p as *mut u8;
        // Every block is at least 16-aligned (as glibc's on x86-64).
        let align = align.max(16);
        if p.is_null() {
            assert!(
                self.failing,
                "{what}({size}) failed without fault injection"
            );
            assert_eq!(errno(), libc::ENOMEM, "{what}({size}): errno on failure");
            return;
        }
        assert_eq!(
            errno(),
            SENTINEL,
            "{what}({size}) succeeded but changed errno"
        );
        assert_eq!(
            p as usize % align,
            0,
            "{what}({size}) = {p:p}: alignment {align}"
        );
        self.check_usable(p, size);
        let (a, b) = (p as usize, p as usize + size.max(1));
        for l in &self.live {
            let (c, d) = (l.p as usize, l.p as usize + l.size.max(1));
            assert!(
                b <= c || d <= a,
                "{what}({size}) = {p:p} overlaps {:p}",
                l.p
            );
        }
        self.serial = self.serial.wrapping_add(1) | 1;
        let l = Live {
            p,
            size,
            fill: self.serial,
        };
        fill(&l);
        self.live.push(l);
    }

    fn check_usable(&self, p: *mut u8, size: usize) {
        // SAFETY: `p` is a live block of this library.
        let u = unsafe { (api().usable)(p as *mut c_void) };
        assert!(u >= size, "malloc_usable_size({p:p}) = {u} < {size}");
    }

    fn pick(&self, i: u16) -> Option<usize> {
        (!self.live.is_empty()).then(|| i as usize % self.live.len())
    }

    /// Expects a failed call: null, `errno == e`.
    fn failed(p: *mut c_void, e: c_int, what: &str) {
        assert!(p.is_null(), "{what} should fail, returned {p:p}");
        assert_eq!(errno(), e, "{what}: errno");
    }

    /// Re-points block `k` after a successful `realloc` to `n` bytes (or checks a failure).
    fn reallocated(&mut self, k: usize, q: *mut c_void, n: usize, what: &str) {
        if q.is_null() {
            assert!(
                self.failing,
                "{what} to {n} bytes failed without fault injection"
            );
            assert_eq!(errno(), libc::ENOMEM, "{what}: errno on failure");
            verify(&self.live[k]);
            return;
        }
        assert_eq!(errno(), SENTINEL, "{what} succeeded but changed errno");
        assert_eq!(q as usize % 16, 0, "{what}: alignment");
        let old = self.live.swap_remove(k);
        let kept = Live {
            p: q as *mut u8,
            size: old.size.min(n),
            fill: old.fill,
        };
        verify(&kept);
        self.added(q, n, 16, what);
    }

    fn run(&mut self, a: &Action) {
        let api = api();
        set_errno(SENTINEL);
        // SAFETY (every call below): the pointers passed are null or live blocks of this
        // library taken from the model, each freed or reallocated once and then dropped
        // from the model; the out-pointer of posix_memalign is a local.
        unsafe {
            match *a {
                Action::Malloc(n) => {
                    let n = n as usize;
                    self.added((api.malloc)(n), n, 16, "malloc");
                }
                Action::MallocLarge(k) => {
                    let n = (128 << 10) + k as usize * 4099;
                    self.added((api.malloc)(n), n, 16, "malloc");
                }
                Action::Calloc(k, s) => {
                    let (k, s) = (k as usize % 64, s as usize);
                    let p = (api.calloc)(k, s);
                    if !p.is_null() {
                        let z = std::slice::from_raw_parts(p as *const u8, k * s);
                        assert!(z.iter().all(|&b| b == 0), "calloc({k}, {s}) not zeroed");
                    }
                    self.added(p, k * s, 16, "calloc");
                }
                Action::CallocOverflow(k) => {
                    let k = k as usize + 2;
                    let p = (api.calloc)(k, usize::MAX / k + 1);
                    Self::failed(p, libc::ENOMEM, "calloc overflow");
                }
                Action::Free(i) => {
                    if let Some(k) = self.pick(i) {
                        let l = self.live.swap_remove(k);
                        verify(&l);
                        (api.free)(l.p as *mut c_void);
                        assert_eq!(errno(), SENTINEL, "free changed errno");
                    }
                }
                Action::FreeNull => {
                    (api.free)(std::ptr::null_mut());
                    assert_eq!(errno(), SENTINEL, "free(NULL) changed errno");
                }
                Action::Realloc(i, n) => {
                    if let Some(k) = self.pick(i) {
                        let n = (n % (1 << 20)) as usize + 1;
                        verify(&self.live[k]);
                        let q = (api.realloc)(self.live[k].p as *mut c_void, n);
                        self.reallocated(k, q, n, "realloc");
                    }
                }
                Action::ReallocNull(n) => {
                    let n = n as usize;
                    self.added(
                        (api.realloc)(std::ptr::null_mut(), n),
                        n,
                        16,
                        "realloc(NULL)",
                    );
                }
                Action::ReallocZero(i) => {
                    if let Some(k) = self.pick(i) {
                        let l = self.live.swap_remove(k);
                        verify(&l);
                        let q = (api.realloc)(l.p as *mut c_void, 0);
                        assert!(q.is_null(), "realloc(p, 0) returned {q:p}");
                        assert_eq!(errno(), SENTINEL, "realloc(p, 0) changed errno");
                    }
                }
                Action::ReallocHuge(i, h) => {
                    if let Some(k) = self.pick(i) {
                        let q = (api.realloc)(self.live[k].p as *mut c_void, huge(h));
                        Self::failed(q, libc::ENOMEM, "realloc(p, huge)");
                        verify(&self.live[k]);
                        self.check_usable(self.live[k].p, self.live[k].size);
                    }
                }
                Action::ReallocArray(i, m, s) => {
                    if let Some(k) = self.pick(i) {
                        let (m, s) = (m as usize, s as usize % 4096);
                        verify(&self.live[k]);
                        let q = (api.reallocarray)(self.live[k].p as *mut c_void, m, s);
                        if m * s == 0 {
                            // reallocarray(p, 0, s) is realloc(p, 0): p is freed.
                            assert!(q.is_null(), "reallocarray(p, 0) returned {q:p}");
                            assert_eq!(errno(), SENTINEL, "reallocarray(p, 0) changed errno");
                            self.live.swap_remove(k);
                        } else {
                            self.reallocated(k, q, m * s, "reallocarray");
                        }
                    }
                }
                Action::ReallocArrayNull(m, s) => {
                    let (m, s) = (m as usize, s as usize % 4096);
                    let p = (api.reallocarray)(std::ptr::null_mut(), m, s);
                    self.added(p, m * s, 16, "reallocarray(NULL)");
                }
                Action::ReallocArrayOverflow(i, m) => {
                    let m = m as usize + 2;
                    let s = usize::MAX / m + 1;
                    match self.pick(i) {
                        Some(k) => {
                            let q = (api.reallocarray)(self.live[k].p as *mut c_void, m, s);
                            Self::failed(q, libc::ENOMEM, "reallocarray(p) overflow");
                            verify(&self.live[k]);
                        }
                        None => {
                            let q = (api.reallocarray)(std::ptr::null_mut(), s, m);
                            Self::failed(q, libc::ENOMEM, "reallocarray(NULL) overflow");
                        }
                    }
                }
                Action::PosixMemalign(sh, n) => {
                    let align = 8usize << (sh % 18);
                    let n = n as usize;
                    let mut out: *mut c_void = std::ptr::null_mut();
                    let rc = (api.posix_memalign)(&mut out, align, n);
                    assert_eq!(errno(), SENTINEL, "posix_memalign changed errno");
                    match rc {
                        0 => self.added(out, n, align, "posix_memalign"),
                        libc::ENOMEM if self.failing => assert!(out.is_null()),
                        rc => panic!("posix_memalign({align}, {n}) = {rc}"),
                    }
                }
                Action::PosixMemalignBad(x, n) => {
                    let mut a = match x % 4 {
                        0 => 0,
                        1 => 1 << (x % 3),
                        2 => x as usize * 8 + 24,
                        _ => usize::MAX - x as usize,
                    };
                    if a.is_power_of_two() && a % 8 == 0 {
                        a *= 3;
                    }
                    let sentinel = std::ptr::dangling_mut::<c_void>();
                    let mut out = sentinel;
                    let rc = (api.posix_memalign)(&mut out, a, n as usize);
                    assert_eq!(rc, libc::EINVAL, "posix_memalign(align {a})");
                    assert_eq!(out, sentinel, "posix_memalign(align {a}) wrote *memptr");
                    assert_eq!(errno(), SENTINEL, "posix_memalign(align {a}) changed errno");
                }
                Action::AlignedAlloc(sh, n) => {
                    let align = 1usize << (sh % 21);
                    let n = n as usize;
                    self.added((api.aligned_alloc)(align, n), n, align, "aligned_alloc");
                }
                Action::AlignedAllocBad(x) => {
                    let mut a = x as usize;
                    if a.is_power_of_two() {
                        a *= 3;
                    }
                    if x % 5 == 0 {
                        a = 1 << (usize::BITS - 1);
                    }
                    let p = (api.aligned_alloc)(a, 64);
                    Self::failed(p, libc::EINVAL, &format!("aligned_alloc({a}, 64)"));
                }
                Action::Memalign(a, n) => {
                    let a = a as usize;
                    let align = a.max(1).next_power_of_two();
                    let n = n as usize;
                    self.added((api.memalign)(a, n), n, align, "memalign");
                }
                Action::MemalignBad(x) => {
                    let a = usize::MAX - x as usize;
                    let p = (api.memalign)(a, 64);
                    Self::failed(p, libc::EINVAL, &format!("memalign({a}, 64)"));
                }
                Action::Valloc(n) => {
                    let n = n as usize;
                    self.added((api.valloc)(n), n, page(), "valloc");
                }
                Action::Pvalloc(n) => {
                    let pg = page();
                    // pvalloc rounds the size up to whole pages (at least one): all usable.
                    let size = (n as usize).div_ceil(pg).max(1) * pg;
                    self.added((api.pvalloc)(n as usize), size, pg, "pvalloc");
                }
                Action::Huge(f, h) => {
                    let n = huge(h);
                    match f % 8 {
                        0 => Self::failed((api.malloc)(n), libc::ENOMEM, "malloc(huge)"),
                        1 => Self::failed((api.calloc)(1, n), libc::ENOMEM, "calloc(1, huge)"),
                        2 => Self::failed(
                            (api.realloc)(std::ptr::null_mut(), n),
                            libc::ENOMEM,
                            "realloc(NULL, huge)",
                        ),
                        3 => Self::failed(
                            (api.aligned_alloc)(64, n),
                            libc::ENOMEM,
                            "aligned_alloc(64, huge)",
                        ),
                        4 => Self::failed(
                            (api.memalign)(4096, n),
                            libc::ENOMEM,
                            "memalign(4096, huge)",
                        ),
                        5 => Self::failed((api.valloc)(n), libc::ENOMEM, "valloc(huge)"),
                        6 => Self::failed((api.pvalloc)(n), libc::ENOMEM, "pvalloc(huge)"),
                        _ => {
                            let sentinel = std::ptr::dangling_mut::<c_void>();
                            let mut out = sentinel;
                            let rc = (api.posix_memalign)(&mut out, 64, n);
                            assert_eq!(rc, libc::ENOMEM, "posix_memalign(64, huge)");
                            assert_eq!(out, sentinel, "posix_memalign(huge) wrote *memptr");
                            assert_eq!(errno(), SENTINEL, "posix_memalign changed errno");
                        }
                    }
                }
                Action::Usable(i) => {
                    if let Some(k) = self.pick(i) {
                        let l = &self.live[k];
                        let u = (api.usable)(l.p as *mut c_void);
                        assert!(u >= l.size, "malloc_usable_size = {u} < {}", l.size);
                        // The whole usable size is the caller's: write its tail.
                        std::ptr::write_bytes(l.p.add(l.size), !l.fill, u - l.size);
                        assert_eq!(errno(), SENTINEL, "malloc_usable_size changed errno");
                    }
                }
                Action::Trim => {
                    let rc = (api.trim)(0);
                    assert!(rc == 0 || rc == 1, "malloc_trim = {rc}");
                }
                Action::FailOsAfter(n) => {
                    (api.fail_os)(n as c_long % 8);
                    self.failing = true;
                }
                Action::FailOsLift => {
                    (api.fail_os)(-1);
                    self.failing = false;
                }
            }
        }
    }
}

fuzz_target!(
    init: {
        // Load before the first input, so that a library built with coverage
        // instrumentation registers its counters before libFuzzer starts counting.
        api();
    },
    |actions: Vec<Action>| {
    let api = api();
    let mut m = Model {
        live: Vec::new(),
        failing: false,
        serial: 0,
    };
    for a in actions.iter().take(400) {
        m.run(a);
    }
    // SAFETY: lifting the fault injection has no preconditions.
    unsafe { (api.fail_os)(-1) };
    for l in m.live.drain(..) {
        verify(&l);
        // SAFETY: live blocks of this library, each freed once.
        unsafe { (api.free)(l.p as *mut c_void) };
    }
    // SAFETY: no preconditions.
    let rc = unsafe { (api.check)() };
    assert_eq!(rc, 0, "heapwise_check() failed (its report is on stderr)");
});
