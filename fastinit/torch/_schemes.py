"""Initialization schemes: for a module, which fill each of its parameters
and buffers gets.  Parameters are computed from global shapes (a DTensor's
``shape``), so a sharded parameter gets the values of the whole one.

The default, ``"own"``, has no table: it runs the model's own init
program (``_program``).  The others are named recipes, rules over module
types and names.

Sources (read 2026-11; each scheme is the named code's default):

* ``"torch"``: each module's own ``reset_parameters`` in torch 2.13
  (``torch/nn/modules/linear.py``, ``conv.py``, ``sparse.py``,
  ``normalization.py``, ``batchnorm.py``, ``rnn.py``, ``activation.py``
  ``MultiheadAttention._reset_parameters``, ``transformer.py``
  ``Transformer._reset_parameters``), restated as a table so that every
  tensor's fill is known and checked before any write (why, above
  ``torch_rules``).  Modules not in the table run their own
  ``reset_parameters`` with fastinit's ``torch.nn.init`` (see
  ``init_module_``).
* ``"hf"``: Hugging Face transformers' generic ``PreTrainedModel._init_weights``
  (``modeling_utils.py``, v5.24): Linear, Conv and GPT-2's ``Conv1D`` and
  Embedding weights N(0, initializer_range), biases 0, the ``padding_idx``
  row 0, LSTM xavier-uniform weights and zero biases, modules whose class name
  contains ``LayerNorm`` or ``RMSNorm`` and GroupNorm / BatchNorm: weight 1,
  bias 0, running stats reset; rotary ``inv_freq`` recomputed.  Models with
  their own ``_init_weights`` (Gemma's zero-centred norms) differ: give
  those tensors ``overrides``.
* ``"megatron"``: Megatron-LM (megatron-core ``utils.init_method_normal``,
  ``scaled_init_method_normal``, ``TransformerConfig``): weights
  N(0, init_method_std), the output projections of attention and MLP
  (``linear_proj``, ``linear_fc2``) N(0, init_method_std / sqrt(2 L)),
  biases 0, norms weight 1 / bias 0.
* ``"olmo"``: OLMo-2 (OLMo-core ``InitMethod.normal``, ``init_linear``):
  every Linear and Embedding weight a normal of std 0.02 truncated at +-3
  std, biases 0, norms 1 / 0.
* ``"torchtitan"``: torchtitan's Llama 3 ``init_weights``
  (``torchtitan/models/llama3/model``): token embedding N(0, 1); in layer
  i, q/k/v and w1 ``trunc_normal_(std=0.02)`` and wo, w2, w3
  ``trunc_normal_(std=0.02 / sqrt(2 (i + 1)))`` (``depth_init=True``; else
  0.02 / sqrt(2 L)), both with torch's absolute bounds [-2, 2]; the output
  layer ``trunc_normal_`` with std = dim^-0.5 cut at +-3 std; norms 1,
  biases 0.

Modules are recognised by type (torch.nn) and, for the roles that have no
type of their own, by the name of the module, matched with fnmatch against
the patterns below (HF Llama, GPT-2, Megatron, torchtitan and OLMo names);
each scheme option that takes patterns can replace them.
"""
import fnmatch
import math
import re
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import init as _init

from .._distributions import CONSTANT, NORMAL, TRUNC_NORMAL, UNIFORM
from ._fill import kaiming_std, xavier_bound, xavier_std

SCHEMES = ("own", "torch", "hf", "megatron", "olmo", "torchtitan")

#: Modules whose weight is an output projection of a residual branch
#: (attention out, MLP down): Megatron's scaled init, torchtitan's depth init.
OUTPUT_LAYERS = ("*o_proj", "*down_proj", "*.wo", "wo", "*.w2", "w2", "*c_proj", "*out_proj",
                 "*linear_proj", "*linear_fc2", "*dense_4h_to_h", "*attn_out", "*ff_out")
#: torchtitan also depth-scales the MLP's up projection (w3).
UP_LAYERS = ("*.w3", "w3", "*up_proj")
#: The model's final projection onto the vocabulary.
HEAD_LAYERS = ("output", "lm_head", "*.lm_head", "*.output_layer", "output_layer")
#: Where a block's index is read from its qualified name.
LAYER_INDEX = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)(?:\.|$)")

