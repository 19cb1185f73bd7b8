"""fastinit.torch.init_module_ / materialize_: the schemes, one stream per
qualified name, independence from construction order and dtype, meta
materialization without temporaries, strictness and bad input."""
import functools
import math

import pytest

torch = pytest.importorskip("torch")
import fastinit as fi                      # noqa: E402
import fastinit.torch as ft                # noqa: E402
from torch_checks import assert_equal_states as _equal, state as _state  # noqa: E402
from models import llama                   # noqa: E402

nn = torch.nn
SEED = 2024


def _zoo():
    return nn.Sequential(nn.Embedding(100, 64, padding_idx=3), nn.Linear(64, 256), nn.LayerNorm(256),
                         nn.Conv1d(256, 32, 3), nn.MultiheadAttention(32, 4, add_bias_kv=True),
                         nn.BatchNorm1d(8), nn.LSTM(8, 16), nn.Bilinear(4, 5, 6), nn.PReLU(3), nn.RMSNorm(7))


def test_torch_scheme_known_values():
    """Each tensor is fastinit's filler with stream = its qualified name and
    torch's default parameters (torch 2.13's reset_parameters)."""
    m = ft.init_module_(_zoo(), seed=SEED)

    def ref(shape, fn, *args):
        return fn(torch.empty(shape), *args, seed=SEED, stream=name)
    name = "0.weight"
    emb = ref((100, 64), fi.normal_, 0.0, 1.0)
    emb[3] = 0
    assert torch.equal(m[0].weight, emb)
    name = "1.weight"
    b = math.sqrt(3.0) * math.sqrt(2.0 / 6) / math.sqrt(64)
    assert torch.equal(m[1].weight, ref((256, 64), fi.uniform_, -b, b))
    name = "1.bias"
    assert torch.equal(m[1].bias, ref((256,), fi.uniform_, -1 / 8, 1 / 8))
    assert (m[2].weight == 1).all() and (m[2].bias == 0).all() and (m[9].weight == 1).all()
    name = "3.bias"
    assert torch.equal(m[3].bias, ref((32,), fi.uniform_, -1 / math.sqrt(768), 1 / math.sqrt(768)))
    name = "4.in_proj_weight"
    bx = math.sqrt(3.0) * math.sqrt(2.0 / (32 + 96))
    assert torch.equal(m[4].in_proj_weight, ref((96, 32), fi.uniform_, -bx, bx))
    assert (m[4].in_proj_bias == 0).all() and (m[4].out_proj.bias == 0).all()
    name = "4.bias_k"
    assert torch.equal(m[4].bias_k, ref((1, 1, 32), fi.normal_, 0.0, math.sqrt(2.0 / 64)))
    assert (m[5].running_var == 1).all() and (m[5].running_mean == 0).all() and m[5].num_batches_tracked == 0
    name = "6.weight_hh_l0"
    assert torch.equal(m[6].weight_hh_l0, ref((64, 16), fi.uniform_, -0.25, 0.25))
    name = "7.weight"
    assert torch.equal(m[7].weight, ref((6, 4, 5), fi.uniform_, -0.5, 0.5))
    assert (m[8].weight == 0.25).all()


def test_values_do_not_depend_on_construction_order_or_torch_rng():
    torch.manual_seed(0)
    a = llama("tiny")
    torch.manual_seed(1)
    b = llama("tiny")
    b.layers = nn.ModuleList(reversed(list(b.layers)))       # built in another order
    b.layers = nn.ModuleList(reversed(list(b.layers)))
    _equal(_state(ft.init_module_(a, seed=SEED)), _state(ft.init_module_(b, seed=SEED)))
    c = ft.init_module_(llama("tiny"), seed=SEED + 1)
    assert not torch.equal(a.output.weight, c.output.weight)


