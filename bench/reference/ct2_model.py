"""Minimal reader for CTranslate2 `model.bin` files (binary format version 6).

Development-only helper for the bench/ reference scripts. Layout (little endian):
  uint32 version
  string spec_name                 (string = uint16 length incl. NUL, bytes, NUL)
  uint32 spec_revision
  uint32 n_variables
  per variable: string name, uint8 rank, uint32 dims[rank], uint8 dtype,
                uint32 nbytes, raw data
  uint32 n_aliases
  per alias: string alias, string target
dtype codes: 0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16.
"""
from __future__ import annotations

import struct
import sys
from dataclasses import dataclass, field

import numpy as np

_DTYPES = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
_NP = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


@dataclass
class Variable:
    name: str
    shape: tuple
    dtype: str
    offset: int
    nbytes: int


@dataclass
class CT2Model:
    path: str
    version: int
    spec: str
    revision: int
    variables: dict = field(default_factory=dict)
    aliases: dict = field(default_factory=dict)
    _buf: bytes = b""

    def array(self, name: str, dtype=np.float32) -> np.ndarray:
        name = self.aliases.get(name, name)
        v = self.variables[name]
        code = {b: a for a, b in _DTYPES.items()}[v.dtype]
        if code == 5:  # bfloat16 -> float32
            raw = np.frombuffer(self._buf, np.uint16, v.nbytes // 2, v.offset)
            arr = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(self._buf, _NP[code], v.nbytes // np.dtype(_NP[code]).itemsize, v.offset)
        arr = arr.reshape(v.shape)
        return arr.astype(dtype) if dtype is not None else arr


def load(path: str) -> CT2Model:
    with open(path, "rb") as f:
        buf = f.read()
    pos = 0

    def u(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def s():
        nonlocal pos
        n = u("H")
        raw = buf[pos:pos + n]
        pos += n
        if not raw.endswith(b"\0"):
            raise ValueError(f"string at {pos - n} not NUL-terminated")
        return raw[:-1].decode("utf-8")

    version = u("I")
    if version != 6:
        raise ValueError(f"unsupported CTranslate2 binary version {version}")
    spec = s()
    revision = u("I")
    n_vars = u("I")
    model = CT2Model(path, version, spec, revision, _buf=buf)
    for _ in range(n_vars):
        name = s()
        rank = u("B")
        dims = tuple(u("I") for _ in range(rank)) if rank else ()
        dims = tuple(d if isinstance(d, int) else d[0] for d in dims)
        code = u("B")
        nbytes = u("I")
        if code not in _DTYPES:
            raise ValueError(f"{name}: unknown dtype code {code}")
        expect = int(np.prod(dims, dtype=np.int64)) * {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}[code]
        if expect != nbytes:
            raise ValueError(f"{name}: nbytes {nbytes} != shape {dims} x {_DTYPES[code]}")
        model.variables[name] = Variable(name, dims, _DTYPES[code], pos, nbytes)
        pos += nbytes
    if pos < len(buf):
        n_alias = u("I")
        for _ in range(n_alias):
            a = s()
            t = s()
            model.aliases[a] = t
    if pos != len(buf):
        raise ValueError(f"{len(buf) - pos} trailing bytes after aliases")
    return model


if __name__ == "__main__":
    m = load(sys.argv[1])
    print(f"version {m.version} spec {m.spec} revision {m.revision} "
          f"variables {len(m.variables)} aliases {len(m.aliases)}")
    for v in m.variables.values():
        print(f"{v.name}\t{list(v.shape)}\t{v.dtype}")
    for a, t in m.aliases.items():
        print(f"alias {a} -> {t}")
