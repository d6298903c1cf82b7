//! Fork safety: with `Heapwise` as global allocator and four threads allocating, the child
//! of `fork` can allocate and free (the `pthread_atfork` handlers hold the heap lock across
//! `fork` and reset it in the child).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use heapwise::Heapwise;

#[global_allocator]
static A: Heapwise = Heapwise;

#[test]
fn child_of_a_busy_parent_can_allocate() {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut keep: Vec<Vec<u8>> = Vec::new();
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    keep.push(vec![t as u8; (i * 37) % 5000 + 1]);
                    if keep.len() > 100 {
                        keep.swap_remove(i % 100);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    assert!(heapwise::fork::handlers_installed());
    for round in 0..20 {
        // SAFETY: the child only allocates, frees and calls _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let mut ok = true;
            for n in [16usize, 1000, 100_000, 1 << 20] {
                let v = vec![round as u8; n];
                ok &= v.iter().all(|&b| b == round as u8);
            }
            ok &= Heapwise::check().is_ok();
            // SAFETY: _exit ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(r, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {round}: child status {status:#x}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
}
