"""Fill rates of two checkouts of fastinit, run alternately in fresh
processes, for before/after comparisons on a noisy machine.

    python tools/ab_fill.py BEFORE_DIR AFTER_DIR [--runs 3] [--log2 26]

Each run times, on pre-touched buffers, ``uniform_``, ``normal_``,
``trunc_normal_`` and ``zeros_`` in float32, bfloat16 and float64, and three
of them on a strided float32 view (the rows loop), best of 5; the table
gives each side's best run and every run's figure.  Below 2^18 elements a
fill runs on one thread, so ``--log2 16`` measures one core's compute (the
buffer stays in L2), each timing a loop of 2^22 elements' worth of calls.
"""
import argparse
import json
import subprocess
import sys

# self-contained, not fastinit._bench's timers: it runs against each checkout's fastinit, of any age
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np, ml_dtypes, fastinit as fi
N = 1 << int(sys.argv[2])
res = {}
REPS = max(1, (1 << 22) // N)      # small buffers (one thread, in cache): many calls per timing
def rate(f, n):
    best = 1e9
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(REPS):
            f()
        best = min(best, time.perf_counter() - t)
    return n * REPS / best / 1e9
for dt in (np.float32, ml_dtypes.bfloat16, np.float64):
    a = np.empty(N, dt); a[:] = 0
    for name in ("uniform_", "normal_", "trunc_normal_", "zeros_"):
        f = getattr(fi, name)
        kw = {} if name == "zeros_" else {"seed": 1}
        f(a[:1024], **kw)
        res[f"{name} {np.dtype(dt).name}"] = rate(lambda: f(a, **kw), N)
    del a
s = np.empty((N >> 12, 1 << 13), np.float32); s[:] = 0
v = s[:, ::2]
for name in ("uniform_", "normal_", "zeros_"):
    f = getattr(fi, name); kw = {} if name == "zeros_" else {"seed": 1}
    f(v[:2], **kw)
    res[f"{name} float32 strided"] = rate(lambda: f(v, **kw), v.size)
print(json.dumps(res))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--log2", type=int, default=26)
    args = ap.parse_args()
    rows = {}
    for _ in range(args.runs):
        for side, pkg in (("before", args.before), ("after", args.after)):
            out = subprocess.run([sys.executable, "-c", CHILD, pkg, str(args.log2)], check=True,
                                 capture_output=True, text=True).stdout
            for k, v in json.loads(out).items():
                rows.setdefault(k, {}).setdefault(side, []).append(v)
    print(f"{'G elements/s, 2^%d' % args.log2:32s} {'before':>8s} {'after':>8s} {'ratio':>6s}   runs")
    for k, d in rows.items():
        b, a = max(d["before"]), max(d["after"])
        runs = " ".join(f"{x:.2f}" for x in d["before"]) + " / " + " ".join(f"{x:.2f}" for x in d["after"])
        print(f"{k:32s} {b:8.2f} {a:8.2f} {a / b:6.2f}   {runs}")


if __name__ == "__main__":
    main()
