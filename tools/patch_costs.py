"""What ``fastinit.torch.patch()`` costs where it cannot save: entering and
leaving it, one filler call on a small tensor, and where fastinit starts
to beat torch's own fillers (the crossover), all measured in one process.

    python tools/patch_costs.py [--sizes 0,2,...,22] [--json PATH]

* enter + exit: the mean of 2000 ``with patch(): pass``, with transformers
  imported and a model built (as many modules loaded as a user's script has);
* per call: the best of 7 loops of ``torch.nn.init.<filler>`` on one
  float32 tensor of 2^k elements, without and with ``patch()``, and the
  ratio torch / patched (above 1: fastinit is faster);
* bench-model's tiny Llama as a ``LlamaForCausalLM`` (2 layers, hidden
  size 64, vocabulary 250) from ``from_config``, without and with
  ``patch()``, interleaved, best and median of 15 (the target: patched at
  most 1.5x torch).
"""
import argparse
import json
import statistics
import sys
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default=",".join(str(k) for k in range(0, 23, 2)), help="log2 of the element counts")
    p.add_argument("--json", metavar="PATH")
    a = p.parse_args(argv)

    import torch
    import fastinit.torch as ft
    from fastinit._bench.llama import hf_config
    from fastinit._bench.machine import summary
    from fastinit._bench.peers import ARGS
    from fastinit._bench.timing import best_of
    init = torch.nn.init
    out = dict(summary(), torch=torch.__version__)
    try:
        import transformers
        cfg = hf_config("tiny")
    except ImportError:
        transformers = cfg = None

    def tiny(patched):
        if patched:
            with ft.patch():
                return transformers.AutoModelForCausalLM.from_config(cfg)
        return transformers.AutoModelForCausalLM.from_config(cfg)

    if transformers is not None:
        tiny(False), tiny(True)                           # the modules a model build loads
    p_ = ft.patch()

    def enter_exit():
        with p_:
            pass
    out["modules"] = len(sys.modules)
    out["enter_exit_us"] = best_of(enter_exit, 3, 2000) * 1e6
    print(f"CPU: {out['cpu']}; torch {out['torch']}; {out['modules']} modules loaded"
          f"{' (transformers imported)' if transformers else ''}")
    print(f"patch() enter + exit: {out['enter_exit_us']:.1f} us")

    fillers = {
        "normal_": lambda t: init.normal_(t, *ARGS["normal_"]),
        "uniform_": lambda t: init.uniform_(t, *ARGS["uniform_"]),
        "kaiming_uniform_": lambda t: init.kaiming_uniform_(t, a=5 ** 0.5),
        "trunc_normal_": lambda t: init.trunc_normal_(t, *ARGS["trunc_normal_"]),
    }
    print("\nper call, us (float32; 'x' = torch / patched, above 1 fastinit is faster)")
    print(f"{'elements':>9} " + " ".join(f"{n:>24}" for n in fillers))
    print(f"{'':>9} " + " ".join(f"{'torch':>8} {'patch':>8} {'x':>6}" for _ in fillers))
    out["per_call"] = []
    for k in (int(s) for s in a.sizes.split(",")):
        n = 1 << k
        reps = max(3, min(2000, (1 << 22) // n))
        row = dict(elements=n)
        cells = []
        for name, f in fillers.items():
            t = torch.empty(max(1, n // 64), min(n, 64))     # 2-d: kaiming needs fans
            plain = best_of(lambda: f(t), 7, reps)
            with ft.patch():
                patched = best_of(lambda: f(t), 7, reps)
            row[name] = dict(torch_us=plain * 1e6, patch_us=patched * 1e6)
            cells.append(f"{plain * 1e6:8.1f} {patched * 1e6:8.1f} {plain / patched:6.2f}")
        out["per_call"].append(row)
        print(f"{n:>9} " + " ".join(cells), flush=True)

    if transformers is not None:
        plain, patched = [], []
        for _ in range(15):
            t0 = time.perf_counter()
            tiny(False)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            tiny(True)
            patched.append(time.perf_counter() - t0)
        out["tiny_llama"] = dict(torch_ms=[x * 1e3 for x in plain], patch_ms=[x * 1e3 for x in patched])
        print(f"\ntiny LlamaForCausalLM from_config: torch best {min(plain) * 1e3:.2f} ms, median "
              f"{statistics.median(plain) * 1e3:.2f}; patch() best {min(patched) * 1e3:.2f} ms, median "
              f"{statistics.median(patched) * 1e3:.2f}; patched / torch {min(patched) / min(plain):.2f} (best), "
              f"{statistics.median(patched) / statistics.median(plain):.2f} (median)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
