"""fastinit's ``torch.nn.init`` fillers and ``Tensor.normal_`` /
``uniform_``, with torch's signatures and semantics, and the road each call
takes; ``_patch`` installs them.

Each replacement asks ``_where(tensor)`` where the values come from:

* inside ``init_module_`` / ``materialize_`` a parameter being initialized
  resolves to (seed, its qualified name, its local pieces), so a module's own
  ``reset_parameters`` gives values that depend on nothing else;
* otherwise a 64-bit seed is drawn from torch's RNG (the ``generator=``
  given, else torch's default one), so ``torch.manual_seed`` keeps runs
  reproducible, and the stream is 0.

What fastinit does not fill (integer or complex dtypes, meta tensors, tensor
subclasses with ``__torch_function__`` that no ``init_module_`` resolved,
CUDA tensors without numba-cuda, empty tensors, arguments fastinit refuses)
goes to torch's own function unchanged, which raises, warns or fills as
torch does.  Before fastinit fills, torch's function runs on an empty tensor
of the same dtype: its checks of the arguments (and its warnings) are then
torch's own, exactly, and no seed has been drawn when it raises.  So under
``patch()`` errors keep torch's exception types and a call that raises or
fills nothing leaves torch's RNG where torch leaves it.
"""
import functools
import importlib.util
import math
import sys
import threading
import types
import warnings

import torch
from torch.nn import init as _init

from .. import _call
from .. import api as _fi
from ._fill import (FLOATS, current_recorder, current_resolver, kaiming_std, shard_kw, thread_setting, trunc_normal,
                    xavier_bound, xavier_std)
from ._memory import advise_hugepages
from ._shard import pieces

#: The torch.nn.init functions that ``patch()`` replaces.
PATCHED = ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
           "kaiming_uniform_", "kaiming_normal_", "zeros_", "ones_", "constant_")
#: The torch.Tensor methods that ``patch()`` replaces (Hugging Face's
#: ``_init_weights`` up to transformers 4.x calls ``weight.data.normal_``).
PATCHED_METHODS = ("normal_", "uniform_")
#: torch's function objects.  While a ``patch()`` is active their code is
#: a trampoline to ours (``_patch._install``), so every alias of them anywhere
#: (``from torch.nn.init import normal_``, transformers' tables, closures,
#: what a module imported inside the block captured) follows, and nothing
#: has to be looked for on entry or exit.
_TORCH = {name: getattr(_init, name) for name in PATCHED}


