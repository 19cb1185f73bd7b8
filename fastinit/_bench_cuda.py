"""``python -m fastinit bench --device cuda``: fastinit on an NVIDIA GPU
against torch, CuPy and JAX and against torch's ``fill_`` of the same buffer.

Buffers are torch CUDA tensors, allocated once and written before timing.
Each rate is the best of ``--repeat`` timings, each timing ``--calls``
back-to-back calls between two CUDA events on torch's current stream (the
stream fastinit launches on).  JAX allocates its result, so it is timed by
the wall clock around ``block_until_ready`` and reported without a ratio
claim beyond what it is.  First-launch compile time and the load time from
numba-cuda's on-disk cache are measured in fresh processes.
"""
import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

#: (row, ceiling row, peer row, required ratio to the peer): issue 5's targets.
TARGETS = [
    ("fastinit normal_", "torch normal_", 1.5), ("fastinit he_normal_", "torch normal_", 1.5),
    ("fastinit uniform_", "torch uniform_", 1.15), ("fastinit trunc_normal_", "torch trunc_normal_", 7.0),
    ("fastinit normal_ bf16", "torch normal_ bf16", 2.0),
    ("fastinit normal_", "cupy Generator.standard_normal(out=)", 1.0),
]

COMPILE_SCRIPT = """
import time, torch, fastinit as fi
t = torch.empty(1 << 20, device="cuda")
torch.cuda.synchronize()
s = time.perf_counter()
fi.normal_(t, seed=0)
torch.cuda.synchronize()
print(time.perf_counter() - s)
"""


def _events_rate(torch, fn, n, calls, repeat):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(calls):
            fn()
        b.record()
        b.synchronize()
        best = min(best, a.elapsed_time(b) / 1e3 / calls)
    return n / best / 1e9


def _wall_rate(fn, n, calls, repeat):
    fn()
    best = float("inf")
    for _ in range(repeat):
        s = time.perf_counter()
        for _ in range(calls):
            r = fn()
        r.block_until_ready()
        best = min(best, (time.perf_counter() - s) / calls)
    return n / best / 1e9


def methods(torch, n):
    import fastinit as fi
    f32 = torch.zeros(n, device="cuda")
    b16 = torch.zeros(n, dtype=torch.bfloat16, device="cuda")
    h16 = torch.zeros(n, dtype=torch.float16, device="cuda")
    f64 = torch.zeros(n // 2, dtype=torch.float64, device="cuda")
    w = f32.view(-1, 4096)
    rows = [
        ("torch fill_", "torch fill_", lambda: f32.fill_(1.0), n),
        ("torch fill_ bf16", "torch fill_ bf16", lambda: b16.fill_(1.0), n),
        ("torch fill_ f64", "torch fill_ f64", lambda: f64.fill_(1.0), n // 2),
        ("fastinit zeros_", "torch fill_", lambda: fi.zeros_(f32), n),
        ("fastinit uniform_", "torch fill_", lambda: fi.uniform_(f32, seed=1), n),
        ("fastinit normal_", "torch fill_", lambda: fi.normal_(f32, seed=1), n),
        ("fastinit he_normal_", "torch fill_", lambda: fi.he_normal_(w, seed=1), n),
        ("fastinit trunc_normal_", "torch fill_", lambda: fi.trunc_normal_(f32, seed=1), n),
        ("fastinit normal_ bf16", "torch fill_ bf16", lambda: fi.normal_(b16, seed=1), n),
        ("fastinit normal_ f16", "torch fill_ bf16", lambda: fi.normal_(h16, seed=1), n),
        ("fastinit normal_ f64", "torch fill_ f64", lambda: fi.normal_(f64, seed=1), n // 2),
        ("torch uniform_", "torch fill_", lambda: f32.uniform_(), n),
        ("torch normal_", "torch fill_", lambda: f32.normal_(), n),
        ("torch kaiming_normal_", "torch fill_", lambda: torch.nn.init.kaiming_normal_(w), n),
        ("torch trunc_normal_", "torch fill_", lambda: torch.nn.init.trunc_normal_(f32), n),
        ("torch normal_ bf16", "torch fill_ bf16", lambda: b16.normal_(), n),
    ]
    if importlib.util.find_spec("cupy") is not None:
        import cupy as cp
        a = cp.asarray(f32)                       # the same memory, through __cuda_array_interface__
        rng = cp.random.default_rng(0)
        rows.append(("cupy Generator.standard_normal(out=)", "torch fill_",
                     lambda: rng.standard_normal(out=a, dtype=cp.float32), n))
    return rows


def jax_rows(n):
    if importlib.util.find_spec("jax") is None:
        return []
    import jax
    import jax.numpy as jnp
    key = jax.random.PRNGKey(0)
    normal = jax.jit(lambda k: jax.random.normal(k, (n,), jnp.float32))
    trunc = jax.jit(lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (n,), jnp.float32))
    normal16 = jax.jit(lambda k: jax.random.normal(k, (n,), jnp.bfloat16))
    return [("jax random.normal (allocates; wall clock)", lambda: normal(key)),
            ("jax random.truncated_normal (allocates; wall clock)", lambda: trunc(key)),
            ("jax random.normal bf16 (allocates; wall clock)", lambda: normal16(key))]


def compile_times():
    """(first launch with an empty cache, first launch from the cache), seconds."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT], capture_output=True, text=True, env=env)
            out.append(float(r.stdout.split()[-1]) if r.returncode == 0 else float("nan"))
        return out


def run(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastinit bench --device cuda")
    p.add_argument("--log2-size", type=int, default=28, help="buffers of 2**N elements (default 28)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--calls", type=int, default=10, help="calls per timed interval (default 10)")
    args = p.parse_args(argv)
    import numba
    import numpy as np
    import torch
    import fastinit as fi
    n = 2 ** args.log2_size
    props = torch.cuda.get_device_properties(0)
    print(f"fastinit {fi.__version__} bench on {props.name}: 2^{args.log2_size} elements, best of "
          f"{args.repeat} x {args.calls} calls, CUDA events; torch {torch.__version__}, numba "
          f"{numba.__version__}, numba-cuda {_version('numba-cuda')}, numpy {np.__version__}", flush=True)
    results = {}
    for name, ceiling, fn, count in methods(torch, n):
        print(f"  timing {name} ...".ljust(70), end="\r", file=sys.stderr, flush=True)
        results[name] = (_events_rate(torch, fn, count, args.calls, args.repeat), ceiling)
    torch.cuda.empty_cache()
    for name, fn in jax_rows(n):
        results[name] = (_wall_rate(fn, n, args.calls, args.repeat), "torch fill_")
    print(" " * 70, end="\r", file=sys.stderr)
    print(f"\n{'method':52s} {'G elem/s':>9s} {'vs fill_':>8s}")
    for name, (rate, ceiling) in results.items():
        print(f"{name:52s} {rate:9.1f} {rate / results[ceiling][0]:8.2f}")
    cold, warm = compile_times()
    print(f"\nfirst launch of normal_ f32 in a fresh process: {cold:.2f} s with an empty cache, "
          f"{warm:.2f} s from the on-disk cache")
    print("\ntargets:")
    ok = True
    for row, peer, need in TARGETS:
        if row in results and peer in results:
            r = results[row][0] / results[peer][0]
            ok &= r >= need
            print(f"  {row:28s} {r:5.2f}x {peer} (required {need:.2f}) {'ok' if r >= need else 'BELOW'}")
    print(f"all targets {'met' if ok else 'NOT met'}")
    return results


def _version(dist):
    import importlib.metadata
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"
