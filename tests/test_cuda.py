"""The CUDA path (contract: the GPU writes the CPU's bits).

Without a GPU (CI): the kernels run in numba-cuda's simulator on small
buffers and must reproduce the golden hashes and the CPU's bytes
(``cuda_checks``); every kernel compiles to PTX for sm_90 with no float
operation that ptxas could contract into an FMA the CPU does not do; buffer
descriptions and errors are checked on fake device buffers.

With a GPU (tests marked ``gpu``, skipped elsewhere): the same checks at full
size, torch / CuPy / DLPack buffers on their streams, and a buffer of more
than 2^32 elements.
"""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastinit as fi
from fastinit import _buffers

TESTS = os.path.dirname(os.path.abspath(__file__))
HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
needs_numba_cuda = pytest.mark.skipif(not HAVE_NUMBA_CUDA,
                                      reason="numba-cuda is not installed (pip install 'fastinit[test]')")
DISTS = ["uniform", "normal", "trunc_normal", "constant"]
KINDS = ["f32", "f64", "f16", "bf16"]


def _real_gpu():
    if not HAVE_NUMBA_CUDA or os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    from numba import cuda
    try:
        return cuda.is_available()
    except Exception:
        return False


HAVE_GPU = _real_gpu()


def gpu(test):
    """Mark a test as needing a real GPU; it skips with the reason elsewhere."""
    return pytest.mark.gpu(pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU (or numba-cuda) here")(test))


# ----------------------------------------------------------------- simulator
SIM_SCRIPT = """
import sys
sys.setswitchinterval(2e-4)    # simulated threads meet at barriers: switch often
from numba import cuda
import cuda_checks as C
from fastinit import _cuda
assert _cuda.SIMULATOR
bad = C.{check}(cuda)
print("CASES", {count})
for b in bad:
    print("FAIL", b)
"""


@needs_numba_cuda
@pytest.mark.parametrize("check,count", [("check_golden", "len(C.golden_ids(False))"),
                                         ("check_against_cpu", "len(C.cases())")])
def test_simulator_writes_the_cpu_bits(check, count):
    """Every filler, dtype, view, shard (also across g = 2^32, the counter
    carry and the end of the 2^64 range) and far tail, at three launch
    configurations, in the numba-cuda simulator."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1",
               PYTHONPATH=os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-c", SIM_SCRIPT.format(check=check, count=count)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    n = int(next(line for line in lines if line.startswith("CASES")).split()[1])
    assert n >= 84
    assert [line for line in lines if line.startswith("FAIL")] == []


# ----------------------------------------------------------------- PTX for sm_90
@pytest.fixture
def sm90(monkeypatch):
    """compile_ptx without a GPU: numba-cuda asks the current device for its
    compute capability when it compiles device functions."""
    if not HAVE_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed")
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    class _Device:
        compute_capability = (9, 0)
    if not HAVE_GPU:
        monkeypatch.setattr(dispatcher, "get_current_device", lambda: _Device())
    try:
        cuda.compile_ptx(lambda a: None, "void(float32[::1])", cc=(9, 0))
    except Exception as e:       # no NVVM / NVRTC libraries
        pytest.skip(f"numba-cuda cannot compile here: {type(e).__name__}: {str(e)[:200]}")
    return cuda


FLOAT_OP = re.compile(r"^\s*(add|sub|mul|fma|div|sqrt|rcp|ex2|lg2|sin|cos)\.([a-z0-9.]+)\s", re.M)


@pytest.mark.parametrize("shape", ["contig", "rows"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dist", DISTS)
def test_every_kernel_compiles_for_sm90_without_contraction(sm90, dist, kind, shape):
    from fastinit import _cuda
    with _cuda.no_contraction():
        ptx, _ = sm90.compile_ptx(_cuda.kernel_source(dist, kind, shape),
                                  _cuda.signature(dist, kind, shape, 3 if shape == "rows" else 1), cc=(9, 0))
    assert ".target sm_90" in ptx
    ops = [(op, mods) for op, mods in FLOAT_OP.findall(ptx) if re.search(r"f(16|32|64)", mods)]
    # every float operation rounds once, as on the CPU: nothing left for ptxas to fuse
    loose = sorted({f"{op}.{mods}" for op, mods in ops if not mods.startswith("rn.")})
    assert loose == []
    assert not re.search(r"\.(approx|ftz)\b", ptx)
    assert ".local" not in ptx                    # no stack frame: the tuples live in registers
    if dist != "constant":
        assert any(op == "fma" for op, _ in ops)
    if kind == "f16" and dist != "constant":
        assert "cvt.rn.f16.f32" in ptx


def test_contraction_is_what_no_contraction_prevents(sm90):
    """The control: NVVM fuses a*b + c by default; within no_contraction()
    it rounds the product and the sum separately, as the CPU does."""
    from fastinit import _cuda

    def k(out, a, b, c):
        out[0] = a[0] * b[0] + c[0]
    sig = "void(float32[::1], float32[::1], float32[::1], float32[::1])"
    default, _ = sm90.compile_ptx(k, sig, cc=(9, 0))
    with _cuda.no_contraction():
        exact, _ = sm90.compile_ptx(k, sig, cc=(9, 0))
    assert "fma.rn.f32" in default
    assert "fma" not in exact and "mul.rn.f32" in exact and "add.rn.f32" in exact


# ----------------------------------------------------------------- buffers without a GPU
class FakeCudaArray:
    """Exports __cuda_array_interface__ for memory that is not there: only
    for calls that must fail before any kernel runs."""

    def __init__(self, shape=(4, 6), typestr="<f4", readonly=False, mask=None, strides=None, stream=None):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0xDEAD000, readonly),
                                         "version": 3, "strides": strides, "mask": mask, "stream": stream}


def test_cuda_array_interface_description():
    d = _buffers.cuda_buffer(FakeCudaArray(strides=(48, 8), stream=7))
    assert (d.ptr, d.shape, d.strides, d.kind, d.cuda_stream, d.size) == (0xDEAD000, (4, 6), (48, 8), "f32", 7, 24)
    d = _buffers.cuda_buffer(FakeCudaArray(shape=(3, 5), typestr="<f2"))
    assert d.strides == (10, 2) and d.kind == "f16"
    assert _buffers.cuda_buffer(np.zeros(3, np.float32)) is None


@needs_numba_cuda
@pytest.mark.parametrize("make,exc,words", [
    (lambda: FakeCudaArray(readonly=True), ValueError, "read-only"),
    (lambda: FakeCudaArray(typestr="<i4"), TypeError, "floating dtype"),
    (lambda: FakeCudaArray(typestr=">f4"), TypeError, "byte order"),
    (lambda: FakeCudaArray(mask=object()), TypeError, "masked"),
])
def test_bad_cuda_buffers_are_refused(make, exc, words):
    with pytest.raises(exc, match=words):
        fi.normal_(make(), seed=0)


@needs_numba_cuda
@pytest.mark.parametrize("call,exc,words", [
    (lambda b: fi.normal_(b, std=-1.0, seed=0), ValueError, "std"),
    (lambda b: fi.trunc_normal_(b, a=1.0, b=0.0, seed=0), ValueError, "a must be < b"),
    (lambda b: fi.uniform_(b, seed=-1), ValueError, "seed"),
    (lambda b: fi.he_normal_(b, mode="fan_sideways", seed=0), ValueError, "mode"),
    (lambda b: fi.normal_(b, seed=0, global_shape=(4, 5), offsets=(0, 0)), ValueError, "does not fit"),
])
def test_bad_arguments_fail_before_any_kernel(call, exc, words):
    """The buffer's pointer is fake: a kernel launch would fault, so these
    errors must come first."""
    with pytest.raises(exc, match=words):
        call(FakeCudaArray())


def test_without_numba_cuda_the_error_says_what_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    with pytest.raises(ImportError, match=r"fastinit\[cuda\]"):
        fi.normal_(FakeCudaArray(), seed=0)


@needs_numba_cuda
def test_numpy_too_new_for_numba_cuda_is_named(monkeypatch):
    monkeypatch.delattr(np, "row_stack", raising=False)
    with pytest.raises(ImportError, match=r"numpy<2.5"):
        fi.uniform_(FakeCudaArray(), seed=0)


def test_import_does_not_load_numba_cuda():
    r = subprocess.run([sys.executable, "-c", "import sys, numpy as np, fastinit as fi; "
                        "fi.normal_(np.empty(10, np.float32), seed=0); "
                        "print('fastinit._cuda' in sys.modules, 'numba_cuda' in sys.modules)"],
                       capture_output=True, text=True, timeout=300)
    assert r.stdout.split() == ["False", "False"], r.stderr[-2000:]


@pytest.mark.parametrize("make", [
    lambda: np.zeros((5, 7), np.float32),
    lambda: np.zeros((5, 7), np.float64)[:, 1::2],
    lambda: np.zeros((4, 6), np.float16)[1:3],
])
def test_dlpack_description(make):
    """The DLPack reader (used for CUDA producers), on host producers."""
    a = make()
    ptr, shape, strides, kind, dev_type, _ = _buffers.dlpack_tensor(a.__dlpack__(), "buf")
    assert (ptr, shape, strides, dev_type) == (a.ctypes.data, a.shape, a.strides, _buffers.DL_CPU)
    assert kind == {"float32": "f32", "float64": "f64", "float16": "f16"}[a.dtype.name]


def test_dlpack_bfloat16_description():
    torch = pytest.importorskip("torch")
    t = torch.zeros(3, 4, dtype=torch.bfloat16)[:, 1:]
    ptr, shape, strides, kind, _, _ = _buffers.dlpack_tensor(t.__dlpack__(), "buf")
    assert (ptr, shape, strides, kind) == (t.data_ptr(), (3, 3), (8, 2), "bf16")


# ----------------------------------------------------------------- on a GPU
@pytest.fixture
def cuda():
    from numba import cuda
    return cuda


@gpu
def test_gpu_golden(cuda):
    import cuda_checks as C
    assert C.check_golden(cuda, everything=True) == []


@gpu
def test_gpu_against_cpu(cuda):
    import cuda_checks as C
    assert C.check_against_cpu(cuda, n_far=1 << 20) == []


@gpu
@pytest.mark.parametrize("fill", ["normal_", "trunc_normal_", "uniform_", "he_normal_"])
def test_gpu_large_buffers_equal_the_cpu(cuda, fill):
    fn = getattr(fi, fill)
    for dt in (np.float32, np.float64, np.float16):
        host = np.empty((1 << 12, 1 << 12) if dt != np.float64 else (1 << 11, 1 << 12), dt)
        fn(host, seed=77, stream="w")
        dev = cuda.device_array(host.shape, dt)
        fn(dev, seed=77, stream="w")
        assert dev.copy_to_host().tobytes() == host.tobytes(), (fill, dt)


@gpu
def test_gpu_torch_tensors_on_their_stream():
    torch = pytest.importorskip("torch")
    side = torch.cuda.Stream()
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        cpu = torch.empty(1000, 37, dtype=dtype)
        fi.he_normal_(cpu, seed=5, stream="layer.w")
        with torch.cuda.stream(side):
            w = torch.nn.Parameter(torch.empty(1000, 37, dtype=dtype, device="cuda"))   # a requires_grad leaf
            fi.he_normal_(w, seed=5, stream="layer.w")
            total = w.detach().double().sum()          # same stream, no synchronisation in between
        side.synchronize()
        assert torch.equal(w.detach().cpu().view(torch.int16 if dtype.itemsize == 2 else dtype),
                           cpu.view(torch.int16 if dtype.itemsize == 2 else dtype))
        assert total.item() == cpu.double().sum().item()
        assert w.grad is None and w.requires_grad
        v = torch.zeros(64, 80, dtype=dtype, device="cuda")
        vc = torch.zeros(64, 80, dtype=dtype)
        fi.uniform_(v[:, 1::3].T, seed=1)
        fi.uniform_(vc[:, 1::3].T, seed=1)
        assert torch.equal(v.cpu().float(), vc.float())


@gpu
def test_gpu_cupy_arrays_on_their_stream():
    cp = pytest.importorskip("cupy")
    with cp.cuda.Stream(non_blocking=True) as s:
        a = cp.empty((513, 129), cp.float32)
        fi.trunc_normal_(a, std=0.02, a=-0.04, b=0.04, seed=8)
        got = cp.asnumpy(a, stream=s)
    s.synchronize()
    host = np.empty((513, 129), np.float32)
    fi.trunc_normal_(host, std=0.02, a=-0.04, b=0.04, seed=8)
    assert got.tobytes() == host.tobytes()


@gpu
def test_gpu_dlpack_only_producer():
    torch = pytest.importorskip("torch")

    class OnlyDLPack:
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, stream=None):
            return self.t.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()
    t = torch.zeros(3000, device="cuda")
    fi.normal_(OnlyDLPack(t), seed=2)
    host = np.empty(3000, np.float32)
    fi.normal_(host, seed=2)
    assert t.cpu().numpy().tobytes() == host.tobytes()


@gpu
def test_gpu_buffer_of_more_than_2_32_elements(cuda):
    """One real buffer past the 32-bit index range (bfloat16: 8 GiB),
    checked against CPU shards at sampled windows."""
    torch = pytest.importorskip("torch")
    n = (1 << 32) + 4099
    try:
        t = torch.empty(n, dtype=torch.bfloat16, device="cuda")
    except RuntimeError:
        pytest.skip("not enough GPU memory for 2^32 bfloat16 elements")
    fi.normal_(t, seed=3, stream=9)
    for start in (0, (1 << 31) - 5, (1 << 32) - 1000, n - 777):
        size = min(1000, n - start)
        host = torch.empty(size, dtype=torch.bfloat16)
        fi.normal_(host, seed=3, stream=9, global_shape=(n,), offsets=(start,))
        assert torch.equal(t[start:start + size].cpu().view(torch.int16), host.view(torch.int16)), start
    del t
    torch.cuda.empty_cache()


@needs_numba_cuda
def test_kernels_are_not_link_time_optimised():
    """nvJitLink (LTO, numba-cuda's default when installed) would generate
    the code again with FMA contraction on, past NVVM's -fma=0."""
    from fastinit import _cuda
    disp = _cuda._jit(_cuda.kernel_source("normal", "f32", "contig"))
    assert disp.targetoptions["lto"] is False
