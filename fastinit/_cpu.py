"""CPU kernels: numba loops over Philox counter blocks.

The math lives in ``_philox`` and ``_transforms``; this module only decides
how to loop.  Two loop shapes, built per (distribution, dtype) on first use
and cached on disk:

* ``contig``: a C-contiguous run of consecutive global indices (a whole
  buffer, or a shard whose inner dimensions are complete).  One counter block
  per iteration, uint64 indices so the loop vectorises.  For normals and
  truncated normals (``_contig_core_staged``) the work of STAGE elements
  goes through short vectorised loops over scratch in L1: Philox words,
  then the inverse CDF in two or three steps, the last of which skips the
  less common branches and flags the elements that need them.  One fused
  loop was a chain of 40 and more dependent floating-point operations that
  the core could not overlap enough.  Flagged elements (0.34% of float32
  normal draws; in float64 the 15% outside AS241's central branch, which
  alone needs no log) are recomputed in full from their saved words in one
  vectorised loop.  The same operations give the same bits, so
  this is invisible to the contract (the golden hashes check it).
* ``rows``: anything else (strided views, shards cut along inner
  dimensions): each row of the innermost dimension, in chunks, filled by
  the same contiguous loop (in place, or into a buffer scattered along the
  row's stride), so a strided or sharded normal runs the staged loops too.

The loops are built from ``_kernels``' element and block functions, which
the CUDA kernels share; a constant (a distribution that draws no words)
is NumPy's assignment or, for large runs, non-temporal stores (``fill``).

Every kernel is one serial function compiled with ``nogil``; ``_threads``
runs it on pieces of the buffer (``split``) on several threads at once.
Numba's ``parallel=True`` would compile each kernel twice over (the
function, and its loop body again as a gufunc), and small calls would need
a serial build besides: three times the first-use compile for the same
machine code in the loops (bench/NOTES.md).
"""
import functools
import sys
import threading

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from . import _distributions, _dtypes, _kernels, _ops, _params
from ._buffers import Contig, Rows
from ._ops import (NONTEMPORAL_BYTES, NONTEMPORAL, jitable, native_f16, prefer_vector_width, runtime_value, store_fence,
                   store_nontemporal)
from ._kernels import row_start
from ._philox import block_ms, block_pairs, block_words, key_and_stream

U64 = np.uint64
ROW_CHUNK = 4096          # elements of a row per call of the contiguous loop in the rows kernel
STAGE = 512               # elements per stage pass in the staged kernel (scratch fits L1)
#: Fills whose words go through L1 in pairs before their values are made
#: (``_contig_core_words``): bfloat16's uniform, whose one loop from blocks
#: to stored values is 14% slower than the two; float32's and float16's
#: one loop is 6-7% faster than the two (bench/NOTES.md).
WORDS_STAGED = {(_distributions.UNIFORM, "bf16")}
ALIGN = 1 << 13           # elements: split points are multiples of this (whole blocks and stages)
#: A contiguous constant fill of at least this many bytes (per thread's
#: piece) bypasses the caches (``_make_nontemporal``): such a buffer does not
#: stay in them anyway, and without the read for ownership the stores run
#: at up to 2.6x NumPy's (bench/NOTES.md).
NONTEMPORAL_MIN_BYTES = 1 << 22
#: float32 -> float16 by the F16C instructions where the host (and numba's
#: target CPU) has them, else by integer operations: the same bits.
NATIVE_F16 = native_f16()

_SOURCE = _kernels.source_digest(sys.modules[__name__])


