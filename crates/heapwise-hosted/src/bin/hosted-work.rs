//! `hosted-work WORKLOAD [--scale X] [--threads N]`: one synthetic workload of the hosted
//! suite, allocating through libc `malloc` (so an `LD_PRELOAD`ed allocator serves it).

fn main() {
    heapwise_hosted::child::run_main("hosted-work", "libc", heapwise_hosted::work::find)
}
