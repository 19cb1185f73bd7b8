"""``init_module_`` and ``materialize_``: a whole model, one stream per
parameter name."""
import contextlib
import fnmatch
import math
import numbers

import torch
from torch import nn

from .. import _call, _distributions, _dtypes
from .. import api as _fi
from . import _memory, _program
from ._program import post_order as _post_order
from ._memory import advise_hugepages
from ._fill import FLOATS, fill_pieces, filler, resolving
from ._patch import patch
from ._schemes import NEEDS_LAYERS, RULES, SCHEMES, Fill, count_layers, options, program_scheme
from ._shard import is_dtensor, pieces

__all__ = ["init_module_", "materialize_", "SCHEMES"]


class _InitSchedule:
    """A module's init schedule: the steps a scheme writes (a fill of one
    tensor, or a module's own ``reset_parameters``), then the overrides, in
    the order torch's constructors would write them: modules in post-order
    (children before their parent), so a parent's rule for a child's tensor
    (MultiheadAttention's ``out_proj.bias``, ``nn.Transformer``'s matrices)
    comes last.  Built, and checked, before anything is written (``run``
    writes).  ``materializing``: only meta tensors are written (the others
    keep their values)."""

    def __init__(self, module, seed, scheme, overrides, strict, opts, materializing=False, dtype=None):
        self.seed = _call.u64(seed, "seed")
        self.materializing = materializing
        if program_scheme(scheme, module) and opts:
            raise TypeError(f"scheme {scheme!r} runs the model's own init program, which takes no options "
                            f"(got {sorted(opts)}); a Hugging Face model reads them from its config "
                            f"(model.config.initializer_range)")
        opts = options(scheme, opts)
        if opts.get("num_layers", 0) is None:
            opts["num_layers"] = count_layers(module)
            if opts["num_layers"] is None and (NEEDS_LAYERS.get(scheme) or not opts.get("depth_init", True)):
                raise ValueError(f"scheme {scheme!r} needs the number of layers and none could be read from "
                                 f"the module's names (layers.<i>, h.<i>, blocks.<i>): pass num_layers=")
        self.params = dict(module.named_parameters())          # tied: the first name
        self.buffers = dict(module.named_buffers())
        tensors = {**self.params, **self.buffers}
        for n, t in tensors.items():
            if isinstance(t, nn.parameter.UninitializedTensorMixin):
                raise ValueError(f"{n} is an uninitialized lazy parameter: run a forward pass (or give the "
                                 f"module its in_features) before initializing it")
        meta = {n for n, t in tensors.items() if _is_meta(t)}
        if meta and not materializing:
            raise ValueError(f"{min(meta, key=list(tensors).index)} is on the meta device: allocate and "
                             f"initialize it with fastinit.torch.materialize_(module, device, seed=...)")
        writable = meta if materializing else set(tensors)
        self.rewritten = set()             # ids of tensors not on meta that materialize_ writes (fresh memory)
        if program_scheme(scheme, module):
            recorded = self._record(module, tensors)
            if materializing and _program._is_hf(module) and len(meta) < len(tensors):
                # a tensor that Hugging Face's constructor itself makes off the meta device
                # (torch.Tensor(n) in Wav2Vec2: torch's random numbers, or uninitialized memory)
                # is written where the program writes the whole of it and no flag says it was
                # loaded; any other tensor off meta was put there by the user (loaded): kept
                made = _program.hf_made_off_meta(module)
                extra = {n for n in tensors if n not in meta and n in made and recorded.get(n)
                         and recorded[n][0].box is None}
                writable = meta | extra
                self.rewritten = {id(tensors[n]) for n in extra}
            self.overrides = _overrides(overrides, module, tensors, writable)
            steps, writer, kept = self._program(recorded, tensors, writable, meta, dtype)
        else:
            self.overrides = _overrides(overrides, module, tensors, writable)
            steps, writer, kept = self._table(module, scheme, opts, tensors, writable, meta, dtype)
        # an explicit fill overwritten by a later explicit fill is dropped
        self.steps = [s for i, s in enumerate(steps)
                      if s[0] == "reset" or writer.get(s[1]) == i or writer.get(s[1]) == "reset"]
        self.resets = {n for s in self.steps if s[0] == "reset" for n in s[2]}
        covered = set(writer) | {n for n, _ in self.overrides} | kept
        covered |= {n for n, t in tensors.items() if t.numel() == 0}
        missing = [n for n in self.params if n not in covered and n in writable]
        if materializing:
            missing += [n for n in self.buffers if n not in covered and n in meta]
        if missing and scheme != "torch" and not program_scheme(scheme, module):
            # a named recipe sits on top of the model's own program: what its rules do not
            # name (rotary tables, a model's own parameters) gets the program's writes
            recorded = self._record(module, tensors)
            for n in list(missing):
                if recorded.get(n):
                    self.steps.append(("fill", n, _check_program(n, tensors[n], recorded[n], dtype)))
                    missing.remove(n)
        if missing and (strict or materializing):
            what = (f"the model's init program ({_program.program_name(module)}) writes nothing into"
                    if program_scheme(scheme, module) else f"scheme {scheme!r} has no rule for")
            raise ValueError(
                f"{what} {len(missing)} tensor(s): {', '.join(missing[:8])}"
                f"{' ...' if len(missing) > 8 else ''}; give them one with overrides={{'pattern': "
                f"filler or value}}" + ("" if materializing else ", or pass strict=False to leave them as they are"))

    def _record(self, module, tensors):
        """{name: [Step]}: the model's own init program (``_program.record``).
        ``init_module_`` initializes every tensor again (Hugging Face's flags
        cleared while recording); ``materialize_`` honours them."""
        names = {}
        for n, t in tensors.items():
            names.setdefault(id(t), n)
        return _program.record(module, names, fresh=not self.materializing)

    def _program(self, recorded, tensors, writable, meta, dtype):
        """The steps of the recorded program for the tensors to write."""
        steps, writer, kept = [], {}, set()
        for n, t in tensors.items():
            prog = recorded.get(n)
            if n not in writable:
                continue
            if not prog:
                if n not in meta and _constant_valued(t):
                    kept.add(n)        # a constant its constructor wrote and its program leaves
                continue
            steps.append(("fill", n, _check_program(n, t, prog, dtype)))
            writer[n] = len(steps) - 1
        return steps, writer, kept

    def _table(self, module, scheme, opts, tensors, writable, meta, dtype):
        """The steps of a scheme's rules (``_schemes.RULES``)."""
        rules = RULES[scheme]
        steps, writer, kept = [], {}, set()
        for prefix, mod in _post_order(module):
            r = rules(mod, prefix, opts)
            if r is None:
                continue
            own = [_join(prefix, n) for n, _ in (*mod.named_parameters(recurse=False),
                                                   *mod.named_buffers(recurse=False))]
            own = [n for n in own if n in tensors]
            if r == "constructor":         # constants its __init__ wrote: kept where they exist
                kept.update(n for n in own if n not in meta and _constant_valued(tensors[n]))
                continue
            if r == "reset":
                mine = [n for n in own if n in writable]
                if not mine:
                    continue
                if len(mine) != len(own):
                    raise ValueError(f"{prefix or type(mod).__name__}.reset_parameters() would write "
                                     f"{sorted(set(own) - set(mine))}, which are not on the meta device")
                steps.append(("reset", mod, own))
                for n in own:
                    writer.setdefault(n, "reset")
                continue
            for rel, fill in r.items():
                full = _join(prefix, rel)
                if full in tensors and fill is not None and full in writable:
                    steps.append(("fill", full, _check_fill(full, tensors[full], fill, dtype)))
                    writer[full] = len(steps) - 1
        return steps, writer, kept

    def run(self, module):
        params_buffers = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        names = {}
        if self.resets:
            for n, t in params_buffers.items():
                names[id(t)] = n
                if not t.is_meta and not is_dtensor(t):
                    names[_alias_key(t)] = n
        before = {n: params_buffers[n]._version for n in self.resets}
        resolver = _Resolver(self.seed, names)
        hooks = (patch(), resolving(resolver)) if self.resets else ()
        with torch.no_grad(), contextlib.ExitStack() as stack:
            for h in hooks:                # one patch() around every reset
                stack.enter_context(h)
            for step in self.steps:
                if step[0] == "reset":
                    step[1].reset_parameters()
                else:
                    _, name, fill = step
                    apply(fill, params_buffers[name], self.seed, name)
            for name, fn in self.overrides:
                t = params_buffers[name]
                fill_pieces(t, (self.seed, name, pieces(t)), fn)
        # materializing: a module's own reset_parameters that skipped one of its tensors
        overridden = {n for n, _ in self.overrides}
        skipped = [n for n in self.resets if params_buffers[n]._version == before[n]
                   and n not in resolver.hits and n not in overridden]
        if skipped and self.materializing:
            raise RuntimeError(f"reset_parameters() did not write {skipped}: their memory is uninitialized; "
                               f"give them overrides={{name: filler or value}}")
        return module


