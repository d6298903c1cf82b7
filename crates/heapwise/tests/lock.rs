//! `FutexLock`: mutual exclusion under contention, `try_lock`, and the fork-child reset.

use std::cell::UnsafeCell;
use std::sync::Arc;

use heapwise::{FutexLock, LockGuard};
use heapwise_core::RawLock;

struct Counter {
    lock: FutexLock,
    n: UnsafeCell<u64>,
}
// SAFETY: `n` is only touched with `lock` held.
unsafe impl Sync for Counter {}

#[test]
fn contended_increments_are_not_lost() {
    let c = Arc::new(Counter {
        lock: FutexLock::new(),
        n: UnsafeCell::new(0),
    });
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..50_000u64 {
                    let _g = LockGuard::new(&c.lock);
                    // SAFETY: the lock is held.
                    unsafe {
                        let v = c.n.get().read_volatile();
                        if i % 1000 == 0 {
                            std::thread::yield_now(); // hold the lock across a reschedule
                        }
                        c.n.get().write_volatile(v + 1);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // SAFETY: all threads joined.
    assert_eq!(unsafe { *c.n.get() }, 200_000);
    assert!(!c.lock.is_locked());
}

#[test]
fn try_lock_and_force_unlock() {
    let l = FutexLock::new();
    assert!(l.try_lock());
    assert!(!l.try_lock());
    assert!(l.is_locked());
    // SAFETY: no other thread uses `l`.
    unsafe { l.force_unlock() };
    assert!(!l.is_locked());
    l.lock();
    // SAFETY: held by this thread.
    unsafe { l.unlock() };
    assert!(l.try_lock());
}

#[test]
fn errno_survives_a_contended_lock() {
    static L: FutexLock = FutexLock::new();
    L.lock();
    let t = std::thread::spawn(|| {
        heapwise::sys::set_errno(1234);
        L.lock(); // sleeps in futex(2), which fails with EAGAIN at times
                  // SAFETY: held by this thread.
        unsafe { L.unlock() };
        heapwise::sys::errno()
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    // SAFETY: held by this thread.
    unsafe { L.unlock() };
    assert_eq!(t.join().unwrap(), 1234);
}
