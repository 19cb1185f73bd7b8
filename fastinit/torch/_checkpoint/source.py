"""Where a saved tensor's values come from: each box of one model tensor
written by its override, its scheduled fill, or its kept values, so that
any flat run of it (``flat_boxes``) can be filled alone.
"""
import math

from .. import _program
from .._fill import filler


def flat_boxes(shape, a, b):
    """The flat C-order run ``[a, b)`` of a tensor of ``shape`` as boxes
    (offsets, sizes), each a contiguous part of the run, in order."""
    if a >= b:
        return []
    if not shape:
        return [((), ())]
    inner = math.prod(shape[1:])
    zeros = (0,) * (len(shape) - 1)
    r0, ra = divmod(a, inner)
    r1, rb = divmod(b, inner)
    if r0 == r1:
        return [((r0, *o), (1, *s)) for o, s in flat_boxes(shape[1:], ra, rb)]
    out = []
    if ra:
        out += [((r0, *o), (1, *s)) for o, s in flat_boxes(shape[1:], ra, inner)]
        r0 += 1
    if r1 > r0:
        out.append(((r0, *zeros), (r1 - r0, *shape[1:])))
    if rb:
        out += [((r1, *o), (1, *s)) for o, s in flat_boxes(shape[1:], 0, rb)]
    return out


class Source:
    """How every box of one model tensor is written: its override, its
    scheduled fill (``_module.apply`` for one piece), or, for a tensor the
    schedule keeps (a loaded one), its values."""

    def __init__(self, name, t, fill, override, seed, dtype):
        self.name, self.t, self.fill, self.override, self.seed = name, t, fill, override, seed
        self.shape = tuple(t.shape)
        self.dtype = dtype if dtype is not None and t.dtype.is_floating_point else t.dtype
        self.cache = {}

    def write(self, local, offsets):
        """Fill ``local``, the box of this tensor at ``offsets``."""
        from ... import api as _fi
        gs, offsets = self.shape, tuple(offsets)
        if self.override is not None:
            kw = {} if (tuple(local.shape) == gs and not any(offsets)) else dict(global_shape=gs, offsets=offsets)
            self.override(local, seed=self.seed, stream=self.name, **kw)
            return
        f = self.fill
        box = tuple(slice(o, o + n) for o, n in zip(offsets, local.shape))
        if f is None:
            if self.t.is_meta:
                raise AssertionError(f"{self.name}: nothing writes it")   # the schedule refused already
            local.copy_(self.t.detach()[box])
        elif f.kind == "program":
            _program.replay(f.args[0], local, gs, offsets, self.seed, self.name, self.cache)
        elif f.kind == "copy":
            local.copy_(f.args[0].expand(gs)[box])
        elif f.kind == "zero_int":
            local.zero_()
        else:
            fn = filler(f.kind)
            fn(local, *f.args, seed=self.seed, stream=self.name, global_shape=gs, offsets=offsets)
            for row in f.zero_rows:
                if offsets[0] <= row < offsets[0] + local.shape[0]:
                    _fi.zeros_(local[row - offsets[0]])

    def fill_flat(self, seg, start):
        """The flat run ``[start, start + len(seg))`` into the 1-D ``seg``."""
        pos = 0
        for offs, sizes in flat_boxes(self.shape, start, start + seg.numel()):
            n = math.prod(sizes)
            self.write(seg[pos:pos + n].view(sizes), offs)
            pos += n
