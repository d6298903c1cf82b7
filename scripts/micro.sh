#!/usr/bin/env bash
# C micro-benchmarks of single calls of the malloc family (not timed tests), each program
# run ROUNDS times (default 5) under every allocator in turn, interleaved; prints the
# median and range of each figure the program reports.
#
#   scripts/micro.sh [libheapwise.so] [NAME=/path/lib.so ...]
#
# Allocators: glibc (no preload), heapwise (the library given, default
# target/release/libheapwise.so), and mimalloc / jemalloc when their Debian packages are
# installed (scripts/install-bench-deps.sh), plus any NAME=lib given.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${ROUNDS:-5}
hw=${1:-$root/target/release/libheapwise.so}
shift || true
declare -a names=(glibc heapwise) libs=("" "$hw")
for l in /usr/lib/x86_64-linux-gnu/libmimalloc.so.2:mimalloc /usr/lib/x86_64-linux-gnu/libjemalloc.so.2:jemalloc; do
    [[ -f ${l%%:*} ]] && names+=("${l##*:}") && libs+=("${l%%:*}")
done
for extra in "$@"; do names+=("${extra%%=*}"); libs+=("${extra#*=}"); done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for prog in aligned usable_size; do
    gcc -O2 -o "$out/$prog" "$root/scripts/micro/$prog.c"
done
declare -a cases=("aligned 32" "aligned 64" "aligned 128" "usable_size")
for ((r = 0; r < rounds; r++)); do
    for c in "${cases[@]}"; do
        for i in "${!names[@]}"; do
            line=$(env ${libs[$i]:+LD_PRELOAD=${libs[$i]}} "$out/"$c)
            printf '%s\t%s\t%s\n' "$c" "${names[$i]}" "$line" >> "$out/results"
        done
    done
done
python3 - "$out/results" <<'PY'
import collections, re, statistics, sys
d = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    case, name, text = line.rstrip("\n").split("\t")
    nums = [float(x) for x in re.findall(r"[0-9]+\.[0-9]+", text)]
    labels = re.findall(r"ns per (\w+)", text)
    for v, lab in zip(nums, labels):
        key = (f"{case} (ns per {lab})", name)
        if key[0] not in order:
            order.append(key[0])
        d[key].append(v)
names = list(dict.fromkeys(n for _, n in d))
print("| case | " + " | ".join(names) + " |")
print("|---|" + "---:|" * len(names))
for case in order:
    cells = []
    for n in names:
        v = d.get((case, n))
        cells.append(f"{statistics.median(v):.1f} ({min(v):.1f}–{max(v):.1f})" if v else "")
    print(f"| {case} | " + " | ".join(cells) + " |")
PY
