#!/usr/bin/env bash
# Builds the native addon (build/chorus.node), the kernel tests and micro-benchmarks, and
# the kernel tests again under AddressSanitizer and UndefinedBehaviorSanitizer
# (build/sanitize/kernel_tests), which npm test runs beside the optimised build; on x86, also
# the kernel tests and the addon for arm64 (build/arm64), which npm test runs under qemu.
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
cmake -S kernels -B build/sanitize "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" >/dev/null
cmake --build build/sanitize -j "$(nproc)" --target kernel_tests
if [[ $(uname -m) == x86_64 ]]; then
  if command -v aarch64-linux-gnu-g++ >/dev/null; then
    bash scripts/build-arm64.sh
  else
    echo "build-native: arm64 kernel tests and addon not built (npm test will fail on them): apt-get install g++-aarch64-linux-gnu qemu-user-static" >&2
  fi
fi
