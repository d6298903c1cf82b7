//! `rust-work-jemalloc WORKLOAD [--scale X]`: a Rust-level workload of the hosted suite with
//! `tikv-jemallocator` as the global allocator.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    heapwise_hosted::rustwork::main_with("jemalloc")
}
