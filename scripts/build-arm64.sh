#!/usr/bin/env bash
# Cross-compiles Chorus for aarch64 (the NEON kernel variants and the addon), so the arm64
# paths are checked on x86 machines. npm test runs the kernel tests under user-mode emulation
# (test/kernels/kernels.test.ts), and the addon under an aarch64 Node against the reference
# implementation's numbers (test/engine/numerics.test.ts); `--run` runs the kernel tests by
# hand. Needs Debian's aarch64 cross compiler and qemu (the set-up installs them on x86):
#   apt-get install -y --no-install-recommends g++-aarch64-linux-gnu qemu-user-static
# and, for the addon test, an aarch64 Node in build/node-arm64 (scripts/fetch-arm64-node.sh).
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
# Until session 12 this folder was configured from kernels/ alone; CMake refuses to reuse it
# for the whole project.
if [[ -f $dir/CMakeCache.txt ]] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$PWD\$" "$dir/CMakeCache.txt"; then
  rm -rf "$dir"
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$dir" -j "$(nproc)" --target kernel_tests kernel_bench chorus_addon
# -L: the aarch64 loader and libraries of the cross toolchain (libstdc++, libc).
if $run; then qemu-aarch64-static -L /usr/aarch64-linux-gnu "$dir/kernels/kernel_tests"; fi