def _is_meta(t):
    return t.is_meta or (is_dtensor(t) and t._local_tensor.is_meta)


def _constant_valued(t):
    return not is_dtensor(t) and t.numel() > 0 and bool((t == t.reshape(-1)[0]).all())


def _check_fill(name, t, fill, dtype=None):
    """The checks a fill would make on its own, made before anything is
    written, for ``t`` as it will be (in ``dtype``, where given): the
    dtype, the device, the placement, the parameters in the target dtype
    (values that do not fit it, too little mass between truncation bounds).
    A fill computed from the model ("compute": rotary frequencies) is
    computed now and its shape checked; the schedule copies the result.
    Returns the fill the schedule runs."""
    if fill.kind == "zero_int":
        return fill
    if fill.kind == "compute":
        value = fill.args[0]()
        if not isinstance(value, torch.Tensor) or _broadcast(value.shape, t.shape) != tuple(t.shape):
            shown = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"{name}: its computed value ({shown}) does not fit its shape {tuple(t.shape)}")
        return fill._replace(kind="copy", args=(value,))
    if t.dtype not in FLOATS:
        raise TypeError(f"{name} has dtype {t.dtype}; fastinit fills {_dtypes.SUPPORTED} "
                        f"(give it an override, or leave it out with strict=False)")
    local = t._local_tensor if is_dtensor(t) else t
    if local.device.type not in ("cpu", "meta", "cuda"):
        raise ValueError(f"{name} is on {local.device}; fastinit fills CPU and CUDA memory")
    if local.device.type == "cuda":
        _call.cuda_backend()                # a clear ImportError now, not halfway
    if is_dtensor(t):
        pieces(t)                          # refuses Partial placements
    kind = _dtypes.of_torch(dtype if dtype is not None else t.dtype).code
    try:
        _distributions.of(fill.kind).params(*(float(v) for v in fill.args), kind)
    except (ValueError, ZeroDivisionError) as e:
        raise ValueError(f"{name}: {e}") from None
    return fill


