//! `rust-work-system WORKLOAD [--scale X]`: a Rust-level workload of the hosted suite with
//! `std::alloc::System` (libc malloc: preloadable) as the global allocator.

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn main() {
    heapwise_hosted::rustwork::main_with("system")
}