@pytest.mark.parametrize("scheme", ft.SCHEMES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_the_float32_model_rounded(scheme, dtype):
    f32 = ft.init_module_(llama("tiny"), seed=SEED, scheme=scheme)
    half = ft.init_module_(llama("tiny").to(dtype), seed=SEED, scheme=scheme)
    for (n, p), q in zip(f32.named_parameters(), half.parameters()):
        r = p.detach().to(dtype)
        diff = r != q
        # a truncated normal keeps every value in [a, b]: where the float32
        # value rounds outside, the half value is the bound's last
        # representable value inside, one step toward zero
        assert diff.sum().item() <= max(1, p.numel() // 1000), n
        if diff.any():
            assert scheme in ("olmo", "torchtitan"), n
            assert (q[diff].float().abs() < r[diff].float().abs()).all(), n
            assert q[diff].float().abs().unique().numel() == 1, n        # the one bound value


@pytest.mark.parametrize("scheme", ft.SCHEMES)
@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_materialize_equals_init_module(scheme, dtype):
    with torch.device("meta"):
        m = llama("tiny")
    ft.materialize_(m, "cpu", seed=SEED, scheme=scheme, dtype=dtype)
    ref = ft.init_module_(llama("tiny").to(dtype or torch.float32), seed=SEED, scheme=scheme)
    _equal(_state(m), _state(ref))
    assert all(p.device.type == "cpu" and p.requires_grad and isinstance(p, nn.Parameter) for p in m.parameters())


def test_materialize_keeps_ties_buffers_and_requires_grad():
    with torch.device("meta"):
        m = llama("tiny")
        m.output.weight = m.tok_embeddings.weight          # tied
        m.register_buffer("scale", torch.ones(3))
        m.norm.weight.requires_grad_(False)
    m.extra = nn.Linear(2, 2)                               # a real module among meta ones
    with torch.no_grad():
        m.extra.weight.fill_(7.0)
    m.register_buffer("steps", torch.tensor([5]))
    ft.materialize_(m, "cpu", seed=SEED, overrides={"scale": 2.0})
    assert m.output.weight is m.tok_embeddings.weight
    assert (m.scale == 2).all() and m.steps.item() == 5 and not m.norm.weight.requires_grad
    assert m.extra.weight.device.type == "cpu"


def test_materialize_makes_no_full_size_temporary():
    """A bf16 model from meta: the only allocations are the parameters
    themselves, in bf16 (torch's own path, float32 init then .to, would
    allocate a float32 copy of every matrix)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    seen, ptrs = [], set()

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor) and out.device.type != "meta":
                ptr = out.untyped_storage().data_ptr()
                if ptr not in ptrs:                  # new memory, not a view
                    ptrs.add(ptr)
                    seen.append((str(func), out.dtype, out.numel()))
            return out
    with torch.device("meta"):
        m = llama("small")
    with Log():
        ft.materialize_(m, "cpu", seed=SEED, dtype=torch.bfloat16)
    big = [s for s in seen if s[2] >= 4096]
    odd = [s for s in big if s[1] != torch.bfloat16 or "empty" not in s[0]]
    assert big and not odd, odd[:5]
    assert sum(s[2] for s in big) == sum(p.numel() for p in m.parameters() if p.numel() >= 4096)


def test_hf_scheme():
    class Cfg:
        pass
    m = nn.Sequential(nn.Embedding(500, 64, padding_idx=0), nn.Linear(64, 300), nn.LayerNorm(300))
    ft.init_module_(m, seed=SEED, scheme="hf", initializer_range=0.05)
    assert (m[0].weight[0] == 0).all() and (m[1].bias == 0).all() and (m[2].weight == 1).all()
    for w in (m[0].weight[1:], m[1].weight):
        assert w.std().item() == pytest.approx(0.05, rel=0.02)
    ref = fi.normal_(torch.empty(300, 64), 0.0, 0.05, seed=SEED, stream="1.weight")
    assert torch.equal(m[1].weight, ref)


def test_megatron_scheme_scales_output_layers():
    m = ft.init_module_(llama("small"), seed=SEED, scheme="megatron")
    sigma = 0.02 / math.sqrt(2 * 4)
    for i, layer in enumerate(m.layers):
        assert layer.attention.wo.weight.std().item() == pytest.approx(sigma, rel=0.02)
        assert layer.feed_forward.w2.weight.std().item() == pytest.approx(sigma, rel=0.02)
        assert layer.attention.wq.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert m.output.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert (m.norm.weight == 1).all()
    m2 = ft.init_module_(llama("small"), seed=SEED, scheme="megatron", num_layers=16)
    assert m2.layers[0].attention.wo.weight.std().item() == pytest.approx(0.02 / math.sqrt(32), rel=0.02)


def test_olmo_scheme_truncates_at_three_sigma():
    m = ft.init_module_(llama("small"), seed=SEED, scheme="olmo")
    for name, p in m.named_parameters():
        if p.dim() == 2:
            assert p.abs().max().item() <= 0.06 and p.abs().max().item() > 0.055, name
            assert p.std().item() == pytest.approx(0.02 * 0.9865, rel=0.02), name   # std of N cut at 3 sigma


def test_torchtitan_scheme_depth_init():
    m = ft.init_module_(llama("small"), seed=SEED, scheme="torchtitan")
    for i, layer in enumerate(m.layers):
        std = 0.02 / math.sqrt(2 * (i + 1))
        for w in (layer.attention.wo, layer.feed_forward.w2, layer.feed_forward.w3):
            assert w.weight.std().item() == pytest.approx(std, rel=0.02)
        assert layer.attention.wq.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert m.tok_embeddings.weight.std().item() == pytest.approx(1.0, rel=0.02)
    hs = 256 ** -0.5
    assert m.output.weight.abs().max().item() <= 3 * hs
    flat = ft.init_module_(llama("small"), seed=SEED, scheme="torchtitan", depth_init=False)
    assert flat.layers[0].attention.wo.weight.std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.02)


def test_custom_modules_run_their_reset_parameters_keyed_by_name():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(50, 40))
            self.v = nn.Parameter(torch.empty(30))
            self.reset_parameters()

        def reset_parameters(self):
            nn.init.xavier_normal_(self.w)
            self.v.data.normal_(mean=0.0, std=0.5)          # HF-style tensor method

    class MyLinear(nn.Linear):                             # overrides torch's default
        def reset_parameters(self):
            nn.init.zeros_(self.weight)
            if self.bias is not None:
                nn.init.ones_(self.bias)

    m = nn.Sequential(Custom(), MyLinear(3, 4))
    ft.init_module_(m, seed=SEED)
    assert torch.equal(m[0].w, fi.normal_(torch.empty(50, 40), 0.0, math.sqrt(2 / 90), seed=SEED, stream="0.w"))
    assert torch.equal(m[0].v, fi.normal_(torch.empty(30), 0.0, 0.5, seed=SEED, stream="0.v"))
    assert (m[1].weight == 0).all() and (m[1].bias == 1).all()
    assert torch.nn.init.normal_.__code__ is ft._patch._TORCH_CODE["normal_"]      # restored


def test_strict_overrides_and_bad_input():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.cls_token = nn.Parameter(torch.full((1, 4), 9.0))
    m = Odd()
    before = _state(m)
    with pytest.raises(ValueError, match="no rule for 1 tensor.*cls_token"):
        ft.init_module_(m, seed=SEED, scheme="torch")
    _equal(_state(m), before)                              # nothing written
    # the model's own program leaves the constant its constructor wrote; on meta there is none
    ft.init_module_(m, seed=SEED)
    assert (m.cls_token == 9).all() and not torch.equal(m.lin.weight, before["lin.weight"])
    with torch.device("meta"):
        odd = Odd()
    with pytest.raises(ValueError, match="init program .* writes nothing into 1 tensor.*cls_token"):
        ft.materialize_(odd, "cpu", seed=SEED)
    assert odd.cls_token.is_meta
    m.load_state_dict(before)
    ft.init_module_(m, seed=SEED, strict=False)
    assert (m.cls_token == 9).all() and not torch.equal(m.lin.weight, before["lin.weight"])
    ft.init_module_(m, seed=SEED, overrides={"cls_token": functools.partial(fi.trunc_normal_, std=0.02, a=-0.04, b=0.04)})
    assert m.cls_token.abs().max() <= 0.04 and torch.equal(
        m.cls_token, fi.trunc_normal_(torch.empty(1, 4), std=0.02, a=-0.04, b=0.04, seed=SEED, stream="cls_token"))
    for kw, exc, msg in [
            (dict(scheme="jax"), ValueError, "scheme must be one of"),
            (dict(seed=-1), ValueError, "seed must be in"),
            (dict(scheme="hf", init_method_std=0.1), TypeError, "takes the options"),
            (dict(scheme="hf", initializer_range=-1), ValueError, "initializer_range must be"),
            (dict(overrides={"nothing*": 1.0}), ValueError, "match no parameter"),
            (dict(overrides={"lin.weight": "normal"}), TypeError, "must be a filler"),
            (dict(scheme="megatron", output_layers="wo"), TypeError, "fnmatch patterns")]:
        args = dict(seed=SEED, strict=False)
        args.update(kw)
        before = _state(m)
        with pytest.raises(exc, match=msg):
            ft.init_module_(m, **args)
        _equal(_state(m), before)
    with pytest.raises(TypeError, match="seed"):
        ft.init_module_(m)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ft.init_module_(torch.empty(3), seed=0)
    with torch.device("meta"):
        meta = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="meta device.*materialize_"):
        ft.init_module_(meta, seed=0)
    with pytest.raises(ValueError, match="number of layers"):
        ft.init_module_(nn.Sequential(nn.Linear(2, 2)), seed=0, scheme="megatron")


def test_materialize_bad_input_allocates_nothing():
    with torch.device("meta"):
        m = llama("tiny")
        m.register_buffer("rope", torch.empty(8))
    with pytest.raises(ValueError, match="(no rule for|writes nothing into) 1 tensor.*rope"):
        ft.materialize_(m, "cpu", seed=SEED)
    for bad in (torch.int32, torch.float8_e4m3fn, "bfloat16"):
        with pytest.raises(TypeError, match="dtype must be None or one of"):
            ft.materialize_(m, "cpu", seed=SEED, dtype=bad)
    with pytest.raises(ValueError, match="device must be"):
        ft.materialize_(m, "nowhere", seed=SEED)
    assert all(t.is_meta for t in m.state_dict().values())
    ft.materialize_(m, "cpu", seed=SEED, overrides={"rope": lambda t, **kw: t.copy_(torch.arange(8.0))})
    assert torch.equal(m.rope, torch.arange(8.0))


def test_materialize_keeps_what_is_not_on_meta():
    """A loaded backbone and a new head on meta: only the head is initialized."""
    m = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    with torch.no_grad():
        m[0].weight.fill_(7.0)
        m[1].weight.fill_(3.0)
    with torch.device("meta"):
        m.append(nn.Linear(4, 2))
    ft.materialize_(m, "cpu", seed=SEED, dtype=torch.float64)
    assert (m[0].weight == 7).all() and (m[1].weight == 3).all() and m[0].weight.dtype == torch.float64
    ref = ft.init_module_(nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2)).double(), seed=SEED)
    assert torch.equal(m[2].weight, ref[2].weight)


def test_custom_norms_keep_their_constructor_constant():
    """Gemma's RMSNorm starts at 0 and scales by 1 + w: not 1."""
    class GemmaRMSNorm(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(d))
    m = nn.Sequential(nn.Linear(4, 4), GemmaRMSNorm(4))
    ft.init_module_(m, seed=SEED)
    assert (m[1].weight == 0).all()
    with torch.device("meta"):
        mm = nn.Sequential(nn.Linear(4, 4), GemmaRMSNorm(4))
    with pytest.raises(ValueError, match="(no rule for|writes nothing into) 1 tensor.*1.weight"):
        ft.materialize_(mm, "cpu", seed=SEED)
    ft.materialize_(mm, "cpu", seed=SEED, overrides={"*.weight": 0.0, "0.*": functools.partial(fi.normal_, std=0.1)})
    assert (mm[1].weight == 0).all()


def test_hf_scheme_follows_transformers_5_branches():
    m = nn.Sequential(nn.Conv1d(4, 8, 3), nn.LSTM(4, 8), nn.BatchNorm1d(8), nn.Embedding(10, 4, padding_idx=1))
    with torch.no_grad():
        m[2].running_mean.fill_(5.0)
    ft.init_module_(m, seed=SEED, scheme="hf", initializer_range=0.5)
    assert torch.equal(m[0].weight, fi.normal_(torch.empty(8, 4, 3), 0.0, 0.5, seed=SEED, stream="0.weight"))
    assert (m[0].bias == 0).all() and (m[1].bias_ih_l0 == 0).all() and (m[2].running_mean == 0).all()
    b = math.sqrt(3.0) * math.sqrt(2.0 / (4 + 32))
    assert torch.equal(m[1].weight_ih_l0, fi.uniform_(torch.empty(32, 4), -b, b, seed=SEED, stream="1.weight_ih_l0"))


def test_hf_llama_from_meta_recomputes_rotary_frequencies():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=300)
    real = transformers.AutoModelForCausalLM.from_config(cfg)
    with torch.device("meta"):
        m = transformers.AutoModelForCausalLM.from_config(cfg)
    ft.materialize_(m, "cpu", seed=SEED, scheme="hf")
    assert torch.equal(m.model.rotary_emb.inv_freq, real.model.rotary_emb.inv_freq)
    ref = ft.init_module_(real, seed=SEED, scheme="hf")
    _equal(_state(m), _state(ref))
    out = m(torch.arange(6).view(1, 6)).logits
    assert torch.isfinite(out).all()


def test_schedule_errors_come_before_any_write():
    m = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4).to(torch.complex64))
    before = _state(m)
    with pytest.raises(TypeError, match="1.weight has dtype torch.complex64"):
        ft.init_module_(m, seed=SEED)
    _equal(_state(m), before)
    bn = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ft.init_module_(bn, seed=SEED, overrides={"*num_batches_tracked": 4})
    assert bn[1].num_batches_tracked.item() == 4
    with pytest.raises(ValueError, match="num_layers"):
        ft.init_module_(nn.ModuleDict({"wo": nn.Linear(2, 2)}), seed=SEED, scheme="torchtitan", depth_init=True)
    ft.init_module_(nn.Linear(0, 4), seed=SEED)                       # nothing to write, no rule needed
    with pytest.raises(ValueError, match="lazy parameter"):
        ft.init_module_(nn.LazyLinear(3), seed=SEED)
    tied = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 5, bias=False))
    tied[1].weight = tied[0].weight
    ft.init_module_(tied, seed=SEED, overrides={"1.weight": 0.5})       # the second name of a tied tensor
    assert (tied[0].weight == 0.5).all()
    ft.init_module_(llama("tiny"), seed=SEED, scheme="megatron", output_layers=(p for p in ["*wo"]))


