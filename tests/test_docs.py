"""The documentation site builds, covers the public API, and its code runs.

* ``mkdocs build --strict`` (``mkdocs.yml`` at the repository's root) into
  a temporary directory: any warning fails, so a page that links to a
  moved page or anchor, a page left out of the nav, or a docstring that
  names a parameter its function no longer has breaks the test run.
* The API reference (mkdocstrings, from the docstrings) holds every name of
  the ``__all__`` of ``fastinit``, ``fastinit.torch`` and ``fastinit.dask``:
  read from the build's ``objects.inv``.
* Every ```python block of the pages under ``docs/`` runs, with the README's
  parser and markers (``tests/test_readme.py``: ``<!-- readme-test:
  needs=... -->``, ``<!-- readme-test: skip reason="..." -->``), in a fresh
  namespace and a fresh working directory; a traceback's line numbers are
  the page's.
* README.md stays the short page a newcomer reads in a few minutes: under
  200 lines, the rest lives in ``docs/``.

Needs the ``docs`` packages (mkdocs, mkdocs-material, mkdocstrings[python]),
which the ``test`` extra installs.
"""
import importlib
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from test_readme import parse_blocks, run_block

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
BLOCKS = [dict(b, page=p) for p in PAGES for b in parse_blocks(p.read_text(encoding="utf-8"),
                                                                  str(p.relative_to(ROOT)))]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                        str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"mkdocs build --strict failed (rc {r.returncode}):\n{r.stdout}\n{r.stderr}"
    return out


def test_the_site_builds_with_no_warning(site):
    assert (site / "index.html").is_file()
    assert (site / "contract" / "index.html").is_file()


def _inventory(site):
    """The names objects.inv lists (Sphinx's inventory, version 2)."""
    data = (site / "objects.inv").read_bytes()
    head, sep, body = data.partition(b"zlib.\n")
    assert sep, "objects.inv is not a version 2 inventory"
    return {line.split(" ", 1)[0] for line in zlib.decompress(body).decode().splitlines()}


@pytest.mark.parametrize("module", ["fastinit", "fastinit.torch", "fastinit.dask"])
def test_the_reference_holds_every_public_name(site, module):
    if module == "fastinit.torch":
        pytest.importorskip("torch")
    if module == "fastinit.dask":
        pytest.importorskip("dask.array")
    mod = importlib.import_module(module)
    names = _inventory(site)
    missing = [n for n in mod.__all__ if f"{module}.{n}" not in names]
    assert not missing, f"the API reference lacks {module}'s {missing} (docs/reference/)"


def test_the_contract_is_in_the_site_as_is(site):
    # docs/contract.md is public API: the site shows it, and nothing rewrites it
    html = (site / "contract" / "index.html").read_text(encoding="utf-8")
    assert "the value contract (v1)" in html


def test_every_page_has_its_python_blocks_parsed():
    text = "".join(p.read_text(encoding="utf-8") for p in PAGES)
    assert len(BLOCKS) == text.count("```python\n"), "a ```python fence the parser missed"
    assert len(BLOCKS) >= 8, "the guide has fewer Python blocks than it was written with"


def test_readme_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < 200, f"README.md has {lines} lines: move the detail to docs/ (the site)"


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b['page'].relative_to(DOCS)}:line{b['line']}" for b in BLOCKS])
def test_block(block, tmp_path, monkeypatch):
    run_block(block, block["page"].relative_to(ROOT), tmp_path, monkeypatch)
