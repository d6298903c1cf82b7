#!/usr/bin/env bash
# heapwise on aarch64 and 32-bit Arm (armv7, hard float) Linux, checked on an x86_64 machine
# through qemu-user (no Arm machine needed). Used by .ci/run; runs alone too:
#   bash scripts/cross-test.sh [aarch64|armv7]...     (both when no argument is given)
# For each target:
#
#  1. clippy, and the heapwise test suite (the OS layer: the thread slot — an initial-exec
#     TLS word defined in AArch64 assembly, a pthread key on armv7 —, caches, arenas, large
#     blocks, fork), built for the target and run under qemu (cargo's runner). The engine,
#     heapwise-core, is target-independent `no_std` code that CI tests natively on x86_64
#     and i686 and under Miri; its policy suite would take minutes under qemu. Three groups of
#     tests are skipped, for qemu's sake, not ours: `oom_returns_null...` re-executes its own binary
#     (a container has no binfmt_misc entry to run a foreign executable directly), `arenas`
#     forks a multi-threaded process and starts a thread in the child (qemu-user aborts
#     there: "cpu == current_cpu"), and the `a_fork_child_...` tests fork from a thread of a
#     multi-threaded process too (the same abort, or a child that never ended); they run
#     natively on x86_64 and i686, the pthread-key variant's with `--cfg heapwise_slot_key`.
#  2. libheapwise.so built for the target (release: the `no_std` library, with its unwinding
#     personality), and the C conformance programs (crates/heapwise-preload/tests/c/b*.c)
#     cross-compiled and run under qemu with LD_PRELOAD: each must exit 0, print
#     `allocator: heapwise` and `0 failed`, and end with the HEAPWISE_STATS summary. Not b13c
#     (its resident-set bound fails under qemu with glibc's malloc too: qemu-user keeps ~0.5
#     MiB per finished thread), b14 (threads in a forked child: the qemu abort above, with
#     glibc's malloc too), b15 (qemu-user places the guest's mappings in its own reserved
#     range: RLIMIT_AS does not reach them, 80 of its checks fail with glibc's malloc too),
#     nor the programs that need a C++ cross compiler or extra files (b16–b19). b22
#     `dlopen`s the library instead of preloading it. On armv7 not b13d either: qemu-user
#     for 32-bit guests on a 64-bit host (Debian 12's 7.2) unmaps the old range when an
#     `mremap(MREMAP_MAYMOVE)` fails — a program that maps two ranges side by side, makes
#     them two kernel mappings with `mprotect` and asks to move both reads its still-valid
#     data natively and under qemu-aarch64, and faults under qemu-arm — and b13d's large
#     `realloc`s fall back to copying after exactly such a failure (a block carved from two
#     cached mappings); one run in about forty faulted there, never natively on i686.
#
# Needs (Debian): qemu-user, gcc-aarch64-linux-gnu libc6-dev-arm64-cross,
# gcc-arm-linux-gnueabihf libc6-dev-armhf-cross, and the rustup targets (added here). Exits
# non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PROGRAMS=(b01_malloc_zero b02_huge b03_align b04_free b05_calloc b06_realloc b07_reallocarray
    b08_posix_memalign b09_aligned_alloc b10_memalign_valloc b11_usable_size b12_libc_internal
    b13a_cross_thread_free b13b_key_destructor b13d_thread_stress b20_foreign_brk b21_aliases
    b23_mallopt_info b24_perturb)
SRC=crates/heapwise-preload/tests/c