def _jit(fn):
    """njit with the on-disk cache at the first usable location (``_cache``:
    numba's locations, then private ones of ours; uncached, with one warning
    per process, where none is), and the options of every value-path
    function (``_ops.JIT_OPTIONS``: each helper is then compiled once per
    process, not once per caller's flags), which include nogil: pieces of
    one buffer run on several threads at once (``_threads``).

    numba keys its on-disk cache by the function's code and closure cells,
    not by its compile flags.  Every kernel closes over ``BUILD``
    (``_kernels.source_digest``) so that a cache written by other sources is
    never loaded.  The cells hold plain functions (``jitable``), which
    pickle the same in every process; a dispatcher in a cell would pickle
    with a fresh id and never hit the cache.
    """
    from ._cache import cpu_jit
    assert "BUILD" in fn.__code__.co_freevars
    return cpu_jit(fn, **_ops.JIT_OPTIONS)


@jitable
def _store4(out, base, vals):
    # constant tuple indices: a loop over ``vals[k]`` does not vectorise
    out[base] = vals[0]
    out[base + U64(1)] = vals[1]
    out[base + U64(2)] = vals[2]
    out[base + U64(3)] = vals[3]


@jitable
def _store2(out, base, vals):
    out[base] = vals[0]
    out[base + U64(1)] = vals[1]


@jitable
def _whole_blocks(n, g0, E):
    """Split a run of n elements starting at global index g0 into a head
    (elements before the first block boundary), nb whole blocks starting at
    block b0, and the elements after them, from ``start`` on."""
    head = (E - g0 % E) % E
    head = n if head > n else head
    nb = (n - head) // E
    return head, nb, (g0 + head) // E, head + nb * E


@jitable
def _end_index(j, head, start):
    """Position of the j-th element of the unaligned ends: [0, head), then [start, n)."""
    return U64(j) if U64(j) < head else start + U64(j) - head


@functools.lru_cache(maxsize=None)     # one function, so one compile, for every kernel
def _word_fn(family):
    """The word (32-bit family) or 64-bit m of the element at global index g."""
    if family == "32":
        def word(g, k0, k1, s0, s1):
            return block_words(g >> U64(2), k0, k1, s0, s1)[g & U64(3)]
    else:
        def word(g, k0, k1, s0, s1):
            return block_ms(g >> U64(1), k0, k1, s0, s1)[g & U64(1)]
    return jitable(word)


@jitable
def _trailing_zeros(v):
    # a module-level function: the contiguous loops are closure cells of the
    # kernels, pickled by value into numba's cache key, and numba's
    # intrinsic itself pickles with a fresh id in every process (the key
    # would never match again)
    return U64(trailing_zeros(v))


def _contig_core(block, value, family):
    """The loop over a contiguous run: one counter block per iteration, the
    unaligned ends one element each.  ``core(out, g0, k0, k1, s0, s1, prm,
    scr)`` fills ``out`` with the elements of global indices g0, g0 + 1, ...
    (``scr``: ``_scratch``, unused here)."""
    BUILD = _SOURCE
    E = U64(4 if family == "32" else 2)
    store = _store4 if family == "32" else _store2
    word = _word_fn(family)

    def contig(out, g0, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see _jit)
        prefer_vector_width()
        n = U64(out.shape[0])
        head, nb, b0, start = _whole_blocks(n, g0, E)
        for i in range(np.int64(nb)):
            ii = U64(i)
            store(out, head + ii * E, block(b0 + ii, k0, k1, s0, s1, prm))
        # the ends that are not whole blocks, one value per element, in one
        # loop (one copy of the code, not one per end)
        for j in range(np.int64(head + n - start)):
            i = _end_index(j, head, start)
            out[i] = value(word(g0 + i, k0, k1, s0, s1), prm)
    return contig


@functools.lru_cache(maxsize=None)     # one function, so one compile, for every kernel
def _stage_words_fn(family):
    """Store the words of block b, one per element, at elements [2i, 2i + 2)
    of the scratch's ``uint64`` view: the 4 32-bit words in pairs
    (``block_pairs``; the ``uint32`` view holds them at [4i, 4i + 4)), or
    the 2 64-bit ones."""
    if family == "32":
        def words_of(words, i, b, k0, k1, s0, s1):
            _store2(words, i * U64(2), block_pairs(b, k0, k1, s0, s1))    # words: the uint64 view
    else:
        def words_of(words, i, b, k0, k1, s0, s1):
            _store2(words, i * U64(2), block_ms(b, k0, k1, s0, s1))
    return jitable(words_of)


