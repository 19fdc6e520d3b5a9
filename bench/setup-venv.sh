#!/usr/bin/env bash
# Create bench/.venv (git-ignored) with the Python reference stack used by the
# bench/ scripts. Development only: Chorus itself never needs Python.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements.txt"
"$VENV/bin/python" - <<'PY'
import ctranslate2, faster_whisper, numpy, sys
print(f"python {sys.version.split()[0]}  faster-whisper {faster_whisper.__version__}  "
      f"ctranslate2 {ctranslate2.__version__}  numpy {numpy.__version__}")
PY
