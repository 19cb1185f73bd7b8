"""Anything a user may hand us -> one writable NumPy view and a dtype kind.

The kind is a code of ``_dtypes.KINDS``.  Buffers of an encoded kind
(float16, bfloat16) are returned as a view of their storage type (uint16:
numba's CPU target has no float16), the kernels write their bits.
torch is never imported here: a tensor is recognised only when torch is
already imported (einops' habit).
"""
import ctypes
import sys
from typing import NamedTuple

import numpy as np

from . import _dtypes
from ._dtypes import SUPPORTED


def _kind(dtype, name):
    if not dtype.isnative:
        shown = dtype if dtype.name == "bfloat16" else f"{dtype.newbyteorder('=')} array"
        raise TypeError(f"{name} must be in native byte order; got a big-endian {shown}")
    kind = _dtypes.of_numpy(dtype)
    if kind is None:
        raise TypeError(f"{name} must have a floating dtype ({SUPPORTED}); got {dtype}")
    return kind.code


def _torch_kind(t, name):
    kind = _dtypes.of_torch(t.dtype)
    if kind is None:
        raise TypeError(f"{name} must have a floating dtype ({SUPPORTED}); got {t.dtype}")
    return kind.code


def _from_torch(t, name):
    if t.device.type != "cpu":
        raise NotImplementedError(
            f"{name} is a torch tensor on {t.device}; fastinit fills CPU and CUDA tensors")
    kind = _torch_kind(t, name)
    torch = sys.modules["torch"]
    t = t.detach()
    k = _dtypes.KINDS[kind]
    if k.encoded:          # torch has no unsigned view of every width: its signed one, then NumPy's
        arr = t.view(getattr(torch, f"int{8 * k.itemsize}")).numpy().view(k.storage)
    else:
        arr = t.numpy()
    return arr, kind


# ----------------------------------------------------------------- CUDA buffers
#: DLPack device types (dlpack.h, DLDeviceType): host, CUDA, CUDA managed.
DL_CPU, DL_CUDA, DL_CUDA_MANAGED = 1, 2, 13
#: CUDA array interface / DLPack stream handles with a fixed meaning.
LEGACY_DEFAULT_CUDA_STREAM = 1


class CudaBuffer:
    """A buffer in GPU memory, described by its pointer: everything the CUDA
    path needs and nothing that needs numba-cuda to find out.

    ``strides`` are in bytes; ``cuda_stream`` is the producer's CUDA stream handle (an
    int, as in the CUDA array interface) or None when the producer asks for
    no ordering; ``device`` is the device ordinal or None (the pointer's
    device, asked of the driver at launch); ``owner`` keeps the memory (and a
    DLPack capsule) alive while the kernel is enqueued; ``sync_after``: wait
    for the kernel before returning (a DLPack producer orders our launch
    after its work, but nothing orders its later work after ours).
    """

    def __init__(self, ptr, shape, strides, kind, device, cuda_stream, owner, sync_after=False):
        self.ptr, self.shape, self.strides, self.kind = int(ptr), tuple(shape), tuple(strides), kind
        self.itemsize = _dtypes.KINDS[kind].itemsize
        self.device, self.cuda_stream, self.owner = device, cuda_stream, owner
        self.sync_after = sync_after
        self.size = 1
        for n in self.shape:
            self.size *= int(n)


def _c_strides(shape, itemsize):
    strides, acc = [], itemsize
    for n in reversed(shape):
        strides.append(acc)
        acc *= max(int(n), 1)
    return tuple(reversed(strides))


def _cuda_from_torch(t, name):
    torch = sys.modules["torch"]
    kind = _torch_kind(t, name)
    stream = torch.cuda.current_stream(t.device).cuda_stream
    size = _dtypes.KINDS[kind].itemsize
    return CudaBuffer(t.data_ptr(), t.shape, tuple(s * size for s in t.stride()), kind,
                      t.device.index, stream, t)


def _cuda_from_interface(buf, name):
    desc = buf.__cuda_array_interface__
    if desc.get("mask") is not None:
        raise TypeError(f"{name} is a masked CUDA array; fastinit fills plain buffers")
    ptr, readonly = desc["data"]
    if readonly:
        raise ValueError(f"{name} is read-only; fastinit fills buffers in place")
    kind = _kind(np.dtype(desc["typestr"]), name)
    shape = tuple(desc["shape"])
    strides = desc.get("strides")
    strides = _c_strides(shape, _dtypes.KINDS[kind].itemsize) if strides is None else tuple(strides)
    stream, device = desc.get("stream"), None
    module = type(buf).__module__ or ""
    if module.startswith("cupy") and "cupy" in sys.modules:
        # CuPy exports no stream unless asked to; its work runs on its current stream
        with buf.device:                 # the current stream of the array's own device
            stream = sys.modules["cupy"].cuda.get_current_stream().ptr
        device = buf.device.id
    return CudaBuffer(ptr or 0, shape, strides, kind, device, stream, buf)


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