class _SkipsScale(nn.Module):
    """A custom module whose reset_parameters leaves ``scale`` unwritten."""
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(3))
        self.scale = nn.Parameter(torch.empty(3))

    def reset_parameters(self):
        nn.init.ones_(self.w)


def test_materialize_refuses_a_reset_that_skips_a_tensor():
    """An error, not uninitialized memory, and the module left on meta."""
    for make in (_SkipsScale, lambda: nn.Sequential(nn.Linear(4, 4), _SkipsScale())):
        for scheme, exc, msg in (("own", ValueError, "init program.*writes nothing into 1 tensor.*scale"),
                                 ("torch", RuntimeError, "did not write.*scale")):
            with torch.device("meta"):
                m = make()
            before = _tensors(m)
            with pytest.raises(exc, match=msg):
                ft.materialize_(m, "cpu", seed=SEED, scheme=scheme)
            _assert_as_before(m, before)


def test_materialize_writes_only_the_meta_tensors_of_a_torch_module():
    """A new weight on meta beside a loaded bias: torch.nn's modules are
    written per tensor (a module's own reset_parameters would write both)."""
    m = nn.Linear(4, 3)
    with torch.no_grad():
        m.bias.fill_(7.0)
    m.weight = nn.Parameter(torch.empty(3, 4, device="meta"))
    ft.materialize_(m, "cpu", seed=SEED)
    assert (m.bias == 7).all()
    ref = ft.init_module_(nn.Linear(4, 3), seed=SEED)
    assert torch.equal(m.weight, ref.weight)