_OPTIONS = {
    "own": {},
    "torch": {},
    "hf": {"initializer_range": 0.02},
    "megatron": {"init_method_std": 0.02, "num_layers": None, "output_layers": OUTPUT_LAYERS},
    "olmo": {"std": 0.02, "cutoff_factor": 3.0},
    "torchtitan": {"depth_init": True, "num_layers": None, "output_layers": OUTPUT_LAYERS + UP_LAYERS,
                   "head_layers": HEAD_LAYERS},
}


class Fill(NamedTuple):
    """One write of a whole tensor.  ``kind``: a distribution
    (``fastinit._distributions``, its ``args`` in order), "zero_int" (an
    integer buffer set to 0), "compute" (fn,): a
    deterministic buffer, ``fn()`` copied in (rotary frequencies; computed
    while the schedule is built, which then holds it as "copy" (tensor,))."""
    kind: str
    args: tuple = ()
    zero_rows: tuple = ()          # rows of dim 0 set to 0 afterwards (padding_idx)


def _uniform(bound):
    return Fill(UNIFORM, (-bound, bound))


ONE, ZERO = Fill(CONSTANT, (1.0,)), Fill(CONSTANT, (0.0,))


def program_scheme(scheme, module):
    """Whether ``scheme`` on ``module`` runs the model's own init program
    (``_program``): "own" always, "hf" on a Hugging Face model (its own
    ``_init_weights``; on other modules "hf" is the generic table)."""
    if scheme == "own":
        return True
    if scheme == "hf":
        from ._program import _is_hf
        return _is_hf(module)
    return False


def options(scheme, given):
    """The scheme's options, the given ones checked and merged over the defaults."""
    if scheme not in _OPTIONS:
        raise ValueError(f"scheme must be one of {', '.join(map(repr, SCHEMES))}; got {scheme!r}")
    valid = _OPTIONS[scheme]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise TypeError(f"scheme {scheme!r} takes the options {sorted(valid) or 'none'}; got {unknown}")
    opts = dict(valid, **given)
    for k, v in opts.items():
        if k.endswith("_layers") and k != "num_layers":
            v = v if isinstance(v, str) else tuple(v)
            if isinstance(v, str) or not all(isinstance(p, str) for p in v):
                raise TypeError(f"{k} must be a sequence of fnmatch patterns (strings); got {v!r}")
            opts[k] = tuple(v)
        elif k in ("initializer_range", "init_method_std", "std", "cutoff_factor"):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{k} must be a finite number > 0; got {v!r}")
        elif k == "num_layers" and v is not None:
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"num_layers must be a positive integer; got {v!r}")
    return opts


def count_layers(module):
    """The number of blocks, from the largest ``layers.<i>`` index in the names."""
    ids = [int(m.group(1)) for name, _ in module.named_modules() for m in [LAYER_INDEX.search(name)] if m]
    return max(ids) + 1 if ids else None


def _matches(name, patterns):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _own(cls, mod, method="reset_parameters"):
    """Whether ``mod`` initializes as torch's ``cls`` does (no override)."""
    return isinstance(mod, cls) and getattr(type(mod), method, None) is getattr(cls, method)


def _is_norm(mod):
    name = type(mod).__name__
    return "LayerNorm" in name or "RMSNorm" in name or isinstance(
        mod, (nn.LayerNorm, nn.RMSNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase))


def _norm(mod):
    out = {}
    if isinstance(getattr(mod, "weight", None), torch.Tensor):
        out["weight"] = ONE
    if isinstance(getattr(mod, "bias", None), torch.Tensor):
        out["bias"] = ZERO
    return out


def _linear_like(mod):
    return isinstance(mod, nn.Linear) or type(mod).__name__ == "Conv1D"   # GPT-2's transposed Linear


