"""The meta road runs the model's own init program (fastinit.torch._program).

Each architecture is built on the meta device and materialized with the
default scheme ("own"), then held against the model's own init of the same
config, run by the model's code on the CPU with torch's RNG (Hugging Face's
``from_config``; a torchtitan-style model's ``init_weights()``): tensors
that the model's init makes the same for every torch seed (constants,
position ids, rotary and sinusoidal tables) must be equal bit for bit;
the others must come from the same distribution (two-sample
Kolmogorov-Smirnov test, mean, standard deviation and, for bounded ones,
bounds, each at a fixed seed against three references)."""
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import fastinit as fi  # noqa: E402
import fastinit.torch as ft  # noqa: E402
from fastinit.torch._program import ProgramError  # noqa: E402

SEED = 2024
REF_SEEDS = (1, 2, 3)
#: Kolmogorov-Smirnov critical value c(alpha) = sqrt(-ln(alpha / 2) / 2) at
#: alpha = 1e-6 per tensor: about 700 random tensors are compared in this
#: file, so a chance failure somewhere has probability below 1e-3 (and the
#: seeds are fixed, so it would repeat: a finding, not noise).
KS_C = math.sqrt(-math.log(1e-6 / 2) / 2)
#: Standard errors allowed for the mean and the standard deviation.
Z = 6.0


def _tensors(model):
    """{name: tensor} of every parameter and buffer, tied ones once."""
    return {**dict(model.named_parameters()), **dict(model.named_buffers())}


