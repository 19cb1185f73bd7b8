"""GPU benchmark suite (pytest-benchmark): fastinit on torch CUDA tensors
against torch, CuPy and JAX, each timed with CUDA events on the current
stream (``extra_info``: G elements/s and the ratio to torch's ``fill_`` of
the same tensor in the same test).  pytest-benchmark's own wall-clock
statistics include a device synchronisation per call.  Skipped without a
GPU; ``python -m fastinit bench --device cuda`` prints the same comparison
as a table.
"""
import importlib.util

import pytest

import fastinit as fi


def _gpu():
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("numba_cuda") is None:
        return False
    import torch
    return torch.cuda.is_available()


pytestmark = pytest.mark.skipif(not _gpu(), reason="no CUDA GPU with torch and numba-cuda here")
DTYPES = ["float32", "bfloat16", "float64"]


def _events_rate(torch, fn, n):
    """G elements/s by CUDA events on the current stream (the main job's timer)."""
    from fastinit._bench.timing import time_call
    return n / time_call(fn, "cuda", 5) / 1e9


def _run(benchmark, torch, t, fn):
    n = t.numel()
    rate = _events_rate(torch, fn, n)
    fill = _events_rate(torch, lambda: t.fill_(1.0), n)
    benchmark.extra_info.update(elements=n, G_per_s=round(rate, 1), fill_G_per_s=round(fill, 1),
                                ratio_to_fill=round(rate / fill, 3))

    def call():
        fn()
        torch.cuda.synchronize()
    benchmark(call)


FILLERS = {
    "uniform_": lambda t: fi.uniform_(t, seed=1),
    "normal_": lambda t: fi.normal_(t, seed=1),
    "trunc_normal_": lambda t: fi.trunc_normal_(t, seed=1),
    "he_normal_": lambda t: fi.he_normal_(t.view(-1, 4096) if t.numel() >= 4096 else t.view(1, -1), seed=1),
    "zeros_": lambda t: fi.zeros_(t),
}
PEERS = {
    "torch uniform_": lambda torch, t: t.uniform_(),
    "torch normal_": lambda torch, t: t.normal_(),
    "torch trunc_normal_": lambda torch, t: torch.nn.init.trunc_normal_(t),
    "torch kaiming_normal_": lambda torch, t: torch.nn.init.kaiming_normal_(
        t.view(-1, 4096) if t.numel() >= 4096 else t.view(1, -1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("filler", list(FILLERS))
def test_fastinit_cuda(benchmark, filler, dtype, log2):
    import torch
    t = torch.zeros(2 ** log2, dtype=getattr(torch, dtype), device="cuda")
    _run(benchmark, torch, t, lambda: FILLERS[filler](t))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", list(PEERS))
def test_torch_cuda(benchmark, method, dtype, log2):
    import torch
    t = torch.zeros(2 ** log2, dtype=getattr(torch, dtype), device="cuda")
    _run(benchmark, torch, t, lambda: PEERS[method](torch, t))


@pytest.mark.skipif(importlib.util.find_spec("cupy") is None, reason="cupy is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_standard_normal(benchmark, dtype, log2):
    import cupy as cp
    import torch
    t = torch.zeros(2 ** log2, dtype=getattr(torch, dtype), device="cuda")
    a = cp.asarray(t)
    rng = cp.random.default_rng(0)
    _run(benchmark, torch, t, lambda: rng.standard_normal(out=a, dtype=a.dtype))


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_jax_normal(benchmark, dtype, log2):
    """JAX allocates its result: rate by the wall clock around block_until_ready."""
    import time
    import jax
    import jax.numpy as jnp
    n = 2 ** log2
    fn = jax.jit(lambda k: jax.random.normal(k, (n,), getattr(jnp, dtype)))
    key = jax.random.PRNGKey(0)
    fn(key).block_until_ready()
    t = time.perf_counter()
    for _ in range(10):
        r = fn(key)
    r.block_until_ready()
    benchmark.extra_info.update(elements=n, G_per_s=round(n * 10 / (time.perf_counter() - t) / 1e9, 1))
    benchmark(lambda: fn(key).block_until_ready())
