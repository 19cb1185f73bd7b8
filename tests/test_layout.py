"""The shape of the package: rooms that do one job, and doors between layers.

* No module of ``fastinit/`` is longer than ``MAX_LINES`` (coefficient
  tables may stand apart, in ``_constants.py``).
* No module uses a private name (``_name``) of a module in another layer.
  The layers: the core (``fastinit/*.py``), ``fastinit.dask``,
  ``fastinit.torch`` and ``fastinit._bench``; within a layer, modules may
  share private names.
"""
import ast
from pathlib import Path

import pytest

import fastinit

PACKAGE = Path(fastinit.__file__).resolve().parent
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 470
TABLES = {"_constants.py"}


def _rel(path):
    return path.relative_to(PACKAGE).as_posix()


def layer(rel):
    parts = rel.split("/")
    if len(parts) > 1:
        return parts[0]
    return "dask" if rel == "dask.py" else "core"


def _target(path, level, module, name):
    """The module file that ``from <level dots><module> import <name>`` in
    ``path`` names, if ``name`` is a module; else that of ``module``."""
    base = path.parent
    for _ in range(level - 1):
        base = base.parent
    base = base.joinpath(*module.split(".")) if module else base
    for cand in (base / f"{name}.py", base / name / "__init__.py"):
        if cand.exists():
            return cand, True
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.exists():
            return cand, False
    return None, False


def private_uses(path):
    """(line, target module, name) for each private name of another module
    of the package that ``path`` uses: ``from .m import _x`` and
    ``m._x`` where ``m`` was imported from the package."""
    tree = ast.parse(path.read_text(), str(path))
    aliases, out = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            for a in node.names:
                target, is_module = _target(path, node.level, node.module, a.name)
                if target is None:
                    continue
                if is_module:
                    aliases[a.asname or a.name] = target
                elif a.name.startswith("_") and not a.name.startswith("__"):
                    out.append((node.lineno, target, a.name))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            out.append((node.lineno, aliases[node.value.id], node.attr))
    return out


def test_no_module_is_longer_than_a_room():
    long = {_rel(p): n for p in MODULES if p.name not in TABLES
            for n in [p.read_text().count("\n")] if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by what they do): {long}"


def test_no_private_name_crosses_a_layer():
    crossings = [f"{_rel(p)}:{line} uses {_rel(t)}'s {name}"
                 for p in MODULES for line, t, name in private_uses(p) if layer(_rel(p)) != layer(_rel(t))]
    assert not crossings, "private names used across layers:\n" + "\n".join(crossings)


@pytest.mark.parametrize("source, expected", [
    ("from . import api as _fi\nx = _fi._u64\n", [(2, "api.py", "_u64")]),
    ("from .api import _u64\n", [(1, "api.py", "_u64")]),
    ("from . import api\nx = api.normal_\n", []),
])
def test_the_scan_sees_a_private_name(source, expected):
    """The scan above sees both spellings of a private use (a probe module
    in fastinit/torch/, the torch layer)."""
    probe = PACKAGE / "torch" / "_probe_not_a_module.py"
    try:
        probe.write_text(source.replace("from . ", "from .. ").replace("from .api", "from ..api"))
        got = [(line, _rel(t), name) for line, t, name in private_uses(probe)]
        assert got == expected
    finally:
        probe.unlink()
