//! Real programs under a preload whose file name is none of the known allocators' (an
//! `--extra` column such as `before=/tmp/before.so`): the run must see the library mapped.
//! Needs python3.11 and an installed libjemalloc.so.2 (copied under another name); without
//! them the test says so and passes. No timing assertions.

use std::path::Path;
use std::time::Duration;

use heapwise_hosted::driver::{alloc, real, Ctx};

#[test]
fn python_sees_an_extra_library_whatever_its_name() {
    let jemalloc = Path::new("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2");
    if real::available(real::Program::Python).is_err() || !jemalloc.exists() {
        // CI installs both (jemalloc comes with redis-tools): a skip there is a failure.
        let ci = std::env::var("CI").is_ok_and(|v| !(v.is_empty() || v == "false" || v == "0"));
        assert!(
            !ci,
            "needs python3.11 and {} (scripts/install-ci-deps.sh); CI=true, so this is a failure",
            jemalloc.display()
        );
        eprintln!("skipped: needs python3.11 and {}", jemalloc.display());
        return;
    }
    let dir = std::env::temp_dir().join(format!("hw-hosted-real-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lib = dir.join("before.so");
    std::fs::copy(jemalloc, &lib).unwrap();
    let a = alloc::extra(&format!("before={}", lib.display())).unwrap();
    let ctx = Ctx {
        bin_dir: dir.clone(),
        scale: 0.001,
        timeout: Duration::from_secs(120),
        scratch: dir.join("scratch"),
    };
    let r = real::run(&ctx, real::Program::Python, &a);
    let _ = std::fs::remove_dir_all(&dir);
    let s = r.unwrap();
    assert!(s.served_by.contains("before.so"), "{}", s.served_by);
}

/// The processes whose parent is `pid` and whose command is `comm`.
fn children_called(pid: u32, comm: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                return false;
            };
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                return false;
            };
            let ppid = stat[close + 1..].split_whitespace().nth(1);
            &stat[open + 1..close] == comm && ppid == Some(&pid.to_string())
        })
        .collect()
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
        state != Some("Z") && state != Some("X")
    })
}

#[test]
fn a_redis_server_does_not_outlive_a_killed_driver() {
    if real::available(real::Program::Redis).is_err() {
        eprintln!("skipped: needs redis-server and redis-benchmark");
        return;
    }
    let mut driver = std::process::Command::new(env!("CARGO_BIN_EXE_heapwise-hosted"))
        .args(["--only", "redis", "--allocators", "glibc", "--runs", "50"])
        .args(["--heapwise-lib", "/nonexistent/libheapwise.so"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded; not a timing assertion) for the driver to start a server.
    let start = std::time::Instant::now();
    let server = loop {
        if let Some(&s) = children_called(driver.id(), "redis-server").first() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(60) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    driver.kill().unwrap();
    driver.wait().unwrap();
    // A driver killed by SIGKILL cannot remove its scratch directory: the test does.
    let _ = std::fs::remove_dir_all(
        std::env::temp_dir().join(format!("heapwise-hosted-{}", driver.id())),
    );
    let server = server.expect("the driver started no redis-server within 60 s");
    let start = std::time::Instant::now();
    while alive(server) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = alive(server);
    if left {
        // SAFETY: kill has no memory preconditions; the test cleans up what it left.
        unsafe { libc::kill(server, libc::SIGKILL) };
    }
    assert!(!left, "redis-server {server} outlived the killed driver");
}
