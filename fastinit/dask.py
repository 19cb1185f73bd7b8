"""fastinit's fillers as lazy Dask arrays, and Zarr stores filled chunk by chunk.

Every filler ``fastinit.<name>_`` is here as ``fastinit.dask.<name>``:
``shape``, then the filler's own arguments, then ``chunks``, ``dtype``,
``seed`` and ``stream`` (and the filler's keywords, such as ``layout``)::

    w = fastinit.dask.he_normal((1_000_000, 4096), chunks=(65536, 4096),
                                dtype="bfloat16", seed=0, stream="emb")

Each block is allocated and filled where it is computed, with the global
shape and the block's offsets (contract section 4), so its values are
those of the in-memory fill of the whole array, bit for bit, whatever the
chunks, the number of workers or the scheduler; fans come from the global
shape.  ``seed=None`` draws one seed from fastinit's global generator when
the array is defined, never per block.  Everything is checked when the
array is defined (shape, chunks, dtype, the filler's own arguments), before
any block is computed.

``fill_zarr(array, name, ...)`` fills an existing Zarr array (or anything
with ``shape``, ``dtype``, ``chunks`` and slice assignment) in place, one
task per chunk (per shard where the array has shards), each writing its
own chunk: memory per worker is about its chunks, whatever the array's
size.  A lazy array written with ``dask.array.to_zarr`` (or ``.to_zarr``)
is the other way to a new store.

Needs ``dask[array]`` (``pip install "fastinit[dask]"``, which brings Zarr
and dask.distributed too); imported on first use of ``fastinit.dask``.
"""
import functools
import numbers

import ml_dtypes  # noqa: F401  (registers "bfloat16" with NumPy, here and in every worker)
import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
except ImportError as e:                # pragma: no cover  (the test extra installs dask)
    raise ImportError(f"fastinit.dask needs dask[array] ({e}): pip install 'fastinit[dask]'") from e

from . import CONTRACT_VERSION, _call, _distributions, _dtypes
from . import api as _fi

#: fastinit's fillers by their name here (without the trailing underscore).
FILLERS = {name[:-1]: getattr(_fi, name) for name in _fi.__all__ if name.endswith("_")}
#: The fillers that draw no random words: a whole chunk of one value.
CONSTANT_FILLERS = tuple(f[:-1] for d in _distributions.ALL if not d.random for f in d.fillers)
__all__ = sorted(FILLERS) + ["fill_zarr", "FILLERS"]
DTYPES = tuple(k.name for k in _dtypes.KINDS.values())


def _shape(shape):
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of non-negative integers; got {shape!r}") from None
    if any(isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or n < 0 for n in dims):
        raise ValueError(f"shape must be a tuple of non-negative integers; got {shape!r}")
    return tuple(int(n) for n in dims)


def _dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or _dtypes.of_numpy(dt) is None:
        raise TypeError(f"dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    return dt


def _chunks(chunks, shape, dtype):
    """Dask's normalized chunks, which must tile ``shape`` exactly."""
    try:
        norm = da.core.normalize_chunks(chunks, shape, dtype=dtype)
    except (ValueError, TypeError) as e:
        raise ValueError(f"chunks {chunks!r} do not tile the shape {shape}: {e}") from None
    if tuple(sum(c) for c in norm) != shape or any(n < 0 for c in norm for n in c):
        raise ValueError(f"chunks {chunks!r} do not tile the shape {shape}")
    return norm


def _block(name, shape, dtype, args, seed, stream, kwargs, block_info=None):
    """One block: allocated here, filled with the global shape and its offsets."""
    info = block_info[None]
    buf = np.empty(info["chunk-shape"], np.dtype(dtype))
    offsets = tuple(lo for lo, _ in info["array-location"])
    FILLERS[name](buf, *args, seed=seed, stream=stream, global_shape=shape, offsets=offsets, **kwargs)
    return buf


def _lazy(name):
    filler = FILLERS[name]

    def make(shape, *args, chunks="auto", dtype="float32", seed=None, stream=0, **kwargs):
        shape = _shape(shape)
        dt = _dtype(dtype)
        norm = _chunks(chunks, shape, dt)
        seed = _call.resolve_seed(seed)                  # once, now: never per block
        # the filler's own checks, once: a one-element piece of the global
        # array (fans, bounds, stream, keywords), nothing drawn or written
        probe = np.empty((0 if 0 in shape else 1,) * len(shape), dt)
        filler(probe, *args, seed=_call.DEFERRED, stream=stream, global_shape=shape,
               offsets=(0,) * len(shape), **kwargs)
        token = tokenize(name, shape, dt.name, norm, args, sorted(kwargs.items()), seed, stream, CONTRACT_VERSION)
        fill = functools.partial(_block, name, shape, dt.name, args, seed, stream, kwargs)
        return da.map_blocks(fill, chunks=norm, dtype=dt, meta=np.empty((0,) * len(shape), dt),
                             name=f"fastinit-{name}-{token}")

    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"``fastinit.{name}_`` as a lazy Dask array of ``shape``: "
                    f"``{name}(shape, *args, chunks='auto', dtype='float32', seed=None, stream=0, **kwargs)``, "
                    f"args and kwargs as in ``fastinit.{name}_``; the values are the in-memory fill's, "
                    f"for any chunks.\n\n" + (filler.__doc__ or ""))
    return make


globals().update({name: _lazy(name) for name in FILLERS})


def fill_zarr(array, name, *args, seed=None, stream=0, compute=True, **kwargs):
    """Fill ``array`` (a Zarr array, or anything with ``shape``, ``dtype``,
    ``chunks`` and slice assignment) in place with ``fastinit.<name>_``,
    one Dask task per chunk (per shard where the array has shards), each
    writing its own chunk.  ``compute=False`` returns the Dask delayed
    store instead.  Values equal the in-memory fill of the whole array.
    Random fills are written without Zarr's comparison of each chunk with
    the fill value (``write_empty_chunks``; the array's own config is left
    as it is); constant fills keep it, so a chunk of the fill value is not
    stored.
    Zarr v3 has no bfloat16 data type (zarr-python 3.1): store float32, or
    write the bits of a bfloat16 array as uint16 yourself."""
    if name not in FILLERS:
        raise ValueError(f"name must be one of {', '.join(sorted(FILLERS))}; got {name!r}")
    grid = getattr(array, "shards", None) or array.chunks
    lazy = globals()[name](tuple(array.shape), *args, chunks=tuple(grid), dtype=array.dtype, seed=seed,
                           stream=stream, **kwargs)
    target = array
    if name not in CONSTANT_FILLERS and hasattr(array, "with_config"):
        # Zarr compares every chunk with the fill value before writing it, to
        # leave out empty chunks ("write_empty_chunks"): a full pass over the
        # chunk (a byte-wise one for a fill value of 0.0) that random values
        # never pass.  Constant fills keep the array's own setting, which
        # stores nothing for a chunk of the fill value.
        target = array.with_config({"write_empty_chunks": True})
    stored = da.store(lazy, target, lock=False, compute=compute)
    return array if compute else stored

