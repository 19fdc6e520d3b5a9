#!/usr/bin/env bash
# Python client compatibility bench (issue 17): deepgram-sdk (live + prerecorded), openai
# (json, verbose_json words, stream), pipecat-ai's DeepgramSTTService and
# livekit-plugins-deepgram's STT.stream(), unmodified, against `chorus serve` on a loopback port.
#
#   bash bench/compat-python.sh                 # all clients
#   ONLY=openai,pipecat-ai bash bench/compat-python.sh
#
# Installs bench/compat/requirements.txt into bench/.venv (created when missing; git-ignored).
# Starts the gateway (tiny.en, 2 threads, one API key), waits for /readyz, runs
# bench/compat/clients.py, stops the gateway. Exits non-zero if any case fails.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"
THREADS="${THREADS:-2}"
KEY="${CHORUS_COMPAT_KEY:-chorus-compat-key}"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

[ -f dist/bin/chorus.js ] || [ -f bin/chorus.js ] || { echo "chorus not built (npm run build)" >&2; exit 2; }
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  "$VENV/bin/python" -m pip install --quiet -r "$HERE/compat/requirements.txt"
fi

PORT="${PORT:-$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
LOG="$OUT/compat-python-gateway.log"
node bin/chorus.js serve --host 127.0.0.1 --port "$PORT" --threads "$THREADS" --api-key "$KEY" >"$LOG" 2>&1 &
GW=$!
stop() {
  if kill -0 "$GW" 2>/dev/null; then
    kill -TERM "$GW" 2>/dev/null || true
    wait "$GW" 2>/dev/null || true
  fi
}
trap stop EXIT

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  kill -0 "$GW" 2>/dev/null || { echo "gateway exited; log:" >&2; cat "$LOG" >&2; exit 2; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "gateway not ready after 60 s; log: $LOG" >&2; exit 2; }
echo "gateway ready on 127.0.0.1:$PORT (pid $GW, log $LOG)" >&2

rc=0
"$VENV/bin/python" "$HERE/compat/clients.py" --port "$PORT" --api-key "$KEY" --only "${ONLY:-}" \
  --out "$OUT/compat-python.json" "$@" || rc=$?
exit "$rc"
