"""One filler call, checked before any element is written: the seed (and
fastinit's global generator for ``seed=None``), the stream, the numbers,
the shard's place in its global tensor, the buffer and its device; then
the fill, dispatched to the CPU threads or to the CUDA kernels.
"""
import hashlib
import math
import numbers
import threading

import numpy as np

from . import _buffers, _threads

TWO_64 = 1 << 64

# ----------------------------------------------------------------- seeds and streams
_seed_lock = threading.Lock()
_seed_gen = np.random.Generator(np.random.PCG64())


def u64(x, name):
    if type(x) is int and 0 <= x < TWO_64:      # the common case, without the ABC checks below
        return x
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer in [0, 2**64); got {type(x).__name__} {x!r}")
    x = int(x)
    if not 0 <= x < TWO_64:
        raise ValueError(f"{name} must be in [0, 2**64); got {x}")
    return x


def manual_seed(seed):
    """Seed fastinit's global generator, which supplies the seed of every
    call made with ``seed=None``; a script that calls this first is
    reproducible.  ``seed`` is an integer in [0, 2**64)."""
    global _seed_gen
    seed = u64(seed, "seed")
    with _seed_lock:
        _seed_gen = np.random.Generator(np.random.PCG64(seed))


#: ``seed=DEFERRED`` (internal, ``fastinit.torch.patch()``): the filler checks
#: everything and returns ``run(seed)`` instead of filling, so that a seed
#: drawn from another generator is drawn only for a call that will fill.
DEFERRED = object()


def resolve_seed(seed):
    if seed is None:
        with _seed_lock:
            return int(_seed_gen.integers(0, TWO_64, dtype=np.uint64))
    return u64(seed, "seed")


def stream_id(stream):
    """The 64-bit stream of an int or a name (contract section 1)."""
    if isinstance(stream, str):
        digest = hashlib.blake2b(stream.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little")
    return u64(stream, "stream")


# ----------------------------------------------------------------- argument checks
def real(x, name):
    if type(x) is float and math.isfinite(x):     # the common case, without the ABC checks below
        return x
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number; got {type(x).__name__} {x!r}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite; got {x}")
    return x


def choice(x, name, valid):
    if x not in valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}; got {x!r}")
    return x


def shard(shape, global_shape, offsets):
    """Validated (global_shape, offsets) as tuples of ints."""
    shape = tuple(int(n) for n in shape)

    def ints(seq, name):
        try:
            vals = tuple(seq)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of {len(shape)} integers; got {seq!r}") from None
        if len(vals) != len(shape) or any(
                isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) for v in vals):
            raise ValueError(f"{name} must be a sequence of {len(shape)} integers (one per dimension "
                             f"of buf, shape {shape}); got {seq!r}")
        vals = tuple(int(v) for v in vals)
        if any(v < 0 for v in vals):
            raise ValueError(f"{name} must be non-negative; got {vals}")
        return vals

    if global_shape is None:
        if offsets is not None:
            raise ValueError("offsets needs global_shape: name the global tensor the shard belongs to")
        return tuple(shape), (0,) * len(shape)
    gshape = ints(global_shape, "global_shape")
    offs = (0,) * len(shape) if offsets is None else ints(offsets, "offsets")
    for k, (n, g, o) in enumerate(zip(shape, gshape, offs)):
        if o + n > g:
            raise ValueError(f"the shard does not fit: along dimension {k}, offsets[{k}] + buf.shape[{k}] "
                             f"= {o} + {n} > global_shape[{k}] = {g}")
    if math.prod(gshape) > TWO_64:
        raise ValueError(f"global_shape {gshape} has more than 2**64 elements")
    return gshape, offs


def cuda_backend():
    """The CUDA kernels module, or a clear ImportError saying what to install."""
    import importlib.util
    if importlib.util.find_spec("numba_cuda") is None:
        raise ImportError("buf is a CUDA buffer; filling GPU memory needs NVIDIA's numba-cuda: "
                          "pip install 'fastinit[cuda]' (CUDA 13 driver) or 'fastinit[cuda12]'")
    if not hasattr(np, "row_stack"):
        raise ImportError(f"buf is a CUDA buffer, and numba-cuda cannot compile kernels with NumPy "
                          f"{np.__version__} (it uses numpy.row_stack, removed in NumPy 2.5): "
                          f"pip install 'numpy<2.5' (the fastinit[cuda] extra pins it)")
    from . import _cuda
    return _cuda


class Call:
    """Everything checked about one call, before any element is written."""

    def __init__(self, buf, seed, stream, global_shape, offsets):
        self.buf = buf
        self.dev = _buffers.cuda_buffer(buf)
        if self.dev is not None:
            self.arr, self.kind, shape, self.size = None, self.dev.kind, self.dev.shape, self.dev.size
            self.cuda = cuda_backend()
        else:
            self.arr, self.kind = _buffers.as_writable_array(buf)
            shape, self.size = self.arr.shape, self.arr.size
        self.gshape, self.offsets = shard(shape, global_shape, offsets)
        self.stream = stream_id(stream)
        # checked now, drawn only when the kernel runs: a rejected call
        # leaves the global generator where it was
        self.seed = seed if seed is None or seed is DEFERRED else u64(seed, "seed")

    @property
    def empty(self):
        return self.size == 0

    def region(self):
        """Where the elements lie and which global indices they have
        (``_buffers.region``): the last check, as it refuses overlapping
        elements; None for an empty buffer."""
        if self.empty:
            return None
        if self.dev is not None:
            return _buffers.region_device(self.dev, self.gshape, self.offsets)
        return _buffers.region(self.arr, self.gshape, self.offsets)

    def fill(self, dist, *args):
        """Fill with ``dist`` (a ``_distributions`` record) and its
        arguments, checked and rounded by its ``params`` for the buffer's
        dtype; every element is drawn from the seed; with
        ``seed=DEFERRED``, return ``run(seed)`` instead."""
        prm = dist.params(*args, self.kind) if dist is not None else None
        region = self.region()
        if self.seed is DEFERRED:
            return lambda seed: self._run(region, dist, prm, u64(seed, "seed"))
        if region is None or not dist.random:   # no words drawn: the generator stays where it was
            return self._run(region, dist, prm, 0)
        return self._run(region, dist, prm, resolve_seed(self.seed))

    def _run(self, region, dist, prm, seed):
        if region is None:
            return self.buf
        if self.dev is not None:
            self.cuda.fill(region, self.dev, dist, prm, seed, self.stream)
        else:
            _threads.fill(region, self.size, self.kind, dist, prm, seed, self.stream)
        _buffers.written(self.buf)
        return self.buf
