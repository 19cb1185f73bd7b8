"""A model's init program: what ``record`` runs for a module (each
module's ``reset_parameters`` as its constructor did, then Hugging Face's
``initialize_weights()`` or the model's own ``init_weights()`` /
``init_states()``), and the Hugging Face pieces around it (the model's own
class under a torch.distributed wrapper, its tied slots, its guard, the
torch.nn.init functions refused while recording)."""
import contextlib
import functools
import inspect
import sys
import warnings

import torch

from .. import _fill
from ._steps import ProgramError


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
