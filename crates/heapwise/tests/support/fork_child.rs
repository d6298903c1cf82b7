//! Runs a piece of work in a `fork` child and expects it to succeed: the child exits with
//! 0 only if the work returns `true`; a child that finds something wrong says what on
//! stderr with [`say`] (`write(2)`: the test harness's capture does not reach a child).

use heapwise::Heapwise;

/// Writes `msg` to the real stderr (fd 2).
pub fn say(msg: &str) {
    // SAFETY: writes `msg.len()` bytes of a live string to fd 2.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Forks; the child runs `work` and exits with 0 if it returned `true`, 1 otherwise (without
/// the parent's destructors); the parent waits and panics naming `round` unless the child
/// exited with 0. `work` may allocate, free, spawn threads and call [`say`].
pub fn expect_child(round: usize, work: impl FnOnce() -> bool) {
    // SAFETY: the child runs `work` (allocation, threads, stderr) and calls _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = work();
        // SAFETY: _exit ends the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "round {round}: child status {status:#x} (its complaint, if any, is on stderr)"
    );
}

/// Runs the heap checker over every heap of [`Heapwise`]; `false` (and the error on
/// stderr, after `who`) if it finds something wrong.
pub fn heaps_pass(who: &str) -> bool {
    match Heapwise::check() {
        Ok(()) => true,
        Err(e) => {
            say(&format!("{who}: heap checker: {e}\n"));
            false
        }
    }
}
