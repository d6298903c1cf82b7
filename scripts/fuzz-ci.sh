#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (FUZZ_SECONDS, default 60) on
# its committed corpus (fuzz/corpus/<target>/), new inputs going to a scratch folder so the
# committed corpus only changes on purpose. Fails if a target finds a crash.
#
#   scripts/fuzz-ci.sh [seconds] [target...]
#
# The `capi` target drives libheapwise.so's C API through dlopen. Unless HEAPWISE_LIB names
# a library already built, the script first builds one with libFuzzer's coverage
# instrumentation (the flags cargo-fuzz gives a target, without ASan: the library is not the
# process malloc) in HEAPWISE_LIB_TARGET_DIR (default: $CARGO_TARGET_DIR/capi-lib), so that
# the fuzzer sees the library's branches; every target is linked exporting the
# `__sanitizer_cov_*` hooks the library calls. (The library's initial-exec TLS is one
# 8-byte word, which glibc's static-TLS surplus for dlopen holds without tunables.) ASan
# needs no option: it stays the process's malloc and does not instrument the library.
#
# Needs a nightly toolchain and cargo-fuzz (`rustup toolchain install nightly`,
# `cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 with stable also works for building.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
cd "$root/fuzz"
if [[ ${#targets[@]} -eq 0 ]]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/fuzz/target}
# A library loaded with dlopen finds libFuzzer's coverage hooks only if they are exported.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-Clink-arg=-Wl,--export-dynamic-symbol=__sanitizer_cov_*"
if [[ " ${targets[*]} " == *" capi "* && -z ${HEAPWISE_LIB:-} ]]; then
    lib_target=${HEAPWISE_LIB_TARGET_DIR:-$CARGO_TARGET_DIR/capi-lib}
    triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
    echo "== build libheapwise.so with coverage instrumentation for capi ($lib_target)"
    # --target keeps the instrumentation out of build scripts.
    (cd "$root" && CARGO_TARGET_DIR="$lib_target" RUSTFLAGS="-Cpasses=sancov-module \
        -Cllvm-args=-sanitizer-coverage-level=4 \
        -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
        -Cllvm-args=-sanitizer-coverage-pc-table \
        -Cllvm-args=-sanitizer-coverage-trace-compares" \
        cargo +nightly build --release -q --target "$triple" -p heapwise-preload)
    export HEAPWISE_LIB=$lib_target/$triple/release/libheapwise.so
fi
cargo +nightly fuzz build -O >/dev/null
status=0
for t in "${targets[@]}"; do
    scratch=$(mktemp -d)
    mkdir -p "corpus/$t"
    echo "== fuzz $t for ${secs}s"
    set +e
    # -len_control=0: inputs of any length up to -max_len (4096) from the start. With
    # libFuzzer's default (100) the length limit starts at the committed corpus's longest
    # input (15-32 bytes: three to six actions) and grows only after long plateaus, so a
    # one-minute run never gets past programs of a handful of actions.
    cargo +nightly fuzz run -O "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -len_control=0 -print_final_stats=1 \
        >"$scratch.log" 2>&1
    st=$?
    set -e
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)|SUMMARY|panicked|ERROR" "$scratch.log" || true
    if [[ $st -ne 0 ]]; then
        tail -40 "$scratch.log"
        echo "fuzz target $t FAILED (artifacts in fuzz/artifacts/$t)"
        status=1
    fi
    rm -f "$scratch.log"
    rm -rf "$scratch"
done
exit $status
