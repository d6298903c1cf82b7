//! A remote free stack's counters under a push racing a take: once every chain pushed
//! was taken and its blocks reported taken, the stack counts nothing. (The counters were
//! raised after the push's compare-and-swap: a take in between lowered them, saturating at
//! zero, before the push raised them, and the stack counted a chain it no longer held for
//! good: `Global::stats` then took those blocks off the allocated ones.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use heapwise::remote::RemoteStack;

/// The cache mark's key for this test's chains (any value: the stack only writes marks).
const KEY: usize = 0x5eed_1234;

#[test]
fn counters_come_back_to_zero_when_pushes_race_takes() {
    static STACK: RemoteStack = RemoteStack::new();
    static TAKEN: AtomicUsize = AtomicUsize::new(0);
    static DONE: AtomicBool = AtomicBool::new(false);
    const ROUNDS: usize = 100_000;
    const BYTES: usize = 32;
    // One "block": word 0 is the link, word 1 the mark.
    let block = Box::leak(Box::new([0usize; 4])).as_mut_ptr() as usize;
    let taker = std::thread::spawn(|| {
        while !DONE.load(Ordering::Acquire) {
            let mut p = STACK.take();
            let mut n = 0;
            while !p.is_null() {
                n += 1;
                // SAFETY: a block of the stack: word 0 is its link, written before the push
                // published it.
                p = unsafe { (p as *const *mut u8).read() };
            }
            if n > 0 {
                STACK.taken(n, n * BYTES);
                TAKEN.fetch_add(n, Ordering::Release);
            }
        }
    });
    for round in 1..=ROUNDS {
        // SAFETY: the block is owned by this thread: the taker has reported every push
        // before it taken (it no longer reads the block).
        unsafe { STACK.push_chain(block as *mut u8, block as *mut u8, 1, BYTES, KEY) };
        while TAKEN.load(Ordering::Acquire) != round {
            std::hint::spin_loop();
        }
    }
    DONE.store(true, Ordering::Release);
    taker.join().unwrap();
    assert!(STACK.is_empty());
    assert_eq!(
        STACK.held(),
        (0, 0),
        "an empty stack counts blocks (after {ROUNDS} pushes)"
    );
}