def _contig_core_words(value):
    """The contiguous loop of a float32-family fill with one value per
    word and no rare branch, where it measured faster than ``_contig_core``
    (``WORDS_STAGED``; as ``_contig_core``, ``scr``: a STAGE-word buffer in
    L1).  Per pass of STAGE elements, Philox's words go to the scratch in
    pairs (``block_pairs``), then a second vectorised loop makes the values.
    ``_contig_core``'s one loop narrows each word from its 64-bit lane and
    interleaves the four words of a block, and for bfloat16 also packs the
    values to 16 bits in the same loop (bench/NOTES.md)."""
    BUILD = _SOURCE
    E = U64(4)
    S = U64(STAGE)
    SB = S // E
    word = _word_fn("32")
    words_of = _stage_words_fn("32")

    def contig(out, g0, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see _jit)
        prefer_vector_width()
        words = scr[0]
        wq = words.view(np.uint64)
        n = U64(out.shape[0])
        head, nb, b0, start = _whole_blocks(n, g0, E)
        npass = (nb + SB - U64(1)) // SB
        for t in range(np.int64(npass)):
            i0 = U64(t) * SB
            m = min(SB, nb - i0)
            base = head + i0 * E
            for i in range(np.int64(m)):                 # vectorised: Philox
                ii = U64(i)
                words_of(wq, ii, b0 + i0 + ii, k0, k1, s0, s1)
            for j in range(np.int64(m * E)):             # vectorised
                jj = U64(j)
                out[base + jj] = value(U64(words[jj]), prm)
        for j in range(np.int64(head + n - start)):     # the ends (fewer than E each)
            i = _end_index(j, head, start)
            out[i] = value(word(g0 + i, k0, k1, s0, s1), prm)
    return contig


