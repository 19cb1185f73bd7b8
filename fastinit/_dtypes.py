"""The dtypes fastinit fills: one frozen record per dtype kind, read by
every other module.

A kind is named by a short code ("f32", "f64", "f16", "bf16") that keys
the kernel tables and travels with a buffer; ``KINDS[code]`` holds every
fact about it.  Adding a dtype means adding a record here (and, for a new
family, its transforms).

* ``family``: "32" or "64", the contract's word size and compute type
  (docs/contract.md, section 2): 16-bit kinds are computed in float32 and
  rounded once at the store.
* ``compute`` / ``storage``: the NumPy scalar type the math runs in, and
  the one the kernels write (narrow kinds are stored as the unsigned
  integer bits of their format: numba's CPU target has no float16, and
  none has bfloat16).
* ``encode``: compute value -> storage value, written with integer
  operations only (``_encode``); ``encode_native``: the same bits by
  the hardware conversion, for targets that have one (F16C on the CPU,
  ``cvt.rn.f16.f32`` on NVIDIA GPUs), or None.
* ``inf_bits``: the bit pattern of +inf in an encoded kind, whose
  appearance means a value did not fit (``_params``' check of what a
  filler may write); None for the kinds stored as their compute type.
* ``dlpack``: (DLDataTypeCode, bits) of dlpack.h; ``typestr``: the
  storage's typestr in the CUDA array interface.

torch and ml_dtypes are never imported here: torch dtypes are looked up by
name once torch is loaded, bfloat16 NumPy dtypes are recognised by name.
"""
from dataclasses import dataclass

import numpy as np

from . import _encode as E

#: DLPack dtype codes (dlpack.h, DLDataTypeCode): kDLFloat and kDLBfloat.
DL_FLOAT, DL_BFLOAT = 2, 4


@dataclass(frozen=True)
class Kind:
    code: str
    name: str
    family: str
    itemsize: int
    compute: type
    storage: type
    encode: object
    encode_native: object
    inf_bits: object
    dlpack: tuple
    typestr: str

    @property
    def encoded(self):
        """Stored as the bits of its format (``storage``, an unsigned
        integer type), each the compute value rounded once by ``encode``."""
        return self.storage is not self.compute

    @property
    def sign_bit(self):
        """The sign bit of the stored format."""
        return 1 << (8 * self.itemsize - 1)

    def stored(self, v):
        """What the kernels store for the compute value ``v``: ``encode``
        run on the host."""
        return self.storage(self.encode(v))


KINDS = {k.code: k for k in (
    Kind("f32", "float32", "32", 4, np.float32, np.float32, E.encode_identity, None, None,
         (DL_FLOAT, 32), "<f4"),
    Kind("f64", "float64", "64", 8, np.float64, np.float64, E.encode_identity, None, None,
         (DL_FLOAT, 64), "<f8"),
    Kind("f16", "float16", "32", 2, np.float32, np.uint16, E.encode_f16, E.encode_f16_native, 0x7C00,
         (DL_FLOAT, 16), "<u2"),
    Kind("bf16", "bfloat16", "32", 2, np.float32, np.uint16, E.encode_bf16, None, 0x7F80,
         (DL_BFLOAT, 16), "<u2"),
)}

#: The supported dtypes, as error messages name them ("float32, float64,
#: float16 or bfloat16"), from ``KINDS``.
SUPPORTED = " or ".join((", ".join(k.name for k in list(KINDS.values())[:-1]), list(KINDS.values())[-1].name))

_BY_NUMPY = {np.dtype(np.float32): KINDS["f32"], np.dtype(np.float64): KINDS["f64"],
             np.dtype(np.float16): KINDS["f16"]}
_BY_DLPACK = {k.dlpack: k for k in KINDS.values()}


def of_numpy(dtype):
    """The kind of a NumPy dtype (bfloat16: ml_dtypes', recognised without
    importing it), or None.  Byte order is the caller's to check."""
    k = _BY_NUMPY.get(dtype)
    if k is None and dtype.name == "bfloat16" and dtype.itemsize == 2:
        return KINDS["bf16"]
    return k


def of_dlpack(code, bits, lanes=1):
    """The kind of a DLPack dtype, or None."""
    return _BY_DLPACK.get((code, bits)) if lanes == 1 else None


_by_torch = None


def torch_table():
    """{torch dtype: kind} (torch must be imported)."""
    global _by_torch
    if _by_torch is None:
        import torch
        _by_torch = {getattr(torch, k.name): k for k in KINDS.values()}
    return _by_torch


def of_torch(dtype):
    """The kind of a torch dtype, or None (torch must be imported)."""
    return torch_table().get(dtype)


def numpy_dtype(code):
    """The NumPy dtype of a kind (bfloat16 imports ml_dtypes)."""
    name = KINDS[code].name
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)
