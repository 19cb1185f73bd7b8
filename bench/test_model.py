"""End-to-end model init (``python -m fastinit bench-model``): a
Llama-style decoder built with torch's default init, under
``fastinit.torch.patch()``, and by ``materialize_`` from the meta device.

    python -m fastinit bench-model                       # 1.5 G parameters, float32 and bfloat16
    pytest bench/test_model.py --benchmark-disable       # smoke run: the tiny model, each way once,
                                                         # warm and with an empty kernel cache

The full run's figures are in bench/NOTES.md and the README.
"""
import importlib.util
import json

import pytest

torch = pytest.importorskip("torch")
from fastinit._bench.model import METHODS, _build, run     # noqa: E402

HAVE_HF = importlib.util.find_spec("transformers") is not None


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", METHODS)
def test_build(benchmark, method, dtype):
    if method.startswith("hf-") and not HAVE_HF:
        pytest.skip("transformers is not installed")
    model = benchmark(_build, method, "tiny", dtype, "cpu")
    params = list(model.parameters())
    assert params and all(p.dtype == getattr(torch, dtype) and torch.isfinite(p).all() for p in params)
    benchmark.extra_info["params"] = sum(p.numel() for p in params)


def test_command_runs_and_reports_speedups(tmp_path, capsys):
    rows = run(["--size", "tiny", "--dtypes", "bfloat16", "--methods", "torch,patch,materialize",
                "--repeat", "1", "--json", str(tmp_path / "r.json")])
    assert [r["method"] for r in rows] == ["torch", "patch", "materialize"]
    assert rows[0]["speedup"] is None and all(r["speedup"] > 0 for r in rows[1:])
    # the cold column: each first build in a process with an empty kernel cache, fastinit's compiled afresh
    assert rows[0]["cold_speedup"] is None and all(r["cold"] > 0 and r["cold_cache_hits"] == 0 for r in rows)
    assert all(r["cold_speedup"] > 0 and r["cold_kernels"] > 0 for r in rows[1:])
    out = capsys.readouterr().out
    assert "vs torch" in out and "cold s" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["meta"]["cold"] and saved["meta"]["cpu"] and saved["rows"] == rows


def test_no_cold():
    (row,) = run(["--size", "tiny", "--dtypes", "float32", "--methods", "torch", "--repeat", "1", "--no-cold"])
    assert row["cold"] is None and row["cold_speedup"] is None
