"""A model's initial weights written to a checkpoint: ``python -m fastinit
checkpoint`` against torch's own path (``from_config(dtype=...)`` then
``save_pretrained``), with the plain write speed of the same number of
bytes beside it (``dd`` with ``fdatasync``, and with ``O_DIRECT``).  Each
in its own process, timed from outside (wall time, and the peak resident
size from ``wait4``); one run of each, in one run of this script.

    python bench/checkpoint_bench.py                          # Llama-3-8B shape, bfloat16
    python bench/checkpoint_bench.py --methods dd,fastinit,verify --dir /big/disk
    pytest bench/test_checkpoint.py --benchmark-disable       # smoke run, a tiny config

fastinit fsyncs what it writes before renaming it; ``save_pretrained``
does not, so torch's row is also given with a ``sync`` after it.  Figures:
bench/NOTES.md and the README.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from fastinit._bench.machine import _cpu_model

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CONFIG = os.path.join(HERE, "configs", "llama3-8b.json")
METHODS = ("dd", "dd-direct", "fastinit", "verify", "torch")

TORCH_PATH = r"""
import os, sys, time, torch, transformers
cfg = transformers.AutoConfig.from_pretrained(sys.argv[1])
dtype = getattr(torch, sys.argv[3])
t0 = time.perf_counter()
model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
t1 = time.perf_counter()
model.save_pretrained(sys.argv[2])
t2 = time.perf_counter()
os.sync()
t3 = time.perf_counter()
print("TIMES", t1 - t0, t2 - t1, t3 - t2)
"""


def timed_rss(cmd, **kw):
    """(wall seconds, peak resident bytes, stdout) of ``cmd`` in a process of
    its own; the peak is ``wait4``'s ``ru_maxrss`` of that process (KiB on Linux)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({p.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss * 1024, out


SIZE = r"""
import sys, torch
from fastinit.torch import _checkpoint as C
plan = C.Plan(C.build_meta(sys.argv[1]), seed=0, dtype=getattr(torch, sys.argv[2]))
print(plan.total_size, sum(t.numel() for t in plan.schedule.params.values()))
"""


def model_bytes(config, dtype):
    """The checkpoint's size and parameters, from the meta model (nothing
    allocated), in a process of its own: this one stays small, since a
    child's peak resident size (``ru_maxrss``) starts from its parent's at
    ``fork``."""
    out = subprocess.run([sys.executable, "-c", SIZE, config, dtype], capture_output=True, text=True, check=True)
    nbytes, params = out.stdout.split()[-2:]
    return int(nbytes), int(params)


def run(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=DEFAULT_CONFIG)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--dir", default=None, help="where to write (default: a temporary directory)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    methods = a.methods.split(",")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; known: {METHODS}")
    root = tempfile.mkdtemp(prefix="fastinit-ckpt-bench-", dir=a.dir)
    nbytes, nparams = model_bytes(a.config, a.dtype)
    rows = []
    env = dict(os.environ)
    try:
        for m in methods:
            out = os.path.join(root, m)
            if m in ("dd", "dd-direct"):
                bs = 64 << 20
                count = -(-nbytes // bs)
                flag = "conv=fdatasync" if m == "dd" else "oflag=direct"
                wall, rss, _ = timed_rss(["dd", "if=/dev/zero", f"of={out}", f"bs={bs}", f"count={count}", flag,
                                          "status=none"])
                written = count * bs
                os.remove(out)
            elif m == "fastinit":
                wall, rss, _ = timed_rss([sys.executable, "-m", "fastinit", "checkpoint", a.config, out, "--seed",
                                          "0", "--dtype", a.dtype, "--quiet"], env=env)
                written = nbytes
            elif m == "verify":
                src = os.path.join(root, "fastinit")
                if not os.path.isdir(src):
                    raise SystemExit("verify needs the fastinit method before it")
                wall, rss, text = timed_rss([sys.executable, "-m", "fastinit", "verify", src, "--quiet"], env=env)
                written = nbytes                  # read and recomputed
            else:
                wall, rss, text = timed_rss([sys.executable, "-c", TORCH_PATH, a.config, out, a.dtype], env=env)
                init, save, sync = (float(x) for x in text.split("TIMES")[1].split())
                written = nbytes
                rows.append(dict(method="torch+sync", wall=wall, rss=rss, gbps=written / wall / 1e9,
                                 init=init, save=save, sync=sync))
                wall -= sync
                shutil.rmtree(out, ignore_errors=True)
            rows.append(dict(method=m, wall=wall, rss=rss, gbps=written / wall / 1e9))
            if m == "torch":
                rows[-2], rows[-1] = rows[-1], rows[-2]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    by = {r["method"]: r for r in rows}
    meta = dict(cpu=_cpu_model(), cores=os.cpu_count(), config=os.path.basename(a.config), dtype=a.dtype,
                bytes=nbytes, params=nparams, date=time.strftime("%Y-%m-%d"), python=platform.python_version())
    print(f"{meta['config']} ({nparams / 1e9:.2f} G parameters, {nbytes / 1e9:.2f} GB in {a.dtype}) on "
          f"{meta['cpu']} ({meta['cores']} cores)")
    print(f"{'method':<12} {'wall s':>8} {'peak RSS GiB':>13} {'GB/s':>7}  vs")
    for r in rows:
        vs = []
        if r["method"] == "fastinit":
            for ref in ("torch", "torch+sync"):
                if ref in by:
                    vs.append(f"{by[ref]['wall'] / r['wall']:.1f}x faster than {ref}")
            for ref in ("dd", "dd-direct"):
                if ref in by:
                    vs.append(f"{r['gbps'] / by[ref]['gbps']:.2f} of {ref}'s rate")
        if r["method"] == "torch+sync":
            vs.append(f"init {r['init']:.1f} s, save_pretrained {r['save']:.1f} s, sync {r['sync']:.1f} s")
        print(f"{r['method']:<12} {r['wall']:>8.1f} {r['rss'] / 2 ** 30:>13.2f} {r['gbps']:>7.2f}  {'; '.join(vs)}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    return rows


if __name__ == "__main__":
    run()
