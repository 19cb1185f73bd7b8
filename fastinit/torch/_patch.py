"""``patch()``: torch.nn.init (and the Tensor methods ``normal_`` /
``uniform_``) through fastinit, with torch's signatures and semantics.

Each replacement asks ``_target(tensor)`` where the values come from:

* inside ``init_module_`` / ``materialize_`` a parameter being initialized
  resolves to (seed, its qualified name, its local pieces), so a module's own
  ``reset_parameters`` gives values that depend on nothing else;
* otherwise a 64-bit seed is drawn from torch's RNG (the ``generator=``
  given, else torch's default one), so ``torch.manual_seed`` keeps runs
  reproducible, and the stream is 0.

What fastinit does not fill (integer or complex dtypes, meta tensors, tensor
subclasses with ``__torch_function__`` that no ``init_module_`` resolved,
CUDA tensors without numba-cuda) goes to torch's own function unchanged.
"""
import contextlib
import importlib.util
import math
import sys
import threading

import torch
from torch.nn import init as _init

from .. import api as _fi
from ._memory import advise_hugepages
from ._shard import pieces

#: The torch.nn.init functions that ``patch()`` replaces.
PATCHED = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_", "zeros_", "ones_", "constant_")
#: The torch.Tensor methods that ``patch()`` replaces (Hugging Face's
#: ``_init_weights`` up to transformers 4.x calls ``weight.data.normal_``).
PATCHED_METHODS = ("normal_", "uniform_")
_ORIGINAL = {name: getattr(_init, name) for name in PATCHED}
_ORIGINAL_METHOD = {name: getattr(torch.Tensor, name) for name in PATCHED_METHODS}
_FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
TWO_32 = 1 << 32

# ----------------------------------------------------------------- where values come from
_active = threading.local()


def _resolver():
    """The innermost active ``init_module_``'s resolver, or None."""
    stack = getattr(_active, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def resolving(resolver):
    """Within this block, on this thread, ``resolver(tensor)`` names
    (seed, stream) for the tensors it knows (``init_module_``; used inside
    a ``patch()``)."""
    stack = _active.__dict__.setdefault("stack", [])
    stack.append(resolver)
    try:
        yield
    finally:
        stack.pop()


def fillable(tensor):
    """Whether fastinit writes this plain tensor (else torch does): not a
    subclass (DTensor, FakeTensor, ...), nor under a dispatch mode (tracing,
    FakeTensorMode), nor on a device fastinit cannot write."""
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter) or _tracing():
        return False
    if tensor.dtype not in _FLOATS or tensor.is_quantized or tensor.is_sparse:
        return False
    return tensor.device.type == "cpu" or (tensor.device.type == "cuda" and _HAVE_NUMBA_CUDA)


def _tracing():
    return torch._C._len_torch_dispatch_stack() > 0


def _scalars(*values):
    """Python floats for torch's scalar arguments (0-dim tensors too), or
    None where fastinit would refuse one (non-finite): torch's path then."""
    out = []
    for v in values:
        if isinstance(v, torch.Tensor):
            if v.numel() != 1:
                return None
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out


def _target(tensor, generator, draw=True):
    """(seed, stream, pieces) for a tensor fastinit fills, or None.
    ``draw=False`` (constants) takes no seed from torch's RNG."""
    resolve = _resolver()
    hit = resolve(tensor) if resolve is not None and isinstance(tensor, torch.Tensor) else None
    if hit is not None:
        parts = pieces(tensor)
        if all(fillable(p.local) for p in parts):
            return hit[0], hit[1], parts
        return None
    if not fillable(tensor):
        return None
    return (_seed(generator) if draw else 0), 0, pieces(tensor)


def _seed(generator):
    """64 bits from torch's RNG: the given generator, else the default one."""
    device = generator.device if generator is not None else "cpu"
    hi, lo = torch.randint(0, TWO_32, (2,), dtype=torch.int64, generator=generator, device=device).tolist()
    return (hi << 32) | lo


def _fill(tensor, target, fn, *args, **kw):
    seed, stream, parts = target
    for p in parts:
        advise_hugepages(p.local)        # a fresh tensor's first touch is ours
        fn(p.local, *args, seed=seed, stream=stream, global_shape=p.global_shape, offsets=p.offsets, **kw)
    return tensor