def _check_program(name, t, steps, dtype=None):
    """``_check_fill`` for each step of a recorded program; returns the
    fill that replays them."""
    for st in steps:
        if st.kind in _distributions.RANDOM or (
                st.kind == _distributions.CONSTANT and t.dtype in FLOATS and math.isfinite(st.args[0])):
            try:
                _check_fill(name, t, Fill(st.kind, tuple(st.args)), dtype)
            except TypeError as e:
                raise TypeError(f"{e}; the init program calls {st.call} on it") from None
    return Fill("program", (tuple(steps),))


def _broadcast(shape, target):
    try:
        return tuple(torch.broadcast_shapes(shape, target))
    except RuntimeError:
        return None


class _Resolver:
    def __init__(self, seed, names):
        self.seed, self.names, self.hits = seed, names, set()

    def __call__(self, tensor):
        n = self.names.get(id(tensor))
        if n is None and not tensor.is_meta and not is_dtensor(tensor):
            n = self.names.get(_alias_key(tensor))
        if n is None:
            return None
        self.hits.add(n)
        return self.seed, n


def _alias_key(t):
    """Same memory, same view: ``param.data`` is ``param`` for this purpose."""
    return (t.device, t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)


def _join(prefix, name):
    return f"{prefix}.{name}" if prefix else name


