"""Safety under concurrency: Python threads, fork, and the serial/parallel
builds giving the same bits.

Each scenario runs in a fresh interpreter: numba picks its threading layer
once per process, and an abort or a killed child must not take pytest down.
"""
import os
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest

import fastinit as fi
from fastinit import _cpu, _threads

TBB_LIB = os.path.join(sys.prefix, "lib", "libtbb.so.12")
LAYERS = ["default", "omp", "workqueue", "tbb"]


def run_script(script, layer):
    if layer == "tbb" and not os.path.exists(TBB_LIB):
        pytest.skip("no libtbb.so.12 in this environment (pip install tbb)")
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer != "default":
        env["NUMBA_THREADING_LAYER"] = layer
    env.setdefault("NUMBA_NUM_THREADS", "2")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)


THREADS_SCRIPT = """
import threading, numpy as np, numba, fastinit as fi
N = 1 << 18
ref = np.empty(N, np.float32); fi.normal_(ref, seed=3)
refs = {}
for k in range(8):
    refs[k] = np.empty(N, np.float32); fi.trunc_normal_(refs[k], seed=k)
outs = {k: np.empty(N, np.float32) for k in range(8)}
bad = []
start = threading.Barrier(8)
def work(k):
    start.wait()
    for _ in range(5):
        fi.trunc_normal_(outs[k], seed=k)
        fi.normal_(outs[k][:1000], seed=k)      # a serial call in between
        fi.trunc_normal_(outs[k], seed=k)
        if not np.array_equal(outs[k], refs[k]):
            bad.append(k)
ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(numba.threading_layer(), len(bad))
"""


@pytest.mark.parametrize("layer", LAYERS)
def test_eight_python_threads_at_once(layer):
    r = run_script(THREADS_SCRIPT, layer)
    assert r.returncode == 0, r.stderr[-2000:]
    got_layer, nbad = r.stdout.split()
    if layer != "default":
        assert got_layer == layer
    assert nbad == "0"


FORK_SCRIPT = """
import os, hashlib, numpy as np, numba, fastinit as fi
N = 1 << 20
x = np.empty(N, np.float32)
fi.normal_(x, seed=9)                  # the parent launches the thread pool
want = hashlib.sha256(x.tobytes()).hexdigest()
pid = os.fork()
if pid == 0:
    y = np.empty(N, np.float32)
    fi.normal_(y, seed=9)
    z = np.empty(N, np.float64)
    fi.he_normal_(z.reshape(1024, -1), seed=9)
    os._exit(0 if hashlib.sha256(y.tobytes()).hexdigest() == want else 3)
_, status = os.waitpid(pid, 0)
fi.normal_(x, seed=9)                  # and the parent still works afterwards
print(numba.threading_layer(), os.waitstatus_to_exitcode(status),
      hashlib.sha256(x.tobytes()).hexdigest() == want)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("layer", LAYERS)
def test_forked_child_fills_after_parent(layer):
    r = run_script(FORK_SCRIPT, layer)
    assert r.returncode == 0, r.stderr[-2000:]
    got_layer, child_status, parent_ok = r.stdout.split()
    if layer != "default":
        assert got_layer == layer
    assert child_status == "0" and parent_ok == "True"


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("fill", ["normal_", "trunc_normal_", "uniform_"])
def test_serial_and_parallel_builds_agree(fill, dtype):
    """Calls below SERIAL_BELOW run the serial build: the same bits as the
    same elements inside a parallel call (a shard of the same global array)."""
    n = 3 * _cpu.SERIAL_BELOW + 5
    big = np.empty(n, dtype)
    getattr(fi, fill)(big, seed=4)
    for lo, size in [(0, 1), (7, 4096), (3, _cpu.SERIAL_BELOW - 1), (n - 9, 9)]:
        part = np.empty(size, dtype)
        getattr(fi, fill)(part, seed=4, global_shape=(n,), offsets=(lo,))
        np.testing.assert_array_equal(part.view(np.uint8), big[lo:lo + size].view(np.uint8))


@pytest.mark.parametrize("fill, kw", [
    ("normal_", {}),                                  # 0.34% far-tail elements
    ("trunc_normal_", dict(a=3.0, b=4.0)),            # every element is one
    ("trunc_normal_", dict(a=-2.8, b=2.8)),           # none is
    ("trunc_normal_", dict(a=7.5, b=8.5)),            # float64 too: p < e^-25
])
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
def test_far_tails_redone(fill, kw, dtype):
    """The staged kernels flag far-tail elements and recompute them from a
    list that is flushed when it fills and at the end of each parallel task.
    Check buffers that start off a block boundary and span several tasks
    against the rows kernel (a strided view), which computes every element
    in full."""
    n = 2 * _cpu.STAGE * _cpu.CHUNK_STAGES + 3 * _cpu.STAGE + 7
    a = np.empty(n, dtype)
    getattr(fi, fill)(a, seed=1, global_shape=(n + 3,), offsets=(3,), **kw)
    b = np.empty((n, 2), dtype)
    getattr(fi, fill)(b[:, 0], seed=1, global_shape=(n + 3,), offsets=(3,), **kw)
    if dtype != np.float64:
        # far tail: w = -log(4p(1 - p)) >= 5, |z| > 2.93
        far = np.mean(np.abs(a.astype(np.float32)) > 2.93)
        assert {"normal_": 0.0025 < far < 0.0045, 3.0: far == 1.0, -2.8: far == 0.0, 7.5: far == 1.0}[kw.get("a", fill)]
    np.testing.assert_array_equal(a.view(np.uint8), np.ascontiguousarray(b[:, 0]).view(np.uint8))


def test_layer_reports_the_chosen_layer():
    x = np.empty(1 << 17, np.float32)
    fi.normal_(x, seed=0)
    assert _threads.layer() in ("tbb", "omp", "workqueue")
