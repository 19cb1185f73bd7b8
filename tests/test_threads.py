"""Safety under concurrency: Python threads, fork, and fills cut into
pieces on several threads giving the bits of one.

Scenarios that need their own thread settings run in a fresh interpreter,
so that an abort or a killed child cannot take pytest down.
"""
import os
import subprocess
import sys

import ml_dtypes
import numba
import numpy as np
import pytest

import fastinit as fi
from fastinit import _buffers, _cpu, _threads


def run_script(script, threads="2", layer=None):
    env = dict(os.environ, NUMBA_NUM_THREADS=threads)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer:
        env["NUMBA_THREADING_LAYER"] = layer
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
print(len(bad))
"""


@pytest.mark.parametrize("threads", ["2", "4"])
def test_eight_python_threads_at_once(threads):
    r = run_script(THREADS_SCRIPT, threads)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["0"]


FORK_SCRIPT = """
import os, hashlib, numpy as np, numba, fastinit as fi
N = 1 << 20
x = np.empty(N, np.float32)
if START_NUMBA_POOL:
    numba.set_num_threads(2)           # numba's own pool too (GNU OpenMP under omp)
fi.normal_(x, seed=9)                  # the parent starts fastinit's workers
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
print(os.waitstatus_to_exitcode(status), hashlib.sha256(x.tobytes()).hexdigest() == want)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
@pytest.mark.parametrize("numba_pool, layer", [(False, None), (True, "omp"), (True, "workqueue")])
def test_forked_child_fills_after_parent(numba_pool, layer):
    """A child forked after its parent filled on several threads fills on
    its own new workers; also when the parent had started numba's pool
    (GNU OpenMP kills a forked child that launches parallel work: we never
    launch any)."""
    r = run_script(f"START_NUMBA_POOL = {numba_pool}\n" + FORK_SCRIPT, "2", layer)
    assert r.returncode == 0, r.stderr[-2000:]
    child_status, parent_ok = r.stdout.split()
    assert child_status == "0" and parent_ok == "True"


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("fill", ["normal_", "trunc_normal_", "uniform_"])
def test_pieces_agree_with_small_calls(fill, dtype):
    """A fill cut into pieces on several threads gives the same bits as the
    same elements filled by small calls on one thread (shards of the same
    global array)."""
    n = 3 * _threads.GRAIN + 5
    big = np.empty(n, dtype)
    getattr(fi, fill)(big, seed=4)
    for lo, size in [(0, 1), (7, 4096), (3, _threads.GRAIN - 1), (_threads.GRAIN - 2, 9), (n - 9, 9)]:
        part = np.empty(size, dtype)
        getattr(fi, fill)(part, seed=4, global_shape=(n,), offsets=(lo,))
        np.testing.assert_array_equal(part.view(np.uint8), big[lo:lo + size].view(np.uint8))


