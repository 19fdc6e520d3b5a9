"""Write a CTranslate2 Whisper model (the weights Chorus runs) as a whisper.cpp ggml file.

Development-only, for the whisper.cpp column of bench/peers.sh: the peer then runs the very
same weights as Chorus and faster-whisper. Nothing here is used by Chorus at run time.

    bench/.venv/bin/python bench/reference/ct2_to_ggml.py models/tiny.en bench/peers/models/ggml-tiny.en-f16.bin

Input: MODEL_DIR/model.bin (read with ct2_model.py), MODEL_DIR/vocabulary.txt.
Output layout (little endian), as whisper.cpp's legacy loader reads it:
  int32 magic 0x67676d6c ("ggml")
  int32 n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer,
        n_text_ctx, n_text_state, n_text_head, n_text_layer, n_mels, ftype (1 = f16 weights)
  int32 n_mels, n_bins; float32 filters[n_mels][n_bins]   (slaney mel filterbank, 201 bins)
  int32 n_tokens; per token: int32 length, raw bytes       (the byte-level BPE tokens below
        <|endoftext|>; the loader names the special tokens itself)
  tensor records until EOF: int32 n_dims, int32 name_length, int32 type (0 f32, 1 f16),
        int32 ne[n_dims] (innermost dimension first), name bytes, raw data (row-major)
CTranslate2 fuses some projections; they are split back here:
  encoder/decoder self_attention/linear_0 [3d, d]  -> attn.query / attn.key / attn.value
  decoder attention/linear_0 [d, d]                -> cross_attn.query
  decoder attention/linear_1 [2d, d]               -> cross_attn.key / cross_attn.value
The key projections of Whisper have no bias; CTranslate2 stores zeros there (checked).
Matrices stay float16 as CTranslate2 stores them; biases, norms, positional tables and the
conv biases are written as float32 (the loader wants them so). The output projection is tied
to the token embedding, as in both formats.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ct2_model import load  # noqa: E402

SAMPLE_RATE = 16000
N_FFT = 400


def slaney_mel_filters(n_mels: int, sr: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """[n_mels, n_fft//2+1] triangular filters on the Slaney mel scale with area normalisation
    (librosa.filters.mel defaults: htk=False, norm='slaney', fmin=0, fmax=sr/2)."""
    f_sp = 200.0 / 3.0            # Hz per mel below 1 kHz
    brk_hz, brk_mel = 1000.0, 1000.0 / (200.0 / 3.0)
    logstep = np.log(6.4) / 27.0  # mel step above 1 kHz

    def to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        lin = hz / f_sp
        return np.where(hz >= brk_hz, brk_mel + np.log(np.maximum(hz, 1e-10) / brk_hz) / logstep, lin)

    def to_hz(mel):
        mel = np.asarray(mel, dtype=np.float64)
        return np.where(mel >= brk_mel, brk_hz * np.exp(logstep * (mel - brk_mel)), f_sp * mel)

    bin_hz = np.arange(n_fft // 2 + 1, dtype=np.float64) * sr / n_fft
    edges = to_hz(np.linspace(to_mel(0.0), to_mel(sr / 2.0), n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (bin_hz[None, :] - lo) / (mid - lo)
    down = (hi - bin_hz[None, :]) / (hi - mid)
    tri = np.maximum(0.0, np.minimum(up, down))
    return (tri * (2.0 / (hi - lo))).astype(np.float32)


def _byte_alphabet() -> dict[str, int]:
    """Inverse of the byte-level BPE alphabet: each byte 0..255 is shown as one printable
    character; bytes that are already printable latin-1 keep their code point, the others
    get code points from 256 upwards in byte order."""
    keep = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAC + 1)) | set(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def read_tokens(model_dir: str) -> list[str]:
    with open(os.path.join(model_dir, "vocabulary.txt"), encoding="utf-8") as f:
        text = f.read()
    tokens = text.split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()  # trailing newline (an empty token inside the list is real: base has one)
    return tokens


def token_bytes(tok: str, alphabet: dict[str, int]) -> bytes:
    if all(c in alphabet for c in tok):
        return bytes(alphabet[c] for c in tok)
    return tok.encode("utf-8")


def tensor_record(out, name: str, arr: np.ndarray, f16: bool) -> int:
    arr = np.ascontiguousarray(arr.astype(np.float16 if f16 else np.float32))
    name_b = name.encode("utf-8")
    out.write(struct.pack("<iii", arr.ndim, len(name_b), 1 if f16 else 0))
    for d in reversed(arr.shape):
        out.write(struct.pack("<i", d))
    out.write(name_b)
    out.write(arr.tobytes())
    return arr.nbytes


def convert(model_dir: str, out_path: str, check_filters: bool = True) -> dict:
    m = load(os.path.join(model_dir, "model.bin"))
    raw = lambda n: m.array(n, dtype=None)  # noqa: E731  (stored dtype, float16 here)
    f32 = lambda n: m.array(n, dtype=np.float32)  # noqa: E731

    emb = raw("decoder/embeddings/weight")
    n_vocab, d = emb.shape
    n_audio_ctx = m.variables["encoder/position_encodings/encodings"].shape[0]
    n_text_ctx = m.variables["decoder/position_encodings/encodings"].shape[0]
    n_mels = m.variables["encoder/conv1/weight"].shape[1]
    n_enc = sum(1 for k in m.variables if k.startswith("encoder/layer_") and k.endswith("self_attention/linear_0/weight"))
    n_dec = sum(1 for k in m.variables if k.startswith("decoder/layer_") and k.endswith("self_attention/linear_0/weight"))
    heads_enc = int(m.array("encoder/num_heads", dtype=None))
    heads_dec = int(m.array("decoder/num_heads", dtype=None))

    tokens = read_tokens(model_dir)
    if len(tokens) != n_vocab:
        raise SystemExit(f"vocabulary.txt has {len(tokens)} tokens, embeddings {n_vocab}")
    eot = tokens.index("<|endoftext|>")
    alphabet = _byte_alphabet()

    filters = slaney_mel_filters(n_mels)
    filt_check = None
    if check_filters:
        try:  # the filterbank faster-whisper (and, per test/engine, Chorus) computes features with
            from faster_whisper.feature_extractor import FeatureExtractor
            ref = np.asarray(FeatureExtractor(feature_size=n_mels).mel_filters, dtype=np.float32)
            filt_check = float(np.abs(ref - filters).max())
            if filt_check > 1e-6:
                raise SystemExit(f"mel filterbank differs from faster-whisper's by {filt_check}")
        except ImportError:
            pass

    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    nbytes = 0
    with open(tmp, "wb") as out:
        out.write(struct.pack("<i", 0x67676D6C))
        out.write(struct.pack("<11i", n_vocab, n_audio_ctx, d, heads_enc, n_enc, n_text_ctx, d, heads_dec, n_dec, n_mels, 1))
        out.write(struct.pack("<ii", *filters.shape))
        out.write(filters.astype("<f4").tobytes())
        out.write(struct.pack("<i", eot))
        for tok in tokens[:eot]:
            b = token_bytes(tok, alphabet)
            out.write(struct.pack("<i", len(b)))
            out.write(b)

        def mat(name, arr):  # weight matrices keep the stored float16
            nonlocal nbytes
            nbytes += tensor_record(out, name, arr, True)

        def vec(name, arr):
            nonlocal nbytes
            nbytes += tensor_record(out, name, arr, False)

        def norm(dst, src):
            vec(dst + ".weight", f32(src + "/gamma"))
            vec(dst + ".bias", f32(src + "/beta"))

        def zero_key_bias(b, what):
            if np.abs(b).max() != 0:
                raise SystemExit(f"{what}: non-zero key bias, whisper.cpp has no place for it")

        # Both stacks store self-attention and the MLP the same way: CTranslate2 fuses q/k/v
        # into one matrix (key without bias), whisper.cpp keeps them apart.
        def self_attention(t, s):
            norm(t + ".attn_ln", s + "/self_attention/layer_norm")
            w, b = raw(s + "/self_attention/linear_0/weight"), f32(s + "/self_attention/linear_0/bias")
            zero_key_bias(b[d:2 * d], s)
            mat(t + ".attn.query.weight", w[:d]); vec(t + ".attn.query.bias", b[:d])
            mat(t + ".attn.key.weight", w[d:2 * d])
            mat(t + ".attn.value.weight", w[2 * d:]); vec(t + ".attn.value.bias", b[2 * d:])
            mat(t + ".attn.out.weight", raw(s + "/self_attention/linear_1/weight"))
            vec(t + ".attn.out.bias", f32(s + "/self_attention/linear_1/bias"))

        def feed_forward(t, s):
            norm(t + ".mlp_ln", s + "/ffn/layer_norm")
            mat(t + ".mlp.0.weight", raw(s + "/ffn/linear_0/weight")); vec(t + ".mlp.0.bias", f32(s + "/ffn/linear_0/bias"))
            mat(t + ".mlp.2.weight", raw(s + "/ffn/linear_1/weight")); vec(t + ".mlp.2.bias", f32(s + "/ffn/linear_1/bias"))

        vec("encoder.positional_embedding", f32("encoder/position_encodings/encodings"))
        mat("encoder.conv1.weight", raw("encoder/conv1/weight"))
        vec("encoder.conv1.bias", f32("encoder/conv1/bias").reshape(-1, 1))
        mat("encoder.conv2.weight", raw("encoder/conv2/weight"))
        vec("encoder.conv2.bias", f32("encoder/conv2/bias").reshape(-1, 1))
        for i in range(n_enc):
            s, t = f"encoder/layer_{i}", f"encoder.blocks.{i}"
            self_attention(t, s)
            feed_forward(t, s)
        norm("encoder.ln_post", "encoder/layer_norm")

        vec("decoder.positional_embedding", f32("decoder/position_encodings/encodings"))
        mat("decoder.token_embedding.weight", emb)
        for i in range(n_dec):
            s, t = f"decoder/layer_{i}", f"decoder.blocks.{i}"
            self_attention(t, s)
            norm(t + ".cross_attn_ln", s + "/attention/layer_norm")
            mat(t + ".cross_attn.query.weight", raw(s + "/attention/linear_0/weight"))
            vec(t + ".cross_attn.query.bias", f32(s + "/attention/linear_0/bias"))
            w, b = raw(s + "/attention/linear_1/weight"), f32(s + "/attention/linear_1/bias")
            zero_key_bias(b[:d], s + " cross")
            mat(t + ".cross_attn.key.weight", w[:d])
            mat(t + ".cross_attn.value.weight", w[d:]); vec(t + ".cross_attn.value.bias", b[d:])
            mat(t + ".cross_attn.out.weight", raw(s + "/attention/linear_2/weight"))
            vec(t + ".cross_attn.out.bias", f32(s + "/attention/linear_2/bias"))
            feed_forward(t, s)
        norm("decoder.ln", "decoder/layer_norm")
    os.replace(tmp, out_path)
    return {"out": out_path, "n_vocab": n_vocab, "d_model": d, "encoder_layers": n_enc, "decoder_layers": n_dec,
            "heads": [heads_enc, heads_dec], "n_mels": n_mels, "bpe_tokens_written": eot,
            "tensor_bytes": nbytes, "filterbank_max_diff_vs_faster_whisper": filt_check}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--dump-filters", help="also write the filterbank as raw float32 [n_mels][201] here")
    args = ap.parse_args()
    info = convert(args.model_dir, args.out)
    if args.dump_filters:
        slaney_mel_filters(info["n_mels"]).astype("<f4").tofile(args.dump_filters)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
