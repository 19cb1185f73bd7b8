"""Anything a user may hand us -> one writable NumPy view and a dtype kind.

Kinds: "f32", "f64", "f16", "bf16".  16-bit buffers are returned as a uint16
view (numba's CPU target has no float16), the kernels write their bits.
torch is never imported here: a tensor is recognised only when torch is
already imported (einops' habit).
"""
import sys

import numpy as np

KIND_OF_DTYPE = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
                 np.dtype(np.float16): "f16"}
FAMILY_OF_KIND = {"f32": "32", "f16": "32", "bf16": "32", "f64": "64"}
SUPPORTED = "float32, float64, float16 or bfloat16"
DTYPE_NAME = {"f32": "float32", "f64": "float64", "f16": "float16", "bf16": "bfloat16"}


def _kind(dtype, name):
    if dtype.name == "bfloat16" and dtype.itemsize == 2:   # ml_dtypes, without importing it
        if not dtype.isnative:
            raise TypeError(f"{name} must be in native byte order; got a big-endian {dtype}")
        return "bf16"
    if not dtype.isnative:
        raise TypeError(f"{name} must be in native byte order; got a big-endian {dtype.newbyteorder('=')} array")
    kind = KIND_OF_DTYPE.get(dtype)
    if kind is None:
        raise TypeError(f"{name} must have a floating dtype ({SUPPORTED}); got {dtype}")
    return kind


def _from_torch(t, name):
    torch = sys.modules["torch"]
    if t.device.type != "cpu":
        raise NotImplementedError(
            f"{name} is a torch tensor on {t.device}; this version of fastinit fills CPU buffers only")
    kinds = {torch.float32: "f32", torch.float64: "f64", torch.float16: "f16", torch.bfloat16: "bf16"}
    kind = kinds.get(t.dtype)
    if kind is None:
        raise TypeError(f"{name} must have a floating dtype ({SUPPORTED}); got {t.dtype}")
    t = t.detach()
    if kind in ("f16", "bf16"):
        arr = t.view(torch.int16).numpy().view(np.uint16)
    else:
        arr = t.numpy()
    return arr, kind


def as_writable_array(buf, name="buf"):
    """Return ``(array, kind)``: a writable NumPy view sharing ``buf``'s memory.

    Raises TypeError for non-buffers and non-float dtypes, ValueError for
    read-only memory.  Never copies.
    """
    if isinstance(buf, np.ndarray):
        arr = buf
    elif "torch" in sys.modules and isinstance(buf, sys.modules["torch"].Tensor):
        arr, kind = _from_torch(buf, name)
        return _check_writable(arr, name), kind
    elif hasattr(buf, "__array_interface__"):
        arr = np.asarray(buf)
    elif hasattr(buf, "__dlpack__"):
        try:
            arr = np.from_dlpack(buf)
        except (BufferError, RuntimeError, TypeError, ValueError) as e:
            raise TypeError(f"{name} exports DLPack but NumPy cannot view it on the CPU: {e}") from e
    else:
        try:
            arr = np.asarray(memoryview(buf))
        except TypeError:
            raise TypeError(
                f"{name} must be a buffer (a NumPy array, a torch CPU tensor, or an object exporting "
                f"__array_interface__, DLPack or the buffer protocol); got {type(buf).__name__}") from None
    kind = _kind(arr.dtype, name)
    arr = _check_writable(arr, name)
    if kind in ("f16", "bf16"):
        arr = arr.view(np.uint16)
    return arr, kind


def _check_writable(arr, name):
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; fastinit fills buffers in place")
    return arr


def plan(arr, global_shape, offsets):
    """Describe where each logical element lives and which global index it has.

    Returns ``("contig", flat, g0)``: element i of the C-contiguous 1-D
    ``flat`` gets global index g0 + i; or ``("rows", flat, base, shape,
    mstrides, gstrides, goffsets)`` for the general case, with strides in
    elements and ``flat`` a 1-D view starting at the lowest address.
    """
    if arr.ndim and arr.flags.c_contiguous and tuple(global_shape) == arr.shape and not any(offsets):
        return ("contig", arr.reshape(-1), np.uint64(0))          # the common case, fast
    shape = tuple(int(s) for s in arr.shape) or (1,)
    gshape = tuple(global_shape) if arr.ndim else (1,)
    offs = tuple(offsets) if arr.ndim else (0,)
    itemsize = arr.itemsize
    bstrides = arr.strides if arr.ndim else (itemsize,)
    if any(s % itemsize for s in bstrides):
        raise ValueError("buf has strides that are not multiples of its item size")
    mstr = [s // itemsize for s in bstrides]
    for n, s in zip(shape, mstr):
        if n > 1 and s == 0:
            raise ValueError("buf has overlapping elements (a zero stride); fill a buffer that owns its elements")
    gstr = [1] * len(gshape)
    for k in range(len(gshape) - 2, -1, -1):
        gstr[k] = gstr[k + 1] * gshape[k + 1]
    # Merge adjacent dimensions that are consecutive both in memory and in
    # the global index (the inner one is not sharded).
    dims = [[shape[0], mstr[0], gstr[0], offs[0]]]
    for k in range(1, len(shape)):
        n, ms, gs, off = dims[-1]
        if shape[k] == gshape[k] and off * gs % gstr[k] == 0 and ms == mstr[k] * shape[k]:
            dims[-1] = [n * shape[k], mstr[k], gstr[k], off * (gs // gstr[k]) + offs[k]]
        else:
            dims.append([shape[k], mstr[k], gstr[k], offs[k]])
    # the lowest address the view touches
    low = sum((n - 1) * ms for n, ms, _, _ in dims if ms < 0)
    span = 1 + sum((n - 1) * abs(ms) for n, ms, _, _ in dims)
    start = arr
    if arr.ndim:
        start = arr[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in arr.strides)]
    flat = np.lib.stride_tricks.as_strided(start, shape=(span,), strides=(itemsize,), writeable=True)
    if len(dims) == 1 and dims[0][1] == 1:
        return ("contig", flat, np.uint64(dims[0][3]))
    a = np.array(dims, dtype=object)
    return ("rows", flat, np.int64(-low),
            np.array(a[:, 0], dtype=np.int64), np.array(a[:, 1], dtype=np.int64),
            np.array(a[:, 2], dtype=np.uint64), np.array(a[:, 3], dtype=np.uint64))
