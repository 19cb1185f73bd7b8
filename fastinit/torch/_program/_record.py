"""``record``: a module's init program run on meta stand-ins of its
tensors, the module left as it was, and what it wrote returned as
``Step``s per tensor (with parametrized tensors' originals derived by
``right_inverse``, and, on a Hugging Face model, the constructor's steps
under what its init leaves)."""
import contextlib
import warnings

import torch
from torch import nn

from .. import _fill
from .._patch import patch
from ._construction import constructor_steps
from ._recorder import _Recorder
from ._replay import replay
from ._steps import ProgramError, Step
from ._top import (_constructor_resets, _hf_guard, _hf_tie_targets, _is_hf, _refusing_unreplayable,
                   _top_program)


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
