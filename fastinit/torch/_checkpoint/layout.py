"""The files of a checkpoint: Hugging Face's names, the bytes of a
safetensors header, the manifest's format, and reading an index back.

Why not the ``safetensors`` library for the writing: as of 0.8 its writers
(``save_file``, ``serialize_file`` with ``TensorSpec``) take every tensor
of a file in memory at once.  The format is simple and documented: an
8-byte little-endian header length, a JSON header (``__metadata__``, then
each tensor's dtype, shape and byte range, in the order the library sorts
them: dtype, then name), padded with spaces to 8 bytes, then the bytes.
The library is used for what it can do: its dtype names, and the order it
sorts dtypes in (read from it once, ``dtype_order``).
"""
import json
import math
import os
import struct
from typing import NamedTuple

import torch

#: Bytes of a file filled, hashed and written at a time; a multiple of
#: the 4 KiB that ``O_DIRECT`` needs.  Peak memory is about four blocks.
BLOCK = 64 << 20
INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
MANIFEST_FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint cannot be written or verified as asked."""


class Saved(NamedTuple):
    """One tensor of the checkpoint: the flat run ``[start, start + numel)``
    (C order) of the model's tensor ``source``, stored in ``dtype``."""
    name: str
    source: str
    dtype: torch.dtype
    shape: tuple
    start: int

    @property
    def numel(self):
        return math.prod(self.shape)

    @property
    def nbytes(self):
        return self.numel * self.dtype.itemsize


class File(NamedTuple):
    name: str
    header: bytes              # length prefix, JSON, padding
    tensors: tuple             # ((Saved, begin, end), ...) in data order, absolute byte offsets
    size: int


def parse_size(size, what="max_shard_size"):
    """Bytes from an int or "5GB" / "500MB" / "2GiB" (``save_pretrained``'s
    units: GB = 10**9, GiB = 2**30)."""
    if isinstance(size, int) and not isinstance(size, bool):
        n = size
    elif isinstance(size, str):
        s = size.strip().upper()
        units = (("TIB", 2 ** 40), ("GIB", 2 ** 30), ("MIB", 2 ** 20), ("KIB", 2 ** 10),
                 ("TB", 10 ** 12), ("GB", 10 ** 9), ("MB", 10 ** 6), ("KB", 10 ** 3), ("B", 1))
        for u, f in units:
            if s.endswith(u):
                try:
                    n = int(float(s[:-len(u)]) * f)
                except ValueError:
                    n = None
                break
        else:
            n = int(s) if s.isdigit() else None
        if n is None:
            raise ValueError(f"{what} must be a number of bytes or a size such as '5GB' or '500MiB'; got {size!r}")
    else:
        raise TypeError(f"{what} must be an int or a string such as '5GB'; got {size!r}")
    if n <= 0:
        raise ValueError(f"{what} must be positive; got {size!r}")
    return n


def _st_names():
    """torch dtype -> safetensors' dtype name (``safetensors.torch._TYPES``)."""
    import safetensors.torch as st
    return {v: k for k, v in st._TYPES.items()}


_ORDER = {}


def dtype_order(dtype):
    """The rank of ``dtype`` in safetensors' data order (it writes larger
    dtypes first, then by name), read once from the library itself."""
    if not _ORDER:
        import safetensors.torch as st
        names = _st_names()
        probe = {f"{i:03d}": torch.zeros(1, dtype=d) for i, d in enumerate(names)}
        blob = st.save(probe)
        n = struct.unpack("<Q", blob[:8])[0]
        header = json.loads(blob[8:8 + n])
        ordered = sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])
        _ORDER.update({probe[k].dtype: i for i, k in enumerate(ordered)})
    if dtype not in _ORDER:
        raise CheckpointError(f"safetensors cannot store {dtype}")
    return _ORDER[dtype]


def safetensors_header(entries, metadata):
    """The header safetensors writes for ``entries`` [(Saved, begin, end)]
    (relative byte offsets), with ``metadata``."""
    names = _st_names()
    head = {"__metadata__": metadata} if metadata else {}
    for s, b, e in entries:
        head[s.name] = {"dtype": names[s.dtype], "shape": list(s.shape), "data_offsets": [b, e]}
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def read_index(out):
    """The index of the checkpoint in ``out`` (``{"metadata": {...,
    "fastinit": manifest}, "weight_map": ...}``); for a one-file
    checkpoint, built from its header (its manifest is there)."""
    out = os.fspath(out)
    path = os.path.join(out, INDEX)
    single = os.path.join(out, SINGLE)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
    elif os.path.isfile(single):
        with open(single, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(min(n, 1 << 30)))
        meta = header.pop("__metadata__", {}) or {}
        index = {"metadata": {}, "weight_map": {k: SINGLE for k in header}}
        if "fastinit" in meta:
            index["metadata"]["fastinit"] = json.loads(meta["fastinit"])
        path = single
    else:
        raise CheckpointError(f"{out} holds neither {INDEX} nor {SINGLE}: not a complete checkpoint")
    if "fastinit" not in index.get("metadata", {}):
        raise CheckpointError(f"{path} has no fastinit manifest: not written by fastinit")
    return index
