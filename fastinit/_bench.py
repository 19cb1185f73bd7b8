"""``python -m fastinit bench``: fastinit against NumPy and a plain fill.

Every rate is the best of ``--repeat`` runs on one pre-touched buffer,
measured in the same run as the buffer's plain ``fill``, so the ratio to
the fill means something on a noisy machine.
"""
import argparse
import importlib.util
import platform
import sys
import time

import numba
import numpy as np


def _best(fn, repeat):
    fn()                                   # warm-up: compiles, touches pages
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def methods(buf, include_torch):
    import fastinit as fi
    rng = np.random.Generator(np.random.PCG64(0))
    w = buf.reshape(-1, 1024)              # 2-D so fan-based fillers have fans
    rows = [
        ("fill (write ceiling)", lambda: buf.fill(1.0)),
        ("fastinit zeros_", lambda: fi.zeros_(buf)),
        ("fastinit uniform_", lambda: fi.uniform_(buf, seed=1)),
        ("fastinit normal_", lambda: fi.normal_(buf, seed=1)),
        ("fastinit trunc_normal_", lambda: fi.trunc_normal_(buf, seed=1)),
        ("fastinit he_normal_", lambda: fi.he_normal_(w, seed=1)),
        ("numpy Generator.random(out=)", lambda: rng.random(out=buf, dtype=buf.dtype)),
        ("numpy Generator.standard_normal(out=)",
         lambda: rng.standard_normal(out=buf, dtype=buf.dtype)),
    ]
    if include_torch and importlib.util.find_spec("torch") is not None:
        import torch
        t = torch.from_numpy(buf)
        tw = t.view(-1, 1024)
        rows += [
            ("torch nn.init.uniform_", lambda: torch.nn.init.uniform_(t)),
            ("torch nn.init.normal_", lambda: torch.nn.init.normal_(t)),
            ("torch nn.init.kaiming_normal_", lambda: torch.nn.init.kaiming_normal_(tw)),
        ]
    return rows


def run(argv=None):
    p = argparse.ArgumentParser(prog="python -m fastinit bench", description=__doc__.split("\n")[0])
    p.add_argument("--log2-size", type=int, default=26, help="buffer of 2**N float32 elements (default 26)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per method, best kept (default 5)")
    p.add_argument("--torch", action=argparse.BooleanOptionalAction, default=True,
                   help="include torch.nn.init when torch is installed (default on)")
    args = p.parse_args(argv)
    n = 2 ** args.log2_size
    buf = np.empty(n, np.float32)
    buf.fill(0.0)                           # pre-touched: page faults are not timed
    print(f"fastinit bench: float32, 2^{args.log2_size} elements (pre-touched), best of {args.repeat}; "
          f"{numba.get_num_threads()} threads ({platform.processor() or platform.machine()}, "
          f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__})",
          flush=True)
    results = []
    for name, fn in methods(buf, args.torch):
        print(f"  timing {name} ...", end="\r", file=sys.stderr, flush=True)
        results.append((name, n / _best(fn, args.repeat) / 1e9))
    print(" " * 60, end="\r", file=sys.stderr)
    ceiling = results[0][1]
    print(f"\n{'method':40s} {'G elem/s':>9s} {'vs fill':>8s}")
    for name, rate in results:
        print(f"{name:40s} {rate:9.3f} {rate / ceiling:8.2f}")
    rate = dict(results)
    np_normal = rate["numpy Generator.standard_normal(out=)"]
    print(f"\nnormal_ f32: {rate['fastinit normal_'] / np_normal:.1f}x NumPy, "
          f"{rate['fastinit normal_'] / ceiling:.2f} of the write ceiling; "
          f"uniform_ f32: {rate['fastinit uniform_']:.2f} G/s, "
          f"{rate['fastinit uniform_'] / rate['numpy Generator.random(out=)']:.1f}x NumPy")
    return results
