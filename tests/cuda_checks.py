"""GPU-against-CPU checks, shared by the numba-cuda simulator run (CI, no
GPU) and the real-GPU tests: the same cases, with ``cuda`` being the real
``numba.cuda`` or the simulator.

Each check returns a list of failure descriptions (empty: all bits equal).
Every case fills a zeroed host buffer on the CPU and a zeroed device copy on
the GPU and compares all bytes, so elements outside a view or shard must
stay untouched on both.  The launch configurations rotate through tiny
threads-per-block (many blocks), few blocks (a long grid-stride loop) and
the default.
"""
import contextlib
import json
import os

import ml_dtypes
import numpy as np

import fastinit as fi
from fastinit import _cuda
from golden_cases import CASES, digest

with open(os.path.join(os.path.dirname(__file__), "data", "golden.json")) as f:
    GOLDEN = json.load(f)

CONFIGS = [dict(threads_per_block=1, max_blocks=7),
           dict(threads_per_block=32, max_blocks=2),
           dict(threads_per_block=64, max_blocks=None)]
BF16 = ml_dtypes.bfloat16


@contextlib.contextmanager
def launch_config(cfg):
    saved = dict(_cuda.CONFIG)
    _cuda.CONFIG.update(cfg)
    try:
        yield
    finally:
        _cuda.CONFIG.clear()
        _cuda.CONFIG.update(saved)


#: Fillers whose large-shape golden cases the simulator runs too.
SIM_LARGE = ("uniform_", "normal_", "trunc_normal_", "he_normal_")


def golden_ids(everything):
    """All golden cases, or (simulator: slow) every case of the small shape
    and four fillers' large shape in float32 with the first seed."""
    if everything:
        return sorted(CASES)
    return sorted(c for c, (name, dname, shape, seed, stream) in CASES.items()
                  if len(shape) == 4 or (dname == "float32" and seed == 0 and name in SIM_LARGE))


def check_golden(cuda, everything=False):
    bad = []
    for i, cid in enumerate(golden_ids(everything)):
        cfg = CONFIGS[i % len(CONFIGS)]
        with launch_config(cfg):
            if digest(CASES[cid], device=cuda) != GOLDEN["sha256"][cid]:
                bad.append(f"golden {cid} {cfg}")
    return bad


def _compare(cuda, label, dtype, shape, call, select=lambda a: a):
    host = np.zeros(shape, dtype)
    call(select(host))
    dev = cuda.to_device(np.zeros(shape, dtype))
    call(select(dev))
    got = dev.copy_to_host()
    if got.tobytes() != host.tobytes():
        diff = np.flatnonzero(got.view(np.uint8) != host.view(np.uint8))
        return [f"{label}: {diff.size} bytes differ, first at byte {diff[0]}"]
    return []


def cases(n_far=2053):
    """(label, dtype, buffer shape, fill, view): the shapes, views, shards and
    tails that the golden cases do not reach."""
    out = []
    for dt in (np.float32, np.float64, np.float16, BF16):
        name = np.dtype(dt).name
        for n in (1, 2, 3, 5, 7, 9):              # whole blocks or not, from every start
            for off in (0, 1, 3):
                out.append((f"normal_ {name} n={n} offset={off}", dt, (n,),
                            lambda b, n=n, off=off: fi.normal_(b, seed=4, global_shape=(n + 5,), offsets=(off,)),
                            None))
        # the 32-bit index boundary (g = 2^32) and the counter carry (block 2^32)
        for label, gshape, offs, shape in (("g~2^32", (2, 2**33), (1, 2**32 - 13), (1, 29)),
                                           ("block~2^32 f32", (2, 2**35), (1, 2**34 - 13), (1, 29)),
                                           ("block~2^32 f64", (2, 2**34), (1, 2**33 - 7), (1, 29)),
                                           ("end of 2^64", (2**62, 4), (2**62 - 2, 0), (2, 4))):
            for fn, kw in ((fi.uniform_, {}), (fi.trunc_normal_, dict(a=-1.0, b=0.5))):
                out.append((f"{fn.__name__} {name} {label}", dt, shape,
                            lambda b, fn=fn, kw=kw, g=gshape, o=offs: fn(b, seed=2**64 - 2, stream="s",
                                                                          global_shape=g, offsets=o, **kw),
                            None))
        # rows: a 3-D shard cut along every dimension, and strided views
        out.append((f"he_normal_ {name} 3-D shard", dt, (2, 3, 4),
                    lambda b: fi.he_normal_(b, seed=1, global_shape=(3, 5, 7), offsets=(1, 1, 2)), None))
        out.append((f"uniform_ {name} view [::2, :, ::-1]", dt, (5, 3, 6),
                    lambda b: fi.uniform_(b, -2.0, 3.0, seed=2), lambda a: a[::2, :, ::-1]))
        out.append((f"trunc_normal_ {name} view [:, 1::3]", dt, (7, 40),
                    lambda b: fi.trunc_normal_(b, std=0.02, a=-0.04, b=0.04, seed=3), lambda a: a[:, 1::3]))
        out.append((f"xavier_uniform_ {name} view [::-1] shard", dt, (6, 10),
                    lambda b: fi.xavier_uniform_(b, seed=5, global_shape=(6, 30), offsets=(0, 10)),
                    lambda a: a[::-1]))
        # constants, also on views and shards
        out.append((f"constant_ {name} view", dt, (6, 10), lambda b: fi.constant_(b, -3.25), lambda a: a[1:, ::3]))
        out.append((f"ones_ {name} shard", dt, (3, 5),
                    lambda b: fi.ones_(b, global_shape=(9, 5), offsets=(2, 0)), None))
        # far tails: flagged elements redone in full
        out.append((f"normal_ {name} {n_far} (far tails)", dt, (n_far,), lambda b: fi.normal_(b, seed=11), None))
        for a, b_ in ((3.0, 4.0), (-4.0, -3.0)):
            out.append((f"trunc_normal_ {name} [{a}, {b_}]", dt, (333,),
                        lambda b, a=a, b_=b_: fi.trunc_normal_(b, a=a, b=b_, seed=12), None))
    for a, b_ in ((7.5, 8.5), (-8.5, -7.5)):
        out.append((f"trunc_normal_ float64 [{a}, {b_}]", np.float64, (101,),
                    lambda b, a=a, b_=b_: fi.trunc_normal_(b, a=a, b=b_, seed=13), None))
    return out


def check_against_cpu(cuda, n_far=2053):
    bad = []
    for i, (label, dt, shape, call, view) in enumerate(cases(n_far)):
        cfg = CONFIGS[i % len(CONFIGS)]
        with launch_config(cfg):
            bad += _compare(cuda, f"{label} {cfg}", dt, shape, call, view or (lambda a: a))
    return bad


def count_cases(everything=False, n_far=2053):
    return len(golden_ids(everything)) + len(cases(n_far))