# ----------------------------------------------------------------- materialize_ that fails
def _tensors(m):
    """Every parameter and buffer object, by name (tied ones under each name)."""
    return {n: t for n, t in (*m.named_parameters(remove_duplicate=False), *m.named_buffers(remove_duplicate=False))}


def _assert_as_before(m, before):
    now = _tensors(m)
    assert list(now) == list(before)
    assert all(now[n] is before[n] for n in before), "the module must hold its own tensor objects again"
    assert all(t.is_meta for t in now.values())


class _Raising(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(3, 4))

    def reset_parameters(self):
        nn.init.normal_(self.w)
        raise KeyError("the user's reset_parameters failed")


def test_materialize_that_fails_in_a_reset_leaves_the_module_on_meta():
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(4, 4), _Raising(), nn.Linear(4, 4))
        m[2].weight = m[0].weight                       # tied
    before = _tensors(m)
    with pytest.raises(KeyError, match="the user's reset_parameters failed"):
        ft.materialize_(m, "cpu", seed=SEED)
    _assert_as_before(m, before)
    assert m[2].weight is m[0].weight


def test_materialize_that_fails_in_an_override_leaves_the_module_on_meta():
    def bad(t, **kw):
        raise RuntimeError("the override failed")
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    before = _tensors(m)
    with pytest.raises(RuntimeError, match="the override failed"):
        ft.materialize_(m, "cpu", seed=SEED, overrides={"1.weight": bad})
    _assert_as_before(m, before)


