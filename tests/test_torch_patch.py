"""fastinit.torch.patch(): torch.nn.init through fastinit, with torch's
signatures and semantics, seeded from torch's RNG, restored on exit."""
import inspect
import math
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import fastinit as fi                      # noqa: E402
import fastinit.torch as ft                # noqa: E402
from torch_checks import assert_equal_states as _equal, state as _state  # noqa: E402
import fastinit.torch._patch as fp         # noqa: E402
import fastinit.torch._replacements as fr  # noqa: E402

init = torch.nn.init
nn = torch.nn


def installed():
    """torch.nn.init's functions run fastinit's code, Tensor has its methods."""
    return (all(getattr(init, n) is fr._TORCH[n] and fr._TORCH[n].__code__ is fp._TRAMPOLINE[n] for n in ft.PATCHED)
            and all(vars(torch.Tensor).get(n) is fr._REPLACEMENT_METHOD[n] for n in ft.PATCHED_METHODS))


def restored():
    """torch's own code and methods, and nothing of ours left on torch.Tensor."""
    return (all(getattr(init, n) is fr._TORCH[n] and fr._TORCH[n].__code__ is fr._TORCH_CODE[n] for n in ft.PATCHED)
            and all(getattr(torch.Tensor, n) is fr._ORIGINAL_METHOD[n] for n in ft.PATCHED_METHODS)
            and not any(n in vars(torch.Tensor) for n in ft.PATCHED_METHODS))


