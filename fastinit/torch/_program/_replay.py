"""``replay``: a tensor's recorded steps written into any box of it (the
whole, a DTensor shard, a chunk of rows) from the global index alone;
random steps keyed by (seed, the tensor's name, the global index)."""
import math

import torch

from ..._distributions import CONSTANT
from .. import _fill
from ._steps import RANDOM


#: Elements per float32 chunk when arithmetic follows a fill of a half-precision tensor.
CHUNK = 1 << 20


def replay(steps, local, global_shape, offsets, seed, name, derived_cache=None):
    """Write ``steps`` into ``local``, the box of the tensor ``name`` (of
    ``global_shape``) that starts at ``offsets``.  Where arithmetic
    (``transform``) follows in a float16 / bfloat16 tensor, the steps run in
    float32 chunks of rows, each rounded once into ``local``: a
    half-precision model holds the float32 model's values rounded."""
    if local.dtype in (torch.float16, torch.bfloat16) and any(st.kind == "transform" for st in steps) and \
            local.numel():
        rows = max(1, CHUNK // max(1, local[0].numel())) if local.dim() else 1
        if local.dim() == 0:
            tmp = torch.empty((), dtype=torch.float32, device=local.device)
            replay(steps, tmp, global_shape, offsets, seed, name, derived_cache)
            local.copy_(tmp)
            return local
        for r in range(0, local.shape[0], rows):
            part = local[r:r + rows]
            tmp = torch.empty(part.shape, dtype=torch.float32, device=local.device)
            replay(steps, tmp, global_shape, (offsets[0] + r, *offsets[1:]), seed, name, derived_cache)
            part.copy_(tmp)
        return local
    return _replay(steps, local, global_shape, offsets, seed, name, derived_cache)


def _replay(steps, local, global_shape, offsets, seed, name, derived_cache):
    from ... import api as _fi
    lo = tuple(offsets)
    hi = tuple(o + n for o, n in zip(lo, local.shape))
    whole = tuple(global_shape) == tuple(local.shape)
    for st in steps:
        box = st.box if st.box is not None else tuple((0, n) for n in global_shape)
        inter = tuple((max(a, p), min(b, q)) for (a, b), p, q in zip(box, lo, hi))
        if any(a >= b for a, b in inter):
            continue
        sub = local[tuple(slice(a - p, b - p) for (a, b), p in zip(inter, lo))] if inter else local
        if st.kind in RANDOM:
            fn = _fill.filler(st.kind)
            at = tuple(a for a, _ in inter)
            kw = {} if whole and st.box is None else dict(global_shape=tuple(global_shape), offsets=at)
            fn(sub, *st.args, seed=seed, stream=name, **kw)
        elif st.kind == CONSTANT:
            if sub.dtype in _fill.FLOATS and math.isfinite(st.args[0]):
                _fi.constant_(sub, float(st.args[0]))
            else:
                sub.fill_(st.args[0])         # an integer buffer, or an infinite bound the model asks for
        elif st.kind == "copy":
            src = st.args[0]
            sub.copy_(src[tuple(slice(a - b0, b - b0) for (a, b), (b0, _) in zip(inter, box))])
        elif st.kind == "transform":
            if st.args[0] == "apply":        # copy_(t, f(t)): f of what is there, elementwise
                sub.copy_(st.args[1](sub))
            else:
                getattr(sub, st.args[0])(*st.args[1:])
        elif st.kind == "derived":
            value = None if derived_cache is None else derived_cache.get(id(st))
            if value is None:
                value = st.args[0](seed)
                if derived_cache is not None:
                    derived_cache[id(st)] = value
            sub.copy_(value[tuple(slice(a, b) for a, b in inter)])
        else:
            raise AssertionError(st.kind)
    return local
