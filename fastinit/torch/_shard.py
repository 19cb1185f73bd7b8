"""Where a tensor's values live: its local pieces, each a box of the global
tensor with the global shape and the box's offsets (contract section 4).

A plain tensor is one piece, the whole of itself.  A DTensor
(``torch.distributed.tensor``: FSDP2's ``fully_shard``, tensor parallel
``Shard(d)`` / ``Replicate``, uneven last shards, ``_StridedShard``) is the
local shard this rank holds, split into boxes where the shard is not one
(a strided shard); its fans come from the global shape, which is what
``tensor.shape`` reports.
"""
import itertools
import sys
from typing import NamedTuple

import torch


class Piece(NamedTuple):
    local: torch.Tensor            # a view this process writes
    global_shape: tuple
    offsets: tuple


def is_dtensor(t):
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def pieces(t):
    """The pieces of ``t`` this process writes (none on a rank outside the mesh)."""
    if is_dtensor(t):
        return _dtensor_pieces(t)
    t = t.detach()
    return [Piece(t, tuple(t.shape), (0,) * t.dim())]


def global_indices(global_shape, mesh_shape, coordinate, placements):
    """Per dimension, the global indices this rank holds, in local order:
    ``Shard(d)`` splits like ``torch.chunk`` (uneven last chunks, possibly
    empty), ``_StridedShard`` takes the placement's own index list."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    from torch.distributed.tensor import placement_types as pt
    strided = getattr(pt, "_StridedShard", ())
    idx = [range(n) for n in global_shape]
    for mesh_dim, p in enumerate(placements):
        n, rank = mesh_shape[mesh_dim], coordinate[mesh_dim]
        if strided and isinstance(p, strided):
            if not hasattr(pt, "_StridedShardOffsetMode"):
                raise NotImplementedError(f"strided shards ({p!r}) need torch >= 2.13; this is {torch.__version__}")
            size, offs = p.local_shard_size_and_offset(len(idx[p.dim]), n, rank, pt._StridedShardOffsetMode.ALL)
            idx[p.dim] = [idx[p.dim][o] for o in offs[:size]]
        elif isinstance(p, Shard):
            size, start = Shard.local_shard_size_and_offset(len(idx[p.dim]), n, rank)
            idx[p.dim] = idx[p.dim][start:start + size]
        elif isinstance(p, Partial):
            raise ValueError(f"a DTensor with a Partial placement ({placements}) holds partial sums, "
                             f"not values: it cannot be initialized; redistribute it to Shard or Replicate")
        elif not isinstance(p, Replicate):
            raise ValueError(f"unsupported DTensor placement {p!r} in {placements}")
    return idx


def _runs(indices):
    """Maximal runs of consecutive global indices: (local start, global start, length)."""
    out = []
    for i, g in enumerate(indices):
        if out and out[-1][1] + out[-1][2] == g:
            out[-1][2] += 1
        else:
            out.append([i, g, 1])
    return out


def _dtensor_pieces(t):
    mesh = t.device_mesh
    coordinate = mesh.get_coordinate()
    if coordinate is None:                 # this rank is not in the mesh
        return []
    gshape = tuple(t.shape)
    local = t._local_tensor.detach()
    idx = global_indices(gshape, tuple(mesh.shape), coordinate, t.placements)
    if tuple(len(i) for i in idx) != tuple(local.shape):
        raise RuntimeError(f"DTensor's local shard has shape {tuple(local.shape)}, but its placements "
                           f"{t.placements} on mesh {tuple(mesh.shape)} give {tuple(len(i) for i in idx)}")
    if 0 in local.shape:
        return []
    per_dim = [[(0, i.start, len(i))] if isinstance(i, range) else _runs(i) for i in idx]
    out = []
    for box in itertools.product(*per_dim):
        view = local[tuple(slice(s, s + n) for s, _, n in box)]
        out.append(Piece(view, gshape, tuple(g for _, g, _ in box)))
    return out
