#!/usr/bin/env bash
# Issue 7's side-by-side benchmark: Chorus, faster-whisper int8 (CTranslate2 from PyPI) and
# whisper.cpp (f16 and q8_0, same weights converted) on the same 2 threads and the same audio.
# Per model (MODELS, default "tiny.en base"):
#   1. accuracy check: jfk + librispeech-test-clean, every engine once (bench/offline.sh, REPEAT=1,
#      no quiet wait: only the transcripts are used)
#   2. offline RTF over `longform` with model load, peak RSS (bench/offline.sh, REPEAT runs
#      interleaved across engines)
#   3. encoder ms per 30 s window, decoder ms per step at batch 1/8/32
#      (bench/peer-ops-chorus.mjs for Chorus, bench/peer-ops.py for the peers)
# then bench/peers-report.mjs prints the tables (ratios against faster-whisper int8 and
# whisper.cpp) and writes bench/out/peers.json. Development only.
# Needs: npm run build, bash bench/setup-venv.sh, bash bench/setup-whispercpp.sh.
# Env: MODELS, THREADS (2), REPEAT (3), ENGINES ("chorus fw-int8 wcpp-f16 wcpp-q8_0"),
#      OPS_REPS (5), SKIP_CHECK=1 (no step 1), SKIP_OFFLINE=1, SKIP_OPS=1, QUIET_WAIT/QUIET_BUSY
#      (see offline.sh; default here QUIET_WAIT=120), CHORUS_EVAL_DIR.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/bench/out"
PY="$ROOT/bench/.venv/bin/python"
MODELS="${MODELS:-tiny.en base}"
THREADS="${THREADS:-2}"
REPEAT="${REPEAT:-3}"
ENGINES="${ENGINES:-chorus fw-int8 wcpp-f16 wcpp-q8_0}"
export QUIET_WAIT="${QUIET_WAIT:-120}" THREADS
mkdir -p "$OUT"
echo "peers: models $MODELS, threads $THREADS, repeat $REPEAT, engines $ENGINES; loadavg $(cut -d' ' -f1-3 /proc/loadavg)" >&2

quiet() {  # wait up to QUIET_WAIT s for the machine to be under QUIET_BUSY % busy; echo the busy %
  local busy waited=0 a1 a2 a3 a4 a5 b1 b2 b3 b4 b5 t
  while :; do
    read -r _ a1 a2 a3 a4 a5 _ < /proc/stat; sleep 1; read -r _ b1 b2 b3 b4 b5 _ < /proc/stat
    t=$(( (b1 + b2 + b3 + b4 + b5) - (a1 + a2 + a3 + a4 + a5) )); [ "$t" -gt 0 ] || t=1
    busy=$(( 100 - 100 * ((b4 + b5) - (a4 + a5)) / t ))
    { [ "$busy" -lt "${QUIET_BUSY:-30}" ] || [ "$waited" -ge "$QUIET_WAIT" ]; } && break
    sleep 4; waited=$((waited + 5))
  done
  echo "$busy"
}

save() {  # tag: keep offline.sh's outputs of this pass under bench/out/peers-<tag>-*
  local tag="$1" f
  cp "$OUT/offline.json" "$OUT/peers-$tag-offline.json"
  cp "$OUT/offline-load.tsv" "$OUT/peers-$tag-load.tsv"
  for f in "$OUT"/offline-*.jsonl; do cp "$f" "$OUT/peers-$tag-${f#$OUT/offline-}"; done
}

for m in $MODELS; do
  rm -f "$OUT"/offline-*.jsonl
  if [ -z "${SKIP_CHECK:-}" ]; then
    QUIET_WAIT=0 CHORUS_MODEL_DIR="models/$m" SETS=jfk,librispeech-test-clean REPEAT=1 ENGINES="$ENGINES" \
      bash bench/offline.sh > "$OUT/peers-$m-check.md" && save "$m-check"
  fi
  rm -f "$OUT"/offline-*.jsonl
  if [ -z "${SKIP_OFFLINE:-}" ]; then
    CHORUS_MODEL_DIR="models/$m" SETS=longform REPEAT="$REPEAT" ENGINES="$ENGINES" \
      bash bench/offline.sh > "$OUT/peers-$m-longform.md" && save "$m-longform"
  fi
  if [ -z "${SKIP_OPS:-}" ]; then
    for e in $ENGINES; do rm -f "$OUT/peers-$m-ops-$e.json"; done
    for e in $ENGINES; do
      busy=$(quiet)
      echo "ops: $e $m (loadavg $(cut -d' ' -f1 /proc/loadavg), cpu busy before ${busy}%)" >&2
      case "$e" in
        chorus) node bench/peer-ops-chorus.mjs --model "$m" --threads "$THREADS" --reps "${OPS_REPS:-5}" \
                  --out "$OUT/peers-$m-ops-$e.json" > /dev/null || echo "chorus ops failed" >&2 ;;
        *) "$PY" bench/peer-ops.py --model "$m" --threads "$THREADS" --reps "${OPS_REPS:-5}" --engines "$e" \
             --out "$OUT/peers-$m-ops-$e.json" > /dev/null || echo "$e ops failed" >&2 ;;
      esac
      [ -f "$OUT/peers-$m-ops-$e.json" ] && node -e '
        const fs = require("fs"); const [f, busy] = process.argv.slice(1); const d = JSON.parse(fs.readFileSync(f, "utf8"));
        d.cpu_busy_before_pct = Number(busy); fs.writeFileSync(f, JSON.stringify(d, null, 1) + "\n");' "$OUT/peers-$m-ops-$e.json" "$busy"
    done
  fi
done
node bench/peers-report.mjs $MODELS
