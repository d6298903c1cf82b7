//! Fork safety while threads attach to arenas: in [`ArenaMode::PerThread`] each new
//! thread takes an arena of its own, whose lock is registered for `fork` at that moment,
//! while the test thread is already forking. A registration must complete before the arena
//! is used and must not slip in between the prepare and the parent handler (before the
//! registry lock, about one run in seventy had a child whose heap failed the checker:
//! bad tiling, a free block in no list). The deterministic check of that rule is the
//! `fork` module's unit test; this one runs the real thing.

use heapwise::{ArenaMode, Heapwise};

#[path = "support/busy_fork.rs"]
mod busy_fork;
#[path = "support/fork_child.rs"]
mod fork_child;

#[global_allocator]
static A: Heapwise = Heapwise;

#[test]
fn child_of_a_parent_whose_threads_attach_can_allocate() {
    Heapwise::global().set_arena_mode(ArenaMode::PerThread);
    busy_fork::run(20);
}
