"""Sharded init on torch.distributed (gloo, CPU): tensor parallel
(Shard(0) / Shard(1) from ColwiseParallel / RowwiseParallel), every 2-D
parameter sharded along each dimension, a 2-D mesh, and FSDP2's
``fully_shard`` on the meta device + ``materialize_``, with 2 and 4
processes and uneven last shards.  Each rank gathers every parameter and
compares it with the single-process ``init_module_`` of the same model, bit
for bit (tests/dist_worker.py)."""
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("case", ["tp", "dims", "fsdp"])
def test_gathered_shards_equal_single_process(world, case):
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, WORKER, str(r), str(world), str(port), case], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(world)]
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=300)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for r, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0 and f"rank {r}/{world} {case}: ok" in out, (p.returncode, out[-3000:])