# ----------------------------------------------------------------- torch's own defaults
# The table below restates torch's reset_parameters for torch.nn's own
# modules, although running them under patch() (what modules outside the
# table get, the "reset" steps) gives the same bits for whole tensors.  It
# is what lets init_module_ and materialize_ keep their contract for them:
#
# * Checked before any write.  A fill is known per tensor, so a dtype
#   fastinit does not fill (complex, integer), an unsupported device, CUDA
#   without numba-cuda or a Partial DTensor raises before anything is
#   written.  Under patch(), reset_parameters would hand such a tensor to
#   torch's own filler: no error, values from torch's RNG, not from (seed,
#   name, shape) (tests/test_torch_module.py,
#   test_schedule_errors_come_before_any_write).
# * Per tensor, not per module.  materialize_ writes only the meta tensors
#   of a module (a loaded bias keeps its value beside a new weight); a
#   reset_parameters writes all of them, so "reset" steps are refused when
#   some are not on meta.
# * Sharded tensors.  Embedding's padding row is zeroed piece by piece at
#   its global index (``zero_rows``); torch's ``weight[padding_idx].fill_(0)``
#   on a row-sharded DTensor (Shard(0)) leaves the row as it was
#   (tests/test_torch_distributed.py).
# * MultiheadAttention and Transformer have no reset_parameters, only
#   ``_reset_parameters``, called from their constructors.
# * The hf, megatron, olmo and torchtitan schemes fall back to these rules
#   for the modules they do not name.
#
# Speed is not the reason: the table saves patch()'s per-call cost (a few
# tens of microseconds per tensor), which shows on a tiny model and not on
# a large one.
def torch_rules(mod, name, opts):
    """{relative name: Fill} as torch 2.13's ``reset_parameters`` of
    ``mod``; "reset" for a module with its own ``reset_parameters`` outside
    the table; None when the module initializes nothing itself."""
    out = {}
    if _own(nn.Linear, mod) or _own(nn.modules.conv._ConvNd, mod):
        w = mod.weight
        if w.numel():
            out["weight"] = _uniform(math.sqrt(3.0) * kaiming_std(w, math.sqrt(5)))
        if mod.bias is not None:
            fan_in, _ = _init._calculate_fan_in_and_fan_out(w)
            out["bias"] = _uniform(1 / math.sqrt(fan_in) if fan_in > 0 else 0)
        return out
    if _own(nn.Bilinear, mod):
        bound = 1 / math.sqrt(mod.weight.size(1))
        return {"weight": _uniform(bound), **({"bias": _uniform(bound)} if mod.bias is not None else {})}
    if _own(nn.Embedding, mod) or _own(nn.EmbeddingBag, mod):
        pad = () if mod.padding_idx is None else (mod.padding_idx,)
        return {"weight": Fill(NORMAL, (0.0, 1.0), pad)}
    if _own(nn.modules.batchnorm._NormBase, mod):
        if mod.track_running_stats:
            out.update(running_mean=ZERO, running_var=ONE, num_batches_tracked=Fill("zero_int"))
        if mod.affine:
            out.update(weight=ONE, bias=ZERO)
        return out
    if _own(nn.LayerNorm, mod) or _own(nn.RMSNorm, mod) or _own(nn.GroupNorm, mod):
        return _norm(mod)
    if _own(nn.MultiheadAttention, mod, "_reset_parameters"):
        for p in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            if getattr(mod, p, None) is not None:
                out[p] = _uniform(xavier_bound(getattr(mod, p)))
        if mod.in_proj_bias is not None:
            out["in_proj_bias"] = out["out_proj.bias"] = ZERO
        for p in ("bias_k", "bias_v"):
            if getattr(mod, p, None) is not None:
                out[p] = Fill(NORMAL, (0.0, xavier_std(getattr(mod, p))))
        return out
    if _own(nn.modules.rnn.RNNBase, mod) or _own(nn.modules.rnn.RNNCellBase, mod):
        stdv = 1.0 / math.sqrt(mod.hidden_size) if mod.hidden_size > 0 else 0
        return {n: _uniform(stdv) for n, _ in mod.named_parameters(recurse=False)}
    if _own(nn.PReLU, mod):
        return {"weight": Fill(CONSTANT, (float(mod.init),))}
    if _own(nn.Transformer, mod, "_reset_parameters"):
        return {n: _uniform(xavier_bound(p)) for n, p in mod.named_parameters() if p.dim() > 1}
    if callable(getattr(mod, "reset_parameters", None)):
        return "reset"
    if _is_norm(mod):
        # e.g. HF's LlamaRMSNorm (ones) or GemmaRMSNorm (zeros, used as 1 + w):
        # the constructor's constant is the module's default; kept as it is
        return "constructor"
    return None


# ----------------------------------------------------------------- presets
_HF_NORMAL = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d)


