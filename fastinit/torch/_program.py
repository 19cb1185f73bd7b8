"""A model's own init program, recorded once and replayed per tensor.

``record(module)`` runs the code that initializes ``module`` (each
module's ``reset_parameters`` as its constructor did, then Hugging Face's
``initialize_weights()`` or a model's own ``init_weights()``) on meta
stand-ins of its tensors, under ``patch()`` and a TorchFunctionMode that
write nothing and keep, per tensor, the writes the program asked for
(for what a Hugging Face model's init leaves, its constructor's writes,
recorded by building the class again on meta: ``constructor_steps``):

* a fastinit filler (``torch.nn.init``'s and ``Tensor.normal_`` /
  ``uniform_``, through ``patch()``) with its parameters worked out from
  the shape it was given (``kaiming_uniform_``'s bound, ...);
* a constant (``zeros_``, ``ones_``, ``constant_``, ``Tensor.zero_`` /
  ``fill_``, ``t[i] = 0``);
* a copy of a computed tensor (``copy_`` of a rotary or sinusoidal table),
  whose source must be computed on a real device from nothing random;
* the original tensors of a parametrization (weight norm), computed from
  the tensor that the constructor initialized before the parametrization
  was registered (``right_inverse``), as torch computes them.

Each write covers a box of the tensor (the whole, a padding row, a block of
rows: any view made by slicing with step 1 and by permuting dimensions),
so a step can be replayed into any piece of the tensor (a DTensor shard, a
chunk of rows) from the global index alone (``replay``).  Random writes
are keyed by (seed, the tensor's qualified name, the global index), so the
values do not depend on the order of the program, the device or the
sharding.

What the program does that cannot be replayed this way (a random draw
outside those fillers reaching a tensor, an in-place arithmetic on a
tensor's values, a view that is not a box, a copy of a tensor computed on
the meta device) raises ``ProgramError`` naming the tensor and the call,
while recording, before anything is allocated or written.
"""
import contextlib
import functools
import math
import inspect
import sys
import warnings
import weakref
from typing import NamedTuple

import torch
from torch import nn
from torch.utils import _pytree

from .._distributions import CONSTANT, NORMAL, UNIFORM
from .. import _distributions
from . import _fill
from ._patch import patch


class ProgramError(ValueError):
    """The model's init program does something that fastinit cannot replay.
    ``tensor``: the qualified name of the tensor it concerns (the message
    starts with it)."""

    def __init__(self, message):
        super().__init__(message)
        self.tensor = str(message).split(": ", 1)[0]


class Step(NamedTuple):
    """One write of the program into one tensor.

    ``kind``: a distribution (``fastinit._distributions``, its ``args`` in
    order), "copy" (source,): ``source``
    has the box's shape (it may be a broadcast view), "derived" (fn,):
    ``fn()`` computes the whole tensor, "transform" (method, *numbers):
    elementwise arithmetic on what is there (``mul_``, ``div_``, ``clamp_``).
    ``box``: ((start, stop), ...) per
    dimension of the tensor, None for the whole.  ``call``: what the program
    called, for messages."""
    kind: str
    args: tuple
    box: tuple
    call: str


RANDOM = _distributions.RANDOM
#: The fastinit fillers ``patch()`` hands a recorder, by kind.
_KINDS = {}


def _kinds():
    if not _KINDS:
        _KINDS.update({_fill.filler(d): d for d in _distributions.ALL})
    return _KINDS


#: Tensor methods and torch functions whose result is random.
_RANDOM_CALLS = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like", "normal",
                 "bernoulli", "multinomial", "poisson", "random_", "exponential_", "geometric_", "cauchy_",
                 "log_normal_", "bernoulli_", "uniform_", "normal_", "dropout", "native_dropout",
                 "_standard_gamma", "binomial"}
#: Factories of deterministic tables, made on the CPU while recording where
#: the program asks for the device of a model's tensor (the meta stand-in),
#: up to ``SMALL_TABLE`` elements (larger ones stay on meta: copying one into
#: the model is refused, rather than holding a model-sized table).
_TABLE_FACTORIES = {"arange", "linspace", "logspace", "zeros", "ones", "full", "eye", "tensor", "as_tensor",
                    "tril_indices", "triu_indices"}
SMALL_TABLE = 1 << 22


#: Factories that take a tensor's shape, dtype and device, not its values.
_LIKE_TABLES = {"zeros_like", "ones_like", "full_like", "new_zeros", "new_ones", "new_full"}
_SHAPE_ONLY = _LIKE_TABLES | {"empty_like", "new_empty", "rand_like", "randn_like", "randint_like"}


def _is_meta_device(d):
    return d is not None and (d == "meta" or (isinstance(d, torch.device) and d.type == "meta"))


#: Elementwise in-place arithmetic with numbers, replayed in order where it
#: applies (``p /= math.sqrt(n_layers)`` after a fill): the Tensor method each
#: stands for.
_SCALAR_TRANSFORMS = {"mul_": "mul_", "__imul__": "mul_", "div_": "div_", "__itruediv__": "div_",
                      "add_": "add_", "__iadd__": "add_", "sub_": "sub_", "__isub__": "sub_",
                      "clamp_": "clamp_", "clamp_min_": "clamp_min_", "clamp_max_": "clamp_max_",
                      "neg_": "neg_"}


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


