"""``patch()``: installs fastinit's replacements (``_replacements``) into
torch.nn.init and ``torch.Tensor`` for the duration of a block, and puts
torch's back.

torch.nn.init's function objects keep their identity: their ``__code__``
becomes a trampoline to the replacement, so every alias of them follows.
The two Tensor methods are set on ``torch.Tensor`` and, at the outermost
exit, taken back from wherever something captured them.
"""
import contextlib
import gc
import inspect
import sys
import threading
import types
import warnings

import torch

from . import _replacements
from ._replacements import (PATCHED, PATCHED_METHODS, _ORIGINAL, _ORIGINAL_METHOD, _REPLACEMENT, _REPLACEMENT_METHOD,
                            _TORCH, _TORCH_CODE)


_lock = threading.Lock()
_depth = 0
_had_method = {name: name in vars(torch.Tensor) for name in PATCHED_METHODS}
_CALL_ME = "fastinit: the replacement"          # the constant a trampoline calls (see _trampoline)


def _trampoline(name):
    """A code object with the parameters of torch's ``name`` whose body is
    ``return replacement(<the same arguments>)``.  Installed as the
    ``__code__`` of torch's function object, it keeps that object's
    defaults, name and identity.  The replacement is held as a constant of
    the code (no global of torch.nn.init is added, no cell is needed)."""
    decl, call = [], []
    for p in inspect.signature(_ORIGINAL[name]).parameters.values():
        if p.kind is p.KEYWORD_ONLY and "*" not in decl:
            decl.append("*")
        decl.append(p.name)
        call.append(f"{p.name}={p.name}" if p.kind is p.KEYWORD_ONLY else p.name)
    src = f"def {name}({', '.join(decl)}):\n    return {_CALL_ME!r}({', '.join(call)})\n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)     # "'str' object is not callable": it will be
        module = compile(src, f"<fastinit.torch.patch: {name}>", "exec")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    consts = tuple(_REPLACEMENT[name] if c == _CALL_ME else c for c in code.co_consts)
    assert consts != code.co_consts
    names = {"co_qualname": _TORCH_CODE[name].co_qualname} if hasattr(code, "co_qualname") else {}   # 3.11+
    return code.replace(co_consts=consts, **names)


_TRAMPOLINE = {name: _trampoline(name) for name in PATCHED}


def _method_refs(name):
    return sys.getrefcount(_REPLACEMENT_METHOD[name])


#: References to the method replacements while none is installed.  More at
#: the outermost exit: something captured one while it was installed (a
#: module imported inside the block copying ``Tensor.__dict__``, as
#: ``torch._dynamo`` does, a cache of Tensor methods, ...).
_METHOD_REFS = {name: _method_refs(name) for name in PATCHED_METHODS}


def _uncapture(name):
    """Put torch's method back wherever a container captured ours: dicts
    (values and keys), lists and sets.  Anything else is reported."""
    ours, theirs = _REPLACEMENT_METHOD[name], _ORIGINAL_METHOD[name]
    mine = vars(_replacements)
    left = []
    for ref in gc.get_referrers(ours):
        if ref is mine or ref is _REPLACEMENT_METHOD or isinstance(ref, types.FrameType):
            continue                          # our own names; a call running now
        if isinstance(ref, dict):
            for k, v in list(ref.items()):
                if v is ours:
                    ref[k] = theirs
            if ours in ref:
                ref[theirs] = ref.pop(ours)
        elif isinstance(ref, list):
            for i in range(len(ref)):     # (no comprehension: it would hold ``ours`` in a cell)
                if ref[i] is ours:
                    ref[i] = theirs
        elif isinstance(ref, set):
            ref.discard(ours)
            ref.add(theirs)
        else:
            left.append(type(ref).__name__)
    if left:
        warnings.warn(f"fastinit.torch.patch(): Tensor.{name} was captured while patched, in "
                      f"{', '.join(sorted(set(left)))}; those keep fastinit's method", RuntimeWarning, stacklevel=3)


def _install():
    for name in PATCHED:
        _TORCH[name].__code__ = _TRAMPOLINE[name]
    for name in PATCHED_METHODS:
        setattr(torch.Tensor, name, _REPLACEMENT_METHOD[name])


def _restore():
    for name in PATCHED:
        _TORCH[name].__code__ = _TORCH_CODE[name]
    for name in PATCHED_METHODS:
        if _had_method[name]:
            setattr(torch.Tensor, name, _ORIGINAL_METHOD[name])
        else:
            delattr(torch.Tensor, name)
        if _method_refs(name) > _METHOD_REFS[name]:
            _uncapture(name)


class patch(contextlib.ContextDecorator):
    """Run ``torch.nn.init``'s fillers, and the ``Tensor.normal_`` /
    ``Tensor.uniform_`` methods, through fastinit within a ``with`` block
    or a decorated function.

    On entry torch.nn.init's function objects run fastinit's code (their
    ``__code__`` is swapped, so every alias of them, wherever it was taken,
    follows) and ``torch.Tensor`` gets the two methods; the outermost exit
    puts torch's code and methods back, also on an exception, and takes the
    methods back from wherever a module imported inside the block captured
    them.  Both cost a few microseconds, whatever is imported.
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