def _overrides(overrides, module, tensors, writable):
    """[(name, filler)] from {fnmatch pattern: filler or number}; the first
    matching pattern wins; a tied tensor matches under any of its names.  A
    filler is called as ``filler(local, *, seed, stream, global_shape,
    offsets)``, the signature of fastinit's fillers
    (``functools.partial(fastinit.normal_, std=0.02)``)."""
    if overrides is None:
        return []
    if not isinstance(overrides, dict):
        raise TypeError(f"overrides must be a dict {{fnmatch pattern: filler or number}}; got {overrides!r}")
    fns = []
    for pat, f in overrides.items():
        if not isinstance(pat, str):
            raise TypeError(f"overrides keys must be fnmatch patterns of parameter names; got {pat!r}")
        if isinstance(f, numbers.Real) and not isinstance(f, bool):
            f = _constant_filler(float(f))
        elif not callable(f):
            raise TypeError(f"overrides[{pat!r}] must be a filler (callable) or a number; got {f!r}")
        fns.append((pat, f))
    canonical = {id(t): n for n, t in tensors.items()}
    every = [(n, canonical[id(t)]) for n, t in (*module.named_parameters(remove_duplicate=False),
                                                 *module.named_buffers(remove_duplicate=False))]
    out, used, done = [], set(), set()
    for alias, name in every:
        if name in done:
            continue
        for pat, f in fns:
            if fnmatch.fnmatchcase(alias, pat):
                used.add(pat)
                if name in writable:
                    out.append((name, f))
                    done.add(name)
                break
    unused = [p for p, _ in fns if p not in used]
    if unused:
        raise ValueError(f"overrides pattern(s) {unused} match no parameter or buffer name")
    return out


def _constant_filler(value):
    def fill(buf, **kw):
        if buf.dtype in FLOATS:
            return _fi.constant_(buf, value, **kw)
        return buf.fill_(value)                 # an integer buffer (a step counter)
    return fill


def apply(fill, tensor, seed, stream):
    """Write ``fill`` into every local piece of ``tensor``."""
    if fill.kind == "zero_int":
        tensor.zero_()
        return
    if fill.kind == "copy":                # computed while the schedule was built (_check_fill)
        tensor.copy_(fill.args[0])
        return
    if fill.kind == "program":             # a recorded init program, replayed piece by piece
        cache = {}
        for p in pieces(tensor):
            advise_hugepages(p.local)
            _program.replay(fill.args[0], p.local, p.global_shape, p.offsets, seed, stream, cache)
        return
    fn = filler(fill.kind)
    parts = pieces(tensor)
    fill_pieces(tensor, (seed, stream, parts), fn, *fill.args)
    for p in parts:
        for row in fill.zero_rows:
            lo = p.offsets[0]
            if lo <= row < lo + p.local.shape[0]:
                _fi.zeros_(p.local[row - lo])