def dlpack_tensor(capsule, name):
    """(pointer, shape, byte strides, kind, device type, device id) of an
    unversioned DLPack capsule ("dltensor"), read in place (the capsule is
    not consumed; its destructor releases the producer's tensor)."""
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    t = _DLTensor.from_address(get(capsule, b"dltensor"))     # DLManagedTensor starts with its DLTensor
    kind = _dtypes.of_dlpack(t.dtype.code, t.dtype.bits, t.dtype.lanes)
    if kind is None:
        raise TypeError(f"{name} must have a floating dtype ({SUPPORTED}); got DLPack dtype code "
                        f"{t.dtype.code}, {t.dtype.bits} bits, {t.dtype.lanes} lanes")
    shape = tuple(t.shape[k] for k in range(t.ndim))
    kind, size = kind.code, kind.itemsize
    strides = (_c_strides(shape, size) if not t.strides
               else tuple(t.strides[k] * size for k in range(t.ndim)))
    return ((t.data or 0) + t.byte_offset, shape, strides, kind, t.device.device_type, t.device.device_id)


def _cuda_from_dlpack(buf, name):
    try:
        capsule = buf.__dlpack__(stream=LEGACY_DEFAULT_CUDA_STREAM)
    except TypeError:
        capsule = buf.__dlpack__()
    ptr, shape, strides, kind, _, dev = dlpack_tensor(capsule, name)
    return CudaBuffer(ptr, shape, strides, kind, dev, LEGACY_DEFAULT_CUDA_STREAM, (buf, capsule), sync_after=True)


def cuda_buffer(buf, name="buf"):
    """A ``CudaBuffer`` if ``buf`` lives in GPU memory (a torch CUDA tensor,
    anything exporting ``__cuda_array_interface__``, a CUDA DLPack
    producer, a numba-cuda simulator array), else None."""
    if "torch" in sys.modules and isinstance(buf, sys.modules["torch"].Tensor):
        return _cuda_from_torch(buf, name) if buf.device.type == "cuda" else None
    if isinstance(buf, np.ndarray):
        return None
    if hasattr(buf, "__cuda_array_interface__"):
        return _cuda_from_interface(buf, name)
    if getattr(buf, "__cuda_ndarray__", False) and hasattr(buf, "_ary"):
        # numba-cuda simulator array: host memory standing in for the GPU's
        ary = buf._ary
        return CudaBuffer(ary.ctypes.data, ary.shape, ary.strides, _kind(ary.dtype, name), 0, None, buf)
    if hasattr(buf, "__dlpack_device__"):
        dev_type, _ = buf.__dlpack_device__()
        if int(dev_type) in (DL_CUDA, DL_CUDA_MANAGED):
            return _cuda_from_dlpack(buf, name)
    return None


def written(buf):
    """Tell torch that a tensor was written in place (its version counter,
    which autograd checks for tensors saved for backward), as torch.nn.init's
    in-place ops do; we write through a pointer or a NumPy view."""
    if "torch" in sys.modules and isinstance(buf, sys.modules["torch"].Tensor) and not buf.is_inference():
        sys.modules["torch"].autograd.graph.increment_version(buf)


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
    if _dtypes.KINDS[kind].encoded:
        arr = arr.view(_dtypes.KINDS[kind].storage)
    return arr, kind


def _check_writable(arr, name):
    if not arr.flags.writeable:
        raise ValueError(f"{name} is read-only; fastinit fills buffers in place")
    return arr


def _dims(shape, bstrides, itemsize, global_shape, offsets):
    """The shared part of ``region`` and ``region_device``: merged dimensions
    ``[n, memory stride, global stride, offset]`` (strides in elements), the
    element offset of the lowest address the view touches (<= 0) and the
    number of elements from there to the highest."""
    shape = tuple(int(s) for s in shape) or (1,)
    gshape = tuple(global_shape) if len(bstrides) else (1,)
    offs = tuple(offsets) if len(bstrides) else (0,)
    bstrides = tuple(bstrides) or (itemsize,)
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
    low = sum((n - 1) * ms for n, ms, _, _ in dims if ms < 0)
    span = 1 + sum((n - 1) * abs(ms) for n, ms, _, _ in dims)
    if len(dims) > 1 and self_overlapping([(n, abs(ms)) for n, ms, _, _ in dims if n > 1]):
        raise ValueError(f"buf has overlapping elements: two of its indices address the same memory "
                         f"(shape {shape}, strides {tuple(bstrides)} in bytes), so the value left there "
                         f"would depend on the order of the writes; fill a buffer that owns its elements")
    return dims, low, span


