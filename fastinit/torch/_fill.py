"""How fastinit.torch writes a tensor, shared by ``patch()`` (``_patch``),
``init_module_`` / ``materialize_`` (``_module``) and the schemes
(``_schemes``).

* ``FLOATS``: the torch dtypes fastinit fills (``fastinit._dtypes``).
* torch's fan formulas (``xavier_bound``, ``xavier_std``, ``kaiming_std``),
  read from ``tensor.shape``: for a DTensor the global shape, so a shard
  gets the values of the whole parameter.
* ``filler``: the fastinit filler of a distribution, with torch's semantics.
* ``fill_pieces``: a filler written into every local piece of a tensor
  (``_shard.pieces``) with its global shape and offsets, each piece advised
  to use huge pages before its first touch.
* ``resolving``: the per-thread record of the ``init_module_`` that is
  naming tensors, through which ``patch()``'s replacements key a module's
  own ``reset_parameters`` to (seed, the parameter's qualified name).
"""
import contextlib
import math
import threading

from torch.nn import init as _init

from .. import _distributions, _dtypes
from .. import api as _fi
from ._memory import advise_hugepages

#: The torch dtypes fastinit fills, in ``fastinit._dtypes.KINDS`` order.
#: A tuple: membership costs less than a lookup in ``torch_table()``'s
#: dict on ``patch()``'s per-call path.
FLOATS = tuple(_dtypes.torch_table())


# ----------------------------------------------------------------- torch's fan formulas
def xavier_bound(tensor, gain=1.0):
    """torch's ``xavier_uniform_`` bound, from the (global) shape."""
    fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
    return math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_std(tensor, gain=1.0):
    """torch's ``xavier_normal_`` std, from the (global) shape."""
    fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def kaiming_std(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """torch's kaiming std, from the (global) shape."""
    return _init.calculate_gain(nonlinearity, a) / math.sqrt(_init._calculate_correct_fan(tensor, mode))


# ----------------------------------------------------------------- writing pieces
def shard_kw(piece):
    """``global_shape`` and ``offsets`` of a piece; none for a whole tensor
    (the same values, and nothing to check)."""
    if piece.global_shape == piece.local.shape and not any(piece.offsets):
        return {}
    return dict(global_shape=piece.global_shape, offsets=piece.offsets)


def fill_pieces(tensor, target, fn, *args):
    """``fn(local, *args, seed=, stream=, global_shape=, offsets=)`` into
    every piece of ``tensor``, with (seed, stream, pieces) = ``target``
    (``init_module_``'s own rules, which draw nothing from torch's RNG)."""
    seed, stream, parts = target
    for p in parts:
        advise_hugepages(p.local)        # a fresh tensor's first touch is ours
        fn(p.local, *args, seed=seed, stream=stream, **shard_kw(p))
    return tensor


def trunc_normal(buf, mean, std, a, b, *, seed, stream, global_shape=None, offsets=None):
    """fastinit's truncated normal with torch's absolute bounds ``[a, b]``,
    without the warning fastinit's ``trunc_normal_`` gives when the bounds
    cut nothing (torch gives none)."""
    return _fi.fill_trunc_normal(buf, mean, std, a, b, seed, stream, global_shape, offsets, warn=False)


def filler(dist):
    """The fastinit filler that writes ``dist`` (a ``fastinit._distributions``
    record or its name) with torch's semantics: the truncated normal
    without the wide-bounds warning (``trunc_normal``)."""
    dist = _distributions.of(dist)
    return trunc_normal if dist is _distributions.TRUNC_NORMAL else getattr(_fi, dist.filler)


# ----------------------------------------------------------------- init_module_'s names
_active = threading.local()


def current_resolver():
    """The innermost active ``init_module_``'s resolver on this thread, or None."""
    stack = getattr(_active, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def resolving(resolver):
    """Within this block, on this thread, ``resolver(tensor)`` names
    (seed, stream) for the tensors it knows, or returns None (used by
    ``init_module_`` inside a ``patch()``)."""
    stack = _active.__dict__.setdefault("stack", [])
    stack.append(resolver)
    try:
        yield
    finally:
        stack.pop()


# ----------------------------------------------------------------- recording an init program
def current_recorder():
    """The ``_program`` recorder active on this thread, or None."""
    return getattr(_active, "recorder", None)


def recording(recorder):
    """Within this block, on this thread, ``patch()``'s replacements hand
    every call to ``recorder.fill_call`` (``_program.record``): nothing is
    drawn or written."""
    return thread_setting(_active, "recorder", recorder)


@contextlib.contextmanager
def thread_setting(local, name, value):
    """``local.<name>`` (a ``threading.local``) is ``value`` within the
    block, and what it was after (None if unset)."""
    old = getattr(local, name, None)
    setattr(local, name, value)
    try:
        yield
    finally:
        setattr(local, name, old)
