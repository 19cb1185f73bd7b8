"""``python -m fastinit warmup``: compile every kernel for this machine into
the on-disk cache, so that no later process pays for compiling.

A kernel is compiled on its first use, 0.3-2 s each, and then loaded from
numba's on-disk cache in every later process (``_cache`` says where that
cache goes).  Run this once where the first use would hurt: a Docker image
at build time, a cluster node, a read-only install.  The cache is specific
to the CPU model (numba compiles for the host CPU) and to the location
``_cache`` finds, so run it as the user, with the ``NUMBA_CACHE_DIR`` (or
``HOME``, ``XDG_CACHE_HOME``, ``TMPDIR``) of the processes that will fill.

Kernels are reached through the public fillers, on buffers that select
each loop shape (a C-contiguous array, a strided view) for every dtype; each
kernel that ``_cpu.KERNELS`` then holds is reported (one build per kernel:
small and large fills, on any number of threads, run the same one).  On a
GPU the CUDA kernels too (2-D views for the strided shape; other numbers of
dimensions compile on first use).
"""
import argparse
import importlib.util
import os
import sys
import time
import warnings

import numpy as np

from . import _distributions, _dtypes

#: The CPU compiles the random distributions; its constant fill is NumPy's (``_cpu.fill``).
DISTS = _distributions.RANDOM
CUDA_DISTS = _distributions.ALL
KINDS = tuple(_dtypes.KINDS)
SMALL = 1024                    # elements of each buffer
CACHE_SUFFIXES = (".nbi", ".nbc")   # numba's index and data files


