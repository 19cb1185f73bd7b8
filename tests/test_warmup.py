"""``python -m fastinit warmup``: every kernel compiled into the cache that a
later process loads from, the CUDA fills it makes, and a clear failure when
no cache location is usable."""
import glob
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

from test_cache import read_only  # noqa: F401  (a fixture: a read-only install, nothing writable)

LATER = """
import json, numpy as np, ml_dtypes, fastinit as fi
from fastinit import _cpu
fi.normal_(np.empty(1 << 16, np.float32), seed=1)                        # contig, parallel build
fi.trunc_normal_(np.empty((8, 64), ml_dtypes.bfloat16)[:, ::2], seed=1)   # rows, serial build
fi.uniform_(np.empty(100, np.float64), seed=1)
stats = [k.stats for k in _cpu.KERNELS.values()]
print(json.dumps({"kernels": len(stats), "hits": sum(s.cache_hits.total() for s in stats),
                  "misses": sum(s.cache_misses.total() for s in stats)}))
"""


def test_warmup_fills_the_cache_that_a_later_process_loads(tmp_path):
    # compiles every CPU kernel: about a minute on a 2-core machine (the only such test)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "fastinit", "warmup"], capture_output=True, text=True,
                       env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    m = re.search(r"^cpu: (\d+) kernels: (\d+) compiled, (\d+) loaded from cache", r.stdout, re.M)
    assert m, r.stdout
    n, compiled, loaded = map(int, m.groups())
    assert n >= 1 and (compiled, loaded) == (n, 0)                  # a fresh cache
    assert len(re.findall(r"^cpu .*: compiled in [\d.]+ s", r.stdout, re.M)) == n
    assert re.search(r"^cuda: (skipped: .+|\d+ kernels: .*)$", r.stdout, re.M)
    m = re.search(r"^cache: (.+) \((\d+) files, ([\d.]+) MB\)$", r.stdout, re.M)
    assert m and m.group(1).startswith(str(tmp_path) + os.sep) and int(m.group(2)) > 0
    assert glob.glob(os.path.join(m.group(1), "*.nbc")) and glob.glob(os.path.join(m.group(1), "*.nbi"))

    later = subprocess.run([sys.executable, "-c", LATER], capture_output=True, text=True, env=env,
                           timeout=600)
    assert later.returncode == 0, later.stderr[-2000:]
    out = json.loads(later.stdout)
    assert out["kernels"] >= 3 and out["hits"] == out["kernels"] and out["misses"] == 0


def test_warmup_without_a_cache_location_stops_and_says_why(read_only, tmp_path):  # noqa: F811
    env, _, fallback, _ = read_only
    if hasattr(os, "getuid"):
        fallback.write_text("a file where the fallback directory would go")
    r = subprocess.run([sys.executable, "-m", "fastinit", "warmup"], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=600)
    assert r.returncode == 1
    assert "no usable cache location" in r.stderr and "NUMBA_CACHE_DIR" in r.stderr
    assert str(fallback) in r.stderr and "not a directory" in r.stderr
    assert len(re.findall(r": compiled in", r.stdout)) == 1            # stopped after the first kernel
    assert "NoCacheWarning" not in r.stderr                             # said once, in full


SIM = """
import json, numpy as np, ml_dtypes, fastinit as fi
from fastinit import _cuda, _warmup
assert _cuda.SIMULATOR
_cuda.CONFIG["threads_per_block"] = 32
ok = {}
for dist in ("normal", "constant"):
    for shape in ("contig", "rows"):
        got = _warmup._cuda_fill(dist, "bf16", shape).copy_to_host()
        ref = np.zeros(got.shape, ml_dtypes.bfloat16)
        view = ref if shape == "contig" else ref[:, ::2]
        if dist == "normal":
            fi.normal_(view, seed=0)
        step = 1 if shape == "contig" else 2
        ok[dist + " " + shape] = bool(np.array_equal(got[:, ::step], ref.view(np.uint16)[:, ::step]))
print(json.dumps({"ok": ok, "why": _warmup._cuda_unavailable()}))
"""


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed")
def test_warmup_cuda_fills_write_what_the_fillers_write():
    # the CUDA half runs only on a GPU; its fills are checked here in the simulator
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-c", SIM], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.splitlines()[-1])
    assert all(out["ok"].values()) and len(out["ok"]) == 4, out
    assert "simulator" in out["why"]