def _trunc(buf, mean, std, a, b, *, seed, stream, global_shape, offsets):
    return _fi._trunc_normal(buf, mean, std, a, b, seed, stream, global_shape, offsets, warn=False)


# ----------------------------------------------------------------- the replacements
# Same parameters as torch 2.x's torch.nn.init; each falls back to torch's
# function for tensors fastinit does not fill.
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    args = _scalars(a, b)
    t = None if args is None else _target(tensor, generator)
    if t is None:
        return _ORIGINAL["uniform_"](tensor, a, b, generator)
    return _fill(tensor, t, _fi.uniform_, *args)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    args = _scalars(mean, std)
    t = None if args is None else _target(tensor, generator)
    if t is None:
        return _ORIGINAL["normal_"](tensor, mean, std, generator)
    return _fill(tensor, t, _fi.normal_, *args)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    args = _scalars(mean, std, a, b)
    t = None if args is None else _target(tensor, generator)
    if t is None:
        return _ORIGINAL["trunc_normal_"](tensor, mean, std, a, b, generator)
    return _fill(tensor, t, _trunc, *args)


def xavier_bound(tensor, gain=1.0):
    """torch's xavier_uniform_ bound, from the (global) shape."""
    fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
    return math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_std(tensor, gain=1.0):
    fan_in, fan_out = _init._calculate_fan_in_and_fan_out(tensor)
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def kaiming_std(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """torch's kaiming std, from the (global) shape."""
    return _init.calculate_gain(nonlinearity, a) / math.sqrt(_init._calculate_correct_fan(tensor, mode))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    t = _target(tensor, generator)
    if t is None:
        return _ORIGINAL["xavier_uniform_"](tensor, gain, generator)
    bound = xavier_bound(tensor, gain)
    return _fill(tensor, t, _fi.uniform_, -bound, bound)


def xavier_normal_(tensor, gain=1.0, generator=None):
    t = _target(tensor, generator)
    if t is None:
        return _ORIGINAL["xavier_normal_"](tensor, gain, generator)
    return _fill(tensor, t, _fi.normal_, 0.0, xavier_std(tensor, gain))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    # torch warns and returns on empty tensors: let it
    t = None if 0 in tensor.shape else _target(tensor, generator)
    if t is None:
        return _ORIGINAL["kaiming_uniform_"](tensor, a, mode, nonlinearity, generator)
    bound = math.sqrt(3.0) * kaiming_std(tensor, a, mode, nonlinearity)
    return _fill(tensor, t, _fi.uniform_, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    t = None if 0 in tensor.shape else _target(tensor, generator)
    if t is None:
        return _ORIGINAL["kaiming_normal_"](tensor, a, mode, nonlinearity, generator)
    return _fill(tensor, t, _fi.normal_, 0.0, kaiming_std(tensor, a, mode, nonlinearity))


def _constant(tensor, value, name, *args):
    # no random bits: no seed is drawn, only the pieces matter
    v = _scalars(value)
    t = None if v is None else _target(tensor, None, draw=False)
    if t is None:
        return _ORIGINAL[name](tensor, *args)
    return _fill(tensor, t, _fi.constant_, *v)


def zeros_(tensor):
    return _constant(tensor, 0.0, "zeros_")


def ones_(tensor):
    return _constant(tensor, 1.0, "ones_")


def constant_(tensor, val):
    return _constant(tensor, val, "constant_", val)


def _method_ok(self):
    """Autograd's checks stay torch's: a tensor that requires grad outside
    no_grad (torch raises for a leaf, records the op otherwise), an
    inference tensor outside inference mode."""
    return not ((self.requires_grad and torch.is_grad_enabled())
                or (self.is_inference() and not torch.is_inference_mode_enabled()))


def _method_normal_(self, mean=0.0, std=1.0, *, generator=None):
    args = _scalars(mean, std) if _method_ok(self) else None
    t = None if args is None else _target(self, generator)
    if t is None:
        return _ORIGINAL_METHOD["normal_"](self, mean, std, generator=generator)
    return _fill(self, t, _fi.normal_, *args)


def _method_uniform_(self, *args, generator=None, **kwargs):
    # Tensor.uniform_(from=0, to=1, *, generator=None): ``from`` is a keyword
    names = ("from", "to")
    if len(args) > 2 or set(kwargs) - set(names) or any(n in kwargs for n in names[:len(args)]):
        return _ORIGINAL_METHOD["uniform_"](self, *args, generator=generator, **kwargs)
    low, high = (list(args) + [kwargs.get(n, d) for n, d in zip(names, (0.0, 1.0))][len(args):])
    vals = _scalars(low, high) if _method_ok(self) else None
    t = None if vals is None else _target(self, generator)
    if t is None:
        return _ORIGINAL_METHOD["uniform_"](self, low, high, generator=generator)
    return _fill(self, t, _fi.uniform_, *vals)


_REPLACEMENT = {name: globals()[name] for name in PATCHED}
for _name in PATCHED:
    _REPLACEMENT[_name].__doc__ = (f"fastinit's ``torch.nn.init.{_name}`` (installed by ``fastinit.torch.patch()``): "
                                   f"the same parameters and semantics.\n\n" + (_ORIGINAL[_name].__doc__ or ""))
del _name
_REPLACEMENT_METHOD = {"normal_": _method_normal_, "uniform_": _method_uniform_}
for _name, _fn in _REPLACEMENT_METHOD.items():
    _fn.__name__ = _fn.__qualname__ = _name
    _fn.__doc__ = _ORIGINAL_METHOD[_name].__doc__
del _name, _fn

# ----------------------------------------------------------------- installing
_lock = threading.Lock()
_depth = 0
_had_method = {name: name in vars(torch.Tensor) for name in PATCHED_METHODS}


#: Module-level tables of fillers are looked through up to this size.
_TABLE_MAX = 64


def _swap(old, new):
    """Point every loaded module's alias of an ``old`` function at ``new``:
    torch.nn.init itself, modules that imported a filler by name
    (torch.nn.modules.activation's MultiheadAttention, torch.nn.Transformer,
    timm, ...) under any name, and small module-level tables of them (transformers 5's
    ``initialization.TORCH_INIT_FUNCTIONS``, which its ``init.normal_`` calls)."""
    by_id = {id(old[name]): new[name] for name in PATCHED}
    me = sys.modules[__name__]             # our own tables and names stay as they are
    for mod in list(sys.modules.values()):
        d = getattr(mod, "__dict__", None)
        if mod is me or not isinstance(d, dict):
            continue
        for key, value in list(d.items()):
            if id(value) in by_id:         # imported by name, or under another one
                d[key] = by_id[id(value)]
            elif type(value) is dict and len(value) <= _TABLE_MAX:
                for k, v in list(value.items()):
                    if id(v) in by_id:
                        value[k] = by_id[id(v)]


def _install():
    _swap(_ORIGINAL, _REPLACEMENT)
    for name in PATCHED_METHODS:
        setattr(torch.Tensor, name, _REPLACEMENT_METHOD[name])


def _restore():
    _swap(_REPLACEMENT, _ORIGINAL)
    for name in PATCHED_METHODS:
        if _had_method[name]:
            setattr(torch.Tensor, name, _ORIGINAL_METHOD[name])
        else:
            delattr(torch.Tensor, name)


class patch(contextlib.ContextDecorator):
    """Run ``torch.nn.init``'s fillers, and the ``Tensor.normal_`` /
    ``Tensor.uniform_`` methods, through fastinit within a ``with`` block
    or a decorated function.

    Installs the replacements on entry (in torch.nn.init and in every loaded
    module that imported one of its fillers by name) and restores torch's
    functions when the outermost ``patch`` exits, also on an exception.
    Entries and exits are counted under a lock, so nested and concurrent uses
    are safe; note that the replacement is process-wide while any ``patch`` is
    active.

    >>> with fastinit.torch.patch():       # doctest: +SKIP
    ...     model = torch.nn.Transformer()
    """

    def __enter__(self):
        global _depth
        with _lock:
            if _depth == 0:
                _install()
            _depth += 1
        return self

    def __exit__(self, *exc):
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0:
                _restore()
        return False
