"""Fresh memory: allocation for ``materialize_``, with transparent huge pages.

On Linux with THP in ``madvise`` mode (the default of many distributions),
torch's CPU allocations get 4 KiB pages, and the first touch of a fresh
tensor (one page fault per 4 KiB) costs more than fastinit's fill of it.
``madvise(MADV_HUGEPAGE)`` on the whole 2 MiB pages inside the tensor's
memory, before the first touch, lets the kernel fault 2 MiB at a time
(figures in bench/NOTES.md, "Fresh memory").  NumPy does the same for its
large arrays (``numpy/_core/src/multiarray/alloc.c``).
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
    """Ask for transparent huge pages on a CPU tensor's memory, before its
    first touch: ``madvise(MADV_HUGEPAGE)`` on the whole 2 MiB pages inside
    the tensor's storage (all of it, also for a view); the partial pages at
    its ends are left as they are.  A hint: no value changes, and memory
    already touched keeps its pages until khugepaged collapses them.
    Speed-ups measured on fresh tensors are in bench/NOTES.md.

    Returns True when the kernel accepted the advice.  False, without asking
    it, for a storage under ``HUGEPAGE_MIN_BYTES`` or holding no whole 2 MiB
    page, a tensor on another device (meta, CUDA), a DTensor (advise its
    local tensor instead), a tensor without strided memory of its own
    (sparse, a fake tensor), or where there is no ``madvise`` (not Linux);
    False too when the kernel refused it (one built without transparent
    huge pages)."""
    if (_madvise is None or tensor.device.type != "cpu" or is_dtensor(tensor)
            or tensor.layout is not torch.strided or type(tensor) not in (torch.Tensor, torch.nn.Parameter)):
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


def allocate_like(t, device, dtype, fresh=False):
    """A tensor for ``t`` on ``device``: fresh and uninitialized if ``t`` is
    on the meta device (or ``fresh``: it will be written), else ``t`` moved;
    floating tensors in ``dtype``."""
    dt = dtype if dtype is not None and t.dtype.is_floating_point else t.dtype
    if fresh and not is_dtensor(t):
        return empty(t.shape, dt, device)
    if is_dtensor(t):
        from torch.distributed.tensor import DTensor
        local = t._local_tensor
        new = empty(local.shape, dt, device) if local.is_meta else local.to(device=device, dtype=dt)
        return DTensor.from_local(new, t.device_mesh, t.placements, run_check=False,
                                  shape=t.shape, stride=t.stride())
    if t.is_meta:
        return empty(t.shape, dt, device)
    return t.detach().to(device=device, dtype=dt)
