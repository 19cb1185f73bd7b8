"""``python -m fastinit bench``: fastinit against NumPy, PyTorch, JAX (and
CuPy on a GPU) and against a plain fill of the same buffer.

Every rate is the best of ``--repeat`` timings of one pre-touched buffer;
small buffers are timed over enough back-to-back calls to last a few
milliseconds.  Each (device, dtype, size) also times plain stores into the
same buffer in the same run (on the CPU NumPy's ``fill`` on one thread and on
all threads, and non-temporal stores on all threads; torch ``fill_`` on a GPU):
the fastest is the write ceiling, and the ratio to it means something on a
noisy machine.  On a
GPU, times come from CUDA events on torch's current stream (the stream
fastinit launches on); JAX allocates its result and is timed by the wall
clock around ``block_until_ready``.

This module: the options (``_parse``) and the run (``run``): what is timed
comes from ``peers``, the timers from ``timing``, the table, targets and
verdict from ``report``.
"""
import argparse
import datetime
import json
import sys
import time

from .compile import cuda_compile_times
from .machine import _cuda_ready, _have, _threading_layer, _versions, machine
from .peers import DTYPES, cpu_rows, cuda_rows
from .plot import plot
from .report import check, print_table
from .timing import REPEAT, per_call, time_rows

DEFAULT_SIZES = (10, 16, 20, 24)
QUICK_SIZES = (10, 20)
PEERS = ("numpy", "torch", "jax", "cupy")


def _csv(xs):
    return ",".join(map(str, xs))


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m fastinit bench", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="cpu",
                   help="where to run (default cpu; all: the CPU and, if present, the GPU)")
    p.add_argument("--sizes", default=None,
                   help=f"buffer sizes as powers of two, comma-separated (default {_csv(DEFAULT_SIZES)}; "
                        f"--quick {_csv(QUICK_SIZES)})")
    p.add_argument("--log2-size", type=int, default=None, help="one size, 2**N elements (same as --sizes N)")
    p.add_argument("--dtypes", default=None,
                   help=f"comma-separated, from {_csv(DTYPES)} (default all three; --quick float32)")
    p.add_argument("--peers", default="all",
                   help=f"comma-separated, from {_csv(PEERS)}, or all (installed ones) or none")
    p.add_argument("--no-torch", action="store_true", help="leave torch out of the peers")
    p.add_argument("--repeat", type=int, default=None, help=f"timed samples per method, best kept (default {REPEAT})")
    p.add_argument("--json", metavar="PATH", help="write the results, hardware, versions and date as JSON")
    p.add_argument("--plot", metavar="PATH", help="write a PNG: G elements/s against size, one panel per dtype")
    p.add_argument("--quick", action="store_true", help="a short run: two sizes, float32, 3 samples")
    args = p.parse_args(argv)

    def ints(s):
        return tuple(int(x) for x in s.split(",") if x.strip())
    if args.log2_size is not None and args.sizes is not None:
        p.error("give --sizes or --log2-size, not both")
    sizes = ints(args.sizes) if args.sizes else ((args.log2_size,) if args.log2_size is not None else
                                                  (QUICK_SIZES if args.quick else DEFAULT_SIZES))
    if not sizes or any(not 0 <= s <= 34 for s in sizes):
        p.error(f"--sizes must be powers of two between 0 and 34; got {args.sizes or args.log2_size}")
    dtypes = tuple(args.dtypes.split(",")) if args.dtypes else (("float32",) if args.quick else DTYPES)
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        p.error(f"--dtypes must be from {', '.join(DTYPES)}; got {', '.join(bad)}")
    if args.peers in ("all", "none"):
        peers = PEERS if args.peers == "all" else ()
    else:
        peers = tuple(args.peers.split(","))
        bad = [x for x in peers if x not in PEERS]
        if bad:
            p.error(f"--peers must be from {', '.join(PEERS)}, all or none; got {', '.join(bad)}")
    peers = tuple(x for x in peers if not (args.no_torch and x == "torch"))
    missing = [x for x in peers if not _have(x)]
    peers = tuple(x for x in peers if _have(x))
    if "bfloat16" in dtypes and not _have("ml_dtypes") and args.device != "cuda":
        p.error("bfloat16 on the CPU needs ml_dtypes, a dependency of fastinit that is missing here: "
                "pip install ml_dtypes (or --dtypes float32,float64)")
    if args.plot and not _have("matplotlib"):
        p.error("--plot needs matplotlib: pip install 'fastinit[plot]'")
    devices = ["cpu"] if args.device == "cpu" else (["cuda"] if args.device == "cuda" else ["cpu"])
    if args.device in ("cuda", "all"):
        ok, why = _cuda_ready()
        if ok and "cuda" not in devices:
            devices.append("cuda")
        elif not ok and args.device == "cuda":
            p.error(f"--device cuda: {why}")
        elif not ok:
            print(f"(no GPU run: {why})")
    repeat = args.repeat or (3 if args.quick else REPEAT)
    return args, sizes, dtypes, peers, missing, devices, repeat


