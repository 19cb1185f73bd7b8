"""``python -m fastinit bench``: fastinit against NumPy, PyTorch and a plain fill.

Every rate is the best of ``--repeat`` runs on one pre-touched buffer,
measured in the same run as that buffer's plain ``fill``, so the ratio to
the fill means something on a noisy machine.  16-bit rows are compared with
the float32 fill (elements per second), float64 rows with the float64 fill.
"""
import argparse
import importlib.util
import platform
import sys
import time

import numba
import numpy as np

#: (row, ceiling row, required ratio): the CPU targets of issue 4.
TARGETS = [
    ("fastinit uniform_", "fill f32", 0.55), ("fastinit xavier_uniform_", "fill f32", 0.55),
    ("fastinit he_uniform_", "fill f32", 0.55), ("fastinit normal_", "fill f32", 0.30),
    ("fastinit he_normal_", "fill f32", 0.30), ("fastinit xavier_normal_", "fill f32", 0.30),
    ("fastinit trunc_normal_", "fill f32", 0.25),
    ("fastinit variance_scaling_ truncated_normal", "fill f32", 0.25),
    ("fastinit normal_ bf16", "fill f32", 0.30), ("fastinit normal_ f16", "fill f32", 0.30),
    ("fastinit normal_ f64", "fill f64", 0.20),
    ("fastinit zeros_", "fill f32", 0.95), ("fastinit constant_", "fill f32", 0.95),
]


def _best(fn, repeat):
    fn()                                   # warm-up: compiles, touches pages
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _per_call_us(fn, calls=20000):
    fn()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - t)
    return best / calls * 1e6


def methods(n, include_torch):
    """(name, ceiling row, function, elements per call) for every row."""
    import fastinit as fi
    f32 = np.empty(n, np.float32)
    f64 = np.empty(n, np.float64)
    h16 = np.empty(n, np.float16)
    for b in (f32, f64, h16):
        b.fill(0)                          # pre-touched: page faults are not timed
    w = f32.reshape(-1, 1024)              # 2-D so fan-based fillers have fans
    rng = np.random.Generator(np.random.PCG64(0))
    C32, C64 = "fill f32", "fill f64"
    rows = [
        ("fill f32", C32, lambda: f32.fill(1.0), n),
        ("fill f64", C64, lambda: f64.fill(1.0), n),
        ("fastinit zeros_", C32, lambda: fi.zeros_(f32), n),
        ("fastinit constant_", C32, lambda: fi.constant_(f32, 0.5), n),
        ("fastinit uniform_", C32, lambda: fi.uniform_(f32, seed=1), n),
        ("fastinit xavier_uniform_", C32, lambda: fi.xavier_uniform_(w, seed=1), n),
        ("fastinit he_uniform_", C32, lambda: fi.he_uniform_(w, seed=1), n),
        ("fastinit normal_", C32, lambda: fi.normal_(f32, seed=1), n),
        ("fastinit he_normal_", C32, lambda: fi.he_normal_(w, seed=1), n),
        ("fastinit xavier_normal_", C32, lambda: fi.xavier_normal_(w, seed=1), n),
        ("fastinit trunc_normal_", C32, lambda: fi.trunc_normal_(f32, seed=1), n),
        ("fastinit variance_scaling_ truncated_normal", C32,
         lambda: fi.variance_scaling_(w, 1.0, "fan_in", "truncated_normal", seed=1), n),
        ("fastinit normal_ f16", C32, lambda: fi.normal_(h16, seed=1), n),
        ("fastinit normal_ f64", C64, lambda: fi.normal_(f64, seed=1), n),
        ("fastinit uniform_ f64", C64, lambda: fi.uniform_(f64, seed=1), n),
        ("numpy Generator.random(out=)", C32, lambda: rng.random(out=f32, dtype=np.float32), n),
        ("numpy Generator.standard_normal(out=)", C32,
         lambda: rng.standard_normal(out=f32, dtype=np.float32), n),
        ("numpy Generator.standard_normal(out=) f64", C64, lambda: rng.standard_normal(out=f64), n),
    ]
    if importlib.util.find_spec("ml_dtypes") is not None:
        import ml_dtypes
        b16 = np.zeros(n, ml_dtypes.bfloat16)
        rows.insert(12, ("fastinit normal_ bf16", C32, lambda: fi.normal_(b16, seed=1), n))
    if include_torch and importlib.util.find_spec("torch") is not None:
        import torch
        t = torch.from_numpy(f32)
        tw = t.view(-1, 1024)
        tb = torch.zeros(n, dtype=torch.bfloat16)
        # torch's trunc_normal_ redraws until all values are inside (about
        # 0.01 G/s): timed on a 2^22 slice so the run stays short
        ts = t[: min(n, 1 << 22)]
        rows += [
            ("torch nn.init.uniform_", C32, lambda: torch.nn.init.uniform_(t), n),
            ("torch nn.init.kaiming_uniform_", C32, lambda: torch.nn.init.kaiming_uniform_(tw), n),
            ("torch nn.init.normal_", C32, lambda: torch.nn.init.normal_(t), n),
            ("torch nn.init.kaiming_normal_", C32, lambda: torch.nn.init.kaiming_normal_(tw), n),
            ("torch nn.init.xavier_normal_", C32, lambda: torch.nn.init.xavier_normal_(tw), n),
            ("torch nn.init.trunc_normal_ (2^22 slice)", C32, lambda: torch.nn.init.trunc_normal_(ts),
             ts.numel()),
            ("torch nn.init.normal_ bf16", C32, lambda: torch.nn.init.normal_(tb), n),
        ]
    return rows


