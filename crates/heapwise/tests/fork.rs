//! Fork safety: with `Heapwise` as global allocator and four threads allocating, the child
//! of `fork` can allocate and free, and its heaps pass the checker (the `pthread_atfork`
//! handlers hold every arena lock across `fork` and reset them in the child). Default
//! arena mode: the threads share arena 0 and move to another only under contention.

use heapwise::Heapwise;

#[path = "support/busy_fork.rs"]
mod busy_fork;
#[path = "support/fork_child.rs"]
mod fork_child;

#[global_allocator]
static A: Heapwise = Heapwise;

#[test]
fn child_of_a_busy_parent_can_allocate() {
    busy_fork::run(20);
}