def test_materialize_checks_fills_in_the_target_dtype_before_allocating(monkeypatch):
    """What can be checked is checked while the schedule is built: a scheme's
    std that float16 cannot hold, a computed buffer (rotary frequencies)
    that fails or does not fit; nothing is allocated."""
    from fastinit.torch import _memory, _schemes
    allocated = []
    real = _memory.allocate_like
    monkeypatch.setattr(_memory, "allocate_like", lambda *a, **k: allocated.append(a) or real(*a, **k))
    with torch.device("meta"):
        m = nn.Sequential(nn.Linear(4, 4), nn.Embedding(10, 4))
    with pytest.raises(ValueError, match=r"0\.weight: std.*does not fit in float16"):
        ft.materialize_(m, "cpu", seed=SEED, scheme="hf", initializer_range=1e5, dtype=torch.float16)
    ft.init_module_(nn.Sequential(nn.Linear(4, 4), nn.Embedding(10, 4)), seed=SEED, scheme="hf",
                    initializer_range=1e5)     # float32 holds it
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=300)
    with torch.device("meta"):
        llm = transformers.AutoModelForCausalLM.from_config(cfg)
    before = _tensors(llm)
    # the "hf" table, on a module that is not a Hugging Face model itself
    box = nn.ModuleList([llm])
    monkeypatch.setattr(_schemes, "_hf_rope", lambda mod: torch.ones(3))
    with pytest.raises(ValueError, match=r"rotary_emb\.inv_freq: its computed value \(\(3,\)\) does not fit"):
        ft.materialize_(box, "cpu", seed=SEED, scheme="hf")

    def fails(*a, **k):
        raise ValueError("unknown rope type")
    monkeypatch.setattr(_schemes, "_hf_rope", fails)
    with pytest.raises(ValueError, match="unknown rope type"):
        ft.materialize_(box, "cpu", seed=SEED, scheme="hf")
    # the model's own program: its copy_ of a table that does not fit, its rope function failing
    rotary = type(llm.model.rotary_emb)
    monkeypatch.setattr(rotary, "compute_default_rope_parameters", staticmethod(lambda *a, **k: (torch.ones(3), 1.0)))
    with pytest.raises(ValueError, match=r"rotary_emb\.inv_freq: the init program copies a tensor of shape \(3,\) "
                                         r"into a view of shape \(8,\)"):
        ft.materialize_(llm, "cpu", seed=SEED)
    monkeypatch.setattr(rotary, "compute_default_rope_parameters", staticmethod(fails))
    with pytest.raises(ValueError, match="unknown rope type") as e:
        ft.materialize_(llm, "cpu", seed=SEED)
    assert "init program" in "".join(e.value.__notes__)
    _assert_as_before(llm, before)
    assert allocated == []
