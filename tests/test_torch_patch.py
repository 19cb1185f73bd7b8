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
import fastinit.torch._patch as fp         # noqa: E402

init = torch.nn.init


def test_importing_fastinit_does_not_import_torch():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", "import sys, fastinit; print('torch' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize("name", ft.PATCHED)
def test_same_parameters_as_torch(name):
    ours = inspect.signature(fp._REPLACEMENT[name]).parameters
    theirs = inspect.signature(fp._ORIGINAL[name]).parameters
    assert [(p.name, p.default, p.kind) for p in ours.values()] == \
        [(p.name, p.default, p.kind) for p in theirs.values()]


def test_installed_inside_restored_after_also_on_errors():
    with ft.patch():
        assert init.normal_ is fp._REPLACEMENT["normal_"]
        with ft.patch():                   # nested
            pass
        assert init.normal_ is fp._REPLACEMENT["normal_"]
    assert all(getattr(init, n) is fp._ORIGINAL[n] for n in ft.PATCHED)
    with pytest.raises(KeyError):
        with ft.patch():
            raise KeyError("boom")
    assert all(getattr(init, n) is fp._ORIGINAL[n] for n in ft.PATCHED)

    @ft.patch()
    def build():
        return init.kaiming_uniform_ is fp._REPLACEMENT["kaiming_uniform_"]
    assert build() and init.kaiming_uniform_ is fp._ORIGINAL["kaiming_uniform_"]


def test_concurrent_patches_restore_torch():
    start = threading.Barrier(8)
    seen = []

    def work():
        start.wait()
        for _ in range(50):
            with ft.patch():
                seen.append(init.uniform_ is fp._REPLACEMENT["uniform_"])
                torch.nn.Linear(8, 8)
    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(seen) and len(seen) == 400
    assert all(getattr(init, n) is fp._ORIGINAL[n] for n in ft.PATCHED)


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
    seed = fp._seed(None)
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
        with ft.patch():
            assert mod.tn is fp._REPLACEMENT["trunc_normal_"]
        assert mod.tn is fp._ORIGINAL["trunc_normal_"]
    finally:
        del sys.modules["late_mod"]
