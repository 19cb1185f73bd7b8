"""Verifying a checkpoint: its tensors recomputed, in blocks, from its
manifest and the model, and compared with the files and the manifest's
digests (``verify_checkpoint``), or with a model in memory
(``verify_module``).
"""
import errno
import mmap
import os

import numpy as np
import torch

from .._shard import pieces
from . import layout
from .blocks import (DIRECT_ALIGN, cells, hashes_by_tensor, open_direct, part_hashes, rank_world, run_blocks,
                     tensor_digest)
from .build import build_meta
from .layout import MANIFEST_FORMAT, CheckpointError, read_index
from .plan import Plan


def verify_plan(plan, out, *, rank=None, world=None, progress=None):
    """Recompute this rank's blocks and compare them with the files and
    the manifest's digests; returns the sorted names of the tensors (and
    files, for a header) that differ."""
    rank, world = rank_world(rank, world)
    out = os.fspath(out)
    index = read_index(out)
    digests = index["metadata"]["fastinit"].get("digests", {})
    if len(plan.files) == 1:              # the expected header holds the file's own digests (checked below)
        expected = plan.shard_files({n: digests.get(n, "0" * 64) for n in plan.weight_map})
        if len(expected[0].header) == len(plan.files[0].header):
            plan.files = expected
    bad = set()
    if index["weight_map"] != plan.weight_map:
        extra = set(index["weight_map"]) ^ set(plan.weight_map)
        moved = {n for n in set(index["weight_map"]) & set(plan.weight_map)
                 if index["weight_map"][n] != plan.weight_map[n]}
        bad |= extra | moved
    fds, direct = {}, {}
    for i, f in enumerate(plan.files):
        p = os.path.join(out, f.name)
        if not os.path.isfile(p) or os.path.getsize(p) != f.size:
            bad.add(f.name)
        else:
            fds[i] = os.open(p, os.O_RDONLY)
            direct[i] = open_direct(p, os.O_RDONLY)
    hashes = []
    scratch = mmap.mmap(-1, layout.BLOCK)     # page-aligned, for O_DIRECT

    def digest(blk, buf, parts):
        if blk[0] in fds:
            hashes.extend(part_hashes(buf, parts, blk))

    def compare(blk, buf, parts):
        i, b, e = blk
        if i not in fds:
            return
        n = None
        if direct.get(i) is not None:
            try:
                n = os.preadv(direct[i], [memoryview(scratch)[:-(-(e - b) // DIRECT_ALIGN) * DIRECT_ALIGN]], b)
            except OSError as err:
                if err.errno != errno.EINVAL:
                    raise
        if n is None:
            n = os.preadv(fds[i], [memoryview(scratch)[:e - b]], b)
        got = memoryview(scratch)[:e - b]
        if n < e - b:
            bad.add(plan.files[i].name)
            return
        mine = np.frombuffer(buf, np.uint8, e - b)
        theirs = np.frombuffer(got, np.uint8)
        h = len(plan.files[i].header)
        if b < h and not np.array_equal(mine[:h - b], theirs[:h - b]):
            bad.add(f"{plan.files[i].name} (header)")
        for name, pb, pe in parts:
            if not np.array_equal(mine[pb:pe], theirs[pb:pe]):
                bad.add(name)

    try:
        run_blocks(plan, plan.mine(rank, world), (digest, compare), progress, "verify")
    finally:
        for d in (*fds.values(), *(v for v in direct.values() if v is not None)):
            os.close(d)
    by_tensor = hashes_by_tensor(hashes)
    for f in plan.files:
        for s, tb, te in f.tensors:
            got = by_tensor.get(s.name)
            if not got:
                continue
            crossed = cells(tb, te)
            if all(c in got for c in crossed) and digests.get(s.name) != tensor_digest(got[c] for c in crossed):
                bad.add(f"{s.name} (digest)")
    return sorted(bad)


def verify_tensors(module, plan, names=None):
    """The names of ``module``'s tensors whose values (every local piece,
    DTensor shards included) differ from ``plan``'s, or whose dtype or
    shape does; ``names``: which of the plan's sources to check (default:
    every source the checkpoint saves)."""
    have = dict(module.named_parameters(remove_duplicate=False))
    have.update(module.named_buffers(remove_duplicate=False))
    wanted = names if names is not None else list(dict.fromkeys(s.source for s in plan.saved))
    bad = []
    for n in wanted:
        src, t = plan.sources[n], have.get(n)
        if t is None or tuple(t.shape) != src.shape or t.dtype != src.dtype or t.is_meta:
            bad.append(n)
            continue
        ok = True
        with torch.no_grad():
            for p in pieces(t):
                local = p.local
                rows = max(1, layout.BLOCK // max(1, (local[0].numel() if local.dim() else 1) * local.element_size()))
                for r in range(0, local.shape[0] if local.dim() else 1, rows):
                    part = local[r:r + rows] if local.dim() else local
                    offs = (p.offsets[0] + r, *p.offsets[1:]) if local.dim() else ()
                    want = torch.empty(part.shape, dtype=src.dtype)
                    src.write(want, offs)
                    if not _same_bits(want, part.detach().cpu()):
                        ok = False
                        break
                if not ok:
                    break
        src.cache.clear()
        if not ok:
            bad.append(n)
    return bad


def _same_bits(a, b):
    if a.dtype.is_floating_point or a.dtype.is_complex:
        ints = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
        a = a.contiguous().view(ints[a.element_size()]) if not a.is_complex() else torch.view_as_real(a)
        b = b.contiguous().view(ints[b.element_size()]) if not b.is_complex() else torch.view_as_real(b)
    return torch.equal(a, b)


def _plan_from_manifest(out, module=None, overrides=None, scheme_options=None):
    man = read_index(out)["metadata"]["fastinit"]
    if man.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"{out}: manifest format {man.get('format')!r}; this fastinit reads {MANIFEST_FORMAT}")
    if man.get("overrides") and overrides is None:
        raise CheckpointError(f"{out} was written with overrides: pass the same overrides= (and the model) to verify it")
    if module is None:
        module = build_meta(out, manifest=man)
    dtype = None if man["dtype"] is None else getattr(torch, man["dtype"])
    plan = Plan(module, seed=man["seed"], scheme=man["scheme"], dtype=dtype, max_shard_size=man["max_shard_size"],
                overrides=overrides, original_format=man["original_format"],
                scheme_options={**man.get("scheme_options", {}), **(scheme_options or {})},
                source=man.get("source"))
    return plan, man


def verify_checkpoint(out, module=None, *, rank=None, world=None, progress=None, overrides=None, **scheme_options):
    """Recompute, in blocks, every tensor of the checkpoint in ``out`` from
    its manifest (seed, scheme, dtype) and the model (rebuilt on the meta
    device from its config.json or factory, or ``module``), and compare it
    with the file and with the manifest's digest.  With ``rank``/``world``
    each process checks its own run of bytes.  Returns the sorted names of
    the tensors that differ (empty: the checkpoint is what the seed gives)."""
    plan, _ = _plan_from_manifest(out, module, overrides, scheme_options)
    return verify_plan(plan, out, rank=rank, world=world, progress=progress)


def verify_module(module, out, *, meta_model=None, overrides=None, **scheme_options):
    """Whether ``module`` (in memory, whole or sharded: each rank checks
    the pieces it holds) holds the weights of the checkpoint in ``out``,
    recomputed from the manifest (reading the index and config, not the
    tensors).  Returns the sorted names of the tensors that differ.  A
    Hugging Face model in memory has the model's own tensors (fused
    experts, tied aliases), which the check compares."""
    plan, _ = _plan_from_manifest(out, meta_model, overrides, scheme_options)
    return sorted(verify_tensors(module, plan))