def test_importing_fastinit_does_not_import_torch():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", "import sys, fastinit; print('torch' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize("name", ft.PATCHED)
def test_same_parameters_as_torch(name):
    ours = inspect.signature(fr._REPLACEMENT[name]).parameters
    theirs = inspect.signature(fr._ORIGINAL[name]).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == \
        [(p.name, p.default, p.kind) for p in theirs.values()]


def test_installed_inside_restored_after_also_on_errors():
    assert restored()
    with ft.patch():
        assert installed()
        with ft.patch():                   # nested
            pass
        assert installed()
    assert restored()
    with pytest.raises(KeyError):
        with ft.patch():
            raise KeyError("boom")
    assert restored()

    @ft.patch()
    def build():
        return installed()
    assert build() and restored()


def test_concurrent_patches_restore_torch():
    start = threading.Barrier(8)
    seen = []

    def work():
        start.wait()
        for _ in range(50):
            with ft.patch():
                seen.append(installed())
                torch.nn.Linear(8, 8)
    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(seen) and len(seen) == 400
    assert restored()


def _model():
    return torch.nn.Sequential(torch.nn.Embedding(100, 64), torch.nn.Linear(64, 256), torch.nn.LayerNorm(256),
                               torch.nn.Conv1d(256, 32, 3), torch.nn.MultiheadAttention(32, 4))


def test_manual_seed_keeps_models_reproducible_and_fastinit_fills_them():
    with ft.patch():
        torch.manual_seed(0)
        a = _model()
        torch.manual_seed(0)
        b = _model()
        torch.manual_seed(1)
        c = _model()
    torch.manual_seed(0)
    d = _model()                            # torch's own init
    for (name, p), q, r, s in zip(a.named_parameters(), b.parameters(), c.parameters(), d.parameters()):
        assert torch.equal(p, q), name
        if p.numel() > 1 and p.std() > 0:
            assert not torch.equal(p, r) and not torch.equal(p, s), name


def test_values_are_fastinit_with_the_seed_drawn_from_torch():
    w = torch.empty(300, 200)
    torch.manual_seed(5)
    with ft.patch():
        init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    torch.manual_seed(5)
    seed = fr._seed(None)
    ref = torch.empty(300, 200)
    fi.normal_(ref, 0.0, math.sqrt(2.0) / math.sqrt(300), seed=seed)
    assert torch.equal(w, ref)


def test_generator_is_honoured_and_advanced():
    g = torch.Generator().manual_seed(3)
    w1, w2, w3 = torch.empty(1000), torch.empty(1000), torch.empty(1000)
    with ft.patch():
        init.normal_(w1, generator=g)
        init.normal_(w2, generator=g)
        init.normal_(w3, generator=torch.Generator().manual_seed(3))
    assert torch.equal(w1, w3) and not torch.equal(w1, w2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_semantics_match_torch(dtype):
    """Bounds and standard deviations from torch's fans and gains: checked on
    large tensors against the formulas (fixed seeds)."""
    torch.manual_seed(0)
    w = torch.empty(512, 256, 3, dtype=dtype)          # fan_in 768, fan_out 1536
    fan_in, fan_out = 256 * 3, 512 * 3
    with ft.patch():
        b = math.sqrt(3.0) * math.sqrt(2.0 / (1 + 5)) / math.sqrt(fan_in)     # a = sqrt(5), leaky_relu
        init.kaiming_uniform_(w, a=math.sqrt(5))
        assert w.abs().max().item() <= b * (1 + 2 ** -7) and w.abs().max().item() > 0.99 * b
        init.xavier_normal_(w, gain=2.0)
        assert w.double().std().item() == pytest.approx(2.0 * math.sqrt(2.0 / (fan_in + fan_out)), rel=0.01)
        init.trunc_normal_(w, mean=0.1, std=0.02, a=0.08, b=0.15)
        assert w.min().item() >= 0.08 and w.max().item() <= 0.15
        init.uniform_(w, -3.0, -1.0)
        assert -3.0 <= w.min().item() and w.max().item() <= -1.0
        init.constant_(w, 0.25)
        assert (w == 0.25).all()
        init.ones_(w)
        assert (w == 1).all()
        init.zeros_(w)
        assert (w == 0).all()


def test_torch_errors_and_warnings_are_kept():
    with ft.patch():
        with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
            init.xavier_uniform_(torch.empty(5))
        with pytest.raises(ValueError, match="Mode"):
            init.kaiming_normal_(torch.empty(3, 3), mode="fan_sideways")
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            init.kaiming_uniform_(torch.empty(0, 3))
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            init.trunc_normal_(torch.empty(10), std=0.02)       # torch does not warn; neither do we


def test_what_fastinit_does_not_fill_goes_to_torch():
    with ft.patch():
        torch.manual_seed(0)
        c = init.normal_(torch.empty(10, dtype=torch.complex64))
        i = init.zeros_(torch.ones(4, dtype=torch.int32))
        m = init.kaiming_uniform_(torch.empty(4, 4, device="meta"))
    torch.manual_seed(0)
    assert torch.equal(c, torch.empty(10, dtype=torch.complex64).normal_())
    assert (i == 0).all() and m.device.type == "meta"


def test_requires_grad_parameters_and_views():
    p = torch.nn.Parameter(torch.empty(64, 32))
    with ft.patch():
        init.normal_(p, std=0.5)
        v = torch.zeros(40, 30)
        init.uniform_(v[:, 5:20], 1.0, 2.0)
    assert p.requires_grad and p.grad is None and p.std().item() == pytest.approx(0.5, rel=0.1)
    assert (v[:, 5:20] >= 1).all() and (v[:, :5] == 0).all() and (v[:, 20:] == 0).all()
    assert np.isfinite(p.detach().numpy()).all()


def test_constants_draw_nothing_from_torch_rng():
    torch.manual_seed(3)
    with ft.patch():
        init.zeros_(torch.empty(10))
        init.constant_(torch.empty(10), 2.0)
        init.ones_(torch.empty(10))
    after = torch.rand(1)
    torch.manual_seed(3)
    assert torch.equal(after, torch.rand(1))


def test_tensor_methods_keep_autograd_checks_and_scalar_arguments():
    leaf = torch.zeros(3, requires_grad=True)
    with ft.patch():
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            leaf.uniform_(-1, 1)
        x = torch.ones(3, requires_grad=True)
        y = x * 2
        y.normal_()                                           # recorded by autograd, as torch does
        y.sum().backward()
        u = torch.empty(1000).uniform_(torch.tensor(-0.1), torch.tensor(0.1))
        c = init.constant_(torch.empty(4), torch.tensor(0.5))
        inf = init.constant_(torch.empty(4), float("inf"))    # torch's own path: fastinit refuses non-finite
    assert torch.equal(x.grad, torch.zeros(3))
    assert u.abs().max() <= 0.1 and (c == 0.5).all() and torch.isinf(inf).all()


def test_fake_tensors_and_aliases_stay_torchs():
    from torch._subclasses.fake_tensor import FakeTensorMode
    with ft.patch(), FakeTensorMode():
        m = torch.nn.Linear(8, 8)                             # tracing: torch's fillers, no data access
        init.zeros_(m.bias)
    import types
    mod = types.ModuleType("late_mod")
    mod.tn = init.trunc_normal_                               # an alias under another name
    import sys
    sys.modules["late_mod"] = mod
    try:
        w = torch.empty(100)
        torch.manual_seed(1)
        with ft.patch():
            mod.tn(w, std=0.5)
        torch.manual_seed(1)
        ref = fi.trunc_normal_(torch.empty(100), 0.0, 0.5, -2.0, 2.0, seed=fr._seed(None))
        assert torch.equal(w, ref) and restored()
    finally:
        del sys.modules["late_mod"]


# ----------------------------------------------------------------- parity with torch at the edges
def _f32(*shape):
    return lambda: torch.empty(shape)


#: (name, fresh tensor, the call): edge cases where torch raises, warns or
#: fills nothing, and a few ordinary calls beside them.  The expected
#: behaviour is whatever the installed torch does (``_outcome`` unpatched).
EDGES = [
    ("uniform a > b", _f32(5), lambda t: init.uniform_(t, 1.0, 0.0)),
    ("uniform range over float16's max", lambda: torch.empty(5, dtype=torch.float16),
     lambda t: init.uniform_(t, -6e4, 6e4)),
    ("uniform bound out of float16", lambda: torch.empty(5, dtype=torch.float16), lambda t: init.uniform_(t, -1e6, 1e6)),
    ("uniform range over float32's max", _f32(5), lambda t: init.uniform_(t, -3e38, 3e38)),
    ("uniform a == b", _f32(5), lambda t: init.uniform_(t, 1.0, 1.0)),
    ("normal std < 0", _f32(5), lambda t: init.normal_(t, 0.0, -1.0)),
    ("normal std 0", _f32(5), lambda t: init.normal_(t, 0.5, 0.0)),
    ("normal overlapping elements", lambda: torch.zeros(1).expand(8), lambda t: init.normal_(t)),
    ("uniform overlapping elements", lambda: torch.zeros(1).expand(8), lambda t: init.uniform_(t)),
    ("trunc mean far from [a, b]", _f32(50), lambda t: init.trunc_normal_(t, mean=5.0, std=1.0, a=-2.0, b=2.0)),
    ("trunc a > b", _f32(5), lambda t: init.trunc_normal_(t, 0.0, 1.0, a=1.0, b=-1.0)),
    ("trunc std 0", _f32(5), lambda t: init.trunc_normal_(t, 0.0, 0.0)),
    ("trunc std < 0", _f32(5), lambda t: init.trunc_normal_(t, 0.0, -1.0)),
    ("trunc a == b", _f32(5), lambda t: init.trunc_normal_(t, 0.0, 1.0, a=1.0, b=1.0)),
    ("trunc empty", _f32(0), lambda t: init.trunc_normal_(t)),
    ("constant float16 overflow", lambda: torch.empty(4, dtype=torch.float16), lambda t: init.constant_(t, 1e6)),
    ("constant float16 just over max", lambda: torch.empty(4, dtype=torch.float16), lambda t: init.constant_(t, 65519.0)),
    ("constant bfloat16 overflow", lambda: torch.empty(4, dtype=torch.bfloat16), lambda t: init.constant_(t, 1e39)),
    ("constant float32 overflow", _f32(4), lambda t: init.constant_(t, 1e39)),
    ("constant overlapping elements", lambda: torch.zeros(1).expand(8), lambda t: init.constant_(t, 2.0)),
    ("constant string", _f32(4), lambda t: init.constant_(t, "x")),
    ("uniform string bound", _f32(4), lambda t: init.uniform_(t, "a", 1.0)),
    ("xavier_uniform 1-d", _f32(5), lambda t: init.xavier_uniform_(t)),
    ("xavier_normal 0-d", _f32(), lambda t: init.xavier_normal_(t)),
    ("xavier_uniform 0x5", _f32(0, 5), lambda t: init.xavier_uniform_(t)),
    ("xavier_normal 0x0", _f32(0, 0), lambda t: init.xavier_normal_(t)),
    ("kaiming_uniform 1-d", _f32(5), lambda t: init.kaiming_uniform_(t)),
    ("kaiming_normal 0-d", _f32(), lambda t: init.kaiming_normal_(t)),
    ("kaiming_uniform bad mode", _f32(5, 5), lambda t: init.kaiming_uniform_(t, mode="fan_sideways")),
    ("kaiming_normal bad nonlinearity", _f32(5, 5), lambda t: init.kaiming_normal_(t, nonlinearity="swish")),
    ("kaiming_normal bad slope", _f32(5, 5), lambda t: init.kaiming_normal_(t, a="x")),
    ("kaiming_uniform 0x5", _f32(0, 5), lambda t: init.kaiming_uniform_(t)),
    ("kaiming_normal 5x0", _f32(5, 0), lambda t: init.kaiming_normal_(t)),
    ("uniform empty", _f32(0), lambda t: init.uniform_(t)),
    ("normal 0-d", _f32(), lambda t: init.normal_(t)),
    ("method uniform a > b", _f32(5), lambda t: t.uniform_(2.0, 1.0)),
    ("method normal std < 0", _f32(5), lambda t: t.normal_(0.0, -2.0)),
    ("method normal on a leaf that requires grad", lambda: torch.zeros(3, requires_grad=True), lambda t: t.normal_()),
    ("method normal overlapping", lambda: torch.zeros(1).expand(8), lambda t: t.normal_()),
    ("method uniform empty", _f32(0), lambda t: t.uniform_()),
]


def _outcome(make, call, patched):
    """What a call does: (exception type and message, warnings, whether
    torch's RNG moved, whether the tensor changed)."""
    import warnings
    torch.manual_seed(123)
    t = make()
    with torch.no_grad():
        if t.numel() and not t.requires_grad and t.stride() != (0,):
            t.fill_(7.0)
    before = t.detach().clone()
    state = torch.get_rng_state()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            if patched:
                with ft.patch():
                    call(t)
            else:
                call(t)
            err = None
        except Exception as e:                        # noqa: BLE001  (any type: it is what we compare)
            err = (type(e), str(e))
    moved = not torch.equal(state, torch.get_rng_state())
    changed = not torch.equal(before, t.detach())
    return err, [(x.category, str(x.message), x.filename, x.lineno) for x in w], moved, changed


@pytest.mark.parametrize("name,make,call", EDGES, ids=[c[0] for c in EDGES])
def test_edge_cases_behave_as_torch(name, make, call):
    """Under patch() torch's exception (type and message) and torch's
    warnings (category, text and the line they point at); a call that
    raises or fills nothing leaves torch's RNG where torch leaves it, and a
    call that raises writes nothing."""
    err, warns, moved, changed = _outcome(make, call, patched=False)
    p_err, p_warns, p_moved, p_changed = _outcome(make, call, patched=True)
    assert p_err == err
    assert p_warns == warns
    if err is not None or not moved:
        assert not p_moved
    if err is not None:
        assert not changed and not p_changed


def test_edge_cases_cover_the_issue_table():
    """The cases the table of edge cases names, each checked above: raised by
    torch (so the comparison is with an error), or warned."""
    raised = {c[0] for c in EDGES if _outcome(c[1], c[2], patched=False)[0] is not None}
    assert {"uniform a > b", "normal std < 0", "trunc a > b", "trunc std 0", "constant float16 overflow",
            "normal overlapping elements", "xavier_uniform 1-d", "kaiming_uniform bad mode",
            "kaiming_normal bad nonlinearity", "kaiming_normal 0-d"} <= raised
    warned = _outcome(*[c[1:] for c in EDGES if c[0] == "trunc mean far from [a, b]"][0], patched=False)[1]
    assert warned and warned[0][0] is UserWarning


FILLS = [   # (patched call, fastinit's own call with the seed torch's RNG gave)
    (lambda t: init.uniform_(t, -0.5, 0.25), lambda t, s: fi.uniform_(t, -0.5, 0.25, seed=s)),
    (lambda t: init.normal_(t, 0.1, 0.02), lambda t, s: fi.normal_(t, 0.1, 0.02, seed=s)),
    (lambda t: init.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04), lambda t, s: fi.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, seed=s)),
    (lambda t: init.xavier_uniform_(t, gain=2.0), lambda t, s: fi.uniform_(t, -fr.xavier_bound(t, 2.0), fr.xavier_bound(t, 2.0), seed=s)),
    (lambda t: init.xavier_normal_(t), lambda t, s: fi.normal_(t, 0.0, fr.xavier_std(t), seed=s)),
    (lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)),
     lambda t, s: fi.uniform_(t, -math.sqrt(3) * fr.kaiming_std(t, math.sqrt(5)), math.sqrt(3) * fr.kaiming_std(t, math.sqrt(5)), seed=s)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out"), lambda t, s: fi.normal_(t, 0.0, fr.kaiming_std(t, 0, "fan_out"), seed=s)),
    (lambda t: t.normal_(2.0, 3.0), lambda t, s: fi.normal_(t, 2.0, 3.0, seed=s)),
    (lambda t: t.uniform_(-1, to=1), lambda t, s: fi.uniform_(t, -1.0, 1.0, seed=s)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize("k", range(len(FILLS)))
def test_ordinary_calls_are_fastinits_with_one_seed_from_torch(k, dtype):
    """Every replacement fills with fastinit's values, the seed drawn from
    torch's RNG after the checks (a silent fall back to torch fails here)."""
    patched, own = FILLS[k]
    w = torch.empty(64, 48, dtype=dtype)
    torch.manual_seed(9)
    with ft.patch():
        patched(w)
    after = torch.rand(1)
    torch.manual_seed(9)
    ref = own(torch.empty(64, 48, dtype=dtype), fr._seed(None))
    assert torch.equal(w, ref)
    assert torch.equal(after, torch.rand(1))          # exactly one seed drawn


@pytest.mark.parametrize("name,value", [("zeros_", 0.0), ("ones_", 1.0), ("constant_", -2.5)])
def test_constants_are_fastinits(name, value):
    w = torch.full((10, 3), 7.0, dtype=torch.bfloat16)
    with ft.patch():
        getattr(init, name)(w, *([value] if name == "constant_" else []))
    assert torch.equal(w, fi.constant_(torch.empty(10, 3, dtype=torch.bfloat16), value))


def _leftovers():
    """fastinit's replacements found anywhere outside fastinit: in module
    namespaces, and one level into their dicts, lists, sets and tuples."""
    import sys
    import types
    ours = {id(f) for f in list(fr._REPLACEMENT.values()) + list(fr._REPLACEMENT_METHOD.values())}
    ours |= {id(c) for c in fp._TRAMPOLINE.values()}
    found = []
    for mname, mod in list(sys.modules.items()):
        d = getattr(mod, "__dict__", None)
        if mname.startswith("fastinit") or not isinstance(d, dict):
            continue
        for k, v in list(d.items()):
            # exact types only: a module attribute may be a lazy object that raises on any access
            inner = (list(v.keys()) + list(v.values()) if type(v) is dict
                     else list(v) if type(v) in (list, set, tuple, frozenset) else [])
            code = v.__code__ if type(v) is types.FunctionType else None
            if id(v) in ours or id(code) in ours or any(id(x) in ours for x in inner):
                found.append(f"{mname}.{k}")
    return found


def test_nothing_left_after_exit_also_from_modules_imported_inside():
    """torch._dynamo copies Tensor's methods into a dict when it is first
    imported; first imported inside patch(), it must not keep fastinit's."""
    import subprocess
    import sys
    code = r"""
import sys, torch
import fastinit.torch as ft
from tests.test_torch_patch import _leftovers, restored
assert "torch._dynamo" not in sys.modules
with ft.patch():
    import torch._dynamo
    from torch._dynamo.variables.tensor import all_tensor_attrs
    assert all_tensor_attrs["normal_"] is ft._replacements._REPLACEMENT_METHOD["normal_"]   # captured inside
assert all_tensor_attrs["normal_"] is torch._C.TensorBase.__dict__["normal_"]
assert all_tensor_attrs["uniform_"] is torch._C.TensorBase.__dict__["uniform_"]
assert restored(), "torch not restored"
left = _leftovers()
assert not left, left
print("ok")
"""
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    r = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], capture_output=True,
                       text=True, timeout=300, cwd=os.path.dirname(here), env=env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_captures_in_lists_sets_and_keys_are_taken_back():
    import warnings
    box = {}
    with ft.patch():
        box["list"] = [torch.Tensor.normal_]
        box["set"] = {torch.Tensor.uniform_}
        box["keys"] = {torch.Tensor.normal_: 1}
    assert box["list"][0] is fr._ORIGINAL_METHOD["normal_"]
    assert box["set"] == {fr._ORIGINAL_METHOD["uniform_"]}
    assert list(box["keys"]) == [fr._ORIGINAL_METHOD["normal_"]]
    with ft.patch():
        kept = (torch.Tensor.normal_,)                     # a tuple cannot be mended: said so
    with pytest.warns(RuntimeWarning, match="Tensor.normal_ was captured while patched, in tuple"):
        with ft.patch():
            pass
    del kept
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with ft.patch():
            pass
    assert restored() and not _leftovers()