#: Elementwise functions (of tensors of one shape, and numbers): what a
#: program computes from a tensor's values and copies back into it.
_ELEMENTWISE = {"log", "exp", "sqrt", "rsqrt", "neg", "abs", "sigmoid", "tanh", "log1p", "expm1", "reciprocal",
                "sin", "cos", "floor", "ceil", "round", "sign", "square", "exp2", "log2", "log10", "float",
                "double", "clamp", "clamp_min", "clamp_max", "maximum", "minimum", "mul", "add", "sub", "div",
                "pow", "__mul__", "__rmul__", "__add__", "__radd__", "__sub__", "__rsub__", "__truediv__",
                "__rtruediv__", "__pow__", "__rpow__", "__neg__", "__abs__"}


def _identity(x):
    return x


#: In-place methods that change no value.
_NOT_WRITES = {"requires_grad_", "retain_grad", "share_memory_", "detach_", "record_stream", "pin_memory"}
_INPLACE_DUNDERS = {"__iadd__", "__isub__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__", "__ipow__",
                    "__iand__", "__ior__", "__ixor__", "__ilshift__", "__irshift__", "__imatmul__"}


def _in_order(dims):
    """Whether a view's dimensions run along its base's in the base's order
    (a reshape of the same elements, not a permutation)."""
    if dims == "flat":
        return True
    d = [i for i in dims if i is not None]
    return d == sorted(d)


def _pretty(func, name):
    """``torch.rand``, ``Tensor.uniform_``: a call as the program wrote it."""
    q = getattr(func, "__qualname__", name)
    if q.startswith("_VariableFunctionsClass.") or getattr(func, "__module__", None) == "torch":
        return f"torch.{name}"
    if q.startswith(("TensorBase.", "Tensor.")):
        return f"Tensor.{name}"
    mod = getattr(func, "__module__", None)
    return f"{mod}.{q}" if mod else q


def _holds_tensor(x):
    if isinstance(x, torch.Tensor):
        return True
    if isinstance(x, (tuple, list)):
        return any(_holds_tensor(v) for v in x)
    if isinstance(x, dict):
        return any(_holds_tensor(v) for v in x.values())
    return False


def _leaves(args, kwargs):
    """The tensors among a call's arguments (one level of lists and tuples
    looked into directly, deeper ones through pytree)."""
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            yield a
        elif isinstance(a, (tuple, list, dict)):
            yield from (v for v in _pytree.tree_leaves(a) if isinstance(v, torch.Tensor))


# ----------------------------------------------------------------- boxes
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


