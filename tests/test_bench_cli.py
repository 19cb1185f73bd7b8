"""The main job, ``python -m fastinit bench``: options, JSON, plot and the
errors that come before any timing.  (Speed itself is never asserted in
tests: the machines are shared and noisy.)"""
import importlib.util
import json
import subprocess
import sys

import pytest

from fastinit._bench import cli, report


def test_quick_run_writes_json_and_plot(tmp_path):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    args = ["--quick", "--sizes", "10,12", "--dtypes", "float32,bfloat16", "--peers", "numpy", "--json", str(out)]
    if importlib.util.find_spec("matplotlib"):
        args += ["--plot", str(png)]
    r = subprocess.run([sys.executable, "-m", "fastinit", "bench"] + args, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cpu float32: G elements/s" in r.stdout and "normal_ f32 on cpu at 2^12:" in r.stdout
    doc = json.loads(out.read_text())
    assert {"date", "command", "machine", "versions", "results", "verdict"} <= set(doc)
    assert doc["machine"]["cores"] >= 1 and "numpy" in doc["versions"]
    rows = {(r["library"], r["method"], r["dtype"], r["log2"]) for r in doc["results"]}
    assert ("", "fill", "float32", 10) in rows and ("fastinit", "normal_", "bfloat16", 12) in rows
    plain = [r for r in doc["results"] if r["library"] == "" and r["dtype"] == "float32" and r["log2"] == 12]
    assert len(plain) >= 2                           # one thread, all threads (and non-temporal stores)
    assert all(r["fill_g_per_s"] == max(p["g_per_s"] for p in plain)           # the fastest plain store
               for r in doc["results"] if r["dtype"] == "float32" and r["log2"] == 12)
    assert ("numpy", "standard_normal(out=)", "float32", 12) in rows
    assert not any(lib == "torch" for lib, _, _, _ in rows)          # --peers numpy
    for r in doc["results"]:
        assert r["g_per_s"] > 0 and r["ratio_to_fill"] == pytest.approx(r["g_per_s"] / r["fill_g_per_s"])
    if importlib.util.find_spec("matplotlib"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv,words", [
    (["--dtypes", "float8"], "--dtypes must be from"),
    (["--peers", "tensorflow"], "--peers must be from"),
    (["--sizes", "10,40"], "--sizes must be powers of two"),
    (["--sizes", "10", "--log2-size", "12"], "not both"),
    (["--device", "tpu"], "invalid choice"),
])
def test_bad_options_are_refused_before_timing(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        cli._parse(argv)
    assert e.value.code == 2 and words in capsys.readouterr().err


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    real = cli._have
    monkeypatch.setattr(cli, "_have", lambda m: False if m == "matplotlib" else real(m))
    with pytest.raises(SystemExit):
        cli._parse(["--plot", "x.png"])
    assert "pip install 'fastinit[plot]'" in capsys.readouterr().err


def test_cuda_without_a_gpu_says_why(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_cuda_ready", lambda: (False, "torch sees no CUDA GPU"))
    with pytest.raises(SystemExit):
        cli._parse(["--device", "cuda"])
    assert "torch sees no CUDA GPU" in capsys.readouterr().err
    args, sizes, dtypes, peers, missing, devices, repeat = cli._parse(["--device", "all", "--quick"])
    assert devices == ["cpu"] and sizes == cli.QUICK_SIZES and dtypes == ("float32",) and repeat == 3


def test_targets_are_checked_only_for_large_buffers():
    def rows(log2):
        base = {"device": "cpu", "dtype": "float32", "log2": log2, "fill_g_per_s": 8.0}
        return [dict(base, library="", method="fill", g_per_s=8.0),
                dict(base, library="fastinit", method="normal_", g_per_s=2.0),
                dict(base, library="fastinit", method="uniform_", g_per_s=3.0),
                dict(base, library="fastinit", method="zeros_", g_per_s=7.9),
                dict(base, library="numpy", method="standard_normal(out=)", g_per_s=0.1)]
    targets, lines = report.check(rows(20), ["cpu"])
    assert targets == [] and lines == ["normal_ f32 on cpu at 2^20: 20.0x numpy, 0.25 of the write ceiling"]
    targets, lines = report.check(rows(28), ["cpu"])
    got = {t["row"]: (round(t["ratio"], 3), t["met"]) for t in targets}
    assert got == {"fastinit zeros_ float32": (0.988, True),              # of the write ceiling
                   "fastinit uniform_ float32": (0.375, False),
                   "fastinit normal_ float32": (0.667, True)}             # of uniform_'s rate
    text = {t["row"]: t["target"] for t in targets}                     # as the user reads them
    assert text["fastinit zeros_ float32"] == "zeros_ float32 at >= 0.95 of the write ceiling"
    assert text["fastinit normal_ float32"] == "normal_ float32 at >= 0.50 of uniform_ float32's rate"
    assert lines[-1] == "targets: 2 of 3 met"
