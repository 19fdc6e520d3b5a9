"""Per-operation timings of the peers for bench/peers.sh: encoder milliseconds per 30 s window
and decoder milliseconds per step at batch 1, 8 and 32, for faster-whisper's CTranslate2
(int8 / float32) and whisper.cpp (through bench/peer-ops-whispercpp.cpp). Chorus is timed by
bench/peer-ops-chorus.mjs with the same method. Development only (bench/.venv).

    bench/.venv/bin/python bench/peer-ops.py --model tiny.en --engines fw-int8,fw-float32,wcpp-f16,wcpp-q8_0 --threads 2

Input audio: the first 30 s of the first `longform` clip of the eval manifest (`--clip` to
change), turned into an 80 x 3000 log-mel window by faster-whisper's FeatureExtractor
(whisper.cpp computes its own log-mel from the same PCM).

Method, the same for every engine:
  encoder   one warm-up, then --reps timed calls encoding one 30 s window; median.
  decoder   greedy, no timestamps, a 30 s window's cross-attention (1500 frames), one token
            per sequence per step. CTranslate2 only exposes whole generations (and their first
            step also projects the encoder output to cross-attention keys/values), so its step
            time is (t(prompt + B steps) - t(prompt + A steps)) / (B - A) with A = --steps-a (8),
            B = --steps-b (40), <|endoftext|> suppressed so every generation runs to max_length,
            the two generations timed alternately --reps times; median of the paired differences
            ("best": fastest B minus fastest A). Includes CTranslate2's greedy argmax and
            logit processors (a few microseconds). Batch b = b copies of the encoded window.
            whisper.cpp: prompt, then B single-token whisper_decode calls per pass; median (and
            best) of the --reps passes' mean step time.
            Its public API decodes one sequence of one window per call, so batch 8 and 32
            are not measured for it (whisper_full's best_of/beam decoders share a single
            window and are capped at 8: not the same workload).
Writes JSON (one object per engine) to --out and prints it.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_wav(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: need 16 kHz mono 16-bit PCM")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def pick_clip(eval_dir: str, clip: str | None) -> str:
    with open(os.path.join(eval_dir, "manifest.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for r in rows:
        if (clip and r["id"] == clip) or (not clip and r["set"] == "longform"):
            return os.path.join(eval_dir, r["path"])
    raise SystemExit(f"clip {clip or '(first longform)'} not in the manifest")


def timed(fn, reps: int) -> list[float]:
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def ct2_ops(model_dir: str, compute_type: str, threads: int, mel: np.ndarray, reps: int,
            steps_a: int, steps_b: int, batches: list[int]) -> dict:
    import ctranslate2

    t0 = time.perf_counter()
    model = ctranslate2.models.Whisper(model_dir, device="cpu", compute_type=compute_type,
                                       intra_threads=threads, inter_threads=1)
    load_ms = (time.perf_counter() - t0) * 1000.0
    feats = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
    model.encode(feats)  # warm-up
    enc_ms = timed(lambda: model.encode(feats), reps)
    enc = np.asarray(model.encode(feats, to_cpu=True))  # [1, 1500, d]

    with open(os.path.join(model_dir, "vocabulary.txt"), encoding="utf-8") as f:
        vocab = {t: i for i, t in enumerate(f.read().split("\n"))}
    prompt = ["<|startoftranscript|>"] + (["<|en|>", "<|transcribe|>"] if model.is_multilingual else []) \
        + ["<|notimestamps|>"]
    eot = vocab["<|endoftext|>"]
    res = {"engine": f"faster-whisper-{compute_type}", "compute_type": compute_type, "threads": threads,
           "load_ms": load_ms, "encoder_ms": enc_ms, "encoder_ms_median": statistics.median(enc_ms),
           "encoder_ms_best": min(enc_ms),
           "prompt_tokens": len(prompt), "steps_a": steps_a, "steps_b": steps_b, "decoder": {}}
    for b in batches:
        encb = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(enc, b, axis=0)))

        def gen(n):  # CTranslate2's Whisper generates max_length / 2 tokens: ask for 2n to get n
            return model.generate(encb, [prompt] * b, beam_size=1, max_length=2 * n, suppress_blank=False,
                                  suppress_tokens=[eot], return_scores=False)

        lens = {}
        for n in (steps_a, steps_b):  # warm-up, and check the generations run to full length
            lens[n] = [len(x.sequences_ids[0]) for x in gen(n)]
        ta, tb = [], []
        for _ in range(reps):  # paired, so that slow drifts of the machine's load cancel
            ta += timed(lambda: gen(steps_a), 1)
            tb += timed(lambda: gen(steps_b), 1)
        ga, gb = lens[steps_a][0], lens[steps_b][0]
        step = statistics.median([y - x for x, y in zip(ta, tb)]) / max(1, gb - ga)
        best = (min(tb) - min(ta)) / max(1, gb - ga)
        res["decoder"][str(b)] = {"step_ms": step, "best_step_ms": best, "generated_a": ga, "generated_b": gb,
                                  "t_a_ms": ta, "t_b_ms": tb,
                                  "all_full_length": all(x == ga for x in lens[steps_a]) and all(x == gb for x in lens[steps_b])}
    return res


def wcpp_ops(binary: str, ggml: str, threads: int, pcm30: np.ndarray, reps: int, steps: int) -> dict:
    tmp = os.path.join(ROOT, "bench", "out", "peer-ops-30s.f32")
    pcm30.astype("<f4").tofile(tmp)
    p = subprocess.run([binary, ggml, str(threads), tmp, str(reps), str(steps)], capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{binary} failed: {p.stderr.strip()[-400:]}")
    r = json.loads(p.stdout)
    r["encoder_ms_best"] = min(r["encoder_ms"])
    r["decoder"] = {"1": {"step_ms": statistics.median(r["decode_step_ms_b1_pass_means"]),
                          "best_step_ms": min(r["decode_step_ms_b1_pass_means"]),
                          "median_single_step_ms": r["decode_step_ms_b1_median"]},
                    "8": {"step_ms": None, "why": "no batched decoding across windows in whisper.cpp's API"},
                    "32": {"step_ms": None, "why": "no batched decoding across windows in whisper.cpp's API"}}
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny.en", help="name under models/ (or a directory)")
    ap.add_argument("--engines", default="fw-int8,fw-float32,wcpp-f16,wcpp-q8_0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--steps-a", type=int, default=8)
    ap.add_argument("--steps-b", type=int, default=40)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--eval-dir", default=os.environ.get("CHORUS_EVAL_DIR", os.path.join(ROOT, "..", "shared", "eval")))
    ap.add_argument("--clip")
    ap.add_argument("--out")
    args = ap.parse_args()

    model_dir = args.model if os.path.isdir(args.model) else os.path.join(ROOT, "models", args.model)
    name = os.path.basename(os.path.normpath(model_dir))
    wav = pick_clip(args.eval_dir, args.clip)
    pcm = load_wav(wav)[: 30 * 16000]
    pcm30 = np.pad(pcm, (0, 30 * 16000 - len(pcm)))
    from faster_whisper.feature_extractor import FeatureExtractor
    mel = FeatureExtractor(feature_size=80)(pcm30)[:, :3000].astype(np.float32)
    batches = [int(b) for b in args.batches.split(",") if b]

    results = []
    for e in [x for x in args.engines.split(",") if x]:
        print(f"peer-ops: {e} {name} (loadavg {os.getloadavg()[0]:.2f})", file=sys.stderr)
        try:
            if e.startswith("fw-"):
                r = ct2_ops(model_dir, e[3:], args.threads, mel, args.reps, args.steps_a, args.steps_b, batches)
            elif e.startswith("wcpp-"):
                binary = os.path.join(ROOT, "bench", "peers", "whisper.cpp", "build", "peer-ops-whispercpp")
                ggml = os.path.join(ROOT, "bench", "peers", "models", f"ggml-{name}-{e[5:]}.bin")
                if not (os.path.exists(binary) and os.path.exists(ggml)):
                    raise RuntimeError("not set up (bash bench/setup-whispercpp.sh)")
                r = wcpp_ops(binary, ggml, args.threads, pcm30, args.reps, args.steps_b)
                r["engine"] = f"whisper.cpp-{e[5:]}"
            else:
                raise RuntimeError("unknown engine")
            r["key"] = e
        except Exception as err:  # noqa: BLE001 - reported in the table
            r = {"key": e, "engine": e, "error": str(err)}
        r["loadavg_after"] = os.getloadavg()
        results.append(r)
    doc = {"model": name, "threads": args.threads, "clip": os.path.relpath(wav, args.eval_dir), "reps": args.reps,
           "engines": results}
    text = json.dumps(doc, indent=1)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
