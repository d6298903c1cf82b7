//! The driver's child processes: a run killed for its time limit leaves none of the processes
//! it started running (a `g++` killed mid-compile must not leave its `cc1plus` behind). No
//! timing assertions: the limit only decides that the run is killed.

use std::process::Command;
use std::time::{Duration, Instant};

use heapwise_hosted::driver::proc;

/// Whether `pid` is a live process (not gone, not a zombie waiting to be reaped).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

#[test]
fn a_timed_out_child_takes_its_descendants_with_it() {
    // The shell starts a long sleep (its output elsewhere, so the pipes close with the shell),
    // prints its id and waits for it: only the time limit ends the run.
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "sleep 300 </dev/null >/dev/null 2>&1 & echo $!; wait"]);
    let f = proc::measure(&mut cmd, Duration::from_millis(500)).unwrap();
    assert!(f.timed_out, "{f:?}");
    let grandchild: i32 = f.stdout.trim().parse().expect("the sleep's pid");
    // SIGKILL takes effect asynchronously: give the kernel a moment (not a timing assertion;
    // a live sleep is the failure).
    let start = Instant::now();
    while alive(grandchild) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = alive(grandchild);
    if left {
        // SAFETY: kill has no memory preconditions; the test cleans up the sleep it started.
        unsafe { libc::kill(grandchild, libc::SIGKILL) };
    }
    assert!(!left, "the timed-out run left pid {grandchild} running");
}
