"""CPU kernels: which loop fills a region, and the fill on one thread.

Two loop shapes (``_cpu_loops``), built per (distribution, dtype kind) on
first use and cached on disk: ``contig`` for a C-contiguous run of
consecutive global indices, ``rows`` for anything else.  A constant (a
distribution that draws no words) is NumPy's assignment or, for large
runs, non-temporal stores (``fill``).

Every kernel is one serial function compiled with ``nogil``; ``_threads``
runs it on pieces of the buffer (``split``) on several threads at once
(why not numba's ``parallel=True``: ``_threads``).
"""
import threading

import numpy as np

from . import _distributions, _dtypes, _kernels, _params
from ._buffers import Contig, Rows
from ._cpu_loops import STAGE, contig_core, contig_core_staged, contig_core_words, make_contig, make_nontemporal, make_rows
from ._ops import NONTEMPORAL, native_f16
from ._philox import key_and_stream

U64 = np.uint64
#: Fills whose words go through L1 in pairs before their values are made
#: (``contig_core_words``): bfloat16's uniform, whose one loop from blocks
#: to stored values is 14% slower than the two; float32's and float16's
#: one loop is 6-7% faster than the two (bench/NOTES.md).
WORDS_STAGED = {(_distributions.UNIFORM, "bf16")}
ALIGN = 1 << 13           # elements: split points are multiples of this (whole blocks and stages)
#: A contiguous constant fill of at least this many bytes (per thread's
#: piece) bypasses the caches (``make_nontemporal``): such a buffer does not
#: stay in them anyway, and without the read for ownership the stores run
#: at up to 2.6x NumPy's (bench/NOTES.md).
NONTEMPORAL_MIN_BYTES = 1 << 22
#: float32 -> float16 by the F16C instructions where the host (and numba's
#: target CPU) has them, else by integer operations: the same bits.
NATIVE_F16 = native_f16()


#: The non-temporal kernel depends only on the storage type: one build serves
#: the kinds that share it (float16 and bfloat16 are both uint16 bits).
_NONTEMPORAL_KIND = {code: next(c for c, k in _dtypes.KINDS.items() if k.storage is kind.storage)
                     for code, kind in _dtypes.KINDS.items()}

#: Every kernel built in this process (``warmup`` and the benchmarks read it).
KERNELS = _kernels.KernelTable()


def kernel(dist, kind, loop):
    """The compiled kernel for (distribution, dtype kind, loop "contig" or
    "rows", or "nontemporal" for a large constant fill); one dispatcher per key
    (numba compiles it once, under its lock)."""
    return KERNELS.get_or_build((dist, kind, loop), _build)


def nontemporal_kernel(kind):
    """The non-temporal constant fill for ``kind``'s storage (one build
    serves every kind stored alike)."""
    return kernel(_distributions.CONSTANT, _NONTEMPORAL_KIND[kind], "nontemporal")


def _build(dist, kind, loop):
    if loop == "nontemporal":
        return make_nontemporal()
    family = _kernels.family(kind)
    encode = _kernels.encoder(kind, NATIVE_F16)
    value = _kernels.element_fn(dist, family, encode)
    stages = _distributions.of(dist).staged.get(family)
    if stages is not None:
        core = contig_core_staged(family, value, stages, encode)
    elif (dist, kind) in WORDS_STAGED:
        core = contig_core_words(value)
    else:
        core = contig_core(_kernels.block_fn(dist, family, value), value, family)
    return (make_rows if loop == "rows" else make_contig)(core)


def fill(region, kind, dist, prm, seed, stream):
    """Run the kernel for ``region`` (a ``_buffers.Contig`` or ``Rows``, or
    a piece of one from ``split``) on the calling thread.

    A constant draws no words, so its loop is a plain store.  A large
    contiguous piece (``NONTEMPORAL_MIN_BYTES``) is written with non-temporal
    stores (``make_nontemporal``); anything else by NumPy's assignment, that
    loop already compiled (it releases the GIL), so that a model's biases
    and norms compile nothing."""
    if not _distributions.of(dist).random:
        value = prm.value if kind in _STORED_AS_COMPUTED else _stored(kind, prm.value)
        if NONTEMPORAL and isinstance(region, Contig) and region.flat.nbytes >= NONTEMPORAL_MIN_BYTES:
            nontemporal_kernel(kind)(region.flat, value)
        else:
            _view(region)[...] = value
        return
    kernel(dist, kind, region.LOOP)(*region, *key_and_stream(seed, stream), prm, _scratch(dist, kind))


_local = threading.local()


def _scratch(dist, kind):
    """The kernels' scratch for this thread: the staged loops' L1 buffers
    (``contig_core_staged``: words, x, the log's argument, flags, and the
    redo list's words, positions and values), or a placeholder."""
    table = getattr(_local, "scratch", None)
    if table is None:
        table = _local.scratch = {}
    scr = table.get((dist, kind))
    if scr is None:
        k = _dtypes.KINDS[kind]
        if k.family in _distributions.of(dist).staged:
            wt, ft = (np.uint32, np.float32) if k.family == "32" else (np.uint64, np.float64)
            scr = (np.empty(STAGE, wt), np.empty(STAGE, ft), np.empty(STAGE, ft), np.empty(STAGE, np.uint8),
                   np.empty(2 * STAGE, wt), np.empty(2 * STAGE, np.uint64), np.empty(2 * STAGE, k.storage))
        elif (dist, kind) in WORDS_STAGED:
            # in a tuple, as the staged kernels' buffers: handed in bare,
            # the words loop was left scalar by LLVM
            scr = (np.empty(STAGE, np.uint32),)
        else:
            scr = np.uint8(0)
        table[(dist, kind)] = scr
    return scr


#: Kinds whose storage value is the compute value itself (no encoding).
_STORED_AS_COMPUTED = frozenset(code for code, k in _dtypes.KINDS.items() if not k.encoded)


@_params.cached    # models fill thousands of biases and norms with 0 and 1
def _stored(kind, value):
    return _dtypes.KINDS[kind].stored(value)


def _view(region):
    """The elements of ``region`` as one NumPy view."""
    if isinstance(region, Contig):
        return region.flat
    flat = region.flat
    size = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat[region.base:], shape=tuple(int(n) for n in region.shape),
                                           strides=tuple(int(s) * size for s in region.mstr), writeable=True)


def split(region, parts):
    """``region`` cut into at most ``parts`` pieces of about equal size, to
    be filled on as many threads.  Values depend only on global indices, so
    any cut gives the same bits; a contiguous run is cut at multiples of
    ``ALIGN`` elements (whole counter blocks and stage passes), a strided
    one along its longest dimension."""
    if isinstance(region, Contig):
        flat, g0 = region
        n = flat.shape[0]
        cuts = sorted({(n * k // parts) // ALIGN * ALIGN for k in range(parts)} | {n})
        return [Contig(flat[lo:hi], g0 + U64(lo)) for lo, hi in zip(cuts, cuts[1:]) if hi > lo]
    flat, base, shape, mstr, gstr, goff = region
    d = int(np.argmax(shape))
    n = int(shape[d])
    cuts = sorted({n * k // parts for k in range(parts)} | {n})
    pieces = []
    for lo, hi in zip(cuts, cuts[1:]):
        if hi > lo:
            sh, go = shape.copy(), goff.copy()
            sh[d] = hi - lo
            go[d] += U64(lo)
            pieces.append(Rows(flat, base + lo * mstr[d], sh, mstr, gstr, go))
    return pieces