# ----------------------------------------------------------------- the calls that compile
def _cpu_calls():
    """(what, call) for every distribution, dtype and loop shape, and the
    non-temporal kernel of large constant fills."""
    import fastinit as fi
    for dist in DISTS:
        for kind in KINDS:
            def contig(f=getattr(fi, dist.filler), dt=_dtypes.numpy_dtype(kind)):
                f(np.empty(SMALL, dt), seed=0)

            def rows(f=getattr(fi, dist.filler), dt=_dtypes.numpy_dtype(kind)):
                f(np.empty((SMALL // 256, 512), dt)[:, ::2], seed=0)     # SMALL elements, strided
            yield f"{dist} {kind} contig", contig
            yield f"{dist} {kind} rows", rows
    from . import _cpu
    if _cpu.NONTEMPORAL:
        for kind in KINDS:
            def nontemporal(dt=_dtypes.numpy_dtype(kind)):        # a large constant fill's kernel
                fi.zeros_(np.empty(_cpu.NONTEMPORAL_MIN_BYTES // dt.itemsize, dt))
            yield f"{_distributions.CONSTANT} {kind} nontemporal", nontemporal


def _cuda_unavailable():
    """Why the CUDA kernels cannot be compiled here, or None."""
    if importlib.util.find_spec("numba_cuda") is None:
        return "numba-cuda is not installed (pip install 'fastinit[cuda]')"
    from numba.core import config
    if config.ENABLE_CUDASIM:
        return "NUMBA_ENABLE_CUDASIM=1: the simulator compiles nothing"
    if not hasattr(np, "row_stack"):
        return f"numba-cuda cannot compile kernels with NumPy {np.__version__} (pip install 'numpy<2.5')"
    from numba import cuda
    try:
        if cuda.is_available():
            return None
    except Exception as e:              # a broken driver or toolkit: say so, do not fail
        return f"CUDA is not usable here ({type(e).__name__}: {e})"
    return "no CUDA GPU or driver (numba.cuda.is_available() is False)"


def _cuda_fill(dist, kind, shape, rows=2, cols=64):
    """Fill a fresh (rows, cols) device buffer (or its strided view, shape
    "rows") through ``_cuda.fill``, as a filler would; returns the device
    array.  (No public filler takes a bfloat16 buffer without torch or
    CuPy, so the buffer description is made here.)"""
    from numba import cuda
    from . import _buffers, _cuda
    storage = _dtypes.KINDS[kind].storage
    cols2 = 2 * cols if shape == "rows" else cols
    arr = cuda.device_array((rows, cols2), storage)
    ptr = arr._ary.ctypes.data if _cuda.SIMULATOR else arr.__cuda_array_interface__["data"][0]
    isz = np.dtype(storage).itemsize
    step = 2 if shape == "rows" else 1
    dev = _buffers.CudaBuffer(ptr, (rows, cols), (cols2 * isz, step * isz), kind, None, None, arr)
    prm = _distributions.of(dist).example_params(kind)
    _cuda.fill(_buffers.region_device(dev, dev.shape, (0, 0)), dev, dist, prm, 0, 0)
    if not _cuda.SIMULATOR:
        cuda.synchronize()
    return arr


def _cuda_calls():
    for dist in CUDA_DISTS:
        for kind in KINDS:
            for shape in ("contig", "rows"):
                yield f"{dist} {kind} {shape}", lambda d=dist, k=kind, s=shape: _cuda_fill(d, k, s)


# ----------------------------------------------------------------- bookkeeping
def _state(table):
    """{key: (compiled signatures, cache hits)} of a kernel table."""
    out = {}
    for key, k in list(table.items()):
        stats = getattr(k, "stats", None)
        out[key] = (len(getattr(k, "overloads", ())), stats.cache_hits.total() if stats else 0)
    return out


def _label(key, flags):
    if not isinstance(key, tuple):
        return str(key)
    return " ".join(flags[p] if isinstance(p, bool) else str(p) for p in key)


class _Target:
    """One target's kernels: runs the calls and reports each kernel they made ready."""

    def __init__(self, name, table, flags, quiet):
        self.name, self.table, self.flags, self.quiet = name, table, flags, quiet
        self.compiled = self.loaded = 0
        self.failed = []
        self.seconds = 0.0

    def run(self, what, call):
        before = _state(self.table)
        t = time.perf_counter()
        try:
            call()
        except Exception as e:
            self.failed.append(what)
            print(f"{self.name} {what}: FAILED: {type(e).__name__}: {e}", flush=True)
            return
        dt = time.perf_counter() - t
        self.seconds += dt
        after = _state(self.table)
        ready = [key for key, (n, _) in after.items() if n > before.get(key, (0, 0))[0]]
        for key in ready:
            if after[key][1] > before.get(key, (0, 0))[1]:
                self.loaded += 1
                how = "loaded from cache"
            else:
                self.compiled += 1
                how = f"compiled in {dt:.2f} s" + (f" (with {len(ready) - 1} more)" if len(ready) > 1 else "")
            if not self.quiet:
                print(f"{self.name} {_label(key, self.flags)}: {how}", flush=True)

    def not_ready(self):
        """Kernels of the table that nothing compiled (a filler that skipped one)."""
        return [_label(key, self.flags) for key, (n, _) in _state(self.table).items()
                if n == 0 and hasattr(self.table[key], "overloads")]

    def summary(self):
        n = len(self.table)
        return (f"{self.name}: {n} kernels: {self.compiled} compiled, {self.loaded} loaded from cache "
                f"({self.seconds:.1f} s)")


def _cache_dirs(*tables):
    from ._cache import cache_dir
    dirs = {cache_dir(k) for table in tables for k in list(table.values())}
    return sorted(d for d in dirs if d)


def _size(path):
    files = total = 0
    for name in os.listdir(path):
        if name.endswith(CACHE_SUFFIXES):
            files += 1
            total += os.path.getsize(os.path.join(path, name))
    return files, total


def _no_location_message():
    from . import _cache
    lines = ["warmup: no usable cache location, so every process compiles the kernels again anyway: "
             "warming up is pointless.  Tried, in order:",
             f"  NUMBA_CACHE_DIR: {os.environ.get('NUMBA_CACHE_DIR') or 'unset'}",
             "  numba's own: the package's __pycache__, then $XDG_CACHE_HOME/numba or ~/.cache/numba"]
    for path in (_cache.user_root(), _cache.temp_root()):
        if path:
            ok, why = _cache.check_private(path)
            lines.append(f"  {path}: {'usable, but numba could not write to it' if ok else why}")
    lines.append("Set NUMBA_CACHE_DIR to a directory this user can write, and run warmup again with it.")
    return "\n".join(lines)


# ----------------------------------------------------------------- the command
def run(argv):
    ap = argparse.ArgumentParser(
        prog="python -m fastinit warmup",
        description="Compile every fastinit kernel for this machine into numba's on-disk cache "
                    "(run it as the user and with the NUMBA_CACHE_DIR of the processes that will fill).")
    ap.add_argument("--quiet", action="store_true", help="no line per kernel, only the summary")
    args = ap.parse_args(argv)

    import llvmlite.binding as llvm
    from . import _cache, _cpu
    t0 = time.perf_counter()
    print(f"warmup: fastinit's kernels for this CPU ({llvm.get_host_cpu_name()}) into the on-disk cache",
          flush=True)
    cpu = _Target("cpu", _cpu.KERNELS, {}, args.quiet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _cache.NoCacheWarning)        # said below, in full
        for i, (what, call) in enumerate(_cpu_calls()):
            cpu.run(what, call)
            if i == 0 and _cpu.KERNELS and not _cache_dirs(_cpu.KERNELS):
                print(_no_location_message(), file=sys.stderr)
                return 1
        problems = cpu.failed + cpu.not_ready()
        print(cpu.summary())

        tables = [_cpu.KERNELS]
        why = _cuda_unavailable()
        if why:
            print(f"cuda: skipped: {why}")
        else:
            from . import _cuda
            gpu = _Target("cuda", _cuda.KERNELS, {True: "transpose", False: "direct"}, args.quiet)
            for what, call in _cuda_calls():
                gpu.run(what, call)
            problems += gpu.failed + gpu.not_ready()
            print(gpu.summary())
            tables.append(_cuda.KERNELS)

    for d in _cache_dirs(*tables):
        files, total = _size(d)
        print(f"cache: {d} ({files} files, {total / 1e6:.1f} MB)")
    print(f"warmup: {time.perf_counter() - t0:.1f} s")
    if problems:
        print(f"warmup: not ready: {', '.join(problems)}", file=sys.stderr)
        return 1
    return 0
