#!/usr/bin/env python3
"""faster-whisper reference transcription over eval-manifest sets/ids (development only).

Writes JSONL: one line per clip {id, set, text, duration_s, elapsed_s}, then a summary
line {summary: true, audio_s, wall_s (incl. model load), rtf = audio_s / wall_s, load_s,
threads, compute_type, peak_rss_mb, ...}.

Decoding: beam_size (default 1), no VAD, language "en", everything else at
faster-whisper defaults (temperature fallback, condition_on_previous_text=True).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

T0 = time.perf_counter()  # before the heavy imports: wall_s covers them too

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def default_eval_dir() -> str:
    return os.environ.get("CHORUS_EVAL_DIR") or os.path.normpath(os.path.join(REPO, "..", "shared", "eval"))


def load_manifest(eval_dir: str) -> list[dict]:
    with open(os.path.join(eval_dir, "manifest.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def select(manifest: list[dict], sets: str | None, ids: str | None) -> list[dict]:
    want_sets = {s for s in (sets or "").split(",") if s}
    want_ids = {s for s in (ids or "").split(",") if s}
    if not want_sets and not want_ids:
        raise SystemExit("give --sets and/or --ids")
    known_sets = {m["set"] for m in manifest}
    bad = want_sets - known_sets
    if bad:
        raise SystemExit(f"unknown set(s): {sorted(bad)}; known: {sorted(known_sets)}")
    rows = [m for m in manifest if m["set"] in want_sets or m["id"] in want_ids]
    missing = want_ids - {m["id"] for m in rows}
    if missing:
        raise SystemExit(f"unknown id(s): {sorted(missing)}")
    return rows


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(REPO, "models", "tiny.en"))
    ap.add_argument("--eval-dir", default=default_eval_dir())
    ap.add_argument("--sets", default=None, help="comma-separated manifest sets")
    ap.add_argument("--ids", default=None, help="comma-separated manifest ids")
    ap.add_argument("--compute-type", default="int8", choices=["int8", "float32"])
    ap.add_argument("--threads", type=int, default=2, help="ctranslate2 cpu_threads")
    ap.add_argument("--beam-size", type=int, default=1)
    ap.add_argument("--out", required=True, help="output JSONL path ('-' for stdout)")
    args = ap.parse_args()

    rows = select(load_manifest(args.eval_dir), args.sets, args.ids)

    from faster_whisper import WhisperModel  # noqa: E402  (timed as part of load)
    import ctranslate2
    import faster_whisper

    model = WhisperModel(args.model_dir, device="cpu", compute_type=args.compute_type,
                         cpu_threads=args.threads, num_workers=1)
    load_s = time.perf_counter() - T0

    out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
    audio_s = 0.0
    try:
        for m in rows:
            path = os.path.join(args.eval_dir, m["path"])
            t = time.perf_counter()
            segments, info = model.transcribe(path, language="en", beam_size=args.beam_size,
                                              vad_filter=False)
            segs = list(segments)  # generator: decoding happens here
            elapsed = time.perf_counter() - t
            text = "".join(s.text for s in segs).strip()
            audio_s += float(m["duration_s"])
            out.write(json.dumps({"id": m["id"], "set": m["set"], "text": text,
                                  "duration_s": m["duration_s"], "elapsed_s": round(elapsed, 4),
                                  "segments": len(segs),
                                  # >0 means the temperature fallback (random sampling) kicked in
                                  "max_temperature": max((s.temperature for s in segs), default=0.0)},
                                 ensure_ascii=False) + "\n")
            out.flush()
        wall_s = time.perf_counter() - T0
        out.write(json.dumps({
            "summary": True, "clips": len(rows), "audio_s": round(audio_s, 3),
            "wall_s": round(wall_s, 3), "rtf": round(audio_s / wall_s, 3) if wall_s else None,
            "load_s": round(load_s, 3), "threads": args.threads, "compute_type": args.compute_type,
            "beam_size": args.beam_size, "peak_rss_mb": round(peak_rss_mb(), 1),
            "engine": "faster-whisper", "faster_whisper": faster_whisper.__version__,
            "ctranslate2": ctranslate2.__version__, "model_dir": os.path.relpath(args.model_dir, REPO),
        }) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
