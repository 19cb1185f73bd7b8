"""What the machine is and has, for the benchmarks' headers and JSON: the
CPU model, numba's threads and threading layer, the GPU, the installed
packages and their versions, and whether a GPU run can happen here.  The
benchmarks in ``bench/`` and ``tools/`` describe the machine with these."""
import importlib.util
import os
import platform
import time


def _have(mod):
    return importlib.util.find_spec(mod) is not None


def _cuda_ready():
    """(True, "") when GPU buffers can be benchmarked here, else (False, why)."""
    if not _have("torch"):
        return False, "torch is needed for GPU buffers and the fill_ ceiling (pip install torch)"
    if not _have("numba_cuda"):
        return False, "numba-cuda is not installed (pip install 'fastinit[cuda]')"
    import torch
    if not torch.cuda.is_available():
        return False, "torch sees no CUDA GPU"
    return True, ""


def _versions():
    import importlib.metadata as md
    out = {}
    for dist in ("fastinit", "numpy", "numba", "numba-cuda", "torch", "jax", "cupy", "ml_dtypes"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            pass
    return out


def _cpu_model():
    """The CPU's model name (Linux's /proc/cpuinfo), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threading_layer():
    import numba
    try:
        return numba.threading_layer()
    except ValueError:                 # no parallel launch yet
        return None


def summary():
    """The CPU, its cores, Python and today's date: the head of a benchmark
    script's JSON and of its first line."""
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d")}


def machine(devices):
    """The CPU, cores, numba's threads and threading layer, OS, Python, and
    the GPU's name when ``devices`` has "cuda"."""
    import numba
    m = {"cpu": _cpu_model(), "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
         "numba_threading_layer": _threading_layer(), "os": platform.platform(),
         "python": platform.python_version()}
    if "cuda" in devices:
        import torch
        m["gpu"] = torch.cuda.get_device_name(0)
    return m
