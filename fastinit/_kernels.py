"""What the CPU and CUDA kernels share, so that each target module says
only how it loops (``_cpu``, ``_cuda``):

* the value of one element and of one counter block, per (distribution,
  dtype kind), composed from ``_transforms`` and the kind's encoder;
* the encoder a target uses for a kind (the hardware conversion where the
  target has one: the same bits);
* the digest of the sources inlined into a kernel (part of its cache key);
* the table of compiled kernels, one build per key and process.

The distributions are ``_distributions``' records: a random one's value
comes from its value (or staged) functions, a constant one draws no word
and every element is the encoded value.
"""
import functools
import os
import sys
import threading

import numpy as np

from . import _constants, _distributions, _dtypes, _encode, _ops, _params, _philox, _transforms, _values
from ._ops import jitable
from ._philox import block_ms, block_words

U64 = np.uint64


def family(kind):
    return _dtypes.KINDS[kind].family


def per_block(kind):
    """Elements per Philox counter block: four 32-bit words, or two 64-bit m."""
    return 4 if family(kind) == "32" else 2


def encoder(kind, native):
    """The kind's encoder on a target with (``native``) or without a
    hardware float32 -> float16 conversion: the same bits either way."""
    k = _dtypes.KINDS[kind]
    return k.encode_native if native and k.encode_native is not None else k.encode


@jitable
def _same(x, k):
    return x


@functools.lru_cache(maxsize=None)     # one function, so one compile, for every kernel
def element_fn(dist, family, encode, staged=False):
    """The stored value of one element from its word (32-bit family) or
    64-bit m: ``encode(value(w, prm))``, ``value`` the record's.  With
    ``staged``, the same bits by the record's staged functions (the common
    branches of the inverse CDF, and the full value only for the flagged
    far-tail elements), for targets that branch per element."""
    dist = _distributions.of(dist)
    if not dist.random:
        def element(w, prm):
            return encode(prm.value)
        return jitable(element)
    value = dist.value[family]
    stages = dist.staged.get(family) if staged else None
    if stages is None:
        def element(w, prm):
            return encode(value(w, prm))
        return jitable(element)
    pre, mid, post, mid_k, post_k = stages
    mid = _same if mid is None else mid

    def element(w, prm):
        a, b = pre(w, prm)
        v, far = post(a, mid(b, mid_k), prm, post_k)
        if far:
            v = value(w, prm)
        return encode(v)
    return jitable(element)


@functools.lru_cache(maxsize=None)     # one function, so one compile, for every kernel
def block_fn(dist, family, element):
    """The stored values of the elements of counter block b: 4 (32-bit
    family) or 2 (64-bit), each ``element`` of its word."""
    if not _distributions.of(dist).random:      # no words
        if family == "32":
            def block(b, k0, k1, s0, s1, prm):
                v = element(U64(0), prm)
                return v, v, v, v
        else:
            def block(b, k0, k1, s0, s1, prm):
                v = element(U64(0), prm)
                return v, v
        return jitable(block)
    if family == "32":
        def block(b, k0, k1, s0, s1, prm):
            w0, w1, w2, w3 = block_words(b, k0, k1, s0, s1)
            return element(w0, prm), element(w1, prm), element(w2, prm), element(w3, prm)
        return jitable(block)

    def block(b, k0, k1, s0, s1, prm):
        m0, m1 = block_ms(b, k0, k1, s0, s1)
        return element(m0, prm), element(m1, prm)
    return jitable(block)


@jitable
def row_start(r, base, shape, mstr, gstr, goff):
    """(memory index, global index) of the first element of row r of a
    ``_buffers.Rows`` region, whose rows run along the last dimension."""
    d = len(shape)
    mem = base
    g = goff[d - 1]
    for k in range(d - 2, -1, -1):
        ik = r % shape[k]
        r //= shape[k]
        mem += ik * mstr[k]
        g += (goff[k] + U64(ik)) * gstr[k]
    return mem, g


def source_digest(target):
    """A digest of every source inlined into a kernel of module ``target``.

    numba keys its on-disk cache by a kernel's code and closure cells, and
    checks only the timestamp of the file that defines the kernel, not of
    the code inlined into it.  Every kernel closes over ``BUILD``, this
    digest, so that a cache written by other sources is never loaded."""
    return _ops.source_digest(_ops, _philox, _constants, _transforms, _values, _encode, _params, _dtypes, _distributions,
                              sys.modules[__name__], target)


class KernelTable(dict):
    """Compiled kernels by key: one build per key and process, also when
    the pieces of a first fill ask for it from several threads at once."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            # a thread of the parent may have held the lock
            os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self):
        self._lock = threading.Lock()

    def get_or_build(self, key, build):
        """The kernel of ``key``, built by ``build(*key)`` on first use."""
        k = self.get(key)
        if k is not None:
            return k
        with self._lock:
            k = self.get(key)
            if k is None:
                k = self[key] = build(*key)
            return k
