//! `rust-work-heapwise WORKLOAD [--scale X]`: a Rust-level workload of the hosted suite with
//! `heapwise::Heapwise` as the global allocator.

#[global_allocator]
static GLOBAL: heapwise::Heapwise = heapwise::Heapwise;

fn main() {
    heapwise_hosted::rustwork::main_with("heapwise")
}
