"""Boxes: the part of a tensor a view covers (slices with step 1 and
permuted dimensions), so that a write through the view can be replayed
into any piece of the tensor from the global index alone."""
import math


def box_of(view, base):
    """(box, dims) of ``view``, a view of the contiguous tensor ``base``:
    ``box`` the ((start, stop), ...) of base's dimensions it covers, None
    where it covers all; ``dims`` for each dimension of the view the
    dimension of base it runs along (None for a dimension of size 1).
    Raises ValueError where the view is not such a box."""
    if view.dtype != base.dtype:
        raise ValueError(f"a view as another dtype ({view.dtype})")
    shape, strides = tuple(base.shape), base.stride()
    offset = view.storage_offset() - base.storage_offset()
    numel = base.numel()
    if view.numel() == 0:
        return (), ()
    if not 0 <= offset < numel:
        raise ValueError("a view outside the tensor")
    start = []
    rest = offset
    for n, s in zip(shape, strides):
        start.append((rest // s) % n if n > 1 else 0)
    if sum(a * s for a, s in zip(start, strides)) != offset:
        raise ValueError("a view that does not start at an element")
    extent, dims, used = [1] * len(shape), [], set()
    for n, s in zip(view.shape, view.stride()):
        if n == 1:
            dims.append(None)
            continue
        cand = [i for i, (m, t) in enumerate(zip(shape, strides)) if m > 1 and t == s and i not in used]
        if len(cand) != 1:
            return _flat_box(view, shape, strides, offset)
        i = cand[0]
        used.add(i)
        extent[i] = n
        dims.append(i)
        if start[i] + n > shape[i]:
            return _flat_box(view, shape, strides, offset)
    box = tuple((a, a + e) for a, e in zip(start, extent))
    if all(b == (0, n) for b, n in zip(box, shape)):
        box = None
    return box, tuple(dims)


def _flat_box(view, shape, strides, offset):
    """A view whose elements are one run of the base's memory in order
    (``w.view(-1)``, ``w[2:4].flatten()``) that is a box of the base: (box,
    "flat").  Raises ValueError otherwise."""
    n = view.numel()
    if not view.is_contiguous() or list(strides) != _contiguous_strides(shape) or offset + n > math.prod(shape):
        raise ValueError("a view that is not a box (steps, overlapping elements, or a run across rows)")
    for k in range(len(shape) + 1):
        block = math.prod(shape[k:])
        if offset % block or n % block:
            continue
        rows = n // block
        start = [(offset // s) % m if m > 1 else 0 for m, s in zip(shape, strides)]
        if k == 0:
            if rows != 1:
                continue
        elif start[k - 1] + rows > shape[k - 1]:
            continue
        box = [(a, a + 1) for a in start[:k - 1]]
        if k > 0:
            box.append((start[k - 1], start[k - 1] + rows))
        box += [(0, m) for m in shape[k:]]
        box = tuple(box)
        return (None if all(b == (0, m) for b, m in zip(box, shape)) else box), "flat"
    raise ValueError("a view that is not a box (steps, overlapping elements, or a run across rows)")


def _contiguous_strides(shape):
    out, acc = [], 1
    for m in reversed(shape):
        out.append(acc)
        acc *= max(m, 1)
    return out[::-1]


def _in_base_order(source, view_shape, dims, ndim):
    """``source`` broadcast to the view's shape and laid out along the
    base's dimensions: a tensor of the box's shape (a view, no copy)."""
    s = source.expand(view_shape) if tuple(source.shape) != tuple(view_shape) else source
    keep = [j for j, d in enumerate(dims) if d is not None]
    s = s[tuple(slice(None) if d is not None else 0 for d in dims)] if len(keep) != len(dims) else s
    order = sorted(range(len(keep)), key=lambda k: dims[keep[k]])
    s = s.permute(order) if order != list(range(len(order))) else s
    present = sorted(dims[j] for j in keep)
    for i in range(ndim):
        if i not in present:
            s = s.unsqueeze(i)
    return s


def _in_order(dims):
    """Whether a view's dimensions run along its base's in the base's order
    (a reshape of the same elements, not a permutation)."""
    if dims == "flat":
        return True
    d = [i for i in dims if i is not None]
    return d == sorted(d)
