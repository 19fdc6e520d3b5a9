#!/usr/bin/env bash
# Build whisper.cpp (a *peer* for bench/peers.sh, never part of Chorus) from its public
# source, CPU only, CMake Release, native ISA. Development only. Idempotent: an existing
# build at the same tag is kept.
#
#   bench/peers/whisper.cpp/          source tree of tag $WHISPERCPP_TAG (git-ignored)
#   bench/peers/whisper.cpp/build/bin/{whisper-cli,whisper-bench,whisper-quantize}
#   bench/peers/whisper.cpp/build/peer-ops-whispercpp   (bench/peer-ops-whispercpp.cpp, ours)
#   bench/peers/models/ggml-<model>-{f16,q8_0}.bin       (models/<model> converted by
#        bench/reference/ct2_to_ggml.py, then whisper.cpp's own quantize tool; MODELS="tiny.en base")
#
# The set-up machine cannot reach GitHub directly, so the source is taken from a local place:
#   WHISPERCPP_SRC=DIR   an unpacked source tree (copied as is; the tag is then only a label), or
#   WHISPERCPP_GIT=DIR   a git directory (bare mirror or clone) holding the tag; the default is
#                        the snapshot mirror /work/.mirror/ggml-org+whisper.cpp/repo if present.
# Env: MODELS (default "tiny.en base"), WHISPERCPP_TAG (default v1.9.3, commit 371b5a756182, 2026-08-20), JOBS (nproc).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TAG="${WHISPERCPP_TAG:-v1.9.3}"
DEST="$ROOT/bench/peers/whisper.cpp"
JOBS="${JOBS:-$(nproc)}"
mkdir -p "$ROOT/bench/peers"

if [ -f "$DEST/.chorus-tag" ] && [ "$(cat "$DEST/.chorus-tag")" = "$TAG" ]; then
  echo "whisper.cpp $TAG already unpacked in ${DEST#$ROOT/}" >&2
else
  rm -rf "$DEST"; mkdir -p "$DEST"
  if [ -n "${WHISPERCPP_SRC:-}" ]; then
    [ -f "$WHISPERCPP_SRC/CMakeLists.txt" ] || { echo "error: $WHISPERCPP_SRC is not a whisper.cpp tree" >&2; exit 1; }
    cp -a "$WHISPERCPP_SRC/." "$DEST/"
    echo "whisper.cpp copied from $WHISPERCPP_SRC (labelled $TAG)" >&2
  else
    GITDIR="${WHISPERCPP_GIT:-/work/.mirror/ggml-org+whisper.cpp/repo}"
    git --git-dir="$GITDIR" rev-parse --verify -q "$TAG^{commit}" >/dev/null || {
      echo "error: tag $TAG not found in $GITDIR; set WHISPERCPP_GIT (git dir) or WHISPERCPP_SRC (source tree)" >&2; exit 1; }
    git --git-dir="$GITDIR" archive "$TAG" | tar -x -C "$DEST"
    echo "whisper.cpp $TAG ($(git --git-dir="$GITDIR" rev-parse "$TAG^{commit}")) unpacked from $GITDIR" >&2
  fi
  echo "$TAG" > "$DEST/.chorus-tag"
fi

BIN="$DEST/build/bin"
if [ -x "$BIN/whisper-cli" ] && [ -x "$BIN/whisper-bench" ] && [ -x "$BIN/whisper-quantize" ]; then
  echo "whisper.cpp already built: ${BIN#$ROOT/}" >&2
else
  cmake -S "$DEST" -B "$DEST/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=ON \
    -DWHISPER_BUILD_TESTS=OFF -DWHISPER_BUILD_SERVER=OFF -DWHISPER_SDL2=OFF -DWHISPER_CURL=OFF \
    -DBUILD_SHARED_LIBS=OFF >/dev/null
  cmake --build "$DEST/build" -j "$JOBS" --target whisper-cli whisper-bench whisper-quantize
fi

# our own timing harness (bench/peer-ops-whispercpp.cpp) against the peer's public C API
OPS="$DEST/build/peer-ops-whispercpp"
if [ ! -x "$OPS" ] || [ "$ROOT/bench/peer-ops-whispercpp.cpp" -nt "$OPS" ]; then
  L="$DEST/build"
  "${CXX:-g++}" -O2 -std=c++17 -I "$DEST/include" -I "$DEST/ggml/include" "$ROOT/bench/peer-ops-whispercpp.cpp" \
    "$L/src/libwhisper.a" "$L/ggml/src/libggml.a" "$L/ggml/src/libggml-cpu.a" "$L/ggml/src/libggml-base.a" \
    -fopenmp -lpthread -o "$OPS"
fi
ls -1 "$BIN"/whisper-cli "$BIN"/whisper-bench "$BIN"/whisper-quantize "$OPS"

# the same weights Chorus runs, in whisper.cpp's format (needs bench/.venv for the converter)
PY="$ROOT/bench/.venv/bin/python"
for m in ${MODELS:-tiny.en base}; do
  [ -f "$ROOT/models/$m/model.bin" ] || { echo "models/$m missing: skipping its conversion" >&2; continue; }
  f16="$ROOT/bench/peers/models/ggml-$m-f16.bin" q8="$ROOT/bench/peers/models/ggml-$m-q8_0.bin"
  if [ ! -f "$f16" ] || [ "$ROOT/models/$m/model.bin" -nt "$f16" ]; then
    [ -x "$PY" ] || { echo "error: bench/.venv missing (bash bench/setup-venv.sh) for the converter" >&2; exit 1; }
    "$PY" "$ROOT/bench/reference/ct2_to_ggml.py" "$ROOT/models/$m" "$f16"
    rm -f "$q8"
  fi
  if [ ! -f "$q8" ]; then
    "$BIN/whisper-quantize" "$f16" "$q8" q8_0 >/dev/null 2>&1 || { echo "error: whisper-quantize failed for $m" >&2; exit 1; }
  fi
  ls -1 "$f16" "$q8"
done
