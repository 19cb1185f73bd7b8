"""A kernel's first launch in a fresh process: the environment with an
empty kernel cache (``empty_cache_env``, also for bench-model's cold column
and tools/compile_times.py), and the GPU's first launch for
``python -m fastinit bench --device cuda``, with an empty kernel cache
(numba compiles it) and then from that cache."""
import contextlib
import os
import subprocess
import sys
import tempfile

COMPILE_SCRIPT = """
import time, torch, fastinit as fi
t = torch.empty(1 << 20, device="cuda")
torch.cuda.synchronize()
s = time.perf_counter()
fi.normal_(t, seed=0)
torch.cuda.synchronize()
print(time.perf_counter() - s)
"""


@contextlib.contextmanager
def empty_cache_env():
    """This process's environment with ``NUMBA_CACHE_DIR`` a new empty
    directory (numba then caches there and nowhere else), removed afterwards:
    a child started with it compiles every kernel it uses."""
    with tempfile.TemporaryDirectory(prefix="fastinit-cold-", ignore_cleanup_errors=True) as d:
        yield dict(os.environ, NUMBA_CACHE_DIR=d)


def cuda_compile_times():
    """(first launch with an empty kernel cache, first launch from it), s."""
    with empty_cache_env() as env:
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT], capture_output=True, text=True, env=env)
            out.append(float(r.stdout.split()[-1]) if r.returncode == 0 else float("nan"))
        return out
