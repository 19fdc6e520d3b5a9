#!/usr/bin/env bash
# Checks that the mel filterbank bench/reference/ct2_to_ggml.py embeds in the whisper.cpp files
# equals the one Chorus computes (mel_filters() in native/src/log_mel.cpp, compiled on its own
# here) and faster-whisper's (checked inside the converter). Development only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
"$ROOT/bench/.venv/bin/python" - "$ROOT/bench/reference" "$TMP/numpy.f32" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from ct2_to_ggml import slaney_mel_filters
slaney_mel_filters(80).astype("<f4").tofile(sys.argv[2])
PY
{
  printf '#include <algorithm>\n#include <cmath>\n#include <cstdio>\n#include <vector>\n'
  printf 'struct LogMel { static constexpr int kBins = 201, kSampleRate = 16000, kFft = 400; };\n'
  sed -n '/^double hz_to_mel/,/^\/\/ Real DFT/p' "$ROOT/native/src/log_mel.cpp" | sed '$d'
  cat <<'CPP'
int main(int, char ** argv) {
  const auto w = mel_filters(80);  // [bins][mels]
  std::vector<float> g(80 * 201);
  FILE * f = std::fopen(argv[1], "rb");
  if (!f || std::fread(g.data(), 4, g.size(), f) != g.size()) return 1;
  double mx = 0;
  for (int b = 0; b < 201; ++b) for (int m = 0; m < 80; ++m) mx = std::max(mx, (double) std::fabs(w[b * 80 + m] - g[m * 201 + b]));
  std::printf("mel filterbank, native/src/log_mel.cpp vs ct2_to_ggml.py: max abs difference %g\n", mx);
  return mx > 1e-6;
}
CPP
} > "$TMP/check.cpp"
"${CXX:-g++}" -std=c++17 -O1 "$TMP/check.cpp" -o "$TMP/check"
"$TMP/check" "$TMP/numpy.f32"
