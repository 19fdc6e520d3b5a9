"""Plain-numpy Whisper forward pass over a CTranslate2 model.bin (development only).

Used by dump_numerics.py (a) to cross-check ctranslate2's encoder and (b) to get raw,
unmasked first-step decoder logits in timestamp mode, which ctranslate2's
Whisper.generate(return_logits_vocab=True) only returns after its timestamp rules
have masked every text token. Computation is float32 throughout.

CTranslate2 Whisper layout: self_attention/linear_0 = fused QKV (3*d rows, Q,K,V order),
self_attention/linear_1 = output; decoder attention (cross) linear_0 = Q,
linear_1 = fused KV (2*d rows), linear_2 = output; ffn linear_0/linear_1; pre-norm
LayerNorm (eps 1e-5); GELU (erf); output projection tied to decoder embeddings.
"""
from __future__ import annotations

import numpy as np

from ct2_model import CT2Model

_EPS = 1e-5


def _erf(x: np.ndarray) -> np.ndarray:
    # exact erf (libm) element-wise; slow-ish but fine for tiny/base reference runs
    import math
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def gelu(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1.0 + _erf(x64 / np.sqrt(2.0)))).astype(np.float32)


def layer_norm(x, g, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + _EPS) * g + b


def linear(m: CT2Model, prefix: str, x):
    return x @ m.array(prefix + "/weight").T + m.array(prefix + "/bias")


def attention(q, k, v, n_heads, causal=False):
    t, d = q.shape
    s = k.shape[0]
    dh = d // n_heads
    q = q.reshape(t, n_heads, dh).transpose(1, 0, 2)
    k = k.reshape(s, n_heads, dh).transpose(1, 0, 2)
    v = v.reshape(s, n_heads, dh).transpose(1, 0, 2)
    w = (q @ k.transpose(0, 2, 1)) / np.float32(np.sqrt(dh))
    if causal:
        w = w + np.triu(np.full((t, s), -np.inf, np.float32), 1 + s - t)
    w = w - w.max(-1, keepdims=True)
    w = np.exp(w)
    w /= w.sum(-1, keepdims=True)
    return (w @ v).transpose(1, 0, 2).reshape(t, d)


def conv1d(x, w, b, stride):
    # x [C_in, T], w [C_out, C_in, 3], padding 1
    xp = np.pad(x, ((0, 0), (1, 1)))
    t_out = (x.shape[1] + 2 - 3) // stride + 1
    cols = np.stack([xp[:, k: k + stride * (t_out - 1) + 1: stride] for k in range(3)], 0)  # [3,Cin,Tout]
    return np.einsum("oik,kit->ot", w, cols) + b[:, None]


def encode(m: CT2Model, mel: np.ndarray) -> np.ndarray:
    """mel [n_mels, 3000] -> [1500, d]"""
    n_heads = int(m.array("encoder/num_heads", None))
    x = gelu(conv1d(mel.astype(np.float32), m.array("encoder/conv1/weight"), m.array("encoder/conv1/bias"), 1))
    x = gelu(conv1d(x, m.array("encoder/conv2/weight"), m.array("encoder/conv2/bias"), 2))
    x = x.T + m.array("encoder/position_encodings/encodings")[: x.shape[1]]
    i = 0
    while f"encoder/layer_{i}/self_attention/linear_0/weight" in m.variables:
        p = f"encoder/layer_{i}"
        h = layer_norm(x, m.array(p + "/self_attention/layer_norm/gamma"), m.array(p + "/self_attention/layer_norm/beta"))
        q, k, v = np.split(linear(m, p + "/self_attention/linear_0", h), 3, axis=-1)
        x = x + linear(m, p + "/self_attention/linear_1", attention(q, k, v, n_heads))
        h = layer_norm(x, m.array(p + "/ffn/layer_norm/gamma"), m.array(p + "/ffn/layer_norm/beta"))
        x = x + linear(m, p + "/ffn/linear_1", gelu(linear(m, p + "/ffn/linear_0", h)))
        i += 1
    return layer_norm(x, m.array("encoder/layer_norm/gamma"), m.array("encoder/layer_norm/beta"))


def decode_logits(m: CT2Model, tokens: list[int], enc: np.ndarray) -> np.ndarray:
    """Logits [len(tokens), vocab] of the decoder run over `tokens` against encoder output enc [1500, d]."""
    n_heads = int(m.array("decoder/num_heads", None))
    emb = m.array("decoder/embeddings/weight")
    x = emb[tokens] + m.array("decoder/position_encodings/encodings")[: len(tokens)]
    i = 0
    while f"decoder/layer_{i}/self_attention/linear_0/weight" in m.variables:
        p = f"decoder/layer_{i}"
        h = layer_norm(x, m.array(p + "/self_attention/layer_norm/gamma"), m.array(p + "/self_attention/layer_norm/beta"))
        q, k, v = np.split(linear(m, p + "/self_attention/linear_0", h), 3, axis=-1)
        x = x + linear(m, p + "/self_attention/linear_1", attention(q, k, v, n_heads, causal=True))
        h = layer_norm(x, m.array(p + "/attention/layer_norm/gamma"), m.array(p + "/attention/layer_norm/beta"))
        q = linear(m, p + "/attention/linear_0", h)
        k, v = np.split(linear(m, p + "/attention/linear_1", enc), 2, axis=-1)
        x = x + linear(m, p + "/attention/linear_2", attention(q, k, v, n_heads))
        h = layer_norm(x, m.array(p + "/ffn/layer_norm/gamma"), m.array(p + "/ffn/layer_norm/beta"))
        x = x + linear(m, p + "/ffn/linear_1", gelu(linear(m, p + "/ffn/linear_0", h)))
        i += 1
    x = layer_norm(x, m.array("decoder/layer_norm/gamma"), m.array("decoder/layer_norm/beta"))
    return x @ m.array("decoder/projection/weight").T
