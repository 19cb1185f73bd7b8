"""The registry of distributions (``fastinit._distributions``) is the one
place a distribution is spelled: these tests walk it and check that every
layer reads it, and that no layer names a distribution on its own.

Adding a distribution is one record, its value functions, its parameter
function, its public filler, its contract text and its tests; a test here
fails until each layer picks it up through the record.
"""
import ast
import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest

import fastinit as fi
from fastinit import _distributions as D, _dtypes, _threads, _warmup, api

import golden_cases
import reference

PACKAGE = Path(fi.__file__).resolve().parent
#: Every word that names a distribution: the registry's names and
#: variance_scaling_'s words for them.
WORDS = {str(d) for d in D.ALL} | {d.scaling for d in D.ALL if d.scaling}
#: Strings that equal a distribution's word and mean something else, each
#: with where it stands (module, the name it is assigned to) and why.
FOREIGN = {
    ("torch/_program/_calls.py", "_RANDOM_CALLS"): "torch's own function names (torch.normal draws)",
}


def _assigned_name(node, parents):
    for p in parents:
        if isinstance(p, (ast.Assign, ast.AnnAssign)):
            targets = p.targets if isinstance(p, ast.Assign) else [p.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names:
                return names[0]
    return None


def _public_defaults(tree):
    """The default values of the public fillers' parameters (``api.__all__``):
    a public signature may spell its default, as ``variance_scaling_``'s
    ``distribution="truncated_normal"``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in api.__all__:
            out.update(id(d) for d in node.args.defaults + node.args.kw_defaults if d is not None)
    return out


def _bare_names(path):
    rel = path.relative_to(PACKAGE).as_posix()
    tree = ast.parse(path.read_text(), str(path))
    allowed = _public_defaults(tree) if rel == "api.py" else set()
    found = []

    def visit(node, parents):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in WORDS:
            if id(node) not in allowed and (rel, _assigned_name(node, parents)) not in FOREIGN:
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
        for child in ast.iter_child_nodes(node):
            visit(child, [node] + parents)
    visit(tree, [])
    return found


def test_no_distribution_is_named_outside_the_registry():
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if p.name != "_distributions.py"]
    assert len(modules) > 30
    found = [hit for p in modules for hit in _bare_names(p)]
    assert not found, "distribution names spelled outside fastinit/_distributions.py:\n" + "\n".join(found)


def test_the_walker_sees_a_bare_name():
    """The check above would see a name spelled in a module."""
    bad = PACKAGE / "_probe_not_a_module.py"
    try:
        bad.write_text('KIND = "normal"\n')
        assert _bare_names(bad) == ["_probe_not_a_module.py:1: 'normal'"]
    finally:
        bad.unlink()


@pytest.fixture
def dispatched(monkeypatch):
    """The distributions the CPU path was asked to fill, in order."""
    seen = []
    real = _threads.fill

    def spy(region, n, kind, dist, prm, seed, stream):
        seen.append((dist, prm))
        return real(region, n, kind, dist, prm, seed, stream)
    monkeypatch.setattr(_threads, "fill", spy)
    return seen


@pytest.mark.parametrize("dist", D.ALL, ids=str)
def test_each_record(dist, dispatched):
    """A record's fields agree with each other and with the public filler."""
    assert D.of(str(dist)) is dist and D.BY_NAME[dist] is dist
    assert pickle.loads(pickle.dumps(dist)) is dist
    assert dist.random == bool(dist.value)
    assert set(dist.value) in ({"32", "64"}, set())
    assert set(dist.staged) <= set(dist.value)
    assert dist.filler in dist.fillers
    for kind in _dtypes.KINDS:
        prm = dist.example_params(kind)
        assert isinstance(prm, dist.record)
    for name in dist.fillers:
        assert name in api.__all__
        fn = getattr(fi, name)
        args = dist.example if name == dist.filler else ()
        dispatched.clear()
        fn(np.empty(64, np.float32), *args, seed=0)
        assert [d for d, _ in dispatched] == [dist] and dispatched[0][0] is dist
        assert isinstance(dispatched[0][1], dist.record)


@pytest.mark.parametrize("dist", D.ALL, ids=str)
def test_references_and_golden_cases(dist, dispatched):
    """Its reference functions exist in tests/reference.py, and each golden
    case it names writes it; every golden case belongs to one distribution."""
    for name in dist.reference:
        assert callable(getattr(reference, name)), name
    assert not dist.random or dist.reference
    for name in dist.golden:
        fn, kwargs = golden_cases.CALLS[name]
        dispatched.clear()
        fn(np.empty((16, 8), np.float32), seed=0, **kwargs)
        assert [d for d, _ in dispatched] == [dist]
    owned = [name for d in D.ALL for name in d.golden]
    assert sorted(owned) == sorted(golden_cases.CALLS)


@pytest.mark.parametrize("word", list(D.SCALING))
def test_variance_scaling_reads_the_words(word, dispatched):
    assert api.DISTRIBUTIONS == tuple(D.SCALING)
    fi.variance_scaling_(np.empty((8, 8), np.float32), 1.0, "fan_in", word, seed=0)
    assert [d for d, _ in dispatched] == [D.SCALING[word]]


def test_the_layers_read_the_registry():
    assert D.RANDOM == tuple(d for d in D.ALL if d.random)
    assert _warmup.DISTS == D.RANDOM and _warmup.CUDA_DISTS == D.ALL
    with pytest.raises(ValueError, match="no distribution 'cauchy'"):
        D.of("cauchy")


def test_dask_reads_the_registry():
    pytest.importorskip("dask")
    import fastinit.dask as fd
    assert set(fd.CONSTANT_FILLERS) == {f[:-1] for d in D.ALL if not d.random for f in d.fillers}
    assert set(fd.FILLERS) >= {f[:-1] for d in D.ALL for f in d.fillers}


def test_torch_reads_the_registry():
    pytest.importorskip("torch")
    from fastinit.torch import _fill, _program
    assert _program.RANDOM == D.RANDOM
    for d in D.ALL:
        fn = _fill.filler(d)
        assert fn is (_fill.trunc_normal if d is D.TRUNC_NORMAL else getattr(fi, d.filler))
        assert _program._kinds()[fn] is d


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="needs numba-cuda")
def test_cuda_types_every_record():
    from fastinit import _cuda
    for d in D.ALL:
        for kind in _dtypes.KINDS:
            assert _cuda.prm_type(d, kind) is not None