def _ks(a, b):
    """The two-sample Kolmogorov-Smirnov statistic D."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return np.abs(np.searchsorted(a, grid, "right") / a.size - np.searchsorted(b, grid, "right") / b.size).max()


def hold_against(ours, refs, what):
    """Every tensor of ``ours`` against the model's own init (``refs``, one
    {name: tensor} per torch seed)."""
    assert ours.keys() == refs[0].keys(), (what, sorted(set(ours) ^ set(refs[0])))
    n_random = 0
    for name, t in ours.items():
        r = [ref[name].detach() for ref in refs]
        t = t.detach()
        assert t.dtype == r[0].dtype and t.shape == r[0].shape, (what, name, t.dtype, r[0].dtype)
        if all(torch.equal(r[0], x) for x in r[1:]):
            assert torch.equal(t, r[0]), f"{what}: {name} is deterministic in the model's init and differs"
            continue
        n_random += 1
        x = t.double().flatten().numpy()
        y = torch.cat([v.double().flatten() for v in r]).numpy()
        n, m = x.size, y.size
        d = _ks(x, y)
        assert d < KS_C * math.sqrt((n + m) / (n * m)), f"{what}: {name}: KS D = {d:.3f} (n = {n})"
        sy = y.std()
        assert abs(x.mean() - y.mean()) <= Z * sy * math.sqrt(1 / n + 1 / m) + 1e-12, (what, name, x.mean(), y.mean())
        assert abs(x.std() / sy - 1) <= Z * math.sqrt(1 / (2 * n) + 1 / (2 * m)) + 1e-6, (what, name, x.std(), sy)
        if np.abs(y).max() < 2.0 * sy:          # bounded (uniform): ours within the same bounds
            assert np.abs(x).max() <= np.abs(y).max() * (1 + 1e-6) + 2 * sy / math.sqrt(m), (what, name)
    return n_random


def _hf_reference(name, seed):
    import hf_models
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hf_models.build(name, "cpu")


def _hf_meta(name, dtype=None):
    import hf_models
    return hf_models.build(name, "meta", dtype)


def _hf_names():
    try:
        import hf_models
        return list(hf_models.configs())
    except ImportError:
        return []


@pytest.mark.parametrize("arch", _hf_names())
def test_hf_meta_road_gives_the_models_own_init(arch):
    pytest.importorskip("transformers")
    refs = [_tensors(_hf_reference(arch, s)) for s in REF_SEEDS]
    model = _hf_meta(arch)
    ties = {n for n, _ in model.named_parameters(remove_duplicate=False)} - set(dict(model.named_parameters()))
    ft.materialize_(model, "cpu", seed=SEED)
    ours = _tensors(model)
    assert hold_against(ours, refs, arch) > 0
    # the same ties as the model's own (lm_head and the embedding), and the same tensor
    assert {n for n, _ in model.named_parameters(remove_duplicate=False)} - set(ours) == ties
    # one seed: the same bits; another seed: other random tensors
    again = _hf_meta(arch)
    ft.materialize_(again, "cpu", seed=SEED)
    for n, t in _tensors(again).items():
        assert torch.equal(t, ours[n]), (arch, n)
    other = _hf_meta(arch)
    ft.materialize_(other, "cpu", seed=SEED + 1)
    assert any(not torch.equal(t, ours[n]) for n, t in _tensors(other).items())


@pytest.mark.parametrize("arch", ["llama", "gemma", "whisper", "wav2vec2", "mixtral"])
def test_hf_bfloat16_is_the_float32_model_rounded_and_buffers_keep_their_dtype(arch):
    pytest.importorskip("transformers")
    f32 = _hf_meta(arch)
    ft.materialize_(f32, "cpu", seed=SEED)
    bf = _hf_meta(arch, torch.bfloat16)
    dtypes = {n: t.dtype for n, t in _tensors(bf).items()}
    ft.materialize_(bf, "cpu", seed=SEED)
    ref = _tensors(f32)
    for n, t in _tensors(bf).items():
        assert t.dtype == dtypes[n], (arch, n, t.dtype, dtypes[n])    # rotary inv_freq stays float32
        assert torch.equal(t, ref[n].to(t.dtype)), (arch, n)


def test_hf_init_module_and_materialize_agree():
    """init_module_ on a built model runs the same program (the modules'
    Hugging Face flags, set by post_init, do not stop it) and gives the
    materialized values; the flags are as they were afterwards."""
    pytest.importorskip("transformers")
    real = _hf_reference("bert", 0)
    flags = {n: m.__dict__.get("_is_hf_initialized") for n, m in real.named_modules()}
    ft.init_module_(real, seed=SEED)
    assert flags == {n: m.__dict__.get("_is_hf_initialized") for n, m in real.named_modules()}
    meta = _hf_meta("bert")
    ft.materialize_(meta, "cpu", seed=SEED)
    ours = _tensors(meta)
    for n, t in _tensors(real).items():
        assert torch.equal(t, ours[n]), n


def test_hf_materialize_keeps_loaded_tensors():
    """A loaded backbone with a new head on meta: the program's writes into
    loaded tensors are dropped, the head gets the model's own init."""
    pytest.importorskip("transformers")
    import hf_models
    cls, cfg = hf_models.configs()["bert"]
    import transformers as tf
    loaded = _hf_reference("bert", 0).bert
    with torch.device("meta"):
        model = tf.BertForSequenceClassification(cfg)
    model.bert = loaded
    before = {n: t.clone() for n, t in _tensors(loaded).items()}
    ft.materialize_(model, "cpu", seed=SEED)
    for n, t in _tensors(model.bert).items():
        assert torch.equal(t, before[n]), n
    assert model.classifier.weight.std().item() == pytest.approx(cfg.initializer_range, rel=0.5)
    assert (model.classifier.bias == 0).all()


# ----------------------------------------------------------------- torchtitan style
class _TitanAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim, bias=False) for _ in range(4))

    def init_weights(self, init_std):
        for linear in (self.wq, self.wk, self.wv):
            nn.init.trunc_normal_(linear.weight, mean=0.0, std=0.02)
        nn.init.trunc_normal_(self.wo.weight, mean=0.0, std=init_std)


class _TitanFeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1, self.w3 = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def init_weights(self, init_std):
        nn.init.trunc_normal_(self.w1.weight, mean=0.0, std=0.02)
        for linear in (self.w2, self.w3):
            nn.init.trunc_normal_(linear.weight, mean=0.0, std=init_std)