def run(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastinit bench", description=__doc__.split("\n")[0])
    p.add_argument("--log2-size", type=int, default=26, help="buffers of 2**N elements (default 26)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per method, best kept (default 5)")
    p.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True,
                   help="include torch.nn.init when torch is installed (default on)")
    args = p.parse_args(argv)
    n = 2 ** args.log2_size
    print(f"fastinit bench: 2^{args.log2_size} elements per buffer (pre-touched), best of {args.repeat}; "
          f"{numba.get_num_threads()} threads ({platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__})",
          flush=True)
    results = {}
    for name, ceiling, fn, count in methods(n, args.torch):
        print(f"  timing {name} ...".ljust(70), end="\r", file=sys.stderr, flush=True)
        results[name] = (count / _best(fn, args.repeat) / 1e9, ceiling)
    print(" " * 70, end="\r", file=sys.stderr)
    print(f"\n{'method':46s} {'G elem/s':>9s} {'vs fill':>8s}")
    for name, (rate, ceiling) in results.items():
        print(f"{name:46s} {rate:9.3f} {rate / results[ceiling][0]:8.2f}")

    import fastinit as fi
    small = [(k, np.empty(k, np.float32)) for k in (1, 4096)]
    print("\nper call (whole Python path, warm):")
    for k, b in small:
        for fname in ("normal_", "uniform_", "trunc_normal_"):
            us = _per_call_us(lambda: getattr(fi, fname)(b, seed=1))
            print(f"  {fname:14s} {k:5d} elements: {us:6.1f} us")

    print("\ntargets (ratio to the fill of the same run):")
    ok = True
    for name, ceiling, need in TARGETS:
        if name not in results:
            continue
        r = results[name][0] / results[ceiling][0]
        ok &= r >= need
        print(f"  {name:46s} {r:5.2f} (required {need:.2f}) {'ok' if r >= need else 'BELOW'}")
    rate = {k: v[0] for k, v in results.items()}
    print(f"\nnormal_ f32: {rate['fastinit normal_'] / rate['numpy Generator.standard_normal(out=)']:.1f}x NumPy, "
          f"{rate['fastinit normal_'] / rate['fill f32']:.2f} of the write ceiling"
          + (f", {rate['fastinit normal_'] / rate['torch nn.init.normal_']:.1f}x torch"
             if "torch nn.init.normal_" in rate else "")
          + f"; all targets {'met' if ok else 'NOT met'}")
    return results
