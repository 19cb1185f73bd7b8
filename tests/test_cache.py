"""Numba's on-disk cache is on, and a missing cache location is not fatal."""
import types

import numba
import numpy as np
from numba.core.caching import NullCache

from fastinit import _cpu


def test_kernels_are_cached_on_disk():
    k = _cpu.kernel("normal", "f32", "contig")
    assert not isinstance(k._cache, NullCache)


def test_no_cache_location_falls_back_to_uncached(monkeypatch):
    def njit(*args, **kw):
        if kw.get("cache"):
            # what numba raises when no locator can write (numba issue 4908)
            raise RuntimeError("cannot cache function 'contig': no locator available for file '...'")
        return numba.njit(*args, **kw)

    monkeypatch.setattr(_cpu, "numba", types.SimpleNamespace(njit=njit))

    def add_one(out):
        for i in numba.prange(out.shape[0]):
            out[i] += 1.0

    k = _cpu._jit(add_one, parallel=True)
    a = np.zeros(5)
    k(a)
    assert isinstance(k._cache, NullCache) and np.all(a == 1.0)
