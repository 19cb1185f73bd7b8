"""Smoke run of bench/checkpoint_bench.py (``python -m fastinit checkpoint``
against from_config + save_pretrained and dd) on a tiny config, so that it
cannot rot; the real run's figures are in bench/NOTES.md and the README."""
import json

import pytest

pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

from checkpoint_bench import run  # noqa: E402


def test_every_method_runs_and_reports(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    tf.LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, architectures=["LlamaForCausalLM"]).to_json_file(cfg)
    rows = run(["--config", str(cfg), "--dir", str(tmp_path), "--json", str(tmp_path / "r.json")])
    assert [r["method"] for r in rows] == ["dd", "dd-direct", "fastinit", "verify", "torch", "torch+sync"]
    assert all(r["wall"] > 0 and r["rss"] > 0 and r["gbps"] > 0 for r in rows)
    out = capsys.readouterr().out
    assert "faster than torch" in out and "of dd's rate" in out
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["meta"]["cpu"] and saved["meta"]["bytes"] > 0 and saved["rows"] == rows
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("fastinit-ckpt-bench-")] == []
