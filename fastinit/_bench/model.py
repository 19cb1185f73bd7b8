"""End-to-end model init: ``python -m fastinit bench-model``.

Builds a Llama-style decoder (``fastinit._bench.llama``, Llama 3.2 1B's
shape by default: 1.50 G parameters, embedding untied) on the CPU or a GPU,
in float32 and bfloat16, four ways:

* ``torch``: ``Llama(cfg)``, torch's default init (each module's
  ``reset_parameters``);
* ``patch``: the same under ``fastinit.torch.patch()``;
* ``materialize``: built on the meta device, then
  ``fastinit.torch.materialize_(model, device, seed=0, dtype=...)``, which
  records and replays the model's own init program (the default scheme,
  "own");
* ``materialize-table``: the same with ``scheme="torch"``, the table that
  restates torch's ``reset_parameters`` (the same bits);
* with transformers installed, ``hf-torch`` and ``hf-patch``:
  ``AutoModelForCausalLM.from_config`` of the same shape, without and with
  ``patch()``, and ``hf-materialize``: that model built on the meta device
  and materialized (Hugging Face's own init program, recorded).

Each (method, dtype) runs in a fresh process, so every build allocates
fresh memory and pays its first touch, as a user's script does; the process
first builds a tiny model the same way (loading fastinit's kernels from the
cache, torch's lazy setup), then times the full build, ``--repeat`` times
("best s", "all s", "vs torch").

Then, unless ``--no-cold``, one more fresh process per (method, dtype) times
its very first build with no tiny warm-up ("cold s", "cold vs"), as a
first-time user meets it: ``NUMBA_CACHE_DIR`` is a new empty directory
(numba then caches there and nowhere else, not in the ``__pycache__`` next to
fastinit's sources), so fastinit compiles every kernel it uses; the process
fails if any of them was loaded from a cache.  torch's rows have no kernel
cache: theirs is the first build in a fresh process, the reference of the
cold ratio.  Imports happen before the clock starts, in both kinds of run.

This module: the options and table (``run``), one build (``_build``), and
the fresh process that times builds (``_child``, started by ``_spawn``).
"""
import argparse
import contextlib
import importlib
import json
import platform
import subprocess
import sys
import time

from .compile import empty_cache_env
from .machine import _have, summary

METHODS = ("torch", "patch", "materialize", "materialize-table", "hf-torch", "hf-patch", "hf-materialize")


def _build(method, size, dtype_name, device):
    import torch

    import fastinit.torch as ft
    from fastinit._bench.llama import hf_config, llama
    dtype = getattr(torch, dtype_name)
    if method.startswith("hf-"):
        import transformers
        cfg = hf_config(size)

        def make():
            with torch.device(device):
                return transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
        if method == "hf-materialize":
            with torch.device("meta"):
                m = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
            return ft.materialize_(m, device, seed=0)
    else:
        def make():
            old = torch.get_default_dtype()
            torch.set_default_dtype(dtype)
            try:
                with torch.device(device):
                    return llama(size)
            finally:
                torch.set_default_dtype(old)
    if method in ("torch", "hf-torch"):
        return make()
    if method in ("patch", "hf-patch"):
        with ft.patch():
            return make()
    with torch.device("meta"):
        m = llama(size)
    return ft.materialize_(m, device, seed=0, dtype=dtype, scheme="torch" if method == "materialize-table" else "own")


def _cache_hits():
    """(kernels compiled or loaded in this process, how many were cache hits)."""
    kernels = [k for name in ("fastinit._cpu", "fastinit._cuda") if name in sys.modules
               for k in sys.modules[name].KERNELS.values()]
    return len(kernels), sum(sum(k.stats.cache_hits.values()) for k in kernels)


def _child(method, size, dtype_name, device, repeat, cold=False):
    """Print the build times as JSON; ``cold``: no warm-up, and check that no kernel came from a cache."""
    import gc

    import torch

    # imported before the clock: the model, fastinit.torch (numba and fastinit's kernel module too)
    # and, for the hf- rows, transformers
    for name in ("fastinit._bench.llama", "fastinit.torch") + (("transformers",) if method.startswith("hf-") else ()):
        importlib.import_module(name)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    if not cold:
        _build(method, "tiny", dtype_name, device)
    times, n = [], 0
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        m = _build(method, size, dtype_name, device)
        sync()
        times.append(time.perf_counter() - t0)
        n = sum(p.numel() for p in m.parameters())
        del m
        gc.collect()
    res = {"times": times, "params": n}
    if cold:
        res["kernels"], res["cache_hits"] = _cache_hits()
        if res["cache_hits"]:
            raise RuntimeError(f"cold run: {res['cache_hits']} of {res['kernels']} kernels came from a cache")
    print(json.dumps(res))


