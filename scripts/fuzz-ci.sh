#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time (FUZZ_SECONDS, default 60) on
# its committed corpus (fuzz/corpus/<target>/), new inputs going to a scratch folder so the
# committed corpus only changes on purpose. Fails if a target finds a crash.
#
#   scripts/fuzz-ci.sh [seconds] [target...]
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
cargo +nightly fuzz build -O >/dev/null
status=0
for t in "${targets[@]}"; do
    scratch=$(mktemp -d)
    mkdir -p "corpus/$t"
    echo "== fuzz $t for ${secs}s"
    set +e
    cargo +nightly fuzz run -O "$t" "$scratch" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$scratch.log" 2>&1
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
