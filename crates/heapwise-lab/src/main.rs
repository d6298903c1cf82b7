//! The `heapwise` executable: see [`heapwise_lab::cli`].

fn main() {
    std::process::exit(heapwise_lab::cli::main());
}
