"""A Hugging Face model's constructor, recorded: its class built again on
the meta device under ``_Construction``, a recorder that tracks every
tensor from its creation, gives the steps of what the model's
``_init_weights`` leaves to the constructor (``constructor_steps``)."""
import warnings

import torch
from torch.utils import _pytree

from ..._distributions import CONSTANT, NORMAL, UNIFORM
from .. import _fill
from .._patch import patch
from ._boxes import _in_order
from ._calls import _RANDOM_CALLS, _TABLE_FACTORIES, SMALL_TABLE
from ._recorder import _Recorder
from ._steps import ProgramError, Step
from ._top import _own_class, _refusing_unreplayable


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
