#!/usr/bin/env bash
# Install what the hosted benchmark suite (crates/heapwise-hosted) needs on Debian/Ubuntu:
# the reference allocators (jemalloc, mimalloc, tcmalloc-minimal) that it preloads, and the
# real programs it runs (python3.11, sqlite3, redis-server + redis-benchmark, g++).
# Idempotent: installs only what is missing; safe to run again.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Package name -> file that proves it is installed.
declare -A WANT=(
  [libjemalloc2]=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
  [libmimalloc2.0]=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2
  [libtcmalloc-minimal4]=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
  [sqlite3]=/usr/bin/sqlite3
  [redis-server]=/usr/bin/redis-server
  [redis-tools]=/usr/bin/redis-benchmark
  [g++]=/usr/bin/g++
  [python3.11]=/usr/bin/python3.11
)

missing=()
for pkg in "${!WANT[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-bench-deps: everything is installed"
  exit 0
fi

echo "install-bench-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
# Keep redis-server from being started as a service (the suite starts its own on a free port).
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-bench-deps: done"
