#!/usr/bin/env python3
"""Dump faster-whisper's word timestamps for the JFK clip to test/fixtures/reference/jfk-words.json
(development only; the test suite reads the JSON and never runs Python).

faster-whisper aligns words with the same method Chorus implements (cross-attention of the
model's alignment heads, standardised, median-filtered, DTW), on the same CTranslate2
weights Chorus loads (models/tiny.en), computed in float32. Decoding: greedy (beam_size 1),
language "en", no VAD, word_timestamps=True, everything else at faster-whisper defaults.
"""
from __future__ import annotations

import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
MODEL_DIR = os.path.join(REPO, "models", "tiny.en")
AUDIO = os.path.join(REPO, "test", "fixtures", "audio", "jfk.wav")
OUT = os.path.join(REPO, "test", "fixtures", "reference", "jfk-words.json")


def main() -> int:
    import ctranslate2
    import faster_whisper
    from faster_whisper import WhisperModel

    model = WhisperModel(MODEL_DIR, device="cpu", compute_type="float32", cpu_threads=2, num_workers=1)
    segments, _ = model.transcribe(AUDIO, beam_size=1, word_timestamps=True, language="en", vad_filter=False)
    segments = list(segments)
    out = {
        "clip": "test/fixtures/audio/jfk.wav",
        "generated_by": {
            "command": "bench/.venv/bin/python bench/reference/dump_word_times.py",
            "call": "WhisperModel('models/tiny.en', compute_type='float32').transcribe(jfk, beam_size=1, "
                    "word_timestamps=True, language='en', vad_filter=False)",
            "faster_whisper": faster_whisper.__version__,
            "ctranslate2": ctranslate2.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "segments": [
            {
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "words": [
                    {"word": w.word, "start": w.start, "end": w.end, "probability": round(w.probability, 4)}
                    for w in s.words
                ],
            }
            for s in segments
        ],
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {os.path.relpath(OUT, REPO)}: {sum(len(s['words']) for s in out['segments'])} words")
    return 0


if __name__ == "__main__":
    sys.exit(main())
