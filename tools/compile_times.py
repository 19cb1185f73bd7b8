"""Cold-compile cost of fastinit's CPU kernels, each case in a fresh process
with an empty numba cache directory, split by where the time goes.

    python tools/compile_times.py [--pkg DIR] [--cases transformer|all|each] [--json PATH]

* ``each`` (default): every kernel a transformer needs under ``patch()`` or
  ``init_module_`` (uniform, normal, truncated normal; float32 and
  bfloat16; a large buffer, which runs the parallel build, and a small one,
  which runs the serial build), one fresh process per kernel; the sum is
  what a first-time user pays when the calls come in separate processes.
* ``transformer``: the same calls in one fresh process (shared helpers are
  typed once), as one model build meets them.
* ``all``: every CPU kernel (three distributions, four dtypes, contiguous
  and strided, parallel and serial builds) in one fresh process: what
  ``python -m fastinit warmup`` pays.

Each first call is split with numba's events: LLVM (time inside LLVM,
``numba:llvm_lock``), typing (the type-inference passes), parfors (the
parfor passes, and the lowering of a parallel kernel's own body, which the
parfor lowering pass does), lowering (numba IR to LLVM IR, serial code),
other (bytecode analysis, IR rewrites, cache I/O, dispatch).  Times are
exclusive: a helper compiled while the kernel is typed counts as that
helper's typing, lowering and LLVM.
``--pkg DIR`` puts DIR first on the child's ``sys.path`` (to compare two
checkouts of the package in one session).
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # this checkout's fastinit
from fastinit._bench.compile import empty_cache_env  # noqa: E402

CHILD = r"""
import json, sys, time
if sys.argv[1]:
    sys.path.insert(0, sys.argv[1])
t0 = time.perf_counter()
import numpy as np, ml_dtypes
import fastinit as fi
from numba.core import event as ev
t_import = time.perf_counter() - t0
cases = json.loads(sys.argv[2])
FILL = {"uniform": fi.uniform_, "normal": fi.normal_, "trunc_normal": fi.trunc_normal_}
DT = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16, "float64": np.float64, "float16": np.float16}


class Rec(ev.Listener):
    def __init__(self):
        self.ev = []

    def on_start(self, e):
        self.ev.append((time.perf_counter(), e))

    def on_end(self, e):
        self.ev.append((time.perf_counter(), e))


def split(events, total):
    # exclusive time per category from nested pass intervals and LLVM-lock intervals
    cat = {"llvm": 0.0, "typing": 0.0, "parfors": 0.0, "lowering": 0.0}
    stack = []                       # [kind, start, child time]
    for t, e in events:
        if e.is_start:
            stack.append([e, t, 0.0])
            continue
        s, t0, child = stack.pop()
        dur = t - t0
        if stack:
            stack[-1][2] += dur
        if e.kind == "numba:llvm_lock":
            cat["llvm"] += dur
            continue
        name = e.data["name"].split(" [")[0]      # the pass's name, e.g. nopython_type_inference
        own = dur - child
        if "type_inference" in name:
            cat["typing"] += own
        elif "parfor" in name:
            cat["parfors"] += own
        elif "lowering" in name:
            cat["lowering"] += own
    cat["other"] = total - sum(cat.values())
    return cat


out = []
for dist, dt, n, strided in cases:
    a = np.empty((n, 2) if strided else n, DT[dt])
    if strided:
        a = a[:, 0]
    rec = Rec()
    with ev.install_listener("numba:run_pass", rec), ev.install_listener("numba:llvm_lock", rec):
        t = time.perf_counter()
        FILL[dist](a, seed=1)
        first = time.perf_counter() - t
    t = time.perf_counter()
    FILL[dist](a, seed=1)
    again = time.perf_counter() - t
    out.append(dict(case=[dist, dt, n, strided], first=first, again=again,
                    split=split(rec.ev, first - again)))
print(json.dumps(dict(import_s=t_import, cases=out)))
"""

SMALL, LARGE = 100, 1 << 20         # a large fill runs on several threads
TRANSFORMER = [[d, dt, n, False] for d in ("uniform", "normal", "trunc_normal")
               for dt in ("float32", "bfloat16") for n in (LARGE, SMALL)]
ALL = [[d, dt, n, s] for d in ("uniform", "normal", "trunc_normal")
       for dt in ("float32", "bfloat16", "float16", "float64")
       for s in (False, True) for n in (LARGE, SMALL)]


def run_child(pkg, cases):
    with empty_cache_env() as env:
        r = subprocess.run([sys.executable, "-c", CHILD, pkg or "", json.dumps(cases)],
                           capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def name(c):
    dist, dt, n, strided = c
    return f"{dist} {dt} {'strided' if strided else 'contig'} {'large' if n >= LARGE else 'small'}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pkg", default="")
    p.add_argument("--cases", default="each", choices=("each", "transformer", "all"))
    p.add_argument("--json")
    a = p.parse_args(argv)
    t = time.perf_counter()
    if a.cases == "each":
        results = [run_child(a.pkg, [c])["cases"][0] for c in TRANSFORMER]
    else:
        results = run_child(a.pkg, TRANSFORMER if a.cases == "transformer" else ALL)["cases"]
    cols = ("typing", "parfors", "lowering", "llvm", "other")
    print(f"{'kernel (first call)':<40} {'total s':>8} " + " ".join(f"{c:>8}" for c in cols))
    tot = dict.fromkeys(("first",) + cols, 0.0)
    for r in results:
        print(f"{name(r['case']):<40} {r['first']:8.2f} " + " ".join(f"{r['split'][c]:8.2f}" for c in cols))
        tot["first"] += r["first"]
        for c in cols:
            tot[c] += r["split"][c]
    print(f"{'sum':<40} {tot['first']:8.2f} " + " ".join(f"{tot[c]:8.2f}" for c in cols))
    print(f"({a.cases}: {len(results)} first calls, {time.perf_counter() - t:.1f} s wall)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(cases=a.cases, results=results, total=tot), f, indent=1)


if __name__ == "__main__":
    main()
