"""GPU benchmark suite (pytest-benchmark): fastinit on torch CUDA tensors
against torch, CuPy and JAX, each timed with CUDA events on the current
stream (``extra_info``: G elements/s and the ratio to torch's ``fill_`` of
the same tensor in the same test).  pytest-benchmark's own wall-clock
statistics include a device synchronisation per call.  Skipped without a
GPU; ``python -m fastinit bench --device cuda`` prints the same comparison
as a table.
"""
import pytest

import fastinit as fi
from fastinit._bench.machine import _cuda_ready, _have
from fastinit._bench.peers import DTYPES, FASTINIT, TORCH_CUDA, fastinit_calls, two_d
from fastinit._bench.timing import time_call

pytestmark = pytest.mark.skipif(not _cuda_ready()[0], reason="no CUDA GPU with torch and numba-cuda here")
#: the rows view's width here (the CLI's is 32)
COLS = 4096


def _events_rate(fn, n):
    """G elements/s by CUDA events on the current stream (the main job's timer)."""
    return n / time_call(fn, "cuda") / 1e9


def _run(benchmark, torch, t, fn):
    n = t.numel()
    rate = _events_rate(fn, n)
    fill = _events_rate(lambda: t.fill_(1.0), n)
    benchmark.extra_info.update(elements=n, G_per_s=round(rate, 1), fill_G_per_s=round(fill, 1),
                                ratio_to_fill=round(rate / fill, 3))

    def call():
        fn()
        torch.cuda.synchronize()
    benchmark(call)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("filler", FASTINIT)
def test_fastinit_cuda(benchmark, filler, dtype, log2):
    import torch
    t = torch.zeros(2 ** log2, dtype=getattr(torch, dtype), device="cuda")
    _run(benchmark, torch, t, dict(fastinit_calls(fi, t, two_d(t, COLS)))[filler])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", list(TORCH_CUDA), ids=lambda m: f"torch {m}")
def test_torch_cuda(benchmark, method, dtype, log2):
    import torch
    t = torch.zeros(2 ** log2, dtype=getattr(torch, dtype), device="cuda")
    _run(benchmark, torch, t, lambda: TORCH_CUDA[method](torch, t, two_d(t, COLS)))


@pytest.mark.skipif(not _have("cupy"), reason="cupy is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cupy_standard_normal(benchmark, dtype, log2):
    import cupy as cp
    import torch
    t = torch.zeros(2 ** log2, dtype=getattr(torch, dtype), device="cuda")
    a = cp.asarray(t)
    rng = cp.random.default_rng(0)
    _run(benchmark, torch, t, lambda: rng.standard_normal(out=a, dtype=a.dtype))


@pytest.mark.skipif(not _have("jax"), reason="jax is not installed")
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
