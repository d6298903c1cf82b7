//! `rust-work-mimalloc WORKLOAD [--scale X]`: a Rust-level workload of the hosted suite with
//! the `mimalloc` crate as the global allocator.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    heapwise_hosted::rustwork::main_with("mimalloc")
}
