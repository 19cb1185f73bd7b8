"""The CPU kernels' loops: numba functions over Philox counter blocks,
built from ``_kernels``' element and block functions; ``_cpu`` picks one
per (distribution, dtype kind, loop) and runs it.

* ``contig_core``: a C-contiguous run of consecutive global indices, one
  counter block per iteration, uint64 indices so that the loop vectorises.
* ``contig_core_staged`` (normals and truncated normals): STAGE elements
  at a time through short vectorised loops over scratch in L1 (Philox
  words, then the inverse CDF in two or three steps, the last flagging the
  rare elements whose less common branches it skips, which are redone in
  full from their saved words): the same operations, so the same bits;
  short loops, as one fused loop is too long a chain of dependent
  operations for the core to overlap (bench/NOTES.md).
* ``contig_core_words``: the words through L1 in pairs first (bfloat16's
  uniform, ``_cpu.WORDS_STAGED``).
* ``make_contig`` / ``make_rows``: the kernels around a core, for a whole
  run or for each row of the innermost dimension of any other region
  (strided views, shards cut along inner dimensions), in chunks.
* ``make_nontemporal``: a large constant fill with non-temporal stores.
"""
import functools
import sys

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from . import _kernels, _ops
from ._kernels import row_start
from ._ops import NONTEMPORAL_BYTES, jitable, prefer_vector_width, runtime_value, store_fence, store_nontemporal
from ._philox import block_ms, block_pairs, block_words

U64 = np.uint64
ROW_CHUNK = 4096          # elements of a row per call of the contiguous loop in the rows kernel
STAGE = 512               # elements per stage pass in the staged kernel (scratch fits L1)

_SOURCE = _kernels.source_digest(sys.modules[__name__])


def jit(fn):
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


def contig_core(block, value, family):
    """The loop over a contiguous run: one counter block per iteration, the
    unaligned ends one element each.  ``core(out, g0, k0, k1, s0, s1, prm,
    scr)`` fills ``out`` with the elements of global indices g0, g0 + 1, ...
    (``scr``: ``_scratch``, unused here)."""
    BUILD = _SOURCE
    E = U64(4 if family == "32" else 2)
    store = _store4 if family == "32" else _store2
    word = _word_fn(family)

    def contig(out, g0, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see jit)
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


def contig_core_words(value):
    """The contiguous loop of a float32-family fill with one value per
    word and no rare branch, where it measured faster than ``contig_core``
    (``WORDS_STAGED``; as ``contig_core``, ``scr``: a STAGE-word buffer in
    L1).  Per pass of STAGE elements, Philox's words go to the scratch in
    pairs (``block_pairs``), then a second vectorised loop makes the values.
    ``contig_core``'s one loop narrows each word from its 64-bit lane and
    interleaves the four words of a block, and for bfloat16 also packs the
    values to 16 bits in the same loop (bench/NOTES.md)."""
    BUILD = _SOURCE
    E = U64(4)
    S = U64(STAGE)
    SB = S // E
    word = _word_fn("32")
    words_of = _stage_words_fn("32")

    def contig(out, g0, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see jit)
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


def contig_core_staged(family, value, stages, encode):
    """The contiguous loop for normals and truncated normals (as
    ``contig_core``; ``scr`` holds the stages' L1 buffers, ``_scratch``).

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
        assert BUILD == BUILD               # a cell naming the sources (see jit)
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


def make_contig(core):
    """The kernel for a ``_buffers.Contig`` region: the contiguous loop
    itself, with the scratch handed in (``_scratch``: one per thread, so a
    small call allocates nothing).  Compiled as the kernel, not called from
    one: as a function of its own LLVM would optimise it twice (+30% on a
    transformer's first-use compile)."""
    return jit(core)


def make_rows(core):
    """The kernel for a ``_buffers.Rows`` region: each row of the innermost
    dimension, in chunks of ``ROW_CHUNK``, filled by the contiguous loop
    (``core``): in place where the row is contiguous in memory, else into a
    buffer scattered along the row's stride."""
    BUILD = _SOURCE
    CH = ROW_CHUNK

    core = jitable(core)

    def rows(flat, base, shape, mstr, gstr, goff, k0, k1, s0, s1, prm, scr):
        assert BUILD == BUILD               # a cell naming the sources (see jit)
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
    return jit(rows)


def make_nontemporal():
    """The constant fill of a large contiguous run: plain stores up to the
    first cache-line boundary, then a non-temporal store per cache line, plain
    stores for the rest, and a fence (the filling thread's caller may hand
    the buffer to another thread)."""
    BUILD = _SOURCE
    LINE = NONTEMPORAL_BYTES

    def nontemporal(out, v):
        assert BUILD == BUILD               # a cell naming the sources (see jit)
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
    return jit(nontemporal)