#: Nodes the exact overlap search visits before it enumerates the offsets.
OVERLAP_WORK = 1 << 16


def self_overlapping(dims):
    """Whether two distinct index vectors of a strided view address the
    same element: ``dims`` is [(n, |stride|)] with n > 1 and strides > 0.

    They do exactly when some x != 0 with |x_k| <= n_k - 1 has
    sum x_k s_k = 0.  Views whose strides each exceed the reach of the
    smaller ones (C, Fortran, transposed, sliced views) are settled at
    once; the others by a depth-first search over x from the largest
    stride down, each level limited to the x_k that the smaller strides can
    still balance (NumPy's ``solve_may_self_overlap`` solves the same
    bounded problem; it is not public API).  Exact, never a guess: past
    ``OVERLAP_WORK`` nodes the offsets are enumerated and compared."""
    dims = sorted(dims, key=lambda d: d[1])
    size, reach = 1, []
    for n, s in dims:
        reach.append(sum((m - 1) * t for m, t in dims[:len(reach)]))
        size *= n
    if all(s > r for (_, s), r in zip(dims, reach)):
        return False
    if size > reach[-1] + (dims[-1][0] - 1) * dims[-1][1] + 1:
        return True                      # more elements than addresses
    work = [0]

    def search(k, t, nonzero):
        n, s = dims[k]
        if k == 0:
            return t % s == 0 and abs(t // s) <= n - 1 and (nonzero or t != 0)
        work[0] += 1
        if work[0] > OVERLAP_WORK:
            raise OverflowError
        r = reach[k]
        lo = max(-(n - 1), -((r - t) // s)) if nonzero else 0      # the first non-zero x_k is positive
        hi = min(n - 1, (t + r) // s)
        return any(search(k - 1, t - x * s, nonzero or x != 0) for x in range(lo, hi + 1))

    try:
        return search(len(dims) - 1, 0, False)
    except OverflowError:
        offsets = np.zeros(1, np.int64)
        for n, s in dims:
            offsets = (offsets[:, None] + np.arange(n, dtype=np.int64) * s).ravel()
        return len(np.unique(offsets)) < len(offsets)


class Contig(NamedTuple):
    """A C-contiguous run: element i of the 1-D ``flat`` has global index
    g0 + i (a whole buffer, or a shard whose inner dimensions are whole)."""
    flat: object            # a 1-D array, or (pointer, elements) on a GPU
    g0: np.uint64
    LOOP = "contig"


class Rows(NamedTuple):
    """Anything else: dimensions ``shape`` with strides ``mstr`` in memory
    and ``gstr`` in the global index (in elements) and offsets ``goff``;
    the element at index vector i lives at flat[base + i . mstr] and has
    global index (goff + i) . gstr.  ``flat`` starts at the lowest address
    the view touches."""
    flat: object
    base: np.int64
    shape: np.ndarray       # int64
    mstr: np.ndarray        # int64
    gstr: np.ndarray        # uint64
    goff: np.ndarray        # uint64
    LOOP = "rows"


def _rows(flat, dims, low):
    a = np.array(dims, dtype=object)
    return Rows(flat, np.int64(-low), np.array(a[:, 0], dtype=np.int64), np.array(a[:, 1], dtype=np.int64),
                np.array(a[:, 2], dtype=np.uint64), np.array(a[:, 3], dtype=np.uint64))


def region(arr, global_shape, offsets):
    """Where each logical element of ``arr`` lives and which global index
    it has: a ``Contig`` or a ``Rows`` record, whose ``LOOP`` names the
    kernel loop that fills it."""
    if arr.ndim and arr.flags.c_contiguous and tuple(global_shape) == arr.shape and not any(offsets):
        return Contig(arr.reshape(-1), np.uint64(0))          # the common case, fast
    dims, low, span = _dims(arr.shape, arr.strides, arr.itemsize, global_shape, offsets)
    start = arr
    if arr.ndim:
        start = arr[tuple(slice(None, None, -1) if s < 0 else slice(None) for s in arr.strides)]
    flat = np.lib.stride_tricks.as_strided(start, shape=(span,), strides=(arr.itemsize,), writeable=True)
    if len(dims) == 1 and dims[0][1] == 1:
        return Contig(flat, np.uint64(dims[0][3]))
    return _rows(flat, dims, low)


def region_device(dev, global_shape, offsets):
    """``region`` for a ``CudaBuffer``: ``flat`` is the (pointer, number of
    elements) of the 1-D range to view."""
    dims, low, span = _dims(dev.shape, dev.strides, dev.itemsize, global_shape, offsets)
    flat = (dev.ptr + low * dev.itemsize, span)
    if len(dims) == 1 and dims[0][1] == 1:
        return Contig(flat, np.uint64(dims[0][3]))
    return _rows(flat, dims, low)
