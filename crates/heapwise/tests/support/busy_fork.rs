//! The scenario of the `fork` tests: four threads allocate and free while the test thread
//! forks `rounds` times; each child allocates blocks of 16 B to 1 MiB, checks their
//! contents and runs the heap checker over every heap, and exits with 0 only if all is
//! well (saying what is wrong on stderr otherwise). Needs `mod fork_child` at the crate root.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::fork_child::{expect_child, heaps_pass, say};

/// Runs the scenario; panics naming the first child that failed, and why.
pub fn run(rounds: usize) {
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
    for round in 0..rounds {
        expect_child(round, || {
            let mut ok = true;
            for n in [16usize, 1000, 100_000, 1 << 20] {
                let v = vec![round as u8; n];
                if !v.iter().all(|&b| b == round as u8) {
                    say(&format!(
                        "fork child {round}: a block of {n} bytes lost its contents\n"
                    ));
                    ok = false;
                }
            }
            heaps_pass(&format!("fork child {round}")) && ok
        });
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
}
