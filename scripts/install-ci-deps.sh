#!/usr/bin/env bash
# Install everything the heapwise test-suite needs on a fresh Debian 12 (bookworm) machine.
#
# Runs as root (CI does). Idempotent: apt-get install of already installed packages is a no-op,
# so running it twice is cheap. Used by .ci/run before `cargo test --workspace`.
#
# What needs what:
#   gcc, libc6-dev          - the C conformance programs (crates/heapwise-preload/tests/c/*.c)
#   gcc-i686-linux-gnu, g++-i686-linux-gnu, libc6-dev-i386-cross, libc6-i386,
#   lib32stdc++6, lib32gcc-s1 - the i686 step of .ci/run: the Rust test binaries linked and
#                             the C programs built for 32-bit x86, and the 32-bit loader and
#                             C/C++ runtime they run on (not gcc-multilib: Debian has it
#                             conflict with every cross compiler, the aarch64 one below too)
#   qemu-user, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, gcc-arm-linux-gnueabihf,
#   libc6-dev-armhf-cross   - the aarch64 and armv7 builds run under qemu
#                             (scripts/cross-test.sh, the Arm step of .ci/run)
#   g++                     - real-program test: g++ -O2 compiling <regex>/<map> under LD_PRELOAD
#   python3.11 + libpython3.11-testsuite - `python3.11 -m test` with PYTHONMALLOC=malloc
#   sqlite3, perl, lua5.4, bash, git, nodejs - real-program tests
#   redis-server, redis-tools - redis-server (links jemalloc) driven by redis-benchmark on 127.0.0.1
#   valgrind                - memcheck runs (issue 6)
#   procps, coreutils       - ps/kill/timeout used by scripts and tests
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-ci-deps.sh: must run as root (apt-get install)" >&2
    exit 1
fi

PACKAGES=(
    gcc
    g++
    libc6-dev
    gcc-i686-linux-gnu
    g++-i686-linux-gnu
    libc6-dev-i386-cross
    libc6-i386
    lib32stdc++6
    lib32gcc-s1
    qemu-user
    gcc-aarch64-linux-gnu
    libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf
    libc6-dev-armhf-cross
    make
    python3.11
    libpython3.11-testsuite
    sqlite3
    perl
    lua5.4
    bash
    git
    nodejs
    redis-server
    redis-tools
    valgrind
    procps
    coreutils
    xz-utils
    zstd
)

export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-ci-deps.sh: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

echo "install-ci-deps.sh: installing: ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-ci-deps.sh: done"
