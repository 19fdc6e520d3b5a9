#!/usr/bin/env python3
"""Dump reference numerics for the JFK clip to test/fixtures/reference/jfk.json (development only).

Everything comes from faster-whisper / ctranslate2 running the same CTranslate2 weights
Chorus loads (models/tiny.en):
  mel      faster_whisper FeatureExtractor exactly as WhisperModel.transcribe uses it for the
           first 30 s window: features of the whole clip (+160 zero samples of padding),
           the first min(3000, n_frames-1) frames, then pad_or_trim (zero-padded in the
           log-mel domain) to [80, 3000].
  encoder  ctranslate2.models.Whisper(compute_type="float32").encode(mel) -> [1,1500,384].
  decoder  first-step logits for [sot, notimestamps] and [sot] (timestamp mode).
           ctranslate2's Whisper.generate(return_logits_vocab=True, suppress_blank=False,
           suppress_tokens=[]) returns the raw logits for the no-timestamps prompt; for the
           timestamp prompt it returns them after its timestamp rules have masked every
           non-timestamp token (-FLT_MAX), so the full vector comes from np_whisper.py (a
           plain numpy forward pass over the same model.bin and the ctranslate2 encoder
           output), which is checked against ctranslate2 on every value ctranslate2 exposes.
  transcript  WhisperModel(compute_type="float32").transcribe(beam_size=1, language="en",
           vad_filter=False), with and without timestamps, segment token ids included.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import ct2_model  # noqa: E402
import np_whisper  # noqa: E402

SOT, EOT, NO_TS, TS_BEGIN = 50257, 50256, 50362, 50363
MEL_FRAMES = [0, 1, 100, 500, 1000, 1099, 2000]
ENC_ROWS = [0, 1, 10, 100, 549, 1000, 1499]
FIXED_IDS = [EOT, NO_TS, TS_BEGIN, 220, 383]


def r(x):
    """float32 value(s) -> python floats rounded to 8 significant digits (round-trips float32)."""
    if np.ndim(x) == 0:
        return float(f"{float(x):.8g}")
    return [r(v) for v in np.asarray(x).tolist()]


def stats(a: np.ndarray) -> dict:
    a64 = a.astype(np.float64)
    return {"mean": float(a64.mean()), "std": float(a64.std()), "min": float(a.min()), "max": float(a.max())}


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return (x - m - np.log(np.exp(x - m).sum())).astype(np.float32)


def logits_block(logits: np.ndarray, tok_text, source: str, check: dict) -> dict:
    ls = log_softmax(logits)
    top = np.argsort(-logits, kind="stable")[:20]
    return {
        "source": source,
        "check_vs_ctranslate2": check,
        "argmax": int(top[0]),
        "top20": [{"id": int(i), "token": tok_text(int(i)), "logit": float(logits[i]), "log_softmax": float(ls[i])}
                  for i in top],
        "fixed": {str(i): {"token": tok_text(i), "logit": float(logits[i]), "log_softmax": float(ls[i])}
                  for i in FIXED_IDS},
        "logit_stats": stats(logits),
        "log_softmax_f16_b64": base64.b64encode(ls.astype("<f2").tobytes()).decode("ascii"),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", default=os.path.join(REPO, "models", "tiny.en"))
    ap.add_argument("--eval-dir", default=os.environ.get("CHORUS_EVAL_DIR")
                    or os.path.normpath(os.path.join(REPO, "..", "shared", "eval")))
    ap.add_argument("--id", default="jfk", help="manifest id of the clip")
    ap.add_argument("--out", default=os.path.join(REPO, "test", "fixtures", "reference", "jfk.json"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import ctranslate2
    import faster_whisper
    from faster_whisper import WhisperModel
    from faster_whisper.audio import decode_audio, pad_or_trim

    with open(os.path.join(args.eval_dir, "manifest.jsonl"), encoding="utf-8") as f:
        clip = next(m for m in map(json.loads, f) if m["id"] == args.id)
    wav = os.path.join(args.eval_dir, clip["path"])

    fw = WhisperModel(args.model_dir, device="cpu", compute_type="float32", cpu_threads=args.threads)
    audio = decode_audio(wav, sampling_rate=fw.feature_extractor.sampling_rate)

    # (a) log-mel exactly as transcribe(): whole-clip features, content_frames = n - 1,
    #     first window = features[:, :min(3000, content_frames)] zero-padded to 3000.
    full = fw.feature_extractor(audio)
    content_frames = full.shape[-1] - 1
    mel = pad_or_trim(full[:, : min(fw.feature_extractor.nb_max_frames, content_frames)]).astype(np.float32)
    assert mel.shape == (80, 3000), mel.shape

    # (b) encoder, float32 ctranslate2
    ct = ctranslate2.models.Whisper(args.model_dir, device="cpu", compute_type="float32",
                                    intra_threads=args.threads)
    enc_sv = ct.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])))
    enc = np.array(enc_sv)
    assert enc.shape == (1, 1500, 384), enc.shape

    weights = ct2_model.load(os.path.join(args.model_dir, "model.bin"))
    t = time.perf_counter()
    enc_np = np_whisper.encode(weights, mel)
    enc_np_s = time.perf_counter() - t

    # (c) decoder first step
    def ct_first_logits(prompt):
        res = ct.generate(enc_sv, [prompt], beam_size=1, max_length=len(prompt) + 1,
                          return_logits_vocab=True, suppress_blank=False, suppress_tokens=[],
                          max_initial_timestamp_index=1500)[0]
        return np.array(res.logits[0][0]).astype(np.float32)

    tok = fw.hf_tokenizer

    def tok_text(i: int) -> str:
        if i >= TS_BEGIN:  # timestamp tokens are not in tokenizer.json
            return f"<|{(i - TS_BEGIN) * 0.02:.2f}|>"
        return tok.id_to_token(i) or ""

    blocks = {}
    for name, prompt in (("notimestamps", [SOT, NO_TS]), ("timestamps", [SOT])):
        ct_logits = ct_first_logits(prompt)
        np_logits = np_whisper.decode_logits(weights, prompt, enc[0])[-1].astype(np.float32)
        exposed = ct_logits > -1e30  # ctranslate2 masks with -FLT_MAX
        check = {"values_compared": int(exposed.sum()),
                 "max_abs_diff_numpy_vs_ct2": float(np.abs(np_logits[exposed] - ct_logits[exposed]).max())}
        if exposed.all():
            logits, src = ct_logits, ("ctranslate2 Whisper.generate(return_logits_vocab=True, suppress_blank=False, "
                                      "suppress_tokens=[]) first step: raw, unmasked logits")
        else:
            logits = np_logits
            src = ("bench/reference/np_whisper.py numpy decoder over the same model.bin (float32) fed the "
                   "ctranslate2 float32 encoder output; ctranslate2 exposes only the timestamp-token logits "
                   f"for this prompt (its timestamp rules mask the rest), {int(exposed.sum())} of which were "
                   "compared (check_vs_ctranslate2)")
        blocks[name] = {"prompt": prompt, "prompt_tokens": [tok_text(i) for i in prompt],
                        **logits_block(logits, tok_text, src, check)}

    # transcripts
    transcripts = {}
    for name, without_ts in (("notimestamps", True), ("timestamps", False)):
        segs, info = fw.transcribe(audio, language="en", beam_size=1, vad_filter=False,
                                   without_timestamps=without_ts)
        segs = list(segs)
        transcripts[name] = {
            "text": "".join(s.text for s in segs).strip(),
            "segments": [{"start": s.start, "end": s.end, "text": s.text, "tokens": list(s.tokens),
                          "avg_logprob": s.avg_logprob, "temperature": s.temperature,
                          "compression_ratio": s.compression_ratio, "no_speech_prob": s.no_speech_prob}
                         for s in segs],
        }

    doc = {
        "clip": {"id": clip["id"], "set": clip["set"], "path": clip["path"], "duration_s": clip["duration_s"],
                 "sample_rate": clip["sample_rate"], "num_samples": int(audio.shape[0]), "text": clip["text"]},
        "attribution": ("JFK inaugural address excerpt (1961), public domain (US federal government work); "
                        "audio file taken from the ggml-org/whisper.cpp repository samples (samples/jfk.wav). "
                        f"Manifest source: {clip.get('source', '')}"),
        "generated_by": {
            "command": "bench/.venv/bin/python bench/reference/dump_numerics.py",
            "script": "bench/reference/dump_numerics.py",
            "faster_whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
            "numpy": np.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "model_dir": os.path.relpath(args.model_dir, REPO),
            "model": "Whisper tiny.en, CTranslate2 format (model.bin float16 weights, computed in float32)",
            "compute_type": "float32", "threads": args.threads,
        },
        "mel": {
            "description": ("faster_whisper FeatureExtractor as WhisperModel.transcribe uses it: features of the "
                            "whole clip with 160 zero samples appended (centred STFT, n_fft 400, hop 160, periodic Hann, "
                            "last frame dropped: full_clip_frames = (samples+160)//160), power spectrum, 80 mel filters, "
                            "log10 clamp 1e-10, floor at global max-8, (x+4)/4; then the first "
                            "content_frames = min(3000, full_clip_frames-1) frames, zero-padded in the log-mel "
                            "domain (value 0.0, not log-mel of silence) to 3000"),
            "shape": list(mel.shape), "n_mels": 80, "full_clip_frames": int(full.shape[-1]),
            "content_frames": int(min(3000, content_frames)),
            "frames": {str(i): r(mel[:, i]) for i in MEL_FRAMES},
            **stats(mel),
        },
        "encoder": {
            "description": "ctranslate2.models.Whisper(model_dir, device='cpu', compute_type='float32').encode(mel[None])",
            "shape": list(enc.shape),
            "rows": {str(i): r(enc[0, i]) for i in ENC_ROWS},
            "mean": float(enc.astype(np.float64).mean()), "std": float(enc.astype(np.float64).std()),
            "min": float(enc.min()), "max": float(enc.max()),
            "crosscheck_numpy_encoder_max_abs_diff": float(np.abs(enc_np - enc[0]).max()),
            "crosscheck_numpy_encoder_s": round(enc_np_s, 2),
        },
        "decoder_first_step": {
            "description": ("logits of the first generated position (after the whole prompt), full vocabulary "
                            f"({weights.array('decoder/embeddings/weight', None).shape[0]} ids). log_softmax_f16_b64: "
                            "log-softmax over the full vocabulary as little-endian IEEE float16, base64"),
            "vocab_size": int(weights.array("decoder/embeddings/weight", None).shape[0]),
            **blocks,
        },
        "transcript_float32_greedy": {
            "options": "WhisperModel(compute_type='float32').transcribe(beam_size=1, language='en', vad_filter=False), "
                       "other options at faster-whisper defaults",
            **transcripts,
        },
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    # keep numeric arrays on one line each
    text = re.sub(r"\[\s*([-+0-9.eE,\s]+?)\s*\]", lambda mt: "[" + ", ".join(mt.group(1).split(",")).replace("  ", " ")
                  .replace("\n", "").replace(" ,", ",") + "]", text)
    text = re.sub(r"\[([^\[\]\n]*)\]", lambda mt: "[" + " ".join(mt.group(1).split()) + "]", text)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {os.path.relpath(args.out, REPO)} ({os.path.getsize(args.out) / 1024:.0f} KiB)")
    for name, b in blocks.items():
        print(f"  {name}: argmax {b['argmax']} ({b['top20'][0]['token']}) check {b['check_vs_ctranslate2']}")
    print(f"  encoder numpy crosscheck max|diff| {doc['encoder']['crosscheck_numpy_encoder_max_abs_diff']:.3g}")
    for name, tr in transcripts.items():
        print(f"  transcript[{name}]: {tr['text']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
