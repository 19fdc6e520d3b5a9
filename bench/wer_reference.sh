#!/usr/bin/env bash
# faster-whisper hypotheses for the LibriSpeech sets of the eval manifest, for scoring
# later by Chorus's own TypeScript WER scorer. Development only (needs bench/.venv).
#   bench/out/fw-librispeech-float32.jsonl, bench/out/fw-librispeech-int8.jsonl
# Decoding: beam 1, no VAD, language en, faster-whisper defaults otherwise, cpu_threads=2.
# Env: CHORUS_EVAL_DIR, CHORUS_MODEL_DIR (default models/tiny.en), THREADS (default 2),
#      COMPUTE_TYPES (default "float32 int8").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/bench/.venv/bin/python"
[ -x "$PY" ] || { echo "bench/.venv missing: run bench/setup-venv.sh" >&2; exit 1; }
MODEL="${CHORUS_MODEL_DIR:-$ROOT/models/tiny.en}"
EVAL="${CHORUS_EVAL_DIR:-$ROOT/../shared/eval}"
THREADS="${THREADS:-2}"
SETS="librispeech-test-other,librispeech-test-clean,librispeech-dev-clean"
mkdir -p bench/out
for ct in ${COMPUTE_TYPES:-float32 int8}; do
  out="bench/out/fw-librispeech-$ct.jsonl"
  start=$(date +%s.%N)
  "$PY" bench/reference/fw_transcribe.py --model-dir "$MODEL" --eval-dir "$EVAL" \
    --sets "$SETS" --compute-type "$ct" --threads "$THREADS" --beam-size 1 --out "$out"
  end=$(date +%s.%N)
  printf '%s: %s  (%.1f s)\n' "$ct" "$(tail -n1 "$out")" "$(echo "$end - $start" | bc)"
done
