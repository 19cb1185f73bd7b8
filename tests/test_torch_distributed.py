"""Sharded init on torch.distributed (gloo, CPU): tensor parallel
(Shard(0) / Shard(1) from ColwiseParallel / RowwiseParallel), every 2-D
parameter sharded along each dimension, a 2-D mesh, and FSDP2's
``fully_shard`` on the meta device + ``materialize_``, with 2 and 4
processes and uneven last shards.  Each rank gathers every parameter and
compares it with the single-process ``init_module_`` of the same model, bit
for bit (tests/dist_worker.py); the same for an Embedding's padding row,
sharded by rows and by columns (a worker written below)."""
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


def _run_ranks(world, argv, ok_line, **popen):
    """Start ``world`` ranks (``argv(rank, port)``) and check that each
    exits cleanly after printing ``ok_line(rank)``."""
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen(argv(r, port), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, **popen)
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
        assert p.returncode == 0 and ok_line(r) in out, (p.returncode, out[-3000:])


@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("case", ["tp", "dims", "fsdp", "program", "checkpoint"])
def test_gathered_shards_equal_single_process(world, case):
    if case in ("program", "checkpoint"):
        pytest.importorskip("transformers")
    if case == "checkpoint":
        pytest.importorskip("safetensors")
    _run_ranks(world, lambda r, port: [sys.executable, WORKER, str(r), str(world), str(port), case],
               lambda r: f"rank {r}/{world} {case}: ok")


PADDING_WORKER = r"""
import os, sys
import torch
import torch.distributed as dist
from torch import nn
rank, world, port = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
dist.init_process_group("gloo", rank=rank, world_size=world)
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Shard, distribute_tensor
import fastinit.torch as ft
mesh = init_device_mesh("cpu", (world,))
bad = []
for pad in (3, 7):                       # a row of rank 0's shard, a row of rank 1's
    for dim in (0, 1):
        ref = ft.init_module_(nn.Embedding(10, 4, padding_idx=pad), seed=5).weight.detach()
        m = nn.Embedding(10, 4, padding_idx=pad)
        m.weight = nn.Parameter(distribute_tensor(m.weight.detach(), mesh, [Shard(dim)]))
        got = ft.init_module_(m, seed=5).weight.full_tensor()
        if not (torch.equal(got, ref) and (got[pad] == 0).all()):
            bad.append((pad, dim))
print(f"rank {rank}: " + (f"differ {bad}" if bad else "ok"), flush=True)
dist.destroy_process_group()
os._exit(1 if bad else 0)               # no interpreter teardown with gloo's threads (tests/dist_worker.py)
"""


def test_sharded_embedding_zeroes_its_padding_row():
    """Embedding's padding row is zeroed at its global index on the rank
    that holds it, sharded by rows or columns."""
    _run_ranks(2, lambda r, port: [sys.executable, "-c", PADDING_WORKER, str(r), "2", str(port)],
               lambda r: f"rank {r}: ok", cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
