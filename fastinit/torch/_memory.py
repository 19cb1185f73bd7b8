"""Fresh memory: allocation for ``materialize_``, with transparent huge pages.

On Linux with THP in ``madvise`` mode (the default of many distributions),
torch's CPU allocations get 4 KiB pages, and the first touch of a fresh
tensor (one page fault per 4 KiB) costs more than fastinit's fill of it.
``madvise(MADV_HUGEPAGE)`` on the tensor's page-aligned range, before the
first touch, lets the kernel fault 2 MiB at a time.  NumPy does the same for
its large arrays (``numpy/_core/src/multiarray/alloc.c``).
"""
import ctypes
import ctypes.util
import sys

import torch

from ._shard import is_dtensor

MADV_HUGEPAGE = 14
HUGE_PAGE = 2 << 20
#: Below this, glibc serves allocations from its heap (the mmap threshold
#: grows up to 32 MiB), memory that was already touched: nothing to gain, and
#: khugepaged would be invited to collapse heap pages.
HUGEPAGE_MIN_BYTES = 32 << 20

_madvise = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):
        _madvise = None


def advise_hugepages(tensor):
    """Ask for transparent huge pages on the whole 2 MiB pages inside a CPU
    tensor's memory (32 MiB or more), before its first touch.  A hint:
    returns whether the kernel accepted it, never raises, and does not change
    any value.  Measured on the 2-core EPYC: a fresh 2^28-element float32
    ``fill_`` 1.63 -> 6.81 G/s, fastinit ``normal_`` 1.00 -> 2.31 G/s."""
    if _madvise is None or tensor.device.type != "cpu" or is_dtensor(tensor):
        return False
    nbytes = tensor.untyped_storage().nbytes()
    if nbytes < HUGEPAGE_MIN_BYTES:
        return False
    start = tensor.untyped_storage().data_ptr()
    lo = -(-start // HUGE_PAGE) * HUGE_PAGE
    hi = (start + nbytes) // HUGE_PAGE * HUGE_PAGE
    return hi > lo and _madvise(lo, hi - lo, MADV_HUGEPAGE) == 0


def empty(shape, dtype, device):
    t = torch.empty(shape, dtype=dtype, device=device)
    advise_hugepages(t)
    return t


def allocate_like(t, device, dtype):
    """A tensor for ``t`` on ``device``: fresh and uninitialized if ``t`` is
    on the meta device, else ``t`` moved; floating tensors in ``dtype``."""
    dt = dtype if dtype is not None and t.dtype.is_floating_point else t.dtype
    if is_dtensor(t):
        from torch.distributed.tensor import DTensor
        local = t._local_tensor
        new = empty(local.shape, dt, device) if local.is_meta else local.to(device=device, dtype=dt)
        return DTensor.from_local(new, t.device_mesh, t.placements, run_check=False,
                                  shape=t.shape, stride=t.stride())
    if t.is_meta:
        return empty(t.shape, dt, device)
    return t.detach().to(device=device, dtype=dt)
