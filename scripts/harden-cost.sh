#!/usr/bin/env bash
# Cost of the default misuse checks: a single-threaded malloc/free/realloc loop (N operations,
# 4096 slots, sizes 8-507 bytes, a realloc every 1024 operations) run RUNS times each, interleaved,
# on glibc and on libheapwise.so with HEAPWISE_HARDEN=off and default; prints the process CPU
# times sorted and the medians with ratios.
#
#   scripts/harden-cost.sh [libheapwise.so] [runs=9] [ops=20000000]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=${1:-}
runs=${2:-9}
ops=${3:-20000000}
if [[ -z "$lib" ]]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
    cargo build --release -q -p heapwise-preload --manifest-path "$root/Cargo.toml"
    lib=$CARGO_TARGET_DIR/release/libheapwise.so
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/bench.c" <<'C'
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 5000000;
    enum { W = 4096 };
    void *slot[W] = {0};
    unsigned x = 12345;
    for (long i = 0; i < n; i++) {
        x = x * 1103515245 + 12345;
        unsigned k = (x >> 8) % W;
        if (slot[k]) { free(slot[k]); slot[k] = 0; }
        else { size_t s = 8 + (x >> 20) % 500; slot[k] = malloc(s); memset(slot[k], 1, 8); }
        if ((i & 1023) == 0) { void *p = realloc(malloc(100), 300 + (x & 1023)); free(p); }
    }
    for (int k = 0; k < W; k++) free(slot[k]);
    struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    printf("%.4f\n", t.tv_sec + t.tv_nsec / 1e9);
    return 0;
}
C
gcc -O2 -o "$tmp/bench" "$tmp/bench.c"
for ((i = 0; i < runs; i++)); do
    for m in off default; do echo "$m $(HEAPWISE_HARDEN=$m LD_PRELOAD=$lib "$tmp/bench" "$ops")"; done
    echo "glibc $("$tmp/bench" "$ops")"
done > "$tmp/res"
sort -k1,1 -k2n "$tmp/res" | awk '
    { v[$1] = v[$1] " " $2; n[$1]++; a[$1, n[$1]] = $2 }
    END {
        for (k in n) { m[k] = a[k, int((n[k] + 1) / 2)]; print k ":" v[k] }
        printf "median CPU s: glibc %.4f, off %.4f (x%.3f glibc), default %.4f (x%.3f glibc), default/off x%.3f\n",
            m["glibc"], m["off"], m["off"] / m["glibc"], m["default"], m["default"] / m["glibc"], m["default"] / m["off"]
    }'