class _TitanBlock(nn.Module):
    def __init__(self, layer_id, dim, hidden, heads):
        super().__init__()
        self.attention_norm, self.ffn_norm = nn.RMSNorm(dim), nn.RMSNorm(dim)
        self.attention = _TitanAttention(dim, heads)
        self.feed_forward = _TitanFeedForward(dim, hidden)
        self.weight_init_std = 0.02 / (2 * (layer_id + 1)) ** 0.5        # depth_init

    def init_weights(self):
        for norm in (self.attention_norm, self.ffn_norm):
            norm.reset_parameters()
        self.attention.init_weights(self.weight_init_std)
        self.feed_forward.init_weights(self.weight_init_std)


class TitanLlama(nn.Module):
    """torchtitan's Llama 3 (``torchtitan/models/llama3/model/model.py``),
    reduced to what its init touches: ``init_weights(buffer_device)``
    recomputes the rotary table (complex64, assigned, not copied) and
    initializes every weight; ``layers`` is a ModuleDict."""

    def __init__(self, dim=32, hidden=80, layers=3, heads=4, vocab=101, seq=16):
        super().__init__()
        self.dim, self.heads, self.seq = dim, heads, seq
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.register_buffer("freqs_cis", self._precompute_freqs_cis(), persistent=False)
        self.layers = nn.ModuleDict({str(i): _TitanBlock(i, dim, hidden, heads) for i in range(layers)})
        self.norm = nn.RMSNorm(dim)
        self.output = nn.Linear(dim, vocab, bias=False)

    def _precompute_freqs_cis(self):
        d = self.dim // self.heads
        freqs = 1.0 / (10000.0 ** (torch.arange(0, d, 2)[: d // 2].float() / d))
        t = torch.arange(self.seq * 2, device=freqs.device)
        return torch.polar(torch.ones(t.shape[0], d // 2), torch.outer(t, freqs).float())

    def init_weights(self, buffer_device=None):
        buffer_device = buffer_device or self.freqs_cis.device
        with torch.device(buffer_device):
            self.freqs_cis = self._precompute_freqs_cis()
        nn.init.normal_(self.tok_embeddings.weight)
        for layer in self.layers.values():
            layer.init_weights()
        self.norm.reset_parameters()
        final_out_std = self.dim ** -0.5
        nn.init.trunc_normal_(self.output.weight, mean=0.0, std=final_out_std, a=-3 * final_out_std,
                              b=3 * final_out_std)


def test_torchtitan_style_model_runs_its_init_weights():
    refs = []
    for s in REF_SEEDS:
        torch.manual_seed(s)
        m = TitanLlama()
        m.init_weights()
        refs.append(_tensors(m))
    with torch.device("meta"):
        model = TitanLlama()
    ft.materialize_(model, "cpu", seed=SEED)
    ours = _tensors(model)
    assert ours["freqs_cis"].dtype == torch.complex64
    assert hold_against(ours, refs, "torchtitan") >= 20
    # the depth-scaled output projections: std 0.02 / sqrt(2 (i + 1))
    for i in range(3):
        w = model.layers[str(i)].attention.wo.weight
        std = 0.02 / (2 * (i + 1)) ** 0.5        # torch's absolute bounds [-2, 2]: no truncation warning
        assert torch.equal(w, ft._fill.trunc_normal(torch.empty(32, 32), 0.0, std, -2.0, 2.0, seed=SEED,
                                                    stream=f"layers.{i}.attention.wo.weight"))


# ----------------------------------------------------------------- plain torch modules
def test_plain_torch_modules_get_the_torch_table_bits():
    """For torch.nn's own modules the program is their reset_parameters: the
    same bits as the "torch" table (which restates it)."""
    import models

    def build():
        torch.manual_seed(0)
        return nn.ModuleDict({"llama": models.llama("tiny"), "emb": nn.Embedding(12, 8, padding_idx=3),
                              "mha": nn.MultiheadAttention(16, 4, bias=True, add_bias_kv=True),
                              "tf": nn.Transformer(16, 2, 1, 1, 32), "bn": nn.BatchNorm1d(5),
                              "lstm": nn.LSTM(4, 6), "conv": nn.Conv2d(3, 4, 3)})
    a, b = build(), build()
    ft.init_module_(a, seed=SEED)
    ft.init_module_(b, seed=SEED, scheme="torch")
    tb = _tensors(b)
    for n, t in _tensors(a).items():
        assert torch.equal(t, tb[n]), n
    with torch.device("meta"):
        c = build()
    ft.materialize_(c, "cpu", seed=SEED)
    for n, t in _tensors(c).items():
        assert torch.equal(t, tb[n]), n


def test_weight_norm_originals_derive_from_the_constructors_init():
    """weight_norm registered after the constructor's reset_parameters:
    original1 is the conv weight (kaiming uniform keyed to ``conv.weight``),
    original0 its norm, computed as torch's right_inverse does."""
    def build():
        return nn.utils.parametrizations.weight_norm(nn.Conv1d(4, 6, 5), dim=2)
    with torch.device("meta"):
        m = build()
    ft.materialize_(m, "cpu", seed=SEED)
    v = m.parametrizations.weight.original1
    bound = 1 / math.sqrt(4 * 5)           # kaiming_uniform_(a=sqrt(5)) on fan_in 20
    assert torch.equal(v, fi.uniform_(torch.empty(6, 4, 5), -bound, bound, seed=SEED, stream="weight"))
    assert torch.equal(m.parametrizations.weight.original0, torch.norm_except_dim(v, 2, 2))


# ----------------------------------------------------------------- what cannot be replayed
class _Prog(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.w = nn.Parameter(torch.full((4, 6), 3.0))   # (defined values: "nothing written" is checked)
        self.b = nn.Parameter(torch.full((6,), 3.0))
        self.body = body

    def reset_parameters(self):
        self.body(self)


@pytest.mark.parametrize("body, msg", [
    (lambda m: m.w.copy_(torch.randn(4, 6)), r"^w: .*copies into it .*a random draw \(.*randn"),
    (lambda m: (nn.init.ones_(m.b), m.w.data.mul_(2.0)), r"^w: .*changes it in place \(Tensor.mul_\) before "
                                                         r"writing it"),
    (lambda m: (nn.init.ones_(m.w), m.w.data.mul_(m.b)), r"^w: .*changes it in place with Tensor.mul_"),
    (lambda m: (nn.init.ones_(m.w), m.w.exp_()), r"^w: .*changes it in place with Tensor.exp_"),
    (lambda m: (nn.init.normal_(m.b), m.w.exponential_()), r"^w: .*random numbers with .*exponential_"),
    (lambda m: nn.init.zeros_(m.w[:, ::2]), r"^w: .*writes a view that is not a box"),
    (lambda m: nn.init.zeros_(m.w.view(-1)[4:8]), r"^w: .*writes a view that is not a box"),   # across rows: no box
    (lambda m: m.w.copy_(m.b.expand(4, 6) * 2), r"^w: .*computed from the values of b"),
    (lambda m: nn.init.orthogonal_(m.w), r"^w: .*calls torch.nn.init.orthogonal_ on it"),
    (lambda m: nn.init.sparse_(m.w, 0.5), r"^w: .*calls torch.nn.init.sparse_ on it"),
    (lambda m: m.w.__setitem__(torch.tensor([0, 2]), 1.0), r"^w: .*index that is not a slice"),
    (lambda m: torch.eye(4, 6, out=m.w), r"^w: .*out= of"),
])
def test_what_cannot_be_replayed_is_refused_naming_the_tensor_and_the_call(body, msg):
    with torch.device("meta"):
        m = _Prog(body)
    with pytest.raises(ProgramError, match=msg):
        ft.materialize_(m, "cpu", seed=SEED, overrides={"b": 0.0})
    assert m.w.is_meta and m.b.is_meta
    real = _Prog(body)
    before = real.w.detach().clone()
    with pytest.raises(ProgramError, match=msg):
        ft.init_module_(real, seed=SEED, overrides={"b": 0.0})
    assert torch.equal(real.w, before)                     # nothing written


def test_what_can_be_replayed_from_views_and_assignments():
    """Boxes (rows, columns, a transposed view), ``t[i] = value``, a copy
    of a computed table into a slice, and fill_ / zero_: each replayed at
    its place, and into any piece (here a chunk of rows) alike."""
    def body(m):
        nn.init.normal_(m.w.t(), std=0.5)
        nn.init.uniform_(m.w[1:3, 2:], -1, 1)
        m.w[0] = 7.0
        m.w[:, 1].zero_()
        m.w.data[3, :2].copy_(torch.tensor([5.0, 6.0]))
        nn.init.constant_(m.w.view(-1)[13:17], 4.0)           # within row 2: a box of a flat view
        m.w[1:3].view(-1)[:6].copy_(torch.arange(6.0))       # row 1, through a flat view
        m.b.fill_(2.0)
        m.b[4:].copy_(torch.arange(2.0).view(1, 2).expand(1, 2)[0])
    with torch.device("meta"):
        m = _Prog(body)
    ft.materialize_(m, "cpu", seed=SEED)
    w = fi.normal_(torch.empty(4, 6), std=0.5, seed=SEED, stream="w")
    w[1:3, 2:] = fi.uniform_(torch.empty(4, 6), -1, 1, seed=SEED, stream="w")[1:3, 2:]
    w[0] = 7.0
    w[:, 1] = 0
    w[3, :2] = torch.tensor([5.0, 6.0])
    w[2, 1:5] = 4.0
    w[1] = torch.arange(6.0)
    assert torch.equal(m.w, w)
    assert torch.equal(m.b, torch.tensor([2.0, 2, 2, 2, 0, 1]))
    # piece by piece: the same values
    from fastinit.torch import _program
    names = {id(t): n for n, t in _tensors(m).items()}
    with torch.device("meta"):
        m2 = _Prog(body)
    steps = _program.record(m2, {id(t): n for n, t in _tensors(m2).items()})
    assert set(steps) == set(names.values())
    out = torch.empty(4, 6)
    for r in range(4):
        _program.replay(steps["w"], out[r:r + 1], (4, 6), (r, 0), SEED, "w")
    assert torch.equal(out, w)


def test_recording_leaves_the_module_as_it_was():
    pytest.importorskip("transformers")
    model = _hf_meta("gpt2")
    slots = [(mod, k, t) for mod in model.modules() for k, t in {**mod._parameters, **mod._buffers}.items()]
    flags = {n: m.__dict__.get("_is_hf_initialized") for n, m in model.named_modules()}
    from fastinit.torch import _program
    _program.record(model, {id(t): n for n, t in _tensors(model).items()})
    assert all((mod._parameters.get(k, mod._buffers.get(k))) is t for mod, k, t in slots)
    assert flags == {n: m.__dict__.get("_is_hf_initialized") for n, m in model.named_modules()}
    assert torch.nn.init.normal_.__code__ is ft._patch._TORCH_CODE["normal_"]


def test_named_recipes_sit_on_top_of_the_models_own_program():
    """megatron's rules name the Linear and Embedding weights and the norms;
    the rotary tables of a Hugging Face model come from its own program."""
    pytest.importorskip("transformers")
    own = _hf_meta("llama")
    ft.materialize_(own, "cpu", seed=SEED)
    model = _hf_meta("llama")
    ft.materialize_(model, "cpu", seed=SEED, scheme="megatron", init_method_std=0.01)
    ref = _tensors(own)
    for n, t in _tensors(model).items():
        if "inv_freq" in n:
            assert torch.equal(t, ref[n]), n
    w = model.model.layers[0].mlp.down_proj.weight
    assert torch.equal(w, fi.normal_(torch.empty(w.shape), std=0.01 / math.sqrt(2 * 2), seed=SEED,
                                     stream="model.layers.0.mlp.down_proj.weight"))


def test_hf_tensors_loaded_into_a_meta_model_are_kept():
    """load_state_dict(assign=True) of a backbone into a model on meta (no
    Hugging Face flags): the loaded tensors keep their values; what
    Wav2Vec2's constructor itself makes off meta (torch.Tensor(n): torch's
    random numbers, uninitialized memory) is initialized."""
    pytest.importorskip("transformers")
    src = _hf_reference("bert", 0)
    model = _hf_meta("bert")
    sd = {k: v for k, v in src.state_dict().items() if k.startswith("bert.encoder.")}
    model.load_state_dict(sd, strict=False, assign=True)
    ft.materialize_(model, "cpu", seed=SEED)
    for k, v in sd.items():
        assert torch.equal(model.state_dict()[k], v), k
    w2v = _hf_meta("wav2vec2")
    assert not w2v.quantizer.codevectors.is_meta
    ft.materialize_(w2v, "cpu", seed=SEED)
    cv = w2v.quantizer.codevectors
    assert torch.equal(cv, fi.uniform_(torch.empty(cv.shape), seed=SEED, stream="quantizer.codevectors"))


def test_a_reset_parameters_that_takes_arguments_is_the_models_helper():
    """``reset_parameters(self, std)`` is not what a constructor ran: the
    program is the model's ``init_weights()``, which calls it."""
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(3, 4))

        def reset_parameters(self, std):
            nn.init.normal_(self.w, std=std)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = Head()

        def init_weights(self):
            self.head.reset_parameters(0.5)
    with torch.device("meta"):
        m = Model()
    ft.materialize_(m, "cpu", seed=SEED)
    assert torch.equal(m.head.w, fi.normal_(torch.empty(3, 4), std=0.5, seed=SEED, stream="head.w"))


def test_the_program_takes_no_options_and_hf_on_a_hf_model_is_its_program():
    pytest.importorskip("transformers")
    with pytest.raises(TypeError, match="own init program, which takes no options"):
        ft.materialize_(_hf_meta("gpt2"), "cpu", seed=SEED, initializer_range=0.5)
    with pytest.raises(TypeError, match="model.config.initializer_range"):
        ft.materialize_(_hf_meta("gpt2"), "cpu", seed=SEED, scheme="hf", initializer_range=0.5)
    a, b = _hf_meta("gpt2"), _hf_meta("gpt2")
    ft.materialize_(a, "cpu", seed=SEED, scheme="hf")
    ft.materialize_(b, "cpu", seed=SEED)
    tb = _tensors(b)
    for n, t in _tensors(a).items():
        assert torch.equal(t, tb[n]), n


def test_an_infinite_constant_the_model_asks_for_is_replayed():
    """A clamp's bound (Gemma 4's audio tower: constant_(input_min, -inf)):
    torch's fill_ writes it; fastinit's own constant_ refuses infinities."""
    def body(m):
        nn.init.constant_(m.b, -math.inf)
        nn.init.zeros_(m.w)
    with torch.device("meta"):
        m = _Prog(body)
    ft.materialize_(m, "cpu", seed=SEED, dtype=torch.bfloat16)
    assert (m.b == -math.inf).all() and m.b.dtype == torch.bfloat16 and (m.w == 0).all()
    with pytest.raises(ValueError, match="value"):
        fi.constant_(torch.empty(3), -math.inf)


def test_arithmetic_with_numbers_after_a_fill_is_replayed():
    """``p /= math.sqrt(n_layers)`` after a fill (Mamba's rescale), a clamp,
    a shift: replayed in order, in any piece; a bfloat16 model holds the
    float32 result rounded once (computed in float32 chunks)."""
    def body(m):
        nn.init.normal_(m.w, std=0.5)
        p = m.w
        p /= math.sqrt(3.0)
        m.w.data.clamp_(-0.2, 0.2)
        m.w[1:3].add_(1.0)
        nn.init.uniform_(m.b)
        m.b.mul_(4.0)
    with torch.device("meta"):
        m = _Prog(body)
    ft.materialize_(m, "cpu", seed=SEED)
    w = fi.normal_(torch.empty(4, 6), std=0.5, seed=SEED, stream="w")
    w /= math.sqrt(3.0)
    w.clamp_(-0.2, 0.2)
    w[1:3] += 1.0
    assert torch.equal(m.w, w)
    assert torch.equal(m.b, fi.uniform_(torch.empty(6), seed=SEED, stream="b") * 4.0)
    with torch.device("meta"):
        h = _Prog(body)
    ft.materialize_(h, "cpu", seed=SEED, dtype=torch.bfloat16)
    assert torch.equal(h.w, w.to(torch.bfloat16)) and torch.equal(h.b, m.b.to(torch.bfloat16))
    from fastinit.torch import _program
    with torch.device("meta"):
        r = _Prog(body)
    steps = _program.record(r, {id(t): n for n, t in _tensors(r).items()})
    out = torch.empty(4, 6, dtype=torch.bfloat16)
    for i in range(4):
        _program.replay(steps["w"], out[i:i + 1], (4, 6), (i, 0), SEED, "w")
    assert torch.equal(out, h.w)


def test_small_tables_made_on_a_model_tensors_device_are_made_on_the_cpu():
    """Tables a program makes with ``device=param.device``, ``*_like(param)``
    or ``.to(param.device)`` (Mamba's ``arange``, HY's ``zeros_like``,
    xLSTM's ``linspace(...).to(device=bias.device)``) are meta stand-ins
    while recording: fastinit makes them on the CPU, and copies them in."""
    def body(m):
        base = torch.zeros_like(m.b)
        base[:2] = -1.5
        m.b.copy_(base)
        a = torch.arange(1, 7, dtype=torch.float32, device=m.w.device)[None, :].expand(4, -1)
        m.w.copy_(torch.log(a) + torch.linspace(0.0, 1.0, 6).to(device=m.w.device))
    with torch.device("meta"):
        m = _Prog(body)
    ft.materialize_(m, "cpu", seed=SEED)
    assert torch.equal(m.b, torch.tensor([-1.5, -1.5, 0, 0, 0, 0]))
    a = torch.arange(1, 7, dtype=torch.float32)[None, :].expand(4, -1)
    assert torch.equal(m.w, torch.log(a) + torch.linspace(0.0, 1.0, 6))


def test_a_function_of_a_tensor_copied_back_into_it_is_replayed():
    """Kimi-linear / GLM5's forget gate: ``copy_(A_log, uniform_(A_log, 1,
    16).log())`` and an inverse softplus of a uniform fill: elementwise
    functions of the tensor's own values, applied in place, per piece.  A
    function of values that changed before the copy is refused."""
    def body(m):
        m.w.copy_(nn.init.uniform_(m.w, a=1.0, b=16.0).log())
        nn.init.uniform_(m.b, a=math.log(1e-3), b=math.log(1e-1))
        dt = m.b.exp().clamp_min(1e-4)
        m.b.copy_(dt + torch.log(-torch.expm1(-dt)))
    with torch.device("meta"):
        m = _Prog(body)
    ft.materialize_(m, "cpu", seed=SEED)
    assert torch.equal(m.w, fi.uniform_(torch.empty(4, 6), 1.0, 16.0, seed=SEED, stream="w").log())
    dt = fi.uniform_(torch.empty(6), math.log(1e-3), math.log(1e-1), seed=SEED, stream="b").exp().clamp_min(1e-4)
    assert torch.equal(m.b, dt + torch.log(-torch.expm1(-dt)))
    from fastinit.torch import _program
    with torch.device("meta"):
        r = _Prog(body)
    steps = _program.record(r, {id(t): n for n, t in _tensors(r).items()})
    out = torch.empty(4, 6)
    for i in range(4):
        _program.replay(steps["w"], out[i:i + 1], (4, 6), (i, 0), SEED, "w")
    assert torch.equal(out, m.w)

    def stale(m):
        nn.init.ones_(m.b)
        nn.init.uniform_(m.w)
        f = m.w.log()
        nn.init.zeros_(m.w[0])
        m.w.copy_(f)
    with torch.device("meta"):
        s = _Prog(stale)
    with pytest.raises(ProgramError, match=r"^w: .*computed from the values of w"):
        ft.materialize_(s, "cpu", seed=SEED)
