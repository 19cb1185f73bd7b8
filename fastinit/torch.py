"""fastinit for PyTorch.  Imported only when used (``import fastinit.torch``);
torch stays an optional dependency of fastinit.

``patch()``: within it, ``torch.nn.init``'s fillers run through fastinit, with
torch's signatures and semantics (the same fans, gains and bounds, computed
by torch's own helpers), so ``with fastinit.torch.patch(): model = Model(cfg)``
is the same program, faster.  Each call draws a 64-bit seed from torch's
random generator (the ``generator=`` given, else torch's default one), so
``torch.manual_seed`` keeps runs reproducible; the values then follow
fastinit's contract for that seed, not torch's streams.  What fastinit does
not fill (integer or complex dtypes, meta tensors, tensor subclasses with
``__torch_function__`` such as DTensor, CUDA tensors without numba-cuda)
goes to torch's own function unchanged.
"""
import contextlib
import importlib.util
import math
import threading

import torch
from torch.nn import init as _init

from . import api as _fi

__all__ = ["patch", "PATCHED"]

#: The torch.nn.init functions that ``patch()`` replaces.
PATCHED = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_", "zeros_", "ones_", "constant_")
_ORIGINAL = {name: getattr(_init, name) for name in PATCHED}
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
TWO_32 = 1 << 32


def _ours(tensor):
    """Whether fastinit fills this tensor (else torch's own function does)."""
    if not isinstance(tensor, torch.Tensor) or torch.overrides.has_torch_function_variadic(tensor):
        return False
    if tensor.dtype not in _FLOATS or tensor.is_quantized or tensor.is_sparse:
        return False
    return tensor.device.type == "cpu" or (tensor.device.type == "cuda" and _HAVE_NUMBA_CUDA)


def _seed(generator):
    """64 bits from torch's RNG: the given generator, else the default one."""
    device = generator.device if generator is not None else "cpu"
    hi, lo = torch.randint(0, TWO_32, (2,), dtype=torch.int64, generator=generator, device=device).tolist()
    return (hi << 32) | lo


def _fill_uniform(tensor, low, high, generator):
    return _fi.uniform_(tensor, low, high, seed=_seed(generator))


def _fill_normal(tensor, mean, std, generator):
    return _fi.normal_(tensor, mean, std, seed=_seed(generator))


# ----------------------------------------------------------------- the replacements
# Same parameters as torch 2.x's torch.nn.init; each falls back to torch's
# function for tensors fastinit does not fill.
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    if not _ours(tensor):
        return _ORIGINAL["uniform_"](tensor, a, b, generator)
    return _fill_uniform(tensor, a, b, generator)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    if not _ours(tensor):
        return _ORIGINAL["normal_"](tensor, mean, std, generator)
    return _fill_normal(tensor, mean, std, generator)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    if not _ours(tensor):
        return _ORIGINAL["trunc_normal_"](tensor, mean, std, a, b, generator)
    return _fi._trunc_normal(tensor, mean, std, a, b, _seed(generator), 0, None, None, warn=False)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    if not _ours(tensor):
        return _ORIGINAL["xavier_uniform_"](tensor, gain, generator)
    fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _fill_uniform(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    if not _ours(tensor):
        return _ORIGINAL["xavier_normal_"](tensor, gain, generator)
    fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
    return _fill_normal(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(tensor, a, mode, nonlinearity):
    return _init.calculate_gain(nonlinearity, a) / math.sqrt(_init._calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if not _ours(tensor) or 0 in tensor.shape:        # torch warns and returns on empty tensors
        return _ORIGINAL["kaiming_uniform_"](tensor, a, mode, nonlinearity, generator)
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return _fill_uniform(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    if not _ours(tensor) or 0 in tensor.shape:
        return _ORIGINAL["kaiming_normal_"](tensor, a, mode, nonlinearity, generator)
    return _fill_normal(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


def zeros_(tensor):
    return _fi.zeros_(tensor) if _ours(tensor) else _ORIGINAL["zeros_"](tensor)


def ones_(tensor):
    return _fi.ones_(tensor) if _ours(tensor) else _ORIGINAL["ones_"](tensor)


def constant_(tensor, val):
    return _fi.constant_(tensor, val) if _ours(tensor) else _ORIGINAL["constant_"](tensor, val)


_REPLACEMENT = {name: globals()[name] for name in PATCHED}
for _name in PATCHED:
    _REPLACEMENT[_name].__doc__ = (f"fastinit's ``torch.nn.init.{_name}`` (installed by ``fastinit.torch.patch()``): "
                                   f"the same parameters and semantics.\n\n" + (_ORIGINAL[_name].__doc__ or ""))
del _name

_lock = threading.Lock()
_depth = 0


class patch(contextlib.ContextDecorator):
    """Run ``torch.nn.init``'s fillers through fastinit within a ``with``
    block or a decorated function.

    Installs the replacements on entry and restores torch's functions when the
    outermost ``patch`` exits, also on an exception.  Entries and exits are
    counted under a lock, so nested and concurrent uses are safe; note that
    the replacement is process-wide while any ``patch`` is active (torch's
    module attributes are what modules' ``reset_parameters`` look up).

    >>> with fastinit.torch.patch():       # doctest: +SKIP
    ...     model = torch.nn.Transformer()
    """

    def __enter__(self):
        global _depth
        with _lock:
            if _depth == 0:
                for name in PATCHED:
                    setattr(_init, name, _REPLACEMENT[name])
            _depth += 1
        return self

    def __exit__(self, *exc):
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0:
                for name in PATCHED:
                    setattr(_init, name, _ORIGINAL[name])
        return False
