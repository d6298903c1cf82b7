#!/usr/bin/env bash
# heapwise on aarch64 Linux, checked on an x86_64 machine through qemu-user (no aarch64
# machine needed). Used by .ci/run; runs alone too: bash scripts/cross-test.sh
#
#  1. clippy, and the heapwise test suite (the OS layer: the thread slot in initial-exec TLS
#     defined in AArch64 assembly, caches, arenas, large blocks, fork), built for aarch64-unknown-linux-gnu and run under qemu-aarch64
#     (cargo's runner). The engine, heapwise-core, is target-independent `no_std` code that
#     CI tests natively on x86_64 and i686 and under Miri; its policy suite would take minutes
#     under qemu. Two tests are skipped, for qemu's sake, not ours:
#     `oom_returns_null...` re-executes its own binary (a container has no binfmt_misc entry
#     to run an aarch64 executable directly), and `arenas` forks a multi-threaded process and
#     starts a thread in the child (qemu-user aborts there: "cpu == current_cpu").
#  2. libheapwise.so built for aarch64 (release: the `no_std` library, with its TLS slot
#     and the aarch64 unwinding personality), and the C conformance programs
#     (crates/heapwise-preload/tests/c/b*.c) cross-compiled and run under qemu with
#     LD_PRELOAD: each must exit 0, print `allocator: heapwise` and `0 failed`, and end with
#     the HEAPWISE_STATS summary. Not b13c (its resident-set bound fails under qemu with
#     glibc's malloc too: qemu-user keeps ~0.5 MiB per finished thread), b14 (threads in a
#     forked child: the qemu abort above, with glibc's malloc too), b15 (qemu-user places the
#     guest's mappings in its own reserved range: RLIMIT_AS does not reach them, 80 of its
#     checks fail with glibc's malloc too), nor the programs that need a C++ cross compiler
#     or extra files (b16–b19). b22 `dlopen`s the library instead of preloading it.
#
# Needs (Debian): qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross, and the rustup
# target aarch64-unknown-linux-gnu (added here). Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

TRIPLE=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
CC=aarch64-linux-gnu-gcc
for tool in qemu-aarch64 "$CC"; do
    command -v "$tool" >/dev/null || { echo "cross-test.sh: $tool is missing" >&2; exit 1; }
done
rustup target add "$TRIPLE" >/dev/null

export CARGO_TARGET_DIR=target/$TRIPLE-cross
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$CC
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L $SYSROOT"

if [ -z "${CROSS_SKIP_CARGO:-}" ]; then # (set it to rerun part 2 alone)
    echo "== 1. clippy for aarch64, and the heapwise tests under qemu-aarch64"
    cargo clippy -p heapwise -p heapwise-preload --all-targets --target "$TRIPLE" -- -D warnings
    cargo test -p heapwise --target "$TRIPLE" -- \
        --skip oom_returns_null_then_takes_the_standard_oom_path --skip arenas
fi

echo "== 2. the C conformance programs under qemu-aarch64 with LD_PRELOAD"
cargo build --release -p heapwise-preload --target "$TRIPLE"
lib=$PWD/$CARGO_TARGET_DIR/$TRIPLE/release/libheapwise.so
src=crates/heapwise-preload/tests/c
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
programs=(b01_malloc_zero b02_huge b03_align b04_free b05_calloc b06_realloc b07_reallocarray
    b08_posix_memalign b09_aligned_alloc b10_memalign_valloc b11_usable_size b12_libc_internal
    b13a_cross_thread_free b13b_key_destructor b13d_thread_stress b20_foreign_brk b21_aliases)
for name in "${programs[@]}"; do
    "$CC" -std=gnu11 -O1 -fno-builtin -w -I "$src" -I include -o "$out/$name" "$src/$name.c" \
        -pthread -ldl
    status=0
    qemu-aarch64 -L "$SYSROOT" -E LD_PRELOAD="$lib" -E HEAPWISE_STATS=1 \
        -E HW_EXPECT_HEAPWISE=1 "$out/$name" >"$out/$name.out" 2>"$out/$name.err" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "FAIL $name: exit status $status"
        tail -n 20 "$out/$name.out" "$out/$name.err"
        exit 1
    fi
    if ! grep -q "allocator: heapwise" "$out/$name.out" || ! grep -q " 0 failed" "$out/$name.out" \
        || ! grep -qi "heapwise" "$out/$name.err"; then
        echo "FAIL $name: not served by heapwise, a failed check, or no statistics summary"
        tail -n 20 "$out/$name.out" "$out/$name.err"
        exit 1
    fi
    echo "ok   $name ($(grep -o '[0-9]* checks' "$out/$name.out" | tail -n 1))"
done
# dlopen of the library as a second allocator (its thread slot then comes from the loader's
# static TLS surplus), four threads through dlsym.
"$CC" -std=gnu11 -O1 -fno-builtin -w -I "$src" -I include -o "$out/b22_dlopen" \
    "$src/b22_dlopen.c" -pthread -ldl
if ! qemu-aarch64 -L "$SYSROOT" "$out/b22_dlopen" "$lib" >"$out/b22.out" 2>&1 \
    || ! grep -q " 0 failed" "$out/b22.out"; then
    echo "FAIL b22_dlopen"
    tail -n 20 "$out/b22.out"
    exit 1
fi
echo "ok   b22_dlopen ($(grep -o '[0-9]* checks' "$out/b22.out" | tail -n 1))"
echo "cross-test.sh: aarch64 passed ($((${#programs[@]} + 1)) C programs)"