def test_seed_draws_what_randint_draws():
    """patch()'s seeds are torch.randint's draws (a reused buffer is only faster)."""
    g = torch.Generator().manual_seed(11)
    h = torch.Generator().manual_seed(11)
    for _ in range(3):
        hi, lo = torch.randint(0, 2 ** 32, (2,), dtype=torch.int64, generator=h).tolist()
        assert fr._seed(g) == (hi << 32) | lo
    torch.manual_seed(4)
    a = [fr._seed(None) for _ in range(2)]
    torch.manual_seed(4)
    b = [torch.randint(0, 2 ** 32, (2,), dtype=torch.int64).tolist() for _ in range(2)]
    assert a == [(hi << 32) | lo for hi, lo in b]


def test_torch_function_modes_see_what_torch_shows_them():
    """A TorchFunctionMode is handed the call where torch's function hands
    it (uniform_, normal_, constant_, kaiming_uniform_, the Tensor
    methods); calling the function from the mode fills with fastinit's
    values; fastinit's own tensor operations are not shown to the mode."""
    from torch.overrides import TorchFunctionMode

    class Log(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.seen = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.seen.append(getattr(func, "__name__", repr(func)))
            return func(*args, **(kwargs or {}))

    calls = [lambda t: init.uniform_(t, -1.0, 1.0), lambda t: init.normal_(t), lambda t: init.constant_(t, 0.5),
             lambda t: init.kaiming_uniform_(t), lambda t: t.normal_(), lambda t: t.uniform_()]
    for call in calls:
        t = torch.empty(16, 8)
        with Log() as plain:
            call(t)
        t2 = torch.empty(16, 8)
        torch.manual_seed(2)
        with ft.patch(), Log() as patched:
            call(t2)
        t3 = torch.empty(16, 8)
        torch.manual_seed(2)
        with ft.patch():
            call(t3)                       # no mode: the same fastinit values
        assert patched.seen == plain.seen[:1] and torch.equal(t2, t3)
    t = torch.empty(16, 8)
    with ft.patch(), Log() as quiet:
        init.xavier_uniform_(t)            # torch's own does not dispatch: the mode sees nothing of ours
    assert quiet.seen == []


def test_device_context_keeps_fastinit():
    """``with torch.device(...)`` is a TorchFunctionMode: a model built in
    one still gets fastinit's values."""
    torch.manual_seed(0)
    with ft.patch():
        a = _model()
    torch.manual_seed(0)
    with ft.patch(), torch.device("cpu"):
        b = _model()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(p, q), name


# ----------------------------------------------------------------- whole modules and libraries under patch()
def test_patch_covers_modules_that_imported_fillers_and_tensor_methods():
    """MultiheadAttention and nn.Transformer call xavier_uniform_ imported by
    name; HF's 4.x _init_weights calls weight.data.normal_."""
    import torch.nn.modules.activation as act
    w = torch.empty(300)
    torch.manual_seed(5)
    with ft.patch():
        assert act.xavier_uniform_.__code__ is ft._patch._TRAMPOLINE["xavier_uniform_"]
        w.data.normal_(mean=0.0, std=0.02)
        u = torch.empty(100).uniform_(-1, **{"to": 2})
    assert act.xavier_uniform_ is torch.nn.init.xavier_uniform_
    assert act.xavier_uniform_.__code__ is ft._replacements._TORCH_CODE["xavier_uniform_"]
    assert "normal_" not in vars(torch.Tensor) and torch.Tensor.normal_ is ft._replacements._ORIGINAL_METHOD["normal_"]
    torch.manual_seed(5)
    seed = ft._replacements._seed(None)
    assert torch.equal(w, fi.normal_(torch.empty(300), 0.0, 0.02, seed=seed))
    assert u.min() >= -1 and u.max() < 2
    torch.manual_seed(0)
    with ft.patch():
        a = nn.MultiheadAttention(16, 2)
    torch.manual_seed(0)
    b = nn.MultiheadAttention(16, 2)
    assert not torch.equal(a.in_proj_weight, b.in_proj_weight)      # fastinit's values, not torch's


def test_patch_leaves_its_own_tables_alone():
    P = ft._replacements
    with ft.patch():
        assert all(P._ORIGINAL[n].__code__ is P._TORCH_CODE[n] for n in ft.PATCHED)
    assert P.normal_ is P._REPLACEMENT["normal_"] and P._ORIGINAL["normal_"].__code__ is torch.nn.init.normal_.__code__


def test_transformers_from_config_under_patch(monkeypatch):
    """transformers 5 calls torch's fillers through a table it took at import
    (initialization.TORCH_INIT_FUNCTIONS): patch() reaches it too."""
    transformers = pytest.importorskip("transformers")
    hi = pytest.importorskip("transformers.initialization")
    cfg = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=300)
    filled = []
    real = fi.api.normal_
    monkeypatch.setattr(fi.api, "normal_", lambda buf, *a, **k: filled.append(tuple(buf.shape)) or real(buf, *a, **k))

    def build():
        torch.manual_seed(0)
        with ft.patch():
            return transformers.AutoModelForCausalLM.from_config(cfg)
    a, b = build(), build()
    assert (64, 64) in filled and (300, 64) in filled
    assert hi.TORCH_INIT_FUNCTIONS["normal_"] is torch.nn.init.normal_
    assert torch.nn.init.normal_.__code__ is ft._replacements._TORCH_CODE["normal_"]
    _equal(_state(a), _state(b))
    torch.manual_seed(0)
    c = transformers.AutoModelForCausalLM.from_config(cfg)
    q = a.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(q, c.model.layers[0].self_attn.q_proj.weight)
    assert q.std().item() == pytest.approx(0.02, rel=0.1) and (a.model.norm.weight == 1).all()