def _hf(mod, name, opts):
    """transformers 5.24's ``PreTrainedModel._init_weights``, branch by branch."""
    r = opts["initializer_range"]
    if isinstance(mod, _HF_NORMAL) or type(mod).__name__ == "Conv1D":
        return {"weight": Fill(NORMAL, (0.0, r)), **({"bias": ZERO} if mod.bias is not None else {})}
    if isinstance(mod, nn.LSTM):
        return {n: (_uniform(xavier_bound(p)) if "weight" in n else ZERO)
                for n, p in mod.named_parameters(recurse=False) if "weight" in n or "bias" in n}
    if isinstance(mod, nn.Embedding):
        pad = () if mod.padding_idx is None else (mod.padding_idx,)
        return {"weight": Fill(NORMAL, (0.0, r), pad)}
    if isinstance(mod, nn.MultiheadAttention):
        return torch_rules(mod, name, opts)
    if isinstance(mod, (nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) or \
            "LayerNorm" in type(mod).__name__ or "RMSNorm" in type(mod).__name__:
        out = _norm(mod)
        if isinstance(getattr(mod, "running_mean", None), torch.Tensor):
            out.update(running_mean=ZERO, running_var=ONE)
            if isinstance(getattr(mod, "num_batches_tracked", None), torch.Tensor):
                out["num_batches_tracked"] = Fill("zero_int")
        return out
    if "RotaryEmbedding" in type(mod).__name__ and hasattr(mod, "original_inv_freq"):
        return {"inv_freq": Fill("compute", (lambda: _hf_rope(mod),)),
                "original_inv_freq": Fill("compute", (lambda: _hf_rope(mod),))}
    return torch_rules(mod, name, opts)


def _hf_rope(mod):
    """The rotary frequencies as transformers 5.24's ``_init_weights`` recomputes them."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    fns = {"axial": getattr(mod, "compute_axial_rope_parameters", None),
           "ntk_alpha": getattr(mod, "compute_ntk_alpha_rope_parameters", None),
           "default": getattr(mod, "compute_default_rope_parameters", None), **ROPE_INIT_FUNCTIONS}
    return fns[mod.rope_type](mod.config)[0]


def _weights(mod, name, weight_fill, opts):
    """Linear-like and Embedding weights get ``weight_fill``, biases 0, norms 1 / 0;
    anything else torch's default."""
    if _linear_like(mod):
        return {"weight": weight_fill, **({"bias": ZERO} if mod.bias is not None else {})}
    if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
        pad = () if mod.padding_idx is None else (mod.padding_idx,)
        return {"weight": weight_fill._replace(zero_rows=pad)}
    if _is_norm(mod):
        return _norm(mod)
    return torch_rules(mod, name, opts)


def _megatron(mod, name, opts):
    sigma = opts["init_method_std"]
    if _linear_like(mod) and _matches(name, opts["output_layers"]):
        sigma = sigma / math.sqrt(2.0 * opts["num_layers"])
    return _weights(mod, name, Fill(NORMAL, (0.0, sigma)), opts)


def _olmo(mod, name, opts):
    std, cut = opts["std"], opts["cutoff_factor"]
    return _weights(mod, name, Fill(TRUNC_NORMAL, (0.0, std, -cut * std, cut * std)), opts)


def _torchtitan(mod, name, opts):
    if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)):
        return _weights(mod, name, Fill(NORMAL, (0.0, 1.0)), opts)
    if _linear_like(mod):
        if _matches(name, opts["head_layers"]):
            std = mod.weight.shape[-1] ** -0.5
            return _weights(mod, name, Fill(TRUNC_NORMAL, (0.0, std, -3 * std, 3 * std)), opts)
        std = 0.02
        if _matches(name, opts["output_layers"]):
            m = LAYER_INDEX.search(name)
            if opts["depth_init"] and m:
                std = 0.02 / (2 * (int(m.group(1)) + 1)) ** 0.5
            elif opts["num_layers"] is None:
                raise ValueError(f"{name} is an output layer outside any layers.<i> block: pass num_layers=")
            else:
                std = 0.02 / (2 * opts["num_layers"]) ** 0.5
        return _weights(mod, name, Fill(TRUNC_NORMAL, (0.0, std, -2.0, 2.0)), opts)
    return _weights(mod, name, None, opts)


RULES = {"torch": torch_rules, "hf": _hf, "megatron": _megatron, "olmo": _olmo, "torchtitan": _torchtitan}
NEEDS_LAYERS = {"megatron": True, "torchtitan": False}