def init_module_(module, *, seed, scheme="own", overrides=None, strict=True, **scheme_options):
    """Initialize every parameter (and the buffers the scheme sets) of
    ``module`` in place, with ``stream`` = the tensor's qualified name.

    The default scheme, "own", runs the model's own init program (each
    module's ``reset_parameters``, then Hugging Face's
    ``initialize_weights()`` or a model's own ``init_weights()``), recorded
    on meta stand-ins of its tensors and replayed per tensor
    (``fastinit.torch._program``); what it cannot replay raises
    ``ProgramError`` naming the tensor and the call, before any write.

    Values depend only on (seed, name, shape, scheme): not on the order the
    modules were built in, the device, the dtype (a bfloat16 model holds the
    float32 values rounded) or the sharding (DTensor parameters fill only
    their local shard, with fans from the global shape; the gathered
    parameters equal the single-process ones bit for bit).

    Under the tables, modules outside them that define ``reset_parameters``
    run it, with ``torch.nn.init`` and ``Tensor.normal_`` / ``uniform_``
    through fastinit keyed to the parameter's name; random draws it makes
    in other ways come from torch's RNG.

    Parameters
    ----------
    module : torch.nn.Module, with its parameters allocated (for a model on
        the meta device use ``materialize_``).
    seed : int in [0, 2**64).
    scheme : "own" (the model's own init program), or a named recipe:
        "torch" (torch's ``reset_parameters`` as a table), "hf" (on a
        Hugging Face model its own program, on other modules the generic
        ``_init_weights`` table), "megatron", "olmo" or "torchtitan"; see
        ``fastinit.torch.SCHEMES`` and the module docstring of
        ``fastinit.torch._schemes`` for the sources.
    overrides : {fnmatch pattern of qualified names: filler or number}:
        a filler is called as ``filler(local, seed=, stream=, global_shape=,
        offsets=)`` (e.g. ``functools.partial(fastinit.normal_, std=0.02)``),
        a number fills a constant.  Applied last.
    strict : raise (before writing anything) when the scheme has no rule for
        a parameter; ``False`` leaves such parameters as they are.
    **scheme_options : the scheme's knobs (none for "own", nor for "hf" on
        a Hugging Face model, which reads its config): ``initializer_range`` (hf),
        ``init_method_std`` / ``num_layers`` / ``output_layers`` (megatron),
        ``std`` / ``cutoff_factor`` (olmo), ``depth_init`` / ``num_layers``
        / ``output_layers`` / ``head_layers`` (torchtitan).

    Returns
    -------
    module
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    return _InitSchedule(module, seed, scheme, overrides, strict, scheme_options).run(module)


def materialize_(module, device, *, seed, scheme="own", dtype=None, overrides=None, **scheme_options):
    """Allocate a module built on the meta device on ``device`` and
    initialize it (``init_module_``'s values), without any full-size
    temporary: each tensor is allocated in its final dtype and written once.

    Only tensors on the meta device are initialized; the others keep their
    values and are moved (and cast) as ``Module.to`` would, so a loaded
    backbone with a new head on meta keeps its weights.  In a Hugging Face
    model under its own program, Hugging Face's flags are honoured (what
    ``_is_hf_initialized`` marks is kept), and the tensors its constructor
    makes off the meta device even inside ``torch.device("meta")``
    (Wav2Vec2's ``masked_spec_embed``: torch's random numbers, or
    uninitialized memory), unflagged, are written where the program writes
    them whole.  Tied parameters stay tied.  DTensor parameters (e.g. FSDP2's
    ``fully_shard`` applied on the meta device) get only their local shard.
    Large CPU tensors are allocated with transparent huge pages
    (``madvise``), which makes their first touch several times cheaper.

    Parameters
    ----------
    module : torch.nn.Module.
    device : torch.device or str, where the tensors go.
    seed, scheme, overrides, **scheme_options : as ``init_module_``; every
        meta parameter and buffer must be written by the program, a rule or
        an override (there is no ``strict=False``: the alternative is
        uninitialized memory).
    dtype : floating torch.dtype or None: floating-point tensors are
        allocated in it (as ``Module.to(dtype)``).

    Returns
    -------
    module
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be a torch device or its name; got {device!r} ({e})") from None
    if device.type == "meta":
        raise ValueError("device must be a real device, not 'meta'")
    if dtype is not None and dtype not in FLOATS:
        raise TypeError(f"dtype must be None or one of {_dtypes.SUPPORTED} (what fastinit fills); "
                        f"got {dtype!r}")
    schedule = _InitSchedule(module, seed, scheme, overrides, True, scheme_options, materializing=True,
                             dtype=dtype)
    memo, swapped = {}, []
    try:
        for mod in module.modules():
            for store, is_param in ((mod._parameters, True), (mod._buffers, False)):
                for attr, t in list(store.items()):
                    if t is None:
                        continue
                    if id(t) not in memo:
                        new = _memory.allocate_like(t, device, dtype, fresh=id(t) in schedule.rewritten)
                        memo[id(t)] = nn.Parameter(new, requires_grad=t.requires_grad) if is_param else new
                    swapped.append((store, attr, t))
                    store[attr] = memo[id(t)]
        return schedule.run(module)
    except BaseException:
        # whatever failed (a user's reset_parameters, an override, a tensor
        # left unwritten, memory): the module holds its meta tensors again,
        # the same objects, and no allocated memory stays reachable from it
        for store, attr, t in reversed(swapped):
            store[attr] = t
        raise