# cross_test NAME TRIPLE QEMU GNU-TRIPLE [PROGRAM-TO-SKIP]
cross_test() {
    local name=$1 triple=$2 qemu=$3 gnu=$4 skip=${5:-}
    local sysroot=/usr/$gnu cc=$gnu-gcc
    for tool in "$qemu" "$cc"; do
        command -v "$tool" >/dev/null || { echo "cross-test.sh: $tool is missing" >&2; exit 1; }
    done
    rustup target add "$triple" >/dev/null
    local var
    var=$(echo "$triple" | tr 'a-z-' 'A-Z_')
    export CARGO_TARGET_DIR=target/$triple-cross
    export "CARGO_TARGET_${var}_LINKER=$cc"
    export "CARGO_TARGET_${var}_RUNNER=$qemu -L $sysroot"

    if [ -z "${CROSS_SKIP_CARGO:-}" ]; then # (set it to rerun part 2 alone)
        echo "== $name 1. clippy, and the heapwise tests under $qemu"
        cargo clippy -p heapwise -p heapwise-preload --all-targets --target "$triple" -- -D warnings
        cargo test -p heapwise --target "$triple" -- \
            --skip oom_returns_null_then_takes_the_standard_oom_path --skip arenas \
            --skip a_fork_child_
    fi

    echo "== $name 2. the C conformance programs under $qemu with LD_PRELOAD"
    cargo build --release -p heapwise-preload --target "$triple"
    local lib=$PWD/$CARGO_TARGET_DIR/$triple/release/libheapwise.so
    local out
    out=$(mktemp -d)
    # -D_FILE_OFFSET_BITS=64: a 32-bit guest's readdir under qemu sees the 64-bit host's
    # directory offsets and fails (EOVERFLOW) without large-file support, glibc's malloc or
    # not (b12's scandir).
    local ran=0
    for prog in "${PROGRAMS[@]}"; do
        [ "$prog" != "$skip" ] || continue
        ran=$((ran + 1))
        "$cc" -D_FILE_OFFSET_BITS=64 -std=gnu11 -O1 -fno-builtin -w -I "$SRC" -I crates/heapwise-preload/include \
            -o "$out/$prog" "$SRC/$prog.c" -pthread -ldl
        local status=0
        "$qemu" -L "$sysroot" -E LD_PRELOAD="$lib" -E HEAPWISE_STATS=1 \
            -E HW_EXPECT_HEAPWISE=1 "$out/$prog" >"$out/$prog.out" 2>"$out/$prog.err" || status=$?
        if [ "$status" -ne 0 ]; then
            echo "FAIL $name $prog: exit status $status"
            tail -n 20 "$out/$prog.out" "$out/$prog.err"
            exit 1
        fi
        if ! grep -q "allocator: heapwise" "$out/$prog.out" || ! grep -q " 0 failed" "$out/$prog.out" \
            || ! grep -qi "heapwise" "$out/$prog.err"; then
            echo "FAIL $name $prog: not served by heapwise, a failed check, or no statistics summary"
            tail -n 20 "$out/$prog.out" "$out/$prog.err"
            exit 1
        fi
        echo "ok   $name $prog ($(grep -o '[0-9]* checks' "$out/$prog.out" | tail -n 1))"
    done
    # dlopen of the library as a second allocator (its thread slot then comes from the
    # loader's static TLS surplus where it is a TLS word), four threads through dlsym.
    "$cc" -std=gnu11 -O1 -fno-builtin -w -I "$SRC" -I crates/heapwise-preload/include -o "$out/b22_dlopen" \
        "$SRC/b22_dlopen.c" -pthread -ldl
    if ! "$qemu" -L "$sysroot" "$out/b22_dlopen" "$lib" >"$out/b22.out" 2>&1 \
        || ! grep -q " 0 failed" "$out/b22.out"; then
        echo "FAIL $name b22_dlopen"
        tail -n 20 "$out/b22.out"
        exit 1
    fi
    echo "ok   $name b22_dlopen ($(grep -o '[0-9]* checks' "$out/b22.out" | tail -n 1))"
    rm -rf "$out"
    echo "cross-test.sh: $name passed ($((ran + 1)) C programs)"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(aarch64 armv7)
for t in "${targets[@]}"; do
    case "$t" in
        aarch64) cross_test aarch64 aarch64-unknown-linux-gnu qemu-aarch64 aarch64-linux-gnu ;;
        armv7) cross_test armv7 armv7-unknown-linux-gnueabihf qemu-arm arm-linux-gnueabihf \
            b13d_thread_stress ;;
        *) echo "cross-test.sh: unknown target $t (aarch64, armv7)" >&2; exit 2 ;;
    esac
done
