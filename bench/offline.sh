#!/usr/bin/env bash
# Offline throughput benchmark over the eval `longform` set (4 clips, ~6.9 min), one
# process per engine, wall time of the whole process (model load included) and peak RSS
# from /usr/bin/time -v. Engines, all at 2 threads:
#   chorus          node bin/chorus.js transcribe FILE... --json --threads 2 --model MODEL
#   chorus-fp32, chorus-bf16, chorus-int8, chorus-int8-encoder: the same with --precision (chorus: the default)
#   faster-whisper  int8 and float32, cpu_threads=2, beam 1, no VAD (needs bench/.venv)
#   whisper.cpp     wcpp-f16 and wcpp-q8_0: whisper-cli -t 2 -l en -bs 1 -otxt, one process for
#                   all files, on models/<name> converted to ggml (bench/setup-whispercpp.sh)
# Engines that are not available are skipped and reported as such.
# Output: a markdown table on stdout, bench/out/offline.json, per-engine transcripts in
# bench/out/offline-<engine>-<precision>.jsonl and /usr/bin/time logs in *.time.
# RTF here = audio seconds / wall seconds (higher is faster).
# Env: CHORUS_EVAL_DIR, CHORUS_MODEL_DIR (default models/tiny.en), THREADS (2), LANGUAGE (en),
#      SETS (longform), ENGINES ("chorus fw-int8 fw-float32"; also wcpp-f16, wcpp-q8_0), REPEAT (3; runs are interleaved
#      across engines; the table shows the median and the best wall time).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
EVAL="${CHORUS_EVAL_DIR:-$ROOT/../shared/eval}"
MODEL="${CHORUS_MODEL_DIR:-models/tiny.en}"
THREADS="${THREADS:-2}"
SETS="${SETS:-longform}"
ENGINES="${ENGINES:-chorus fw-int8 fw-float32}"
REPEAT="${REPEAT:-3}"
OUT="$ROOT/bench/out"
PY="$ROOT/bench/.venv/bin/python"
WCPP="$ROOT/bench/peers/whisper.cpp/build/bin/whisper-cli"
MODEL_NAME="$(basename "$MODEL")"
mkdir -p "$OUT"

