"""Numba's on-disk cache is on and hit by a second process, serial and
parallel builds stay apart, and a missing cache location is not fatal."""
import os
import subprocess
import sys
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

    BUILD = True

    def add_one(out):
        assert BUILD == BUILD
        for i in numba.prange(out.shape[0]):
            out[i] += 1.0

    k = _cpu._jit(add_one, parallel=True)
    a = np.zeros(5)
    k(a)
    assert isinstance(k._cache, NullCache) and np.all(a == 1.0)


CACHE_SCRIPT = """
import time, numpy as np, numba, fastinit as fi
from fastinit import _cpu
t = time.perf_counter()
fi.normal_(np.empty(1 << 16, np.float32), seed=1)      # parallel build
fi.normal_(np.empty(100, np.float32), seed=1)          # serial build
dt = time.perf_counter() - t
hits = sum(_cpu.kernel("normal", "f32", "contig", p).stats.cache_hits.total() for p in (True, False))
print(hits, numba.threading_layer(), dt)
"""


def test_second_process_hits_the_cache_and_builds_stay_apart(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [subprocess.run([sys.executable, "-c", CACHE_SCRIPT], capture_output=True, text=True, env=env)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (hits1, layer1, _), (hits2, layer2, dt2) = (r.stdout.split() for r in runs)
    assert hits1 == "0" and hits2 == "2"
    # the parallel kernel loaded from the cache is the parallel build: it
    # started the thread pool (a serial build loaded by mistake would not)
    assert layer2 == layer1 and layer2 in ("tbb", "omp", "workqueue")