def _copy(f):
    """A new function object with ``f``'s code: torch's filler, callable
    while ``f`` itself runs the trampoline."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__kwdefaults__ = f.__kwdefaults__
    g.__qualname__, g.__module__, g.__doc__ = f.__qualname__, f.__module__, f.__doc__
    g.__annotations__ = f.__annotations__
    return g


#: torch's fillers as they are (what fastinit hands a call it does not fill).
_ORIGINAL = {name: _copy(f) for name, f in _TORCH.items()}
_TORCH_CODE = {name: f.__code__ for name, f in _TORCH.items()}
_ORIGINAL_METHOD = {name: getattr(torch.Tensor, name) for name in PATCHED_METHODS}
_HAVE_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
#: Whether fastinit's CUDA side loads: None until the first CUDA tensor asks.
_cuda_loads = None
TWO_32 = 1 << 32

# ----------------------------------------------------------------- where values come from
_active = threading.local()          # this thread's seed buffers, and whether a call is torch's (_torchs)


def fillable(tensor):
    """Whether fastinit writes this plain tensor (else torch does): not a
    subclass (DTensor, FakeTensor, ...), nor under a dispatch mode (tracing,
    FakeTensorMode), nor on a device fastinit cannot write."""
    if type(tensor) not in (torch.Tensor, torch.nn.Parameter) or _tracing():
        return False
    if tensor.dtype not in FLOATS or tensor.layout is not torch.strided:     # sparse, quantized: torch's
        return False
    return tensor.device.type == "cpu" or (tensor.device.type == "cuda" and cuda_usable())


def cuda_usable():
    """Whether fastinit fills CUDA tensors under ``patch()``: numba-cuda is
    installed and fastinit's CUDA side loads with it.  Where it is installed
    but cannot load (numba-cuda 0.30 with NumPy 2.5, a broken install),
    torch's own functions fill CUDA tensors, and one ``RuntimeWarning`` per
    process says why; where it is not installed, they do so silently (the
    user chose not to)."""
    global _cuda_loads
    if _cuda_loads is None:
        if not _HAVE_NUMBA_CUDA:
            _cuda_loads = False
        else:
            try:
                _call.cuda_backend()
                _cuda_loads = True
            except Exception as e:        # an ImportError, or whatever a broken install raises
                _cuda_loads = False
                warnings.warn(f"fastinit.torch.patch(): CUDA tensors are filled by torch's own functions, not "
                              f"fastinit's, in this process: fastinit's CUDA side does not load "
                              f"({type(e).__name__}: {e})", RuntimeWarning, stacklevel=2)
    return _cuda_loads


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


def _where(tensor):
    """(seed or None, stream, pieces) for a tensor fastinit fills, else None.
    The seed is ``init_module_``'s where it names the tensor; None means
    "draw one from torch's RNG", which happens only once the call is known
    to fill (``_run``)."""
    resolve = current_resolver()
    hit = resolve(tensor) if resolve is not None and isinstance(tensor, torch.Tensor) else None
    if hit is not None:
        parts = pieces(tensor)
        return (hit[0], hit[1], parts) if all(fillable(p.local) for p in parts) else None
    if not fillable(tensor):
        return None
    return None, 0, pieces(tensor)


def _seed(generator):
    """64 bits from torch's RNG: the given generator, else the default one.
    The draws of ``torch.randint(0, 2**32, (2,), dtype=torch.int64,
    generator=generator)``, into a small buffer of this thread's (half
    the cost of a new tensor per call)."""
    device = generator.device if generator is not None else _CPU
    bufs = _active.__dict__.setdefault("seed_bufs", {})
    buf = bufs.get(device)
    if buf is None:
        buf = bufs[device] = torch.empty(2, dtype=torch.int64, device=device)
    hi, lo = buf.random_(0, TWO_32, generator=generator).tolist()
    return (hi << 32) | lo


_CPU = torch.device("cpu")
_probes = {}


def _probe(dtype):
    """An empty CPU tensor of ``dtype``: torch's own functions called on it
    check their scalar arguments against the dtype exactly as on a real
    tensor (and warn as they would), and draw nothing from any RNG."""
    t = _probes.get(dtype)
    if t is None:
        t = _probes[dtype] = torch.empty(0, dtype=dtype, device="cpu")
    return t


def _torchs():
    """Within this block, on this thread, the patched Tensor methods are
    torch's: a call that fastinit leaves to torch is torch's all the way
    down (torch.nn.init's bodies call ``tensor.uniform_`` and friends)."""
    return thread_setting(_active, "raw", True)


@functools.lru_cache(maxsize=1024)
def _call_at(filename, lineno):
    return compile("__fastinit_torch__()", filename, "eval").replace(co_firstlineno=lineno)


def _as_torch(torch_call):
    """``torch_call()`` (a ``functools.partial`` of torch's function, so no
    frame of ours lies between) on torch's own terms: the patched methods
    are torch's inside (``_torchs``), and it is called from a frame with the
    file, line and globals of the code that called the patched function, so
    that a warning torch gives with ``stacklevel=2`` (kaiming's zero-element
    one) or from C points where it would without ``patch()``, and ``default``
    warning filters count it there."""
    f = sys._getframe(1)
    mine = globals()
    while f is not None and (f.f_globals is mine or f.f_code.co_filename.startswith("<fastinit.torch.patch")):
        f = f.f_back
    with _torchs():
        if f is None:
            return torch_call()
        return eval(_call_at(f.f_code.co_filename, f.f_lineno), f.f_globals, {"__fastinit_torch__": torch_call})


#: torch.nn.init's functions that hand a tensor with ``__torch_function__``
#: (or any call under a TorchFunctionMode) to it, before anything else.
_DISPATCHING = tuple(n for n in PATCHED if "has_torch_function_variadic" in _TORCH_CODE[n].co_names)
_has_torch_function = torch.overrides.has_torch_function_variadic


def _run(tensor, generator, fill, values, torch_call, check, draw=True, where=False, dispatch=None, ok=None):
    """The road of every replacement.

    ``values``: the filler's scalar arguments as given (``_scalars``);
    ``ok()``: False where torch must take the call whatever the tensor
    (the Tensor methods' autograd checks).
    ``torch_call()`` (torch's own function on the real tensor) takes every
    call that fastinit does not fill: tensors it does not write, empty ones,
    a generator on another device, and arguments fastinit refuses (torch
    then raises, warns, or fills, as torch does).  Otherwise ``check()``
    runs torch's function on an empty tensor of the same dtype, which raises
    and warns exactly where torch would and draws nothing; only then is the
    seed drawn from torch's RNG (one per call; none for constants, or where
    ``init_module_`` names the tensor) and every piece filled.

    Under a TorchFunctionMode (``with torch.device(...)``, a user's mode),
    ``dispatch()`` hands the call to the mode as torch's function would
    (those that do: ``_DISPATCHING``, and the Tensor methods); the mode's
    call of the function comes back here with the mode off.  Whatever mode
    is on does not see fastinit's own tensor operations (they are not
    torch's API calls, and a mode's Python would make each of them slow).
    """
    rec = current_recorder()
    if rec is not None and not getattr(_active, "raw", False):
        return rec.fill_call(tensor, fill, _scalars(*values) if fill is not _fi.constant_ else values, check,
                             _call_name(torch_call), lambda: _as_torch(torch_call))
    if _handed_on(dispatch, tensor):
        return dispatch()
    if not getattr(_active, "raw", False):
        with _quiet():
            if _fastinit(tensor, generator, fill, values, check, draw, where, ok):
                return tensor
    return _as_torch(torch_call)


def _call_name(torch_call):
    """``torch.nn.init.normal_`` or ``Tensor.normal_``: what the program called."""
    f = torch_call.func
    return f"Tensor.{f.__name__}" if f in _ORIGINAL_METHOD.values() else f"torch.nn.init.{f.__name__}"


def _handed_on(dispatch, tensor):
    """Whether this call goes to a TorchFunctionMode or subclass first, as
    torch's function would hand it (``dispatch``: how; None where torch's
    function does not), outside a call fastinit left to torch."""
    return dispatch is not None and not getattr(_active, "raw", False) and _has_torch_function((tensor,))


def _quiet():
    """fastinit's own tensor operations (looking at the tensor, the probe,
    the seed, the fill) unseen by TorchFunctionModes and run at C speed."""
    return torch._C.DisableTorchFunction()


def _fastinit(tensor, generator, fill, values, check, draw, where, ok):
    """``_run``'s fill: True when fastinit filled ``tensor``, False when it
    is torch's call, nothing drawn or written."""
    args = None if ok is not None and not ok() else _scalars(*values)
    if args is None:
        return False
    if where is False:                    # (not looked up by the caller already)
        where = _where(tensor)
    if where is None or tensor.numel() == 0 or (
            where[0] is None and generator is not None and generator.device.type != tensor.device.type):
        return False
    seed, stream, parts = where
    try:
        runs = [fill(p.local, *args, seed=_call.DEFERRED, stream=stream, **shard_kw(p)) for p in parts]
    except ValueError:
        return False                      # fastinit refuses: torch decides (types were checked above)
    check()
    if seed is None:
        seed = _seed(generator) if draw else 0
    for p, go in zip(parts, runs):
        advise_hugepages(p.local)         # a fresh tensor's first touch is ours
        go(seed)
    return True


def _dispatch(name, call):
    """The ``dispatch`` of ``_run`` for torch.nn.init's ``name``: torch's own
    function (it hands the call on), or None where torch's does not."""
    return call if name in _DISPATCHING else None


# ----------------------------------------------------------------- the replacements
# Same parameters as torch 2.x's torch.nn.init.  The fans, gains and modes
# are torch's own functions (so are their errors), computed before anything
# is drawn or written.
def uniform_(tensor, a=0.0, b=1.0, generator=None):
    call = functools.partial(_ORIGINAL["uniform_"], tensor, a, b, generator)
    return _run(tensor, generator, _fi.uniform_, (a, b), call,
                lambda: _ORIGINAL_METHOD["uniform_"](_probe(tensor.dtype), a, b), dispatch=_dispatch("uniform_", call))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    call = functools.partial(_ORIGINAL["normal_"], tensor, mean, std, generator)
    return _run(tensor, generator, _fi.normal_, (mean, std), call,
                lambda: _ORIGINAL_METHOD["normal_"](_probe(tensor.dtype), mean, std), dispatch=_dispatch("normal_", call))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    def check():
        with _torchs():                   # its body calls the Tensor methods
            _ORIGINAL["trunc_normal_"](_probe(tensor.dtype), mean, std, a, b)
    return _run(tensor, generator, trunc_normal, (mean, std, a, b),
                functools.partial(_ORIGINAL["trunc_normal_"], tensor, mean, std, a, b, generator), check)


def _scaled(name, tensor, generator, fill, params, args, method):
    """xavier_* and kaiming_*: ``params()`` (torch's own fan and gain
    functions, raising torch's errors) before anything is drawn; empty
    tensors are torch's (kaiming warns that they are a no-op)."""
    original = functools.partial(_ORIGINAL[name], tensor, *args, generator)
    rec = current_recorder()
    if rec is not None and not getattr(_active, "raw", False):
        if tensor.numel() == 0:
            return _as_torch(original)
        vals = params()
        return rec.fill_call(tensor, fill, vals, lambda: _ORIGINAL_METHOD[method](_probe(tensor.dtype), *vals),
                             f"torch.nn.init.{name}", lambda: _as_torch(original))
    if _handed_on(_dispatch(name, original), tensor):
        return original()                   # torch's function hands it to the mode or subclass (see _run)
    if not getattr(_active, "raw", False):
        with _quiet():
            where = None if tensor.numel() == 0 else _where(tensor)
            vals = None if where is None else params()
        if where is not None:
            return _run(tensor, generator, fill, vals, original,
                        lambda: _ORIGINAL_METHOD[method](_probe(tensor.dtype), *vals), where=where)
    return _as_torch(original)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    def params():
        bound = xavier_bound(tensor, gain)
        return -bound, bound
    return _scaled("xavier_uniform_", tensor, generator, _fi.uniform_, params, (gain,), "uniform_")


def xavier_normal_(tensor, gain=1.0, generator=None):
    return _scaled("xavier_normal_", tensor, generator, _fi.normal_,
                   lambda: (0.0, xavier_std(tensor, gain)), (gain,), "normal_")


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    def params():
        bound = math.sqrt(3.0) * kaiming_std(tensor, a, mode, nonlinearity)
        return -bound, bound
    return _scaled("kaiming_uniform_", tensor, generator, _fi.uniform_, params,
                   (a, mode, nonlinearity), "uniform_")


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    return _scaled("kaiming_normal_", tensor, generator, _fi.normal_,
                   lambda: (0.0, kaiming_std(tensor, a, mode, nonlinearity)), (a, mode, nonlinearity), "normal_")


def _constant(tensor, value, name, *args):
    # no random bits: no seed is drawn, only the pieces matter
    call = functools.partial(_ORIGINAL[name], tensor, *args)
    return _run(tensor, None, _fi.constant_, (value,), call,
                lambda: _probe(tensor.dtype).fill_(value), draw=False, dispatch=_dispatch(name, call))


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
    return _run(self, generator, _fi.normal_, (mean, std),
                functools.partial(_ORIGINAL_METHOD["normal_"], self, mean, std, generator=generator),
                lambda: _ORIGINAL_METHOD["normal_"](_probe(self.dtype), mean, std), ok=lambda: _method_ok(self),
                dispatch=lambda: torch.overrides.handle_torch_function(
                    _REPLACEMENT_METHOD["normal_"], (self,), self, mean, std, generator=generator))


def _method_uniform_(self, *args, generator=None, **kwargs):
    # Tensor.uniform_(from=0, to=1, *, generator=None): ``from`` is a keyword
    names = ("from", "to")
    original = functools.partial(_ORIGINAL_METHOD["uniform_"], self, *args, generator=generator, **kwargs)
    if len(args) > 2 or set(kwargs) - set(names) or any(n in kwargs for n in names[:len(args)]):
        return _as_torch(original)
    low, high = (list(args) + [kwargs.get(n, d) for n, d in zip(names, (0.0, 1.0))][len(args):])
    return _run(self, generator, _fi.uniform_, (low, high), original,
                lambda: _ORIGINAL_METHOD["uniform_"](_probe(self.dtype), low, high), ok=lambda: _method_ok(self),
                dispatch=lambda: torch.overrides.handle_torch_function(
                    _REPLACEMENT_METHOD["uniform_"], (self,), self, *args, generator=generator, **kwargs))


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