def _spawn(method, size, dtype, device, repeat, cold=False):
    """``_child`` in a fresh process (cold: with a new empty numba cache): its JSON, or None (error printed)."""
    code = (f"from fastinit._bench.model import _child; "
            f"_child({method!r}, {size!r}, {dtype!r}, {device!r}, {repeat}, {cold})")
    with (empty_cache_env() if cold else contextlib.nullcontext()) as env:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(f"{method:<17} {dtype:<9} {'cold run ' if cold else ''}failed:\n{r.stderr[-2000:]}")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def _sec(t):
    """Seconds with three significant digits (a tiny model builds in milliseconds)."""
    return f"{t:.2f}" if t >= 1 else f"{t:.3g}"


def _ratio(x):
    return "" if not x else f"{x:.1f}x" if x >= 10 else f"{x:.2f}x"


def run(argv):
    p = argparse.ArgumentParser(prog="python -m fastinit bench-model", description=__doc__.split("\n")[0])
    p.add_argument("--size", default="1b", choices=("tiny", "small", "1b"))
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--repeat", type=int, default=2, help="builds per process; the best is reported")
    p.add_argument("--no-cold", action="store_true",
                   help="skip the first build with an empty kernel cache (one more process per row)")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        p.error(f"--methods: unknown {bad}; choose from {', '.join(METHODS)}")
    if not _have("transformers"):
        skipped = [m for m in methods if m.startswith("hf-")]
        methods = [m for m in methods if not m.startswith("hf-")]
        if skipped:
            print(f"(transformers is not installed: {', '.join(skipped)} skipped)")
    rows, host = [], summary()
    cold = not a.no_cold
    print(f"bench-model: size {a.size} on {a.device}; CPU: {host['cpu']}, {host['cores']} cores")
    print(f"{'method':<17} {'dtype':<9} {'params':>7} {'best s':>8} {'all s':<18} {'vs torch':>8}"
          + (f" {'cold s':>8} {'cold vs':>8}" if cold else ""))
    for dtype in a.dtypes.split(","):
        base, cold_base = {}, {}
        for m in methods:
            res = _spawn(m, a.size, dtype, a.device, a.repeat)
            if res is None:
                continue
            c = _spawn(m, a.size, dtype, a.device, 1, cold=True) if cold else None
            best, first = min(res["times"]), (c["times"][0] if c else None)
            ref_name = "hf-torch" if m.startswith("hf-") else "torch"
            ref, cold_ref = base.get(ref_name), cold_base.get(ref_name)
            if m == ref_name:
                base[m], cold_base[m] = best, first
            speedup = ref / best if ref else None
            cold_speedup = cold_ref / first if cold_ref and first else None
            line = (f"{m:<17} {dtype:<9} {res['params'] / 1e9:6.3g}G {_sec(best):>8} "
                    f"{', '.join(_sec(t) for t in res['times']):<18} "
                    f"{_ratio(speedup):>8}")
            if cold:
                line += (f" {_sec(first) if first is not None else 'failed':>8}"
                         f" {_ratio(cold_speedup):>8}")
            print(line, flush=True)
            rows.append(dict(method=m, dtype=dtype, params=res["params"], times=res["times"], best=best,
                             speedup=speedup, cold=first, cold_speedup=cold_speedup,
                             cold_kernels=c["kernels"] if c else None,
                             cold_cache_hits=c["cache_hits"] if c else None))
    if a.json:
        import torch
        meta = dict(size=a.size, device=a.device, repeat=a.repeat, cold=cold, machine=platform.machine(),
                    cpu=host["cpu"], cpu_count=host["cores"], python=host["python"], torch=torch.__version__,
                    date=host["date"])
        with open(a.json, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1)
    return rows
