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


STALE_SCRIPT = """
import numpy as np, fastinit as fi
from fastinit import _cpu
a = np.empty(1 << 16, np.float32)
fi.uniform_(a, seed=1)
print(_cpu.kernel("uniform", "f32", "contig", True).stats.cache_hits.total(), float(a[0]))
"""


def test_a_change_in_inlined_code_is_not_served_from_the_cache(tmp_path):
    """numba checks only the timestamp of the kernel's own file (_cpu.py);
    the value-path code inlined from _transforms.py must invalidate too."""
    import shutil

    import fastinit
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.dirname(fastinit.__file__), pkg / "fastinit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(pkg))

    def run():
        r = subprocess.run([sys.executable, "-c", STALE_SCRIPT], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        hits, first = r.stdout.split()
        return int(hits), float(first)

    hits1, x1 = run()
    hits2, x2 = run()
    assert (hits1, hits2) == (0, 1) and x2 == x1
    tf = pkg / "fastinit" / "_transforms.py"
    src = tf.read_text()
    assert "TWO_M24 = F32(2.0 ** -24)" in src
    tf.write_text(src.replace("TWO_M24 = F32(2.0 ** -24)", "TWO_M24 = F32(2.0 ** -25)"))
    hits3, x3 = run()
    assert hits3 == 0 and x3 == x1 / 2
