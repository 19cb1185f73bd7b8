"""The recorder: a TorchFunctionMode that, while a model's init program
runs on meta stand-ins of its tensors, keeps per tensor the writes the
program asks for as ``Step``s and writes nothing; what cannot be replayed
raises ``ProgramError``.  The fillers reach it through ``patch()``
(``fill_call``), every other torch call through ``__torch_function__``."""
import weakref

import torch
from torch import nn
from torch.utils import _pytree

from ..._distributions import CONSTANT
from ._boxes import _in_base_order, _in_order, box_of
from ._calls import (_ELEMENTWISE, _INPLACE_DUNDERS, _LIKE_TABLES, _NOT_WRITES, _RANDOM_CALLS, _SCALAR_TRANSFORMS,
                     _SHAPE_ONLY, _TABLE_FACTORIES, SMALL_TABLE, _holds_tensor, _is_meta_device, _is_number,
                     _leaves, _pretty)
from ._steps import ProgramError, Step, _kinds


def _identity(x):
    return x


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