def run(argv=None):
    args, sizes, dtypes, peers, missing, devices, repeat = _parse(argv)
    m = machine(devices)
    print(f"fastinit bench: {', '.join(devices)}; sizes 2^{', 2^'.join(map(str, sizes))}; "
          f"{', '.join(dtypes)}; peers: {', '.join(peers) or 'none'}"
          + (f" (not installed: {', '.join(missing)})" if missing else "")
          + f"; best of {repeat}\n  {m['cpu']}, {m['numba_threads']} numba threads"
          + (f"; {m['gpu']}" if "gpu" in m else ""), flush=True)
    plan = [(d, dt, s) for d in devices for dt in dtypes for s in sizes]
    results = []
    t_start = time.perf_counter()
    for i, (device, dtype, log2) in enumerate(plan, 1):
        rows = (cpu_rows if device == "cpu" else cuda_rows)(dtype, log2, peers)
        def progress(j):
            label = f"{rows[j][0]} {rows[j][1]}".strip()
            print(f"  [{i}/{len(plan)}] {device} {dtype} 2^{log2}: {label} ...".ljust(78), end="\r",
                  file=sys.stderr, flush=True)
        secs = time_rows([(fn, timer) for _, _, fn, timer in rows], repeat, progress)
        these = [{"device": device, "library": lib, "method": method, "dtype": dtype, "log2": log2,
                  "elements": 2 ** log2, "seconds": sec, "g_per_s": 2 ** log2 / sec / 1e9, "timer": timer}
                 for (lib, method, _, timer), sec in zip(rows, secs)]
        # the write ceiling: the fastest plain store (library ""), or the first row (a GPU's fill_)
        ceiling = max((r["g_per_s"] for r in these if r["library"] == ""), default=these[0]["g_per_s"])
        for r in these:
            r.update(fill_g_per_s=ceiling, ratio_to_fill=r["g_per_s"] / ceiling)
        results += these
    print(" " * 78, end="\r", file=sys.stderr)
    m["numba_threading_layer"] = _threading_layer()
    elapsed = time.perf_counter() - t_start
    print_table(results, devices, dtypes, sizes)
    targets, verdicts = check(results, devices)
    extra = {}
    if not args.quick and "cpu" in devices:
        extra["per_call_us"] = per_call()
    if "cuda" in devices and not args.quick:
        extra["cuda_first_launch_s"] = cuda_compile_times()
        print(f"\nGPU first launch of normal_ f32 in a fresh process: "
              f"{extra['cuda_first_launch_s'][0]:.2f} s with an empty kernel cache, "
              f"{extra['cuda_first_launch_s'][1]:.2f} s from the cache")
    for line in verdicts:
        print(line)
    print(f"({elapsed:.0f} s)")
    if args.json:
        doc = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": "python -m fastinit bench " + " ".join(argv if argv is not None else sys.argv[2:]),
               "machine": m, "versions": _versions(), "results": results, "targets": targets,
               "verdict": verdicts, **extra}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"wrote {args.json}")
    if args.plot:
        plot(results, devices, dtypes, args.plot, m)
        print(f"wrote {args.plot}")
    return results