def _contig_core_staged(family, value, stages, encode):
    """The contiguous loop for normals and truncated normals (as
    ``_contig_core``; ``scr`` holds the stages' L1 buffers, ``_scratch``).

    One Philox-to-value loop per element is a chain of 40 and more dependent
    floating-point operations (polynomials, a log, a division), and the core
    cannot keep enough of them in flight to fill its pipes.  So the work of
    STAGE elements goes through short vectorised loops, each over scratch in
    L1: the Philox words; ``pre`` (float32: x and the log argument; float64:
    the signed p and -log p); float32 only, ``mid`` (the log); ``post`` (the
    inverse CDF's common branches, scale, encoding), which flags the elements
    that need a rare branch.  Those keep their word and position in a list
    that is recomputed in full (``value``) in one vectorised loop when it
    fills and at the end; the unaligned ends of the run start the list.  The
    same operations as ``value``, so the same bits.  The list is flushed
    from one place in the code, so the full inverse CDF is compiled once.
    """
    BUILD = _SOURCE
    pre, mid, post, MID_K, POST_K = stages
    HAS_MID = mid is not None                  # False: the branch is pruned before typing
    E = U64(4 if family == "32" else 2)
    S = U64(STAGE)
    SB = S // E                                # blocks per stage pass
    EIGHT = U64(8)
    words_of = _stage_words_fn(family)
    word = _word_fn(family)

    def contig(out, g0, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see _jit)
        prefer_vector_width()
        words, xs, ws, flags, rw, rpos, vals = scr
        # the stages' constants, held in registers through their loops
        mid_k = runtime_value(MID_K)
        post_k = runtime_value(POST_K)
        n = U64(out.shape[0])
        head, nb, b0, start = _whole_blocks(n, g0, E)
        npass = (nb + SB - U64(1)) // SB
        f8 = flags.view(np.uint64)
        wq = words.view(np.uint64)             # float32: Philox's words written in pairs (``block_pairs``)
        nr = U64(0)
        for j in range(np.int64(head + n - start)):  # the ends (fewer than E each)
            i = _end_index(j, head, start)
            rw[nr] = word(g0 + i, k0, k1, s0, s1)
            rpos[nr] = i
            nr += U64(1)
        for t in range(np.int64(npass) + 1):
            if U64(t) < npass:
                i0 = U64(t) * SB
                m = min(SB, nb - i0)
                me = m * E
                base = head + i0 * E
                for i in range(np.int64(m)):             # vectorised: Philox
                    ii = U64(i)
                    words_of(wq, ii, b0 + i0 + ii, k0, k1, s0, s1)
                for j in range(np.int64(me)):            # vectorised
                    jj = U64(j)
                    x, a = pre(U64(words[jj]), prm)
                    xs[jj] = x
                    ws[jj] = a
                if HAS_MID:
                    for j in range(np.int64(me)):        # vectorised
                        jj = U64(j)
                        ws[jj] = mid(ws[jj], mid_k)
                any_far = False
                for j in range(np.int64(me)):            # vectorised
                    jj = U64(j)
                    v, f = post(xs[jj], ws[jj], prm, post_k)
                    out[base + jj] = encode(v)
                    flags[jj] = np.uint8(f)
                    any_far |= f
                if any_far:
                    # 64 flags at a time, then the set bytes of a nonzero word
                    for q in range(np.int64((me + U64(63)) // U64(64))):
                        q8 = U64(q) * EIGHT
                        if (f8[q8] | f8[q8 + U64(1)] | f8[q8 + U64(2)] | f8[q8 + U64(3)] | f8[q8 + U64(4)]
                                | f8[q8 + U64(5)] | f8[q8 + U64(6)] | f8[q8 + U64(7)]) == 0:
                            continue
                        for r in range(8):
                            v = f8[q8 + U64(r)]
                            while v != 0:
                                jj = (q8 + U64(r)) * EIGHT + (_trailing_zeros(v) >> U64(3))
                                v &= v - U64(1)              # a flag byte is 0 or 1
                                if jj < me:
                                    rw[nr] = words[jj]
                                    rpos[nr] = base + jj
                                    nr += U64(1)
            if nr > S or (U64(t) == npass and nr > U64(0)):
                # the redo: the full value, vectorised, then scattered
                for k in range(np.int64(nr)):
                    vals[k] = value(U64(rw[k]), prm)
                for k in range(np.int64(nr)):
                    out[rpos[k]] = vals[k]
                nr = U64(0)
    return contig


def _make_contig(core):
    """The kernel for a ``_buffers.Contig`` region: the contiguous loop
    itself, with the scratch handed in (``_scratch``: one per thread, so a
    small call allocates nothing).  Compiled as the kernel, not called from
    one: as a function of its own LLVM would optimise it twice (+30% on a
    transformer's first-use compile)."""
    return _jit(core)


def _make_rows(core):
    """The kernel for a ``_buffers.Rows`` region: each row of the innermost
    dimension, in chunks of ``ROW_CHUNK``, filled by the contiguous loop
    (``core``): in place where the row is contiguous in memory, else into a
    buffer scattered along the row's stride."""
    BUILD = _SOURCE
    CH = ROW_CHUNK

    core = jitable(core)

    def rows(flat, base, shape, mstr, gstr, goff, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see _jit)
        prefer_vector_width()
        d = shape.shape[0]
        rowlen = shape[d - 1]
        ms = mstr[d - 1]
        nrows = 1
        for k in range(d - 1):
            nrows *= shape[k]
        nch = (rowlen + CH - 1) // CH
        tmp = np.empty(min(rowlen, CH), flat.dtype)
        for t in range(nrows * nch):
            r = t // nch
            c = t - r * nch
            mem, g_row = row_start(r, base, shape, mstr, gstr, goff)
            j0 = c * CH
            j1 = min(j0 + CH, rowlen)
            if ms == 1:
                core(flat[mem + j0:mem + j1], g_row + U64(j0), k0, k1, s0, s1, prm, scr)
            else:
                part = tmp[:j1 - j0]
                core(part, g_row + U64(j0), k0, k1, s0, s1, prm, scr)
                for j in range(j1 - j0):
                    flat[mem + (j0 + j) * ms] = part[j]
    return _jit(rows)


def _make_nontemporal():
    """The constant fill of a large contiguous run: plain stores up to the
    first cache-line boundary, then a non-temporal store per cache line, plain
    stores for the rest, and a fence (the filling thread's caller may hand
    the buffer to another thread)."""
    BUILD = _SOURCE
    LINE = NONTEMPORAL_BYTES

    def nontemporal(out, v):
        assert BUILD == BUILD               # a cell naming the sources (see _jit)
        n = out.shape[0]
        size = out.itemsize
        lanes = LINE // size
        addr = out.ctypes.data
        head = ((LINE - addr % LINE) % LINE) // size
        if addr % size != 0:
            head = n                        # not aligned to its own items: plain stores only
        head = min(head, n)
        for i in range(head):
            out[i] = v
        nv = (n - head) // lanes
        for k in range(nv):
            store_nontemporal(out, head + k * lanes, v)
        for i in range(head + nv * lanes, n):
            out[i] = v
        store_fence()
    return _jit(nontemporal)


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


def nontemporal_kernel(dist, kind):
    """The non-temporal constant fill for ``kind``'s storage (one build
    serves every kind stored alike); ``dist`` draws no words."""
    return kernel(dist, _NONTEMPORAL_KIND[kind], "nontemporal")


def _build(dist, kind, loop):
    if loop == "nontemporal":
        return _make_nontemporal()
    family = _kernels.family(kind)
    encode = _kernels.encoder(kind, NATIVE_F16)
    value = _kernels.element_fn(dist, family, encode)
    stages = _distributions.of(dist).staged.get(family)
    if stages is not None:
        core = _contig_core_staged(family, value, stages, encode)
    elif (dist, kind) in WORDS_STAGED:
        core = _contig_core_words(value)
    else:
        core = _contig_core(_kernels.block_fn(dist, family, value), value, family)
    return (_make_rows if loop == "rows" else _make_contig)(core)


def fill(region, kind, dist, prm, seed, stream):
    """Run the kernel for ``region`` (a ``_buffers.Contig`` or ``Rows``, or
    a piece of one from ``split``) on the calling thread.

    A constant draws no words, so its loop is a plain store.  A large
    contiguous piece (``NONTEMPORAL_MIN_BYTES``) is written with non-temporal stores
    (``_make_nontemporal``); anything else by NumPy's assignment, which is that
    loop already compiled and releases the GIL: the biases and norms of a
    model compile nothing (a numba twin of the CUDA constant kernel cost
    0.3-0.4 s to compile on a model's first build, bench/NOTES.md)."""
    if not _distributions.of(dist).random:
        value = prm.value if kind in _STORED_AS_COMPUTED else _stored(kind, prm.value)
        if NONTEMPORAL and isinstance(region, Contig) and region.flat.nbytes >= NONTEMPORAL_MIN_BYTES:
            nontemporal_kernel(dist, kind)(region.flat, value)
        else:
            _view(region)[...] = value
        return
    kernel(dist, kind, region.LOOP)(*region, *key_and_stream(seed, stream), prm, _scratch(dist, kind))


_local = threading.local()


def _scratch(dist, kind):
    """The kernels' scratch for this thread: the staged loops' L1 buffers
    (``_contig_core_staged``: words, x, the log's argument, flags, and the
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
