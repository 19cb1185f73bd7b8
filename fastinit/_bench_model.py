"""End-to-end model init: ``python -m fastinit bench-model``.

Builds a Llama-style decoder (``fastinit._llama``, Llama 3.2 1B's shape by
default: 1.50 G parameters, embedding untied) on the CPU or a GPU, in
float32 and bfloat16, four ways:

* ``torch``: ``Llama(cfg)``, torch's default init (each module's
  ``reset_parameters``);
* ``patch``: the same under ``fastinit.torch.patch()``;
* ``materialize``: built on the meta device, then
  ``fastinit.torch.materialize_(model, device, seed=0, dtype=...)``;
* with transformers installed, ``hf-torch`` and ``hf-patch``:
  ``AutoModelForCausalLM.from_config`` of the same shape, without and with
  ``patch()``.

Each (method, dtype) runs in a fresh process, so every build allocates
fresh memory and pays its first touch, as a user's script does; the process
first builds a tiny model the same way (loading fastinit's kernels from the
cache, torch's lazy setup), then times the full build, ``--repeat`` times.
"""
import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time

METHODS = ("torch", "patch", "materialize", "hf-torch", "hf-patch")


def _build(method, size, dtype_name, device):
    import torch

    import fastinit.torch as ft
    from fastinit._llama import CONFIGS, llama
    dtype = getattr(torch, dtype_name)
    if method.startswith("hf-"):
        import transformers
        c = CONFIGS[size]
        cfg = transformers.LlamaConfig(hidden_size=c["dim"], intermediate_size=c["ffn_dim"],
                                       num_hidden_layers=c["n_layers"], num_attention_heads=c["n_heads"],
                                       num_key_value_heads=c["n_kv_heads"], vocab_size=c["vocab"],
                                       tie_word_embeddings=False)

        def make():
            with torch.device(device):
                return transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype)
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
    return ft.materialize_(m, device, seed=0, dtype=dtype)


def _child(method, size, dtype_name, device, repeat):
    import gc

    import torch
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
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
    print(json.dumps({"times": times, "params": n}))


def run(argv):
    p = argparse.ArgumentParser(prog="python -m fastinit bench-model", description=__doc__.split("\n")[0])
    p.add_argument("--size", default="1b", choices=("tiny", "small", "1b"))
    p.add_argument("--dtypes", default="float32,bfloat16")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--repeat", type=int, default=2, help="builds per process; the best is reported")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        p.error(f"--methods: unknown {bad}; choose from {', '.join(METHODS)}")
    if importlib.util.find_spec("transformers") is None:
        skipped = [m for m in methods if m.startswith("hf-")]
        methods = [m for m in methods if not m.startswith("hf-")]
        if skipped:
            print(f"(transformers is not installed: {', '.join(skipped)} skipped)")
    rows = []
    print(f"{'method':<12} {'dtype':<9} {'params':>7} {'best s':>8} {'all s':<18} {'vs torch':>8}")
    for dtype in a.dtypes.split(","):
        base = {}
        for m in methods:
            code = (f"from fastinit._bench_model import _child; "
                    f"_child({m!r}, {a.size!r}, {dtype!r}, {a.device!r}, {a.repeat})")
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"{m:<12} {dtype:<9} failed:\n{r.stderr[-2000:]}")
                continue
            res = json.loads(r.stdout.strip().splitlines()[-1])
            best = min(res["times"])
            ref = base.get("hf-torch" if m.startswith("hf-") else "torch")
            if m in ("torch", "hf-torch"):
                base[m] = best
            ratio = f"{ref / best:.1f}x" if ref else ""
            print(f"{m:<12} {dtype:<9} {res['params'] / 1e9:6.2f}G {best:8.2f} "
                  f"{', '.join(f'{t:.2f}' for t in res['times']):<18} {ratio:>8}", flush=True)
            rows.append(dict(method=m, dtype=dtype, params=res["params"], times=res["times"], best=best,
                             speedup=(ref / best if ref else None)))
    if a.json:
        import torch
        meta = dict(size=a.size, device=a.device, repeat=a.repeat, machine=platform.machine(),
                    cpu_count=os.cpu_count(), python=platform.python_version(), torch=torch.__version__,
                    date=time.strftime("%Y-%m-%d"))
        with open(a.json, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1)
    return rows
