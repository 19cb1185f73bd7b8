#!/usr/bin/env bash
# The GPU checks of fastinit in one call, for a machine with an NVIDIA GPU and
# no package registry (the lent H100/H200 machines: ../shared/notes/gpu.md).
#
# Before (where a registry is reachable), in the project root, into .whl/
# (kept out of git): NumPy 2.4 for the machine's Python (numba-cuda 0.30
# cannot compile kernels with NumPy 2.5) and randomgen (the tests' reference):
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl numpy==2.4.6 randomgen==2.5.1
#
# Then run `bash tools/gpu_session.sh` there with .whl carried along. Logs go to
# $OUT (or /tmp/fastinit-gpu); a short table is printed last.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/fastinit-gpu}
mkdir -p "$OUT"
if ls .whl/*.whl > /dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target .whl/site .whl/*.whl
    export PYTHONPATH=$PWD/.whl/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export NUMBA_CACHE_DIR=${NUMBA_CACHE_DIR:-$OUT/numba-cache}
{ nvidia-smi; python3 -c "import sys, numpy, numba, numba_cuda, torch; print(sys.version); \
print('numpy', numpy.__version__, 'numba', numba.__version__, 'numba-cuda', numba_cuda.__version__, \
'torch', torch.__version__)"; } > "$OUT/machine.txt" 2>&1

python3 -m pytest -q -m gpu -rs tests/test_cuda.py > "$OUT/gpu-tests.log" 2>&1
gpu_rc=$?
python3 -m pytest -q -x > "$OUT/all-tests.log" 2>&1
all_rc=$?
python3 -m fastinit bench --device cuda --sizes 20,24,28 --json "$OUT/bench-cuda.json" --plot "$OUT/bench-cuda.png" > "$OUT/bench-cuda.log" 2>&1
# the end-to-end model init on the GPU (needs torch with CUDA on the machine)
python3 -m fastinit bench-model --device cuda --repeat 3 --methods torch,patch,materialize \
    --json "$OUT/bench-model-cuda.json" > "$OUT/bench-model-cuda.log" 2>&1
python3 - > "$OUT/transpose-ab.log" 2>&1 <<'PY'
# A/B of the contiguous kernel: through shared memory (default) or direct stores
import torch, fastinit as fi
from fastinit import _cuda
from fastinit._bench.timing import best_of
t = torch.empty(1 << 28, device="cuda")
for transpose in (True, False):
    _cuda.CONFIG["transpose"] = transpose
    for name in ("uniform_", "normal_", "zeros_"):
        fn = getattr(fi, name)
        call = (lambda: fn(t)) if name == "zeros_" else (lambda: fn(t, seed=1))
        best = best_of(call, 5, 10, "cuda")
        print(f"transpose={transpose} {name}: {t.numel() / best / 1e9:.1f} G elements/s")
PY

echo "== machine";        head -20 "$OUT/machine.txt" | grep -E "H100|H200|NVIDIA|numpy|^3\." | head -4
echo "== gpu tests (rc $gpu_rc)"; tail -3 "$OUT/gpu-tests.log"
echo "== all tests (rc $all_rc)"; tail -2 "$OUT/all-tests.log"
echo "== transpose A/B";  cat "$OUT/transpose-ab.log" | tail -6
echo "== bench";          tail -32 "$OUT/bench-cuda.log"
echo "== bench-model";    tail -8 "$OUT/bench-model-cuda.log"
