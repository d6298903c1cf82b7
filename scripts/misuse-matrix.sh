#!/usr/bin/env bash
# Runs the 12 misuse programs of crates/heapwise-preload/tests/c/misuse/ (and two of
# tests/c/harden/: an overflow into a block's slack, an overflow past a large block) on glibc
# (no preload), jemalloc and mimalloc (Debian default builds via LD_PRELOAD), and heapwise
# (default options, then HEAPWISE_HARDEN=full in a second column), and prints a markdown
# table of what each allocator does.
#
#   scripts/misuse-matrix.sh [path/to/libheapwise.so]
#
# Outcomes: "abort: <message>" (SIGABRT with the allocator's message), "SIGSEGV", "silent"
# (the program went on past the misuse), "timeout", or "exit N".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-${HEAPWISE_LIB:-}}
if [[ -z "$lib" ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
    cargo build --release -q -p heapwise-preload --manifest-path "$root/Cargo.toml"
    lib=$CARGO_TARGET_DIR/release/libheapwise.so
fi
libdir=/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
je=$libdir/libjemalloc.so.2
mi=$libdir/libmimalloc.so.2
for f in "$je" "$mi"; do
    [[ -e $f ]] || { echo "missing $f (apt-get install libjemalloc2 libmimalloc2.0)" >&2; exit 1; }
done
src=$root/crates/heapwise-preload/tests/c/misuse
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# outcome <exe> [env...]: one table cell
outcome() {
    local exe=$1; shift
    local out err rc
    set +e
    env "$@" timeout -s KILL 20 "$exe" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    err=$( (grep -v '^$' "$tmp/err" || true) | head -1 | cut -c1-90 | sed 's/|/\\|/g; s/0x[0-9a-f]*/0x…/g')
    if grep -q SURVIVED "$tmp/out"; then
        echo "silent${err:+ (later: $err)}"
    elif [[ $rc == 134 ]]; then
        echo "abort${err:+: $err}"
    elif [[ $rc == 139 ]]; then
        echo "SIGSEGV"
    elif [[ $rc == 137 ]]; then
        echo "timeout"
    else
        echo "exit $rc${err:+: $err}"
    fi
}

echo "| # | misuse | glibc $(ldd --version | head -1 | awk '{print $NF}') | jemalloc 5.3 | mimalloc 2.0.9 | heapwise (default) | heapwise (HEAPWISE_HARDEN=full) |"
echo "|---|---|---|---|---|---|---|"
# One table row: program source `$1`, row number `$2`, description `$3`.
row() {
    local name
    name=$(basename "$1" .c)
    gcc -std=gnu11 -O1 -fno-builtin -w -o "$tmp/$name" "$1"
    echo "| $2 | $3 | $(outcome "$tmp/$name") | $(outcome "$tmp/$name" LD_PRELOAD="$je") |" \
        "$(outcome "$tmp/$name" LD_PRELOAD="$mi") | $(outcome "$tmp/$name" LD_PRELOAD="$lib") |" \
        "$(outcome "$tmp/$name" LD_PRELOAD="$lib" HEAPWISE_HARDEN=full) |"
}
for c in "$src"/m*.c; do
    name=$(basename "$c" .c)
    desc=$(head -1 "$c" | sed 's|^/\* *[0-9]*\. *||; s| *\*/$||; s|(HEAPWISE_HARDEN=full.*||')
    row "$c" "$((10#${name:1:2}))" "$desc"
done
# Two more rows from tests/c/harden/: what the full mode's canaries and guard pages add.
harden="$root/crates/heapwise-preload/tests/c/harden"
row "$harden/h01_canary_slack.c" 11b "a one-byte overflow into a block's slack (malloc(33): 40 usable bytes)"
row "$harden/h02_large_guard.c" 13 "a write one byte past a 1 MiB block (a large, mmap block)"
