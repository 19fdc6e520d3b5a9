#!/usr/bin/env bash
# Cross-compiles the kernels for aarch64 (NEON variants, kernels/CMakeLists.txt), so the arm64
# paths are checked on x86 machines: npm test runs the test binary under user-mode emulation
# (test/kernels/kernels.test.ts), as does `scripts/build-arm64.sh --run`. Needs Debian's
# aarch64 cross compiler and qemu (the set-up installs them on x86):
#   apt-get install -y --no-install-recommends g++-aarch64-linux-gnu qemu-user-static
# Usage: scripts/build-arm64.sh [--run] [build dir, default build/arm64]
# Emulation checks correctness only: its timings say nothing about speed on arm64 hardware.
set -euo pipefail
cd "$(dirname "$0")/.."
run=false
if [[ ${1:-} == --run ]]; then run=true; shift; fi
dir="${1:-build/arm64}"
for tool in aarch64-linux-gnu-g++ qemu-aarch64-static; do
  command -v "$tool" >/dev/null || {
    echo "error: $tool not found: apt-get install g++-aarch64-linux-gnu qemu-user-static" >&2
    exit 1
  }
done
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S kernels -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$dir" -j "$(nproc)" --target kernel_tests kernel_bench
# -L: the aarch64 loader and libraries of the cross toolchain (libstdc++, libc).
if $run; then qemu-aarch64-static -L /usr/aarch64-linux-gnu "$dir/kernel_tests"; fi
