//! Out of memory through the Rust face: with `RLIMIT_AS` capped, a request that cannot be
//! served makes `Heapwise` return null, so `try_reserve` reports an error, small
//! allocations keep working, the heap checker stays clean, and an infallible allocation goes
//! to the standard OOM path (`handle_alloc_error`: "memory allocation of N bytes failed",
//! then abort). The test re-runs its own binary as a child so the cap and the abort stay
//! there.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use heapwise::Heapwise;

#[global_allocator]
static A: Heapwise = Heapwise;

const CHILD: &str = "HEAPWISE_OOM_CHILD";
/// More than the 1 GiB cap leaves, and at most `isize::MAX` (a larger request is a capacity
/// overflow, not an out-of-memory error).
const HUGE: usize = if usize::BITS == 64 { 3 << 30 } else { 1 << 30 };

fn child() {
    let lim = libc::rlimit {
        rlim_cur: 1 << 30,
        rlim_max: 1 << 30,
    };
    // SAFETY: setrlimit reads the struct.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
    let mut v: Vec<u8> = Vec::new();
    assert!(
        v.try_reserve(HUGE).is_err(),
        "{HUGE} bytes under a 1 GiB cap"
    );
    let small: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 100]).collect();
    assert!(small
        .iter()
        .enumerate()
        .all(|(i, b)| b.iter().all(|&x| x == i as u8)));
    drop(small);
    assert!(Heapwise::check().is_ok(), "checker after OOM");
    println!("fallible ok");
    // `black_box`: an optimised build may otherwise elide an allocation nothing uses.
    let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(HUGE));
    println!("SURVIVED {}", v.capacity());
}

#[test]
fn oom_returns_null_then_takes_the_standard_oom_path() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "oom_returns_null_then_takes_the_standard_oom_path",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("spawn child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("fallible ok"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("SURVIVED"), "{stdout}");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains(&format!("memory allocation of {HUGE} bytes failed")),
        "{stderr}"
    );
}