if [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing GNU time (apt-get install time)" >&2
    (apt-get update -qq && apt-get install -y -qq time) >/dev/null 2>&1
  fi
  [ -x /usr/bin/time ] || { echo "error: /usr/bin/time (GNU time) is required: apt-get install time" >&2; exit 1; }
fi
[ -f "$EVAL/manifest.jsonl" ] || { echo "error: no manifest at $EVAL/manifest.jsonl (set CHORUS_EVAL_DIR)" >&2; exit 1; }

# clip list for the selected sets (node: no Python needed for the Chorus column)
mapfile -t FILES < <(node -e '
  const fs = require("fs"), path = require("path");
  const [dir, sets] = process.argv.slice(1); const want = new Set(sets.split(","));
  for (const l of fs.readFileSync(path.join(dir, "manifest.jsonl"), "utf8").split("\n"))
    if (l.trim()) { const m = JSON.parse(l); if (want.has(m.set)) console.log(path.join(dir, m.path)); }' "$EVAL" "$SETS")
mapfile -t IDS < <(node -e '
  const fs = require("fs"), path = require("path");
  const [dir, sets] = process.argv.slice(1); const want = new Set(sets.split(","));
  for (const l of fs.readFileSync(path.join(dir, "manifest.jsonl"), "utf8").split("\n"))
    if (l.trim()) { const m = JSON.parse(l); if (want.has(m.set)) console.log(m.id); }' "$EVAL" "$SETS")
[ "${#FILES[@]}" -gt 0 ] || { echo "error: no clips in set(s) $SETS" >&2; exit 1; }
echo "clips: ${#FILES[@]} from set(s) $SETS; model $MODEL; threads $THREADS; repeat $REPEAT" >&2

# warm the page cache so the first engine does not pay for cold disk reads
cat "$MODEL"/* "${FILES[@]}" > /dev/null 2>&1 || true

STATUS="$OUT/offline-status.tsv"   # engine  precision  status  reason  time-files
: > "$STATUS"
: > "$OUT/offline-load.tsv"        # engine  precision  run  cpu-busy-%-before  loadavg-1min
declare -A RUNS=() DEAD=()

cpu_busy() {  # percent of all CPU time not idle over the next second (other users' load)
  local a b
  read -r _ a1 a2 a3 a4 a5 _ < /proc/stat; sleep 1; read -r _ b1 b2 b3 b4 b5 _ < /proc/stat
  a=$((a1 + a2 + a3 + a4 + a5)); b=$((b1 + b2 + b3 + b4 + b5))
  echo $(( 100 - 100 * ((b4 + b5) - (a4 + a5)) / (b - a > 0 ? b - a : 1) ))
}

run_once() {  # key name precision i cmd...  (one timed process; repeats are interleaved across engines)
  local key="$1" name="$2" prec="$3" i="$4"; shift 4
  local base="$OUT/offline-$name-$prec"
  # QUIET_WAIT=S: wait up to S seconds for the machine to be quiet (< QUIET_BUSY % busy, default 30)
  # before each run; spin-waiting thread pools (whisper.cpp's) suffer far more than others
  # from a co-tenant, so runs on a busy machine say little. The busy figure is logged.
  local busy waited=0; busy=$(cpu_busy)
  while [ "${QUIET_WAIT:-0}" -gt "$waited" ] && [ "$busy" -ge "${QUIET_BUSY:-30}" ]; do
    sleep 4; waited=$((waited + 5)); busy=$(cpu_busy)
  done
  echo "running $name $prec (run $i/$REPEAT, loadavg $(cut -d' ' -f1-3 /proc/loadavg), cpu busy before ${busy}%, waited ${waited}s)" >&2
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$prec" "$i" "$busy" "$(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/offline-load.tsv"
  /usr/bin/time -v -o "$base.$i.time" "$@" > "$base.jsonl" 2> "$base.stderr"
  local rc=$?
  if [ $rc -ne 0 ] && grep -q 'ERR_MODULE_NOT_FOUND\|Cannot find module' "$base.stderr"; then
    DEAD[$key]=1
    printf '%s\t%s\tskipped\tnot built (npm run build): %s\n' "$name" "$prec" \
      "$(grep -m1 -o "Cannot find module '[^']*'" "$base.stderr" | sed "s#$ROOT/##")" >> "$STATUS"
    echo "  $name $prec SKIPPED: not built, see $base.stderr" >&2
  elif [ $rc -ne 0 ]; then
    DEAD[$key]=1
    printf '%s\t%s\tfailed\texit %s: %s\n' "$name" "$prec" "$rc" \
      "$(grep -v '^\s*at ' "$base.stderr" | grep -m1 -iE 'error|cannot|not found|no such' | cut -c1-160)" >> "$STATUS"
    echo "  $name $prec FAILED (exit $rc), see $base.stderr" >&2
  else
    RUNS[$key]="${RUNS[$key]:-} $base.$i.time"
  fi
}

# "default" for plain chorus, else the precision after the dash.
chorus_precision() { [ "$1" = chorus ] && echo default || echo "${1#chorus-}"; }

skip() { DEAD[$1]=1; printf '%s\t%s\tskipped\t%s\n' "$2" "$3" "$4" >> "$STATUS"; echo "  skipping $2 $3: $4" >&2; }

# availability checks
for e in $ENGINES; do
  case "$e" in
    chorus|chorus-fp32|chorus-bf16|chorus-int8|chorus-int8-encoder)
      if [ ! -f bin/chorus.js ]; then skip "$e" chorus "$(chorus_precision "$e")" "bin/chorus.js not found"
      elif ! command -v node >/dev/null; then skip "$e" chorus "$(chorus_precision "$e")" "node not found"; fi ;;
    fw-int8|fw-float32)
      [ -x "$PY" ] || skip "$e" faster-whisper "${e#fw-}" "bench/.venv missing (run bench/setup-venv.sh)" ;;
    wcpp-f16|wcpp-q8_0)
      if [ ! -x "$WCPP" ]; then skip "$e" whisper.cpp "${e#wcpp-}" "whisper-cli not built (bash bench/setup-whispercpp.sh)"
      elif [ ! -f "bench/peers/models/ggml-$MODEL_NAME-${e#wcpp-}.bin" ]; then
        skip "$e" whisper.cpp "${e#wcpp-}" "bench/peers/models/ggml-$MODEL_NAME-${e#wcpp-}.bin missing (bash bench/setup-whispercpp.sh)"; fi ;;
    *) skip "$e" "$e" "?" "unknown engine name" ;;
  esac
done

# runs, interleaved: repeat i runs every engine once, so background load hits all engines alike
for ((i = 1; i <= REPEAT; i++)); do
  for e in $ENGINES; do
    [ -n "${DEAD[$e]:-}" ] && continue
    case "$e" in
      chorus)
        run_once "$e" chorus default "$i" node bin/chorus.js transcribe "${FILES[@]}" --json --threads "$THREADS" --model "$MODEL" \
          --language "${LANGUAGE:-en}" ;;
      chorus-*)
        run_once "$e" chorus "${e#chorus-}" "$i" node bin/chorus.js transcribe "${FILES[@]}" --json --threads "$THREADS" \
          --model "$MODEL" --precision "${e#chorus-}" --language "${LANGUAGE:-en}" ;;
      fw-int8|fw-float32)
        run_once "$e" faster-whisper "${e#fw-}" "$i" "$PY" bench/reference/fw_transcribe.py --model-dir "$MODEL" \
          --eval-dir "$EVAL" --sets "$SETS" --compute-type "${e#fw-}" --threads "$THREADS" --beam-size 1 --out - ;;
      wcpp-f16|wcpp-q8_0)
        p="${e#wcpp-}" txt="$OUT/offline-whisper.cpp-$p.txt"
        rm -rf "$txt"; mkdir -p "$txt"
        args=()
        for k in "${!FILES[@]}"; do args+=(-f "${FILES[$k]}" -of "$txt/${IDS[$k]}"); done
        run_once "$e" whisper.cpp "$p" "$i" "$WCPP" -m "bench/peers/models/ggml-$MODEL_NAME-$p.bin" -t "$THREADS" \
          -l "${LANGUAGE:-en}" -bs 1 -otxt "${args[@]}"
        # its transcripts (one .txt per clip) as JSONL for the report and the WER scorer
        node -e '
          const fs = require("fs"), path = require("path"); const [dir, ...ids] = process.argv.slice(1);
          for (const id of ids) { const f = path.join(dir, id + ".txt");
            if (fs.existsSync(f)) console.log(JSON.stringify({ id, text: fs.readFileSync(f, "utf8").replace(/\s+/g, " ").trim() })); }' \
          "$txt" "${IDS[@]}" > "$OUT/offline-whisper.cpp-$p.jsonl" ;;
    esac
  done
done
for e in $ENGINES; do
  [ -n "${DEAD[$e]:-}" ] && continue
  case "$e" in chorus*) n=chorus p="$(chorus_precision "$e")" ;; wcpp-*) n=whisper.cpp p="${e#wcpp-}" ;; *) n=faster-whisper p="${e#fw-}" ;; esac
  printf '%s\t%s\tok\t\t%s\n' "$n" "$p" "${RUNS[$e]# }" >> "$STATUS"
done

node bench/offline-report.mjs "$STATUS" "$EVAL" "$SETS" "$THREADS" "$MODEL" "$OUT/offline.json"