@pytest.mark.parametrize("view", ["contig", "offset", "rows", "rows-3d"])
@pytest.mark.parametrize("parts", [2, 3, 7, 64])
def test_split_pieces_fill_the_same_bits(view, parts):
    """``_cpu.split`` cuts a buffer's region into pieces (at block multiples
    for a contiguous run, along the longest dimension for a strided one);
    the pieces filled one by one equal the whole fill, every element once."""
    if view == "contig":
        whole = np.empty(100_003, np.float32)
        make, gshape, offs = (lambda a: a), whole.shape, (0,)
    elif view == "offset":
        whole = np.empty(100_003, np.float32)
        make, gshape, offs = (lambda a: a), (100_010,), (5,)
    elif view == "rows":
        whole = np.empty((301, 222), np.float32)
        make, gshape, offs = (lambda a: a[:, ::2]), (301, 111), (0, 0)
    else:
        whole = np.empty((5, 41, 60), np.float32)
        make, gshape, offs = (lambda a: a[:, 1:, ::3]), (7, 40, 20), (2, 0, 0)
    ref = make(np.full_like(whole, np.nan))
    fi.trunc_normal_(ref, seed=3, global_shape=gshape, offsets=offs)
    got = make(np.full_like(whole, np.nan))
    region = _buffers.region(got, tuple(gshape), tuple(offs))
    prm = fi._params.trunc_normal(0.0, 1.0, -2.0, 2.0, "f32")
    pieces = _cpu.split(region, parts)
    assert 1 <= len(pieces) <= parts
    for piece in pieces:
        _cpu.fill(piece, "f32", "trunc_normal", prm, 3, 0)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("fill, kw", [
    ("normal_", {}),                                  # 0.34% far-tail elements
    ("trunc_normal_", dict(a=3.0, b=4.0)),            # every element is one
    ("trunc_normal_", dict(a=-2.8, b=2.8)),           # none is
    ("trunc_normal_", dict(a=7.5, b=8.5)),            # float64 too: p < e^-25
])
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float64])
def test_far_tails_redone(fill, kw, dtype):
    """The staged kernels flag far-tail elements and recompute them from a
    list that is flushed when it fills and at the end of each piece.
    Check buffers that start off a block boundary and span several pieces
    against the rows kernel (a strided view), which computes every element
    in full."""
    n = 2 * _threads.GRAIN + 3 * _cpu.STAGE + 7
    a = np.empty(n, dtype)
    getattr(fi, fill)(a, seed=1, global_shape=(n + 3,), offsets=(3,), **kw)
    b = np.empty((n, 2), dtype)
    getattr(fi, fill)(b[:, 0], seed=1, global_shape=(n + 3,), offsets=(3,), **kw)
    if dtype != np.float64:
        # far tail: w = -log(4p(1 - p)) >= 5, |z| > 2.93
        far = np.mean(np.abs(a.astype(np.float32)) > 2.93)
        assert {"normal_": 0.0025 < far < 0.0045, 3.0: far == 1.0, -2.8: far == 0.0, 7.5: far == 1.0}[kw.get("a", fill)]
    np.testing.assert_array_equal(a.view(np.uint8), np.ascontiguousarray(b[:, 0]).view(np.uint8))


def test_thread_count_follows_numba_set_num_threads():
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert _threads.threads_for(1 << 24) == 1
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        assert _threads.threads_for(1 << 24) == min(numba.config.NUMBA_NUM_THREADS, (1 << 24) // _threads.GRAIN)
        assert _threads.threads_for(_threads.GRAIN - 1) == 1      # small fills stay on the calling thread
    finally:
        numba.set_num_threads(n)


def _constant_reference(n, value, dtype):
    """The contract's constant: the value in the family's float type, a
    16-bit dtype's rounded to nearest even from float32."""
    if np.dtype(dtype) == np.float64:
        return np.full(n, value, np.float64)
    return np.full(n, np.float32(value)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16])
def test_large_constant_fills_stream_the_same_bits(dtype):
    """A constant fill past ``_cpu.NONTEMPORAL_MIN_BYTES`` per piece takes the
    non-temporal-store kernel (cache-line stores between plain-stored ends):
    on a view that starts off a cache line and ends mid-line, the same bits
    as NumPy, and nothing outside the view touched."""
    if not _cpu.NONTEMPORAL:
        pytest.skip("no non-temporal stores on this architecture")
    itemsize = np.dtype(dtype).itemsize
    n = 2 * _cpu.NONTEMPORAL_MIN_BYTES // itemsize + 13
    buf = np.full(n + 40, 7, dtype)
    view = buf[5:n + 5]
    fi.constant_(view, 0.3)
    kind = {2: "f16", 4: "f32", 8: "f64"}[itemsize]         # one build per storage type
    assert ("constant", kind, "nontemporal") in _cpu.KERNELS
    np.testing.assert_array_equal(view.view(np.uint8), _constant_reference(n, 0.3, dtype).view(np.uint8))
    assert (buf[:5] == 7).all() and (buf[n + 5:] == 7).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, ml_dtypes.bfloat16])
def test_nontemporal_kernel_ends_at_every_alignment(monkeypatch, dtype):
    """The non-temporal kernel on every short length and start within a cache
    line (the threshold lowered so that small fills take it)."""
    if not _cpu.NONTEMPORAL:
        pytest.skip("no non-temporal stores on this architecture")
    monkeypatch.setattr(_cpu, "NONTEMPORAL_MIN_BYTES", 0)
    buf = np.zeros(400, dtype)
    for start in range(0, 20):
        for n in (0, 1, 7, 16, 17, 63, 64, 65, 130):
            buf[:] = 7
            fi.constant_(buf[start:start + n], -1.5)
            np.testing.assert_array_equal(buf[start:start + n].view(np.uint8),
                                          _constant_reference(n, -1.5, dtype).view(np.uint8))
            assert (buf[:start] == 7).all() and (buf[start + n:] == 7).all()