# ----------------------------------------------------------------- recording
class _Recorder(torch.overrides.TorchFunctionMode):
    """Keeps the writes into the tracked stand-ins; writes nothing into
    them.  Tensors computed from a random draw or from a tracked tensor's
    values are marked (``_marks``) so that a copy of them into the model is
    refused with the reason."""

    def __init__(self, standins):
        super().__init__()
        self.by_storage = {}                  # storage id -> [(name, stand-in)]
        for name, t in standins.items():
            self.by_storage.setdefault(t.untyped_storage()._cdata, []).append((name, t))
        self.steps = {name: [] for name in standins}
        self._marks = {}
        self._redirected = {}                 # id -> (weakref,): tables made on the CPU, not meta
        self._prov = {}                       # id -> (weakref, elementwise function of a tracked box)

    # ---- where a write lands
    def resolve(self, t, call):
        """(name, box, dims) of the tracked tensor ``t`` views, or None."""
        if type(t) not in (torch.Tensor, nn.Parameter):
            return None
        with torch._C.DisableTorchFunction():       # (its own look at the tensor is no program call)
            if not t.is_meta:
                return None
            for name, base in self.by_storage.get(t.untyped_storage()._cdata, ()):
                if t is base:
                    return name, None, tuple(range(t.dim()))
                try:
                    box, dims = box_of(t, base)
                except ValueError as e:
                    raise ProgramError(f"{name}: the init program's {call} writes {e} of it, which fastinit "
                                       f"cannot replay piece by piece") from None
                return name, box, dims
        return None

    def _tracked(self, t):
        """Whether ``t`` is a tracked tensor or a box of one (an expanded or
        strided view of one is not: it is marked as computed from it)."""
        try:
            return self.resolve(t, "") is not None
        except ProgramError:
            return False

    def add(self, name, step):
        if step.box == ():
            return                            # an empty view: nothing written
        steps = self.steps[name]
        if step.kind == "transform" and not steps:
            raise ProgramError(f"{name}: the init program changes it in place ({step.call}) before writing it, "
                               f"so what it held is not known to fastinit")
        if step.box is None and step.kind != "transform":
            steps.clear()                     # a write of the whole tensor: what came before is dead
        steps.append(step)

    # ---- the fillers, from patch()
    def fill_call(self, tensor, fill, values, check, call, torch_call):
        kind = _kinds()[fill]
        hit = self.resolve(tensor, call)
        if hit is None:
            # a tensor that is not the model's: torch's own function, as without fastinit
            out = torch_call()
            if kind.random:
                self.mark(tensor, f"a random draw ({call})")
            return out
        name, box, _ = hit
        if not kind.random:
            # (a model may ask for an infinite constant, a clamp's bound: replayed with torch's fill_)
            values = [self._scalar(name, values[0], call)]
        if values is None:
            raise ProgramError(f"{name}: the init program calls {call} with arguments fastinit does not fill "
                               f"(not finite numbers)")
        check()                               # torch's own errors for the arguments
        self.add(name, Step(kind, tuple(values), box, call))
        return tensor

    # ---- marks
    def mark(self, t, reason):
        self._marks[id(t)] = (weakref.ref(t), reason)

    def reason(self, t):
        e = self._marks.get(id(t))
        return e[1] if e is not None and e[0]() is t else None

    def _taint(self, t):
        """Why ``t``'s values cannot be replayed, or None."""
        if not isinstance(t, torch.Tensor):
            return None
        r = self.reason(t)
        if r is not None:
            return r
        try:
            hit = self.resolve(t, "read")
        except ProgramError:
            hit = ("a tensor of the model", None, None)
        if hit is not None:
            return f"computed from the values of {hit[0]}"
        return None

    # ---- every other torch call
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        call = _pretty(func, name)
        target = args[0] if args and isinstance(args[0], torch.Tensor) else None
        writes = name in ("zero_", "fill_", "copy_", "__setitem__") or name in _RANDOM_CALLS or \
            (name == "__set__" and getattr(func, "__self__", None) is torch._C.TensorBase.data) or \
            (name.endswith("_") and not name.endswith("__") and name not in _NOT_WRITES) or name in _INPLACE_DUNDERS
        hit = self.resolve(target, call) if target is not None and writes else None
        if hit is not None:
            if name in ("zero_", "fill_", "copy_", "__setitem__"):
                return self._write(name, hit, target, args, kwargs)
            if name == "__set__":
                raise ProgramError(f"{hit[0]}: the init program replaces its data (Tensor.data = ...); fastinit "
                                   f"cannot replay that")
            if name in _RANDOM_CALLS:
                raise ProgramError(f"{hit[0]}: the init program draws random numbers with {call}, outside "
                                   f"torch.nn.init and Tensor.normal_ / uniform_: fastinit cannot key them to "
                                   f"the tensor; use torch.nn.init's functions")
            op = _SCALAR_TRANSFORMS.get(name)
            scalars = args[1:] + tuple(kwargs.values())
            if op is not None and (scalars or op == "neg_") and all(_is_number(v) or v is None for v in scalars) and \
                    not (op == "clamp_" and len(scalars) > 2):
                self.add(hit[0], Step("transform", (op, *scalars), hit[1], call))
                return target
            raise ProgramError(f"{hit[0]}: the init program changes it in place with {call}, which fastinit "
                               f"cannot replay (it replays fills, constants, copies and elementwise "
                               f"arithmetic with numbers)")
        out = kwargs.get("out")
        if out is not None:
            for o in _pytree.tree_leaves(out):
                h = self.resolve(o, name)
                if h is not None:
                    raise ProgramError(f"{h[0]}: the init program writes it as the out= of {call}, which "
                                       f"fastinit cannot replay")
        try:
            result = func(*args, **kwargs)
        except RuntimeError:
            leaves = list(_leaves(args, kwargs))
            moved = [a for a in leaves if not a.is_meta]
            if not self._redirected or not moved or not any(a.is_meta for a in leaves):
                raise
            # a table made on the CPU (below), or one computed from it, met a meta tensor: the
            # CPU ones go to meta, where the program made them, and what is computed from
            # them is refused if it is copied into the model
            swap = {id(a): a.to("meta") for a in moved}
            args, kwargs = _pytree.tree_map(lambda a: swap.get(id(a), a) if isinstance(a, torch.Tensor) else a,
                                            (args, kwargs))
            result = func(*args, **kwargs)
        if name in _TABLE_FACTORIES and _is_meta_device(kwargs.get("device")) and \
                isinstance(result, torch.Tensor) and result.numel() <= SMALL_TABLE:
            # a small table made on the device of a model's tensor (device=param.device: the
            # meta stand-in here, a real device when the model's code runs for real): on the CPU
            result = func(*args, **dict(kwargs, device="cpu"))
            self._redirected[id(result)] = (weakref.ref(result),)
        elif name == "to" and args and isinstance(args[0], torch.Tensor) and not args[0].is_meta and \
                isinstance(result, torch.Tensor) and result.is_meta and result.numel() <= SMALL_TABLE:
            # a table made on the CPU, sent to a model tensor's device (.to(device=param.device)):
            # it stays on the CPU, converted as asked otherwise
            rest = [a for a in args[1:] if not _is_meta_device(a)]
            result = func(args[0], *rest, **{k: v for k, v in kwargs.items() if k != "device"})
            self._redirected[id(result)] = (weakref.ref(result),)
        elif name in _LIKE_TABLES and kwargs.get("device") is None and isinstance(result, torch.Tensor) and \
                result.is_meta and result.numel() <= SMALL_TABLE:
            # torch.zeros_like(param), param.new_ones(n): a table of the model tensor's shape,
            # not of its values: on the CPU too
            result = func(*args, **dict(kwargs, device="cpu"))
            self._redirected[id(result)] = (weakref.ref(result),)
        if not _holds_tensor(result):
            return result                     # (.shape, .dtype, .device, ...: nothing to mark)
        self._created(func, name, args, kwargs, result)
        why = f"a random draw ({call})" if name in _RANDOM_CALLS else None
        if why is None and name not in _SHAPE_ONLY:
            for a in _leaves(args, kwargs):
                why = self._taint(a)
                if why is not None:
                    break
        if why is not None:
            for r in _pytree.tree_leaves(result):
                if isinstance(r, torch.Tensor) and not self._tracked(r):
                    self.mark(r, why)
        if name in _ELEMENTWISE and isinstance(result, torch.Tensor) and result.is_meta:
            self._follow(func, args, kwargs, result)
        return result

    # ---- f(tensor) copied back into the same tensor: elementwise, in place
    def _follow(self, func, args, kwargs, result):
        """Where ``result`` is an elementwise function of one tracked box (its
        values as they are now) and numbers, keep the function: a copy of
        it back into that box (``copy_(t, t.log())``, an inverse softplus)
        is then that function applied in place, replayable piece by piece."""
        leaves = [a for a in _pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if not leaves:
            return
        fns, key = {}, None
        for a in leaves:
            p = self._provenance(a)
            if p is None:
                try:
                    hit = self.resolve(a, "")
                except ProgramError:
                    return
                if hit is None or not _in_order(hit[2]):
                    return
                steps = self.steps[hit[0]]
                p = ((hit[0], hit[1], len(steps), id(steps[-1]) if steps else None), _identity)
            if key is None:
                key = p[0]
            if p[0] != key or tuple(a.shape) != tuple(result.shape):
                return                        # two sources, or broadcasting: not elementwise in place
            fns[id(a)] = p[1]

        def g(x, _func=func, _args=args, _kwargs=kwargs, _fns=fns):
            a, k = _pytree.tree_map(lambda v: _fns[id(v)](x) if isinstance(v, torch.Tensor) else v, (_args, _kwargs))
            return _func(*a, **k)
        self._prov[id(result)] = (weakref.ref(result), (key, g))

    def _provenance(self, t):
        e = self._prov.get(id(t))
        return e[1] if e is not None and e[0]() is t else None

    def _in_place(self, tname, src, box):
        """The function for ``copy_(box of tname, src)`` where src is an
        elementwise function of that very box, unchanged since; else None."""
        p = self._provenance(src)
        if p is None:
            return None
        (name, pbox, count, last), g = p
        steps = self.steps[tname]
        if name != tname or pbox != box or count != len(steps) or last != (id(steps[-1]) if steps else None):
            return None
        return g

    def _created(self, func, name, args, kwargs, result):
        """A new tensor (``_Construction`` keeps its program)."""

    def _write(self, name, hit, target, args, kwargs):
        tname, box, dims = hit
        call = f"Tensor.{name}"
        if name == "zero_":
            self.add(tname, Step(CONSTANT, (0.0,), box, call))
            return target
        if name == "fill_":
            self.add(tname, Step(CONSTANT, (self._scalar(tname, args[1] if len(args) > 1 else kwargs["value"],
                                                           call),), box, call))
            return target
        if name == "copy_":
            src = args[1] if len(args) > 1 else kwargs["src"]
            g = self._in_place(tname, src, box) if isinstance(src, torch.Tensor) else None
            if g is not None:                 # copy_(t, f(t)), f elementwise: f applied in place
                self.add(tname, Step("transform", ("apply", g), box, call))
                return target
            self.add(tname, self._copy(tname, src, target, box, dims, call))
            return target
        # __setitem__(self, index, value): the view it writes
        index, value = args[1], args[2]
        with torch._C.DisableTorchFunction():
            view = target[index]
        if view.untyped_storage()._cdata != target.untyped_storage()._cdata:
            raise ProgramError(f"{tname}: the init program assigns to it with an index that is not a slice "
                               f"({index!r}); fastinit cannot replay that")
        sub = self.resolve(view, "Tensor.__setitem__")
        if isinstance(value, torch.Tensor) and value.numel() != 1:
            self.add(tname, self._copy(tname, value, view, sub[1], sub[2], "Tensor.__setitem__"))
        else:
            self.add(tname, Step(CONSTANT, (self._scalar(tname, value, "Tensor.__setitem__"),), sub[1],
                                 "Tensor.__setitem__"))
        return None

    def _scalar(self, tname, v, call):
        if isinstance(v, torch.Tensor):
            why = self._taint(v) or ("computed on the meta device" if v.is_meta else None)
            if why is not None:
                raise ProgramError(f"{tname}: the init program's {call} writes a value {why}; fastinit cannot "
                                   f"replay it")
            with torch._C.DisableTorchFunction():
                v = v.item()
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProgramError(f"{tname}: the init program's {call} writes {v!r}, not a number")
        return v

    def _copy(self, tname, src, view, box, dims, call):
        if not isinstance(src, torch.Tensor):
            return Step(CONSTANT, (self._scalar(tname, src, call),), box, call)
        why = self._taint(src) or ("a tensor computed on the meta device" if src.is_meta else None)
        if why is not None:
            raise ProgramError(f"{tname}: the init program copies into it ({call}) {why}; fastinit cannot "
                               f"replay it (a model's init may copy tables it computes from nothing random)")
        with torch._C.DisableTorchFunction():
            try:
                torch.broadcast_shapes(src.shape, view.shape)
            except RuntimeError:
                raise ProgramError(f"{tname}: the init program copies a tensor of shape {tuple(src.shape)} "
                                   f"into a view of shape {tuple(view.shape)}") from None
            if box == ():
                return Step("copy", (src,), (), call)
            s = src.detach().clone()
            base_shape = self._base_shape(tname)
            if dims == "flat":                # the view's order is the box's, flattened
                shape = tuple(b - a for a, b in box) if box is not None else base_shape
                return Step("copy", (s.expand(tuple(view.shape)).reshape(shape),), box, call)
            return Step("copy", (_in_base_order(s, tuple(view.shape), dims, len(base_shape)),), box, call)

    def _base_shape(self, tname):
        for entries in self.by_storage.values():
            for n, t in entries:
                if n == tname:
                    return tuple(t.shape)
        raise KeyError(tname)


class _Construction(_Recorder):
    """Records a model's constructor run on the meta device: every tensor it
    creates is tracked from its creation (a constant from ``torch.zeros`` /
    ``ones`` / ``full``, a normal or uniform from ``torch.randn`` / ``rand``,
    a table from ``torch.tensor`` / ``arange`` computed on the CPU, a scalar
    multiple of a constant, nothing from ``torch.empty``), then every write
    into it (``nn.init`` in ``__init__``, ``reset_parameters``)."""

    _CONSTANT = {"zeros": 0.0, "zeros_like": 0.0, "new_zeros": 0.0, "ones": 1.0, "ones_like": 1.0, "new_ones": 1.0}
    _SCALAR_OPS = {"mul": lambda c, v: c * v, "__mul__": lambda c, v: c * v, "__rmul__": lambda c, v: c * v,
                   "add": lambda c, v: c + v, "__add__": lambda c, v: c + v, "__radd__": lambda c, v: c + v,
                   "sub": lambda c, v: c - v, "__sub__": lambda c, v: c - v, "__rsub__": lambda c, v: v - c,
                   "div": lambda c, v: c / v, "__truediv__": lambda c, v: c / v}

    def __init__(self):
        super().__init__({})
        self._count = 0
        self.unknown = set()          # tensors whose writes cannot be replayed: their program is not known

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            return super().__torch_function__(func, types, args, kwargs)
        except ProgramError as e:
            if e.tensor not in self.steps:
                raise
            self.unknown.add(e.tensor)     # (the constructor goes on: only this tensor's program is lost)
            with torch._C.DisableTorchFunction():
                return func(*args, **(kwargs or {}))

    def fill_call(self, tensor, fill, values, check, call, torch_call):
        try:
            return super().fill_call(tensor, fill, values, check, call, torch_call)
        except ProgramError as e:
            if e.tensor not in self.steps:
                raise
            self.unknown.add(e.tensor)
            return torch_call()

    def _value_of(self, t):
        """The CPU value of a tracked tensor whose whole program is one
        constant or one copy, if small; else None."""
        hit = self.resolve(t, "") if isinstance(t, torch.Tensor) else None
        if hit is None or hit[1] is not None or hit[0] in self.unknown:
            return None
        steps = self.steps[hit[0]]
        if len(steps) != 1 or steps[0].box is not None or t.numel() > SMALL_TABLE:
            return None
        st = steps[0]
        if st.kind == CONSTANT:
            return torch.full(tuple(t.shape), st.args[0], dtype=t.dtype)
        if st.kind == "copy" and _in_order(hit[2]) and \
                st.args[0].numel() == t.numel():
            return st.args[0].reshape(tuple(t.shape)).to(t.dtype)
        return None

    def _track(self, t, steps):
        name = f"#{self._count}"
        self._count += 1
        self.steps[name] = list(steps)
        self.by_storage.setdefault(t.untyped_storage()._cdata, []).append((name, t))

    def _constant_of(self, t):
        hit = self.resolve(t, "") if isinstance(t, torch.Tensor) else None
        if hit is None or hit[1] is not None:
            return None
        steps = self.steps[hit[0]]
        return steps[0].args[0] if len(steps) == 1 and steps[0].kind == CONSTANT and steps[0].box is None \
            else None

    def _created(self, func, name, args, kwargs, result):
        if not isinstance(result, torch.Tensor) or not result.is_meta or self._tracked(result):
            return
        whole = None
        if name in self._CONSTANT:
            steps = [Step(CONSTANT, (self._CONSTANT[name],), whole, f"torch.{name}")]
        elif name in ("full", "full_like", "new_full"):
            v = kwargs.get("fill_value", args[2] if name == "new_full" else args[1] if len(args) > 1 else None)
            steps = [Step(CONSTANT, (v,), whole, f"torch.{name}")] if isinstance(v, (int, float)) and \
                not isinstance(v, bool) else None
        elif name in ("randn", "randn_like"):
            steps = [Step(NORMAL, (0.0, 1.0), whole, f"torch.{name}")]
        elif name in ("rand", "rand_like"):
            steps = [Step(UNIFORM, (0.0, 1.0), whole, f"torch.{name}")]
        elif name in ("empty", "empty_like", "new_empty", "empty_strided"):
            steps = []
        elif name in _TABLE_FACTORIES and result.numel() <= SMALL_TABLE:
            with torch._C.DisableTorchFunction():
                value = getattr(torch, name)(*args, **dict(kwargs, device="cpu"))
            steps = [Step("copy", (value,), whole, f"torch.{name}")]
        elif name in self._SCALAR_OPS and len(args) == 2:
            t, v = (args[0], args[1]) if isinstance(args[0], torch.Tensor) else (args[1], args[0])
            c = self._constant_of(t)
            steps = [Step(CONSTANT, (self._SCALAR_OPS[name](c, v),), whole, f"Tensor.{name}")] if (
                c is not None and isinstance(v, (int, float)) and not isinstance(v, bool)) else None
        elif name in ("to", "float", "double", "half", "bfloat16", "type", "clone", "contiguous", "detach") and \
                self._constant_of(args[0] if args else None) is not None:
            steps = [Step(CONSTANT, (self._constant_of(args[0]),), whole, f"Tensor.{name}")]
        else:
            steps = self._computed(func, name, args, kwargs, result)
        if steps is not None:
            self._track(result, steps)

    def _computed(self, func, name, args, kwargs, result):
        """A small tensor computed from known ones only (``torch.log(torch.tensor(v))``):
        computed again on the CPU, a copy; else None."""
        if result.numel() > SMALL_TABLE or name in _RANDOM_CALLS:
            return None
        leaves = [a for a in _pytree.tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        if not leaves:
            return None
        values = {}
        for a in leaves:
            v = self._value_of(a)
            if v is None:
                return None
            values[id(a)] = v
        cpu_args, cpu_kwargs = _pytree.tree_map(lambda a: values.get(id(a), a) if isinstance(a, torch.Tensor) else a,
                                                (args, kwargs))
        cpu_kwargs = {k: ("cpu" if k == "device" else v) for k, v in cpu_kwargs.items()}
        try:
            with torch._C.DisableTorchFunction():
                value = func(*cpu_args, **cpu_kwargs)
        except Exception:                          # noqa: BLE001 (not computable this way: unknown)
            return None
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(result.shape):
            return None
        return [Step("copy", (value,), None, f"torch.{name}")]


def constructor_steps(module, names):
    """{name: [Step]} of the tensors ``names`` as the Hugging Face model's
    constructor writes them, learned by building the model's class again on
    the meta device under a ``_Construction`` recorder (what its
    ``_init_weights`` leaves, such as CLIP's ``logit_scale`` from
    ``torch.tensor(value)`` or GPT's ``Conv1D`` normal drawn in
    ``__init__``).  Names the build does not track are left out."""
    import copy
    rec = _Construction()
    # (the device context first: the recorder's mode sees each call before it makes it meta)
    with torch.no_grad(), torch.device("meta"), patch(), _fill.recording(rec), rec, warnings.catch_warnings(), \
            _refusing_unreplayable():
        warnings.simplefilter("ignore")
        fresh = _own_class(module)._from_config(copy.deepcopy(module.config))
    out = {}
    with torch._C.DisableTorchFunction():
        for n, t in (*fresh.named_parameters(remove_duplicate=False), *fresh.named_buffers(remove_duplicate=False)):
            if n in names and n not in out:
                hit = rec.resolve(t, "")
                if hit is None or hit[1] is not None or hit[0] in rec.unknown or not rec.steps[hit[0]]:
                    continue
                steps = rec.steps[hit[0]]
                if any(st.kind == "copy" for st in steps):
                    # the parameter may view the created tensor in another shape (unsqueeze(0))
                    if not _in_order(hit[2]):
                        continue
                    steps = [st._replace(args=(st.args[0].reshape(tuple(t.shape)),)) if st.kind == "copy" else st
                             for st in steps]
                out[n] = steps
    return out


# ----------------------------------------------------------------- the program of a module
def _is_hf(module):
    return any(c.__name__ == "PreTrainedModel" and c.__module__.startswith("transformers.")
               for c in type(module).__mro__)


def program_name(module):
    """What ``record`` runs for ``module``, in words."""
    if _is_hf(module):
        return "each module's reset_parameters, then Hugging Face's initialize_weights()"
    for name in ("init_weights", "init_states"):
        if callable(getattr(module, name, None)):
            return f"each module's reset_parameters, then the model's {name}()"
    return "each module's reset_parameters"


def post_order(module, prefix="", seen=None):
    """(qualified name, module) of every module once, children before their
    parent: the order in which constructors finish."""
    seen = set() if seen is None else seen
    if id(module) in seen:
        return
    seen.add(id(module))
    for name, child in module.named_children():
        yield from post_order(child, f"{prefix}.{name}" if prefix else name, seen)
    yield prefix, module


def _constructor_resets(module, honour_flags):
    """What the constructors ran: each module's ``reset_parameters`` (or,
    without one, ``_reset_parameters``: MultiheadAttention, Transformer),
    children before their parent; with ``honour_flags``, not for the
    modules Hugging Face marks as initialized."""
    out = []
    for prefix, mod in post_order(module):
        if isinstance(mod, torch.nn.utils.parametrize.ParametrizationList):
            continue
        if honour_flags and getattr(mod, "_is_hf_initialized", False):
            continue
        fn = getattr(mod, "reset_parameters", None)
        if not _no_arguments(fn):
            fn = getattr(mod, "_reset_parameters", None)
        if _no_arguments(fn):
            out.append((prefix, mod, fn))
    return out


def _no_arguments(fn):
    """Whether ``fn`` is a method callable with no arguments (a
    ``reset_parameters(self, std)`` is a helper its model calls, not what
    the constructor ran)."""
    if not callable(fn):
        return False
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in sig.parameters.values())


def _top_program(module):
    if _is_hf(module):
        return functools.partial(_hf_initialize_weights, module)
    # torchtitan's models: init_weights (to 0.2), init_states (0.3)
    fn = getattr(module, "init_weights", None)
    if not callable(fn):
        fn = getattr(module, "init_states", None)
    if not callable(fn):
        return None
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    if "buffer_device" in params:             # torchtitan: buffers computed there
        return lambda: fn(buffer_device=torch.device("cpu"))
    return fn


def _hf_initialize_weights(module):
    """``module.initialize_weights()``, with Hugging Face's "custom code"
    test made on the model's own class: FSDP2's ``fully_shard`` swaps the
    class for a subclass defined outside transformers, which would make
    Hugging Face skip every module without parameters of its own (GPT-2's
    attention, whose init rescales its output projection)."""
    own = next((c for c in type(module).__mro__ if "is_custom_code" in vars(c) or not _wrapper_class(c)),
               type(module))
    if own is type(module):
        return module.initialize_weights()
    module.__dict__["is_custom_code"] = own.is_custom_code
    try:
        return module.initialize_weights()
    finally:
        del module.__dict__["is_custom_code"]


def _own_class(module):
    """The model's class, under a class torch.distributed made around it."""
    return next((c for c in type(module).__mro__ if not _wrapper_class(c)), type(module))


def hf_made_off_meta(module):
    """The names of the tensors that the Hugging Face model's constructor
    makes off the meta device even inside ``torch.device("meta")`` (legacy
    ``torch.Tensor(n)`` constructors), learned by building the model's class
    again on meta from its config (tens of milliseconds for a 1.5 G-parameter
    Llama); empty where that build fails."""
    import copy
    cls = _own_class(module)
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fresh = cls._from_config(copy.deepcopy(module.config))
    except Exception:                      # noqa: BLE001 (a class that needs more than its config)
        return set()
    return {n for n, t in (*fresh.named_parameters(remove_duplicate=False),
                           *fresh.named_buffers(remove_duplicate=False)) if not t.is_meta}


def _wrapper_class(cls):
    """A class torch.distributed made around a model's class (FSDP2's
    ``FSDP<name>``)."""
    return cls.__module__.startswith("torch.distributed") or any(
        b.__module__.startswith("torch.distributed") for b in cls.__bases__)


def _standin(t, fresh):
    """A plain meta tensor of ``t``'s global shape and dtype, with the
    attributes that the program may read; ``fresh``: without Hugging
    Face's ``_is_hf_initialized`` (a tensor to initialize again)."""
    local = torch.empty(tuple(t.shape), dtype=t.dtype, device="meta")
    if isinstance(t, nn.Parameter):
        local = nn.Parameter(local, requires_grad=t.requires_grad)
    for k, v in getattr(t, "__dict__", {}).items():
        if fresh and k == "_is_hf_initialized":
            continue
        try:
            setattr(local, k, v)
        except (AttributeError, TypeError):
            pass
    return local


def _slots(module):
    """(owner module, store, key, tensor) for every parameter and buffer slot."""
    out = []
    for mod in module.modules():
        for store in (mod._parameters, mod._buffers):
            for key, t in store.items():
                if t is not None:
                    out.append((mod, store, key, t))
    return out


#: torch.nn.init's functions that fastinit cannot replay and that do nothing
#: on the meta device (so their call would go unseen there).
_UNREPLAYABLE = {"orthogonal_": "a QR factorization of random numbers, not an elementwise draw",
                 "sparse_": "zeros at rows drawn by torch.randperm"}


@contextlib.contextmanager
def _refusing_unreplayable():
    """While recording, ``torch.nn.init.orthogonal_`` (the module's name and
    transformers' table of torch's functions) refuses a model tensor."""
    tables = [vars(torch.nn.init)]
    tf_init = sys.modules.get("transformers.initialization")
    if tf_init is not None:
        tables.append(tf_init.TORCH_INIT_FUNCTIONS)
    saved = []
    for name, why in _UNREPLAYABLE.items():
        original = getattr(torch.nn.init, name)

        def refuse(tensor, *args, _name=name, _why=why, _original=original, **kwargs):
            rec = _fill.current_recorder()
            hit = rec.resolve(tensor, _name) if rec is not None else None
            if hit is not None:
                raise ProgramError(f"{hit[0]}: the init program calls torch.nn.init.{_name} on it, which "
                                   f"fastinit cannot replay ({_why}); give it an override or another init")
            return _original(tensor, *args, **kwargs)
        for table in tables:
            if table.get(name) is original:
                saved.append((table, name, original))
                table[name] = refuse
    try:
        yield
    finally:
        for table, name, original in saved:
            table[name] = original


def _hf_guard():
    """Hugging Face's guard: torch.nn.init's functions skip the tensors
    flagged as initialized (what ``from_pretrained`` loaded)."""
    from transformers import initialization
    return initialization.guard_torch_init_functions()


def _hf_tie_targets(module):
    """The slots Hugging Face ties after its init (``lm_head.weight`` to the
    embedding): on a real device they are initialized on their own, then
    replaced by the source, so the program's writes through them are not
    the tensor's."""
    keys = getattr(module, "all_tied_weights_keys", None) or {}
    out = set()
    for target, source in keys.items():
        try:
            t, s = module.get_parameter_or_buffer(target), module.get_parameter_or_buffer(source)
        except (AttributeError, KeyError):
            continue
        if t is s:
            mod_name, _, attr = target.rpartition(".")
            out.add((id(module.get_submodule(mod_name)), attr))
    return out


def record(module, names, fresh=True):
    """Run ``module``'s init program on meta stand-ins of its tensors and
    return {qualified name: [Step]} for the tensors of ``names``
    ({id(tensor): qualified name}, the module's parameters and buffers,
    tied ones under one name).  The module is left exactly as it was.

    Hugging Face's flags (``_is_hf_initialized``, on the modules whose
    ``_init_weights`` ran and on the tensors ``from_pretrained`` loaded)
    are honoured, as Hugging Face's own init does, unless ``fresh``
    (``init_module_``: every tensor is initialized again; they are cleared
    while recording).  Either way they are as they were afterwards."""
    memo, swapped, standins = {}, [], {}
    ties = _hf_tie_targets(module) if _is_hf(module) else set()
    flags = [(m, m.__dict__.get("_is_hf_initialized", _ABSENT)) for m in module.modules()]
    try:
        for mod, store, key, t in _slots(module):
            if (id(mod), key) in ties:
                s = _standin(t, fresh)        # initialized on its own, then tied: not the tensor's values
            else:
                if id(t) not in memo:
                    memo[id(t)] = _standin(t, fresh)
                    standins[names[id(t)]] = memo[id(t)]
                s = memo[id(t)]
            swapped.append((store, key, t, s))
            store[key] = s
        if fresh:
            for m, _ in flags:
                m.__dict__.pop("_is_hf_initialized", None)
        rec = _Recorder(standins)
        hf = _is_hf(module)
        resets = _constructor_resets(module, hf and not fresh)
        top = _top_program(module)
        with torch.no_grad(), patch(), _fill.recording(rec), rec, warnings.catch_warnings(), \
                _refusing_unreplayable(), (_hf_guard() if hf and not fresh else contextlib.nullcontext()):
            # the constructors' warnings (a zero-element tensor) were given when they ran
            warnings.simplefilter("ignore")
            for prefix, mod, fn in resets:
                with _parametrized(mod, rec, standins, names, memo, prefix):
                    _run(fn, f"{prefix or type(mod).__name__}.{fn.__name__}()")
            if top is not None:
                _run(top, f"{type(module).__name__}.{'initialize_weights' if hf else 'init_weights'}()")
        # a slot the program assigned a new tensor to: a copy of it
        for store, key, t, s in swapped:
            new = store[key]
            if new is not s and names.get(id(t)) is not None and s is memo.get(id(t)):
                name = names[id(t)]
                if not isinstance(new, torch.Tensor) or tuple(new.shape) != tuple(t.shape):
                    raise ProgramError(f"{name}: the init program replaces it with "
                                       f"{type(new).__name__ if not isinstance(new, torch.Tensor) else tuple(new.shape)}"
                                       f", not a tensor of its shape {tuple(t.shape)}")
                rec._write("copy_", (name, None, tuple(range(t.dim()))), s, (s, new), {})
        if hf:
            # what initialize_weights() leaves (nothing, or a part): the constructor's values
            left = {n for n, st in rec.steps.items() if not st or st[0].box is not None}
            if left:
                try:
                    ctor = constructor_steps(module, left)
                except ProgramError:
                    raise
                except Exception:              # noqa: BLE001 (a class that needs more than its config)
                    ctor = {}
                for n, st in ctor.items():
                    rec.steps[n] = [*st, *rec.steps[n]]
        return rec.steps
    finally:
        for store, key, t, s in reversed(swapped):
            store[key] = t
        for m, v in flags:
            if v is _ABSENT:
                m.__dict__.pop("_is_hf_initialized", None)
            else:
                m.__dict__["_is_hf_initialized"] = v


_ABSENT = object()


def _run(fn, what):
    try:
        fn()
    except ProgramError:
        raise
    except Exception as e:
        # the program's own exception, as it raised it, with where fastinit ran it
        e.add_note(f"(raised by the model's init program, {what}, which fastinit runs on meta stand-ins of "
                   f"the model's tensors to record what it writes)")
        raise


@contextlib.contextmanager
def _parametrized(mod, rec, standins, names, memo, prefix):
    """While the constructor's ``reset_parameters`` of a parametrized
    module runs, each parametrized tensor (``weight`` under weight norm) is
    a tracked tensor of its own, named as the parameter was before the
    parametrization; its originals then derive from it, as
    ``register_parametrization`` computed them (``right_inverse``)."""
    plist = getattr(mod, "parametrizations", None)
    if not isinstance(plist, nn.ModuleDict) or not plist:
        yield
        return
    from torch.nn.utils import parametrize
    added = []
    with parametrize.cached():
        for attr, pl in plist.items():
            value = getattr(mod, attr)        # the cached computed tensor
            vname = f"{prefix}.{attr}" if prefix else attr
            originals = [(k, p) for k, p in pl._parameters.items() if p is not None]
            if vname in rec.steps or not originals:
                continue
            rec.steps[vname] = []
            rec.by_storage.setdefault(value.untyped_storage()._cdata, []).append((vname, value))
            added.append((vname, value, pl, originals))
        yield
    for vname, value, pl, originals in added:
        rec.by_storage[value.untyped_storage()._cdata].remove((vname, value))
        steps = rec.steps.pop(vname)
        if not steps:
            continue
        shape, dtype = tuple(value.shape), value.dtype
        for i, (k, p) in enumerate(originals):
            oname = next((n for n, s in standins.items() if s is p), None)
            if oname is None:
                continue
            rec.add(oname, Step("derived", (_Derived(vname, steps, shape, dtype, pl, i, len(originals)),), None,
                                f"{type(pl[0]).__name__}.right_inverse"))


class _Derived:
    """The ``index``-th original of a parametrization, computed whole from
    the tensor (``vname``) that ``steps`` write, by the parametrization's
    ``right_inverse``."""

    def __init__(self, vname, steps, shape, dtype, plist, index, count):  # noqa: PLR0913
        self.vname, self.steps, self.shape, self.dtype = vname, steps, shape, dtype
        self.plist, self.index, self.count = plist, index, count

    def __call__(self, seed, dtype=None):
        # in float32 (a half-precision model holds the float32 values rounded)
        value = torch.empty(self.shape, dtype=torch.float32 if self.dtype in _fill.FLOATS else self.dtype)
        replay(self.steps, value, self.shape, (0,) * len(self.shape), seed, self.vname)
        with torch.no_grad():
            for p in reversed(list(self.plist)):
                value = p.right_inverse(value)
        if self.count == 1:
            return value if not isinstance(value, (tuple, list)) else value[0]
        return value[self.index]


# ----------------------------------------------------------------- replay
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
    from .. import api as _fi
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