# ----------------------------------------------------------------- a CUDA side that does not load
def _broken_cuda_side(monkeypatch):
    """numba-cuda installed but unusable, as with NumPy 2.5: fastinit's
    CUDA backend raises the ImportError it raises there."""
    def broken():
        raise ImportError("buf is a CUDA buffer, and numba-cuda cannot compile kernels with NumPy 2.5")
    monkeypatch.setattr(fr, "_HAVE_NUMBA_CUDA", True)
    monkeypatch.setattr(fr, "_cuda_loads", None)
    monkeypatch.setattr(fi._call, "cuda_backend", broken)


def test_cuda_side_that_does_not_load_is_torchs_call_with_one_warning(monkeypatch):
    import warnings
    _broken_cuda_side(monkeypatch)
    with pytest.warns(RuntimeWarning, match=r"torch's own functions.*ImportError.*NumPy 2\.5") as rec:
        assert fr.cuda_usable() is False
    assert len(rec) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # once per process: not again
        assert fr.cuda_usable() is False


def test_cuda_side_absent_is_torchs_call_silently(monkeypatch):
    import warnings
    monkeypatch.setattr(fr, "_HAVE_NUMBA_CUDA", False)
    monkeypatch.setattr(fr, "_cuda_loads", None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fr.cuda_usable() is False


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_cuda_tensor_under_patch_with_a_broken_cuda_side(monkeypatch):
    """The call that raised ImportError out of torch.nn.init.normal_: now
    torch's own function fills the tensor, with torch's values."""
    _broken_cuda_side(monkeypatch)
    t = torch.empty(1000, device="cuda")
    torch.manual_seed(0)
    expect = torch.empty(1000, device="cuda").normal_(0.0, 0.02)
    torch.manual_seed(0)
    with pytest.warns(RuntimeWarning, match="torch's own functions"), ft.patch():
        init.normal_(t, 0.0, 0.02)
    assert torch.equal(t, expect)
