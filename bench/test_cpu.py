"""CPU benchmark suite (pytest-benchmark): every fastinit filler against a
plain fill of the same pre-touched buffer, NumPy (``Generator`` with
``out=``) and, when installed, ``torch.nn.init`` and JAX.

    pip install -e ".[bench]"
    pytest bench/ --benchmark-only                       # 2^10, 2^16, 2^22, 2^28
    FASTINIT_BENCH_LOG2=10,14,18,22,26,28 pytest bench/ --benchmark-only
    pytest bench/ --benchmark-disable                    # smoke run: each case once, 2^10 and 2^12

Each case records ``extra_info``: elements, G elements/s, and its ratios
to the machine's write ceiling (the fastest plain store, on all threads)
and to NumPy's one-thread ``fill`` of the same buffer, both measured in the
same test (the numbers to compare on a noisy machine; ``bench/NOTES.md``).
JAX allocates its result (its arrays are immutable), so its cases include
the allocation.
"""
import numpy as np
import pytest

import fastinit as fi
from fastinit._bench.machine import _have
from fastinit._bench.peers import ARGS, DTYPES, TORCH_CPU_TRUNC_MAX_LOG2, cpu_buffer, plain_stores, two_d
from fastinit._bench.timing import best_of

HAVE_TORCH = _have("torch")
HAVE_JAX = _have("jax")


def _buffer(n, dtype):
    if dtype == "bfloat16" and not _have("ml_dtypes"):
        pytest.skip("ml_dtypes is not installed (bfloat16 NumPy arrays)")
    return cpu_buffer(n, dtype)


def _record(benchmark, n, buf):
    """Record the case's rate beside the machine's write ceiling for a
    buffer like ``buf`` (the same size and dtype), measured in the same
    test: the fastest of the plain stores that ``python -m fastinit bench``
    times (NumPy ``fill`` on one thread, on all threads, and non-temporal
    stores on all threads).  The one-thread ``fill`` is kept as well."""
    rates = {method: n / best_of(fn) / 1e9 for _, method, fn, _ in plain_stores(buf)}
    fill, ceiling = rates["fill"], max(rates.values())
    benchmark.extra_info["elements"] = n
    benchmark.extra_info["fill_G_per_s"] = round(fill, 3)
    benchmark.extra_info["ceiling_G_per_s"] = round(ceiling, 3)
    benchmark.extra_info["ceiling"] = max(rates, key=rates.get)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:                          # absent with --benchmark-disable
        rate = n / stats.stats.min / 1e9
        benchmark.extra_info["G_per_s"] = round(rate, 3)
        benchmark.extra_info["ratio_to_fill"] = round(rate / fill, 3)
        benchmark.extra_info["ratio_to_ceiling"] = round(rate / ceiling, 3)


FILLERS = {
    "uniform_": lambda b: fi.uniform_(b, *ARGS["uniform_"], seed=1),
    "normal_": lambda b: fi.normal_(b, *ARGS["normal_"], seed=1),
    "trunc_normal_": lambda b: fi.trunc_normal_(b, *ARGS["trunc_normal_"], seed=1),
    "xavier_uniform_": lambda b: fi.xavier_uniform_(two_d(b), seed=1),
    "xavier_normal_": lambda b: fi.xavier_normal_(two_d(b), seed=1),
    "he_uniform_": lambda b: fi.he_uniform_(two_d(b), seed=1),
    "he_normal_": lambda b: fi.he_normal_(two_d(b), seed=1),
    "lecun_uniform_": lambda b: fi.lecun_uniform_(two_d(b), seed=1),
    "lecun_normal_": lambda b: fi.lecun_normal_(two_d(b), seed=1),
    "variance_scaling_": lambda b: fi.variance_scaling_(two_d(b), 1.0, "fan_in", "truncated_normal", seed=1),
    "zeros_": lambda b: fi.zeros_(b),
    "ones_": lambda b: fi.ones_(b),
    "constant_": lambda b: fi.constant_(b, 0.5),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("filler", list(FILLERS))
def test_fastinit(benchmark, filler, dtype, log2):
    n = 2 ** log2
    buf = _buffer(n, dtype)
    FILLERS[filler](buf)                            # compile outside the timing
    benchmark(FILLERS[filler], buf)
    _record(benchmark, n, buf)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("method", ["random", "standard_normal"])
def test_numpy(benchmark, method, dtype, log2):
    n = 2 ** log2
    buf = _buffer(n, dtype)
    rng = np.random.Generator(np.random.PCG64(0))
    fn = getattr(rng, method)
    benchmark(lambda: fn(out=buf, dtype=buf.dtype))
    _record(benchmark, n, buf)


TORCH_METHODS = {
    "uniform_": lambda init, t: init.uniform_(t, *ARGS["uniform_"]),
    "normal_": lambda init, t: init.normal_(t, *ARGS["normal_"]),
    "trunc_normal_": lambda init, t: init.trunc_normal_(t, *ARGS["trunc_normal_"]),
    "xavier_uniform_": lambda init, t: init.xavier_uniform_(t),
    "xavier_normal_": lambda init, t: init.xavier_normal_(t),
    "kaiming_uniform_": lambda init, t: init.kaiming_uniform_(t),
    "kaiming_normal_": lambda init, t: init.kaiming_normal_(t),
    "zeros_": lambda init, t: init.zeros_(t),
    "constant_": lambda init, t: init.constant_(t, 0.5),
}


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", list(TORCH_METHODS))
def test_torch(benchmark, method, dtype, log2):
    import torch
    if method == "trunc_normal_" and log2 > TORCH_CPU_TRUNC_MAX_LOG2:
        pytest.skip(f"torch's CPU trunc_normal_ is slow: timed up to 2^{TORCH_CPU_TRUNC_MAX_LOG2}")
    n = 2 ** log2
    t = torch.zeros(n, dtype=getattr(torch, dtype))
    fn = TORCH_METHODS[method]
    benchmark(fn, torch.nn.init, two_d(t))
    _record(benchmark, n, _buffer(n, dtype))


JAX_METHODS = {
    "random.uniform": lambda jax, k, shape, dt: jax.random.uniform(k, shape, dt, -0.1, 0.1),
    "random.normal": lambda jax, k, shape, dt: jax.random.normal(k, shape, dt),
    "random.truncated_normal": lambda jax, k, shape, dt: jax.random.truncated_normal(k, -2.0, 2.0, shape, dt),
    "nn.initializers.he_normal": lambda jax, k, shape, dt: jax.nn.initializers.he_normal()(k, shape, dt),
    "nn.initializers.glorot_uniform": lambda jax, k, shape, dt: jax.nn.initializers.glorot_uniform()(k, shape, dt),
}


@pytest.mark.skipif(not HAVE_JAX, reason="jax is not installed")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("method", list(JAX_METHODS))
def test_jax(benchmark, method, dtype, log2):
    import jax
    import jax.numpy as jnp
    n = 2 ** log2
    shape = (n // 32, 32) if n >= 32 else (1, n)
    if dtype == "float64" and not jax.config.jax_enable_x64:
        pytest.skip("jax runs float64 only with jax_enable_x64")
    key = jax.random.PRNGKey(0)
    fn = jax.jit(lambda k: JAX_METHODS[method](jax, k, shape, getattr(jnp, dtype)))
    fn(key).block_until_ready()                      # compile outside the timing
    benchmark(lambda: fn(key).block_until_ready())
    _record(benchmark, n, _buffer(n, dtype))
