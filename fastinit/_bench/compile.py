"""The GPU's first launch of a kernel in a fresh process, for
``python -m fastinit bench --device cuda``: with an empty kernel cache
(numba compiles it) and then from that cache."""
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


def cuda_compile_times():
    """(first launch with an empty kernel cache, first launch from it), s."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        out = []
        for _ in range(2):
            r = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT], capture_output=True, text=True, env=env)
            out.append(float(r.stdout.split()[-1]) if r.returncode == 0 else float("nan"))
        return out
