"""CPU benchmark suite (pytest-benchmark): fastinit against a plain fill of
the same pre-touched buffer, NumPy and, when installed, PyTorch.

    pip install -e ".[bench]"
    pytest bench/ --benchmark-only                      # 2^10 and 2^20 elements
    FASTINIT_BENCH_LOG2=10,20,28 pytest bench/ --benchmark-only
    pytest bench/ --benchmark-disable                   # smoke run, each case once

Each case records ``extra_info``: elements, G elements/s and the ratio to the
plain fill of the same buffer measured in the same test (the number to
compare on a noisy machine; ``bench/NOTES.md``).  16-bit cases are compared
with the float32 fill of the same element count.
"""
import importlib.util
import os
import time

import numpy as np
import pytest

import fastinit as fi

SIZES = [int(s) for s in os.environ.get("FASTINIT_BENCH_LOG2", "10,20").split(",")]
HAVE_TORCH = importlib.util.find_spec("torch") is not None
HAVE_ML_DTYPES = importlib.util.find_spec("ml_dtypes") is not None


def _dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return np.dtype(name)


def _fill_rate(n, dtype, repeat=5):
    ceiling = np.zeros(n, np.float64 if dtype == np.float64 else np.float32)
    best = float("inf")
    for _ in range(repeat + 1):
        t = time.perf_counter()
        ceiling.fill(1.0)
        best = min(best, time.perf_counter() - t)
    return n / best / 1e9


def _record(benchmark, n, dtype):
    fill = _fill_rate(n, dtype)
    benchmark.extra_info["elements"] = n
    benchmark.extra_info["fill_G_per_s"] = round(fill, 3)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:                          # absent with --benchmark-disable
        rate = n / stats.stats.min / 1e9
        benchmark.extra_info["G_per_s"] = round(rate, 3)
        benchmark.extra_info["ratio_to_fill"] = round(rate / fill, 3)


FILLERS = {
    "uniform_": lambda b: fi.uniform_(b, seed=1),
    "normal_": lambda b: fi.normal_(b, seed=1),
    "trunc_normal_": lambda b: fi.trunc_normal_(b, seed=1),
    "he_normal_": lambda b: fi.he_normal_(b.reshape(-1, 32), seed=1),
    "xavier_uniform_": lambda b: fi.xavier_uniform_(b.reshape(-1, 32), seed=1),
    "variance_scaling_": lambda b: fi.variance_scaling_(b.reshape(-1, 32), 1.0, "fan_in",
                                                        "truncated_normal", seed=1),
    "zeros_": lambda b: fi.zeros_(b),
}


@pytest.mark.parametrize("log2", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
@pytest.mark.parametrize("filler", list(FILLERS))
def test_fastinit(benchmark, filler, dtype, log2):
    if dtype == "bfloat16" and not HAVE_ML_DTYPES:
        pytest.skip("ml_dtypes is not installed")
    n = 2 ** log2
    buf = np.zeros(n, _dtype(dtype))
    FILLERS[filler](buf)                            # compile and touch outside the timing
    benchmark(FILLERS[filler], buf)
    _record(benchmark, n, buf.dtype)


@pytest.mark.parametrize("log2", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", ["random", "standard_normal"])
def test_numpy(benchmark, method, dtype, log2):
    n = 2 ** log2
    buf = np.zeros(n, dtype)
    rng = np.random.Generator(np.random.PCG64(0))
    fn = getattr(rng, method)
    benchmark(lambda: fn(out=buf, dtype=buf.dtype))
    _record(benchmark, n, buf.dtype)


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("log2", SIZES)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", ["uniform_", "normal_", "kaiming_normal_", "trunc_normal_"])
def test_torch(benchmark, method, dtype, log2):
    import torch
    if method == "trunc_normal_" and log2 > 22:
        pytest.skip("torch's trunc_normal_ runs about 0.01 G/s: timed up to 2^22")
    n = 2 ** log2
    t = torch.zeros(n, dtype=getattr(torch, dtype)).view(-1, 32)
    fn = getattr(torch.nn.init, method)
    benchmark(fn, t)
    _record(benchmark, n, np.float32)
