"""``fastinit.torch.save_checkpoint`` / ``python -m fastinit checkpoint``
and ``verify``: a model's initial weights written to a Hugging Face
checkpoint without the model in memory.

Held against code nobody here wrote: each file must be byte for byte what
Hugging Face's ``save_pretrained`` writes for ``materialize_``'s model
(its state dict, tied weights and MoE format, its shards, safetensors'
own serializer), ``safetensors.safe_open`` must read it and
``from_pretrained`` load it with no missing or unexpected keys."""
import filecmp
import json
import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
pytest.importorskip("safetensors")

import hf_models  # noqa: E402
from safetensors import safe_open  # noqa: E402

import fastinit.torch as ft  # noqa: E402
from fastinit.torch import _checkpoint as C  # noqa: E402
from fastinit.torch._checkpoint import blocks as CB, layout as CL, source as CS, write as CW  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 77
SHARD = "20KB"              # several shards even for the tiny models
ARCHS = ("llama_tied", "gpt2", "qwen2", "mixtral", "whisper")


def build(arch, device="meta"):
    if arch == "llama_tied":
        cfg = tf.LlamaConfig(**hf_models._DEC, pad_token_id=0, tie_word_embeddings=True)
        with torch.device(device):
            return tf.LlamaForCausalLM(cfg)
    return hf_models.build(arch, device)


def files(path):
    return sorted(f for f in os.listdir(path))


def same_files(a, b, names):
    return [f for f in names if not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]


class _Run:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _cli(*args):
    """``python -m fastinit ARGS`` in this process (``fastinit.__main__.main``;
    the subprocess tests above run the real command line)."""
    import contextlib
    import io

    from fastinit.__main__ import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(list(args))
        except SystemExit as e:             # argparse
            rc = e.code
    return _Run(rc, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """{(arch, dtype): (checkpoint dir, save_pretrained's dir of materialize_'s model, that model)}"""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    for arch in ARCHS:
        for dtype in (torch.float32, torch.bfloat16):
            d = root / f"{arch}-{str(dtype)[6:]}"
            index = ft.save_checkpoint(build(arch), d, seed=SEED, dtype=dtype, max_shard_size=SHARD, progress=False)
            assert index is not None
            model = ft.materialize_(build(arch), "cpu", seed=SEED, dtype=dtype)
            model.save_pretrained(root / f"{d.name}-ref", max_shard_size=SHARD)
            out[arch, dtype] = (d, root / f"{d.name}-ref", model)
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("arch", ARCHS)
def test_files_are_save_pretrained_of_materialize(written, arch, dtype):
    """Every shard, config.json and generation_config.json: the bytes
    save_pretrained writes for materialize_'s model (same tensors, same
    names, same shards, the same safetensors header)."""
    d, ref, _ = written[arch, dtype]
    want = files(ref)
    assert [f for f in files(d) if f != C.INDEX] == [f for f in want if f != C.INDEX]
    assert len([f for f in want if f.endswith(".safetensors")]) > 1
    assert same_files(d, ref, [f for f in want if f != C.INDEX]) == []
    mine, theirs = json.loads((d / C.INDEX).read_text()), json.loads((ref / C.INDEX).read_text())
    assert mine["weight_map"] == theirs["weight_map"]
    man = mine["metadata"].pop("fastinit")
    assert mine["metadata"] == theirs["metadata"]
    assert man["seed"] == SEED and man["scheme"] == "own" and man["dtype"] == str(dtype)[6:]
    assert set(man["digests"]) == set(mine["weight_map"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("arch", ARCHS)
def test_every_tensor_equals_materialize_and_loads(written, arch, dtype):
    from transformers.core_model_loading import revert_weight_conversion
    from transformers.modeling_utils import remove_tied_weights_from_state_dict
    d, _, model = written[arch, dtype]
    sd = model.state_dict()
    # what save_pretrained saves of materialize_'s model: Hugging Face's own functions, on real tensors
    want = revert_weight_conversion(model, remove_tied_weights_from_state_dict(model.state_dict(), model))
    index = json.loads((d / C.INDEX).read_text())
    assert set(index["weight_map"]) == set(want)
    for fname in sorted(set(index["weight_map"].values())):
        with safe_open(d / fname, "pt") as fh:
            for k in fh.keys():
                t = fh.get_tensor(k)
                assert t.dtype == want[k].dtype and torch.equal(t, want[k]), k
    loaded, info = type(model).from_pretrained(d, output_loading_info=True, dtype=dtype)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    got = loaded.state_dict()
    assert set(got) == set(sd)
    for k in sd:
        assert got[k].dtype == sd[k].dtype and torch.equal(got[k], sd[k]), k
    if arch == "llama_tied":
        assert "lm_head.weight" not in index["weight_map"]
        assert loaded.lm_head.weight.data_ptr() == loaded.model.embed_tokens.weight.data_ptr()


def test_moe_experts_saved_per_expert_as_save_pretrained_does(written):
    d, _, model = written["mixtral", torch.bfloat16]
    names = json.loads((d / C.INDEX).read_text())["weight_map"]
    assert "model.layers.0.block_sparse_moe.experts.3.w3.weight" in names
    assert not any("gate_up_proj" in n for n in names)
    fused = model.model.layers[0].mlp.experts.gate_up_proj          # [experts, 2 * ffn, hidden]
    with safe_open(d / names["model.layers.0.block_sparse_moe.experts.2.w3.weight"], "pt") as fh:
        w3 = fh.get_tensor("model.layers.0.block_sparse_moe.experts.2.w3.weight")
    assert torch.equal(w3, fused[2, fused.shape[1] // 2:])


def test_one_file_is_save_pretrained_s_with_the_manifest_in_its_header(tmp_path):
    """One file: ``model.safetensors`` and no index, as save_pretrained
    writes it; the same tensors and header but for the manifest beside
    ``"format": "pt"``; verify reads the manifest there, and names a
    tampered digest."""
    import struct
    d, ref = tmp_path / "d", tmp_path / "ref"
    index = ft.save_checkpoint(build("llama_tied"), d, seed=SEED, dtype=torch.bfloat16, progress=False)
    ft.materialize_(build("llama_tied"), "cpu", seed=SEED, dtype=torch.bfloat16).save_pretrained(ref)
    assert files(d) == files(ref) == sorted(["config.json", "generation_config.json", C.SINGLE])

    def header(path):
        with open(path, "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            return json.loads(fh.read(n)), 8 + n
    (mine, hm), (theirs, ht) = header(d / C.SINGLE), header(ref / C.SINGLE)
    man = json.loads(mine["__metadata__"].pop("fastinit"))
    assert mine == theirs and man["digests"] == index["metadata"]["fastinit"]["digests"]
    assert man["seed"] == SEED and set(man["digests"]) == set(theirs) - {"__metadata__"}
    assert (d / C.SINGLE).read_bytes()[hm:] == (ref / C.SINGLE).read_bytes()[ht:]
    assert ft.verify_checkpoint(d) == []
    loaded, info = tf.LlamaForCausalLM.from_pretrained(d, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert ft.verify_module(loaded, d) == []
    raw = bytearray((d / C.SINGLE).read_bytes())
    at = raw.index(man["digests"]["model.embed_tokens.weight"].encode())   # a unique digest
    raw[at:at + 1] = b"f" if raw[at:at + 1] != b"f" else b"e"
    (d / C.SINGLE).write_bytes(bytes(raw))
    assert ft.verify_checkpoint(d) == ["model.embed_tokens.weight (digest)"]


def test_whisper_computed_table_is_saved(written):
    """Whisper's encoder positions: a sinusoidal table its init computes."""
    d, _, model = written["whisper", torch.float32]
    key = "model.encoder.embed_positions.weight"
    names = json.loads((d / C.INDEX).read_text())["weight_map"]
    with safe_open(d / names[key], "pt") as fh:
        t = fh.get_tensor(key)
    assert torch.equal(t, model.state_dict()[key]) and t[0, 0] == 0 and t[1].abs().max() > 0.5


def test_shard_size_only_moves_bytes(written, tmp_path):
    d, _, _ = written["mixtral", torch.bfloat16]
    one = tmp_path / "one"
    ft.save_checkpoint(build("mixtral"), one, seed=SEED, dtype=torch.bfloat16, progress=False)
    # one file, no index (as save_pretrained writes it): the manifest is in its header
    assert files(one) == sorted(["config.json", "generation_config.json", C.SINGLE])
    small = json.loads((d / C.INDEX).read_text())
    big = C.read_index(one)
    assert set(big["weight_map"].values()) == {C.SINGLE}
    assert big["metadata"]["fastinit"]["digests"].keys() == small["metadata"]["fastinit"]["digests"].keys()
    with safe_open(one / C.SINGLE, "pt") as whole:
        for k, f in small["weight_map"].items():
            with safe_open(d / f, "pt") as part:
                assert torch.equal(whole.get_tensor(k), part.get_tensor(k)), k
    loaded = tf.MixtralForCausalLM.from_pretrained(one, dtype=torch.bfloat16)
    assert torch.equal(loaded.model.layers[1].mlp.experts.down_proj,
                       written["mixtral", torch.bfloat16][2].model.layers[1].mlp.experts.down_proj)


@pytest.mark.parametrize("arch", ["llama_tied", "mixtral"])
def test_any_world_writes_the_same_bytes(written, arch, tmp_path):
    """w = 1, 2, 3 (each rank's part written in turn; the last one renames
    and indexes): byte-identical directories."""
    ref, _, _ = written[arch, torch.bfloat16]
    for world in (1, 2, 3):
        d = tmp_path / f"w{world}"
        plan = C.Plan(build(arch), seed=SEED, dtype=torch.bfloat16, max_shard_size=SHARD,
                      source=CW._source_spec(build(arch), None))
        cfg = CW._config_files(build(arch), torch.bfloat16)
        results = [C.write_plan(plan, d, rank=r, world=world, progress=False, config_files=cfg)
                   for r in range(world)]
        assert [r is None for r in results] == [True] * (world - 1) + [False]
        assert files(d) == files(ref), world
        assert same_files(d, ref, files(ref)) == [], world


def test_ranks_in_separate_processes_share_one_directory(tmp_path):
    """Three processes of the command line at once (the third with
    torchrun's RANK / WORLD_SIZE), into one directory: the files one
    process writes."""
    cfg = tmp_path / "config.json"
    build("llama_tied").config.to_json_file(cfg)
    one, three = tmp_path / "one", tmp_path / "three"
    args = [sys.executable, "-m", "fastinit", "checkpoint", str(cfg)]
    common = ["--seed", "3", "--dtype", "bfloat16", "--max-shard-size", "10KB", "--quiet"]
    r = _cli(*args[3:], str(one), *common)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, RANK="2", WORLD_SIZE="3")
    procs = [subprocess.Popen(args + [str(three)] + common + ["--rank", str(k), "--world", "3"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    procs.append(subprocess.Popen(args + [str(three)] + common, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert sum("wrote" in o[0] and "tensors" in o[0] for o in outs) == 1, outs   # one of them indexed
    assert files(three) == files(one)
    assert same_files(three, one, files(one)) == []
    r = _cli("verify", str(three), "--quiet")
    assert r.returncode == 0 and "every tensor" in r.stdout, r.stdout + r.stderr


def test_verify_names_a_flipped_byte(written, tmp_path):
    import shutil
    src, _, _ = written["gpt2", torch.bfloat16]
    d = tmp_path / "c"
    shutil.copytree(src, d)
    assert ft.verify_checkpoint(d) == []
    for world in (2, 3):
        assert [x for r in range(world) for x in ft.verify_checkpoint(d, rank=r, world=world)] == []
    index = json.loads((d / C.INDEX).read_text())
    name = "transformer.h.1.mlp.c_fc.weight"
    fname = index["weight_map"][name]
    with open(d / fname, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
    at = 8 + n + header[name]["data_offsets"][0] + 5
    with open(d / fname, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ 1]))
    assert ft.verify_checkpoint(d) == [name]
    r = _cli("verify", str(d), "--quiet")
    assert r.returncode == 1 and name in r.stderr, r.stdout + r.stderr
    # the digest in the manifest is checked too: a tampered index is named
    with open(d / fname, "r+b") as fh:
        fh.seek(at)
        fh.write(b)
    index["metadata"]["fastinit"]["digests"]["lm_head.weight" if "lm_head.weight" in index["weight_map"]
                                             else "transformer.wte.weight"] = "0" * 64
    (d / C.INDEX).write_text(json.dumps(index))
    assert [x for x in ft.verify_checkpoint(d) if x.endswith("(digest)")] != []


def test_verify_module_in_memory(written):
    d, _, model = written["mixtral", torch.bfloat16]
    assert ft.verify_module(model, d) == []
    w = model.model.layers[1].mlp.experts.gate_up_proj
    with torch.no_grad():
        old = w[3, 7, 1].clone()
        w[3, 7, 1] += 1
    try:
        assert ft.verify_module(model, d) == ["model.layers.1.mlp.experts.gate_up_proj"]
    finally:
        with torch.no_grad():
            w[3, 7, 1] = old
    other = ft.materialize_(build("mixtral"), "cpu", seed=SEED + 1, dtype=torch.bfloat16)
    assert len(ft.verify_module(other, d)) > 10
    f32 = ft.materialize_(build("mixtral"), "cpu", seed=SEED)          # another dtype: named, not compared
    assert "model.embed_tokens.weight" in ft.verify_module(f32, d)


def test_a_factory_model(tmp_path):
    """``package.module:factory``: a torchtitan-style model with its own
    init_weights; the manifest keeps the factory for verify."""
    out = tmp_path / "titan"
    r = _cli("checkpoint", "test_torch_program:TitanLlama", str(out), "--seed", "9", "--dtype", "bfloat16", "--quiet")
    assert r.returncode == 0, r.stderr
    from test_torch_program import TitanLlama
    with torch.device("meta"):
        meta = TitanLlama()
    model = ft.materialize_(meta, "cpu", seed=9, dtype=torch.bfloat16)
    sd = model.state_dict()
    with safe_open(out / C.SINGLE, "pt") as fh:
        assert set(fh.keys()) == set(sd)
        for k in fh.keys():
            assert torch.equal(fh.get_tensor(k), sd[k]), k
    assert C.read_index(out)["metadata"]["fastinit"]["source"] == {"factory": "test_torch_program:TitanLlama"}
    r = _cli("verify", str(out), "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("arch", ["llama_tied", "gpt2"])
def test_a_named_recipe_with_options(arch, tmp_path):
    """``--scheme megatron --option init_method_std=0.01``: save_pretrained's
    bytes for materialize_'s model under the same recipe; the manifest keeps
    the options, so verify needs nothing more."""
    cfg = tmp_path / "config.json"
    build(arch).config.to_json_file(cfg)
    d, ref = tmp_path / "d", tmp_path / "ref"
    r = _cli("checkpoint", str(cfg), str(d), "--seed", "4", "--scheme", "megatron", "--option",
             "init_method_std=0.01", "--dtype", "float32", "--max-shard-size", SHARD, "--quiet")
    assert r.returncode == 0, r.stderr
    m = ft.materialize_(build(arch), "cpu", seed=4, scheme="megatron", init_method_std=0.01)
    m.save_pretrained(ref, max_shard_size=SHARD)
    names = [f for f in files(ref) if f.endswith(".safetensors")]
    assert len(names) > 1 and same_files(d, ref, names) == []
    assert C.read_index(d)["metadata"]["fastinit"]["scheme_options"] == {"init_method_std": 0.01}
    assert ft.verify_checkpoint(d) == [] and ft.verify_module(m, d) == []
    assert _cli("checkpoint", str(cfg), str(tmp_path / "e"), "--seed", "4", "--option", "std").returncode == 2


def test_blocks_cross_tensors_and_files(tmp_path, monkeypatch):
    """A block smaller than a tensor, not a multiple of its rows: the
    same bytes (tensors cut into flat runs of boxes, rows split)."""
    ref = tmp_path / "ref"
    ft.save_checkpoint(build("qwen2"), ref, seed=1, dtype=torch.float32, progress=False, max_shard_size=SHARD)
    monkeypatch.setattr(CL, "BLOCK", 4096 + 8)               # 8-aligned; not O_DIRECT-aligned: buffered writes
    small = tmp_path / "small"
    ft.save_checkpoint(build("qwen2"), small, seed=1, dtype=torch.float32, progress=False, max_shard_size=SHARD)
    for f in files(ref):
        if f == C.INDEX:
            continue                                          # digests are per block
        assert filecmp.cmp(ref / f, small / f, shallow=False), f
    assert ft.verify_checkpoint(small) == []


@pytest.mark.parametrize("shape,a,b", [((5, 7), 3, 30), ((2, 3, 4), 1, 23), ((2, 3, 4), 4, 8), ((9,), 2, 9),
                                       ((3, 4), 0, 12), ((3, 1, 5), 6, 7), ((), 0, 1)])
def test_flat_boxes_cover_the_run_in_order(shape, a, b):
    ref = torch.arange(max(1, torch.Size(shape).numel())).view(shape)
    got = []
    for offs, sizes in CS.flat_boxes(shape, a, b):
        got += ref[tuple(slice(o, o + n) for o, n in zip(offs, sizes))].reshape(-1).tolist()
    assert got == list(range(a, b))


# ----------------------------------------------------------------- bad input
def test_bad_input_refused_before_anything_is_written(tmp_path):
    m = build("gpt2")
    with pytest.raises(TypeError, match="dtype"):
        ft.save_checkpoint(m, tmp_path / "a", seed=1, dtype=torch.int8)
    with pytest.raises(ValueError, match="max_shard_size"):
        ft.save_checkpoint(m, tmp_path / "a", seed=1, max_shard_size="5 lightyears")
    with pytest.raises(ValueError, match="seed"):
        ft.save_checkpoint(m, tmp_path / "a", seed=-1)
    with pytest.raises(ValueError, match="rank"):
        ft.save_checkpoint(m, tmp_path / "a", seed=1, rank=2, world=2)
    with pytest.raises(TypeError, match="module"):
        ft.save_checkpoint("gpt2", tmp_path / "a", seed=1)
    assert not (tmp_path / "a").exists() or os.listdir(tmp_path / "a") == []
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("mine")
    with pytest.raises(C.CheckpointError, match="not empty.*overwrite"):
        ft.save_checkpoint(m, full, seed=1, progress=False)
    assert os.listdir(full) == ["notes.txt"]
    ft.save_checkpoint(build("llama_tied"), full, seed=1, progress=False, max_shard_size="10KB", overwrite=True)
    ft.save_checkpoint(m, full, seed=1, progress=False, overwrite=True)      # another model, fewer shards
    assert sorted(os.listdir(full)) == sorted(["notes.txt", "config.json", "generation_config.json", C.SINGLE])
    assert ft.verify_checkpoint(full) == []




def test_cli_bad_input(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"model_type": "no-such-model", "hidden_size": 8}))
    r = _cli("checkpoint", str(cfg), str(tmp_path / "o"), "--seed", "1")
    assert r.returncode == 2 and "unknown model_type 'no-such-model'" in r.stderr, r.stderr
    r = _cli("checkpoint", "no_such_package.models:build", str(tmp_path / "o"), "--seed", "1")
    assert r.returncode == 2 and "cannot be imported" in r.stderr, r.stderr
    r = _cli("checkpoint", str(tmp_path / "absent.json"), str(tmp_path / "o"), "--seed", "1")
    assert r.returncode == 2 and "neither a config.json" in r.stderr, r.stderr
    build("gpt2").config.to_json_file(cfg)
    r = _cli("checkpoint", str(cfg), str(tmp_path / "o"), "--seed", "1", "--dtype", "int8")
    assert r.returncode == 2 and "invalid choice: 'int8'" in r.stderr, r.stderr
    r = _cli("checkpoint", str(cfg), str(tmp_path / "o"), "--seed", "1", "--model-class", "NoSuchModel")
    assert r.returncode == 2 and "model_class 'NoSuchModel'" in r.stderr, r.stderr
    r = _cli("verify", str(tmp_path))
    assert r.returncode == 2 and "not a complete checkpoint" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists() or os.listdir(tmp_path / "o") == []
    r = _cli("checkpoint", str(cfg), str(tmp_path / "o"), "--seed", "1", "--quiet")
    assert r.returncode == 0 and "wrote" in r.stdout, r.stderr
    r = _cli("checkpoint", str(cfg), str(tmp_path / "o"), "--seed", "1", "--quiet")
    assert r.returncode == 2 and "not empty" in r.stderr, r.stderr
    r = _cli("checkpoint", str(cfg), str(tmp_path / "o"), "--seed", "2", "--quiet", "--overwrite")
    assert r.returncode == 0, r.stderr


def test_full_disk_leaves_no_final_name(tmp_path, monkeypatch):
    from collections import namedtuple
    shutil_usage = namedtuple("usage", "total used free")         # shutil.disk_usage's fields
    m = build("gpt2")
    real = os.pwrite
    calls = []

    def pwrite(fd, data, offset):
        calls.append(offset)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(fd, data, offset)
    monkeypatch.setattr(CW.os, "pwrite", pwrite)
    monkeypatch.setattr(CL, "BLOCK", 8192)
    with pytest.raises(C.CheckpointError, match="disk is full"):
        ft.save_checkpoint(m, tmp_path / "o", seed=1, progress=False)
    assert os.listdir(tmp_path / "o") == []
    monkeypatch.setattr(CW.shutil, "disk_usage", lambda p: shutil_usage(total=10 ** 9, used=0, free=1000))
    with pytest.raises(C.CheckpointError, match="GB free"):
        ft.save_checkpoint(m, tmp_path / "p", seed=1, progress=False)
    assert os.listdir(tmp_path / "p") == []


def test_killed_process_leaves_no_final_name(tmp_path):
    """SIGKILL in the middle: temporary names only; a rerun with
    --overwrite writes the checkpoint."""
    cfg = tmp_path / "config.json"
    tf.LlamaConfig(vocab_size=32000, hidden_size=256, intermediate_size=512, num_hidden_layers=8,
                   num_attention_heads=4, num_key_value_heads=2).to_json_file(cfg)
    out = tmp_path / "o"
    p = subprocess.Popen([sys.executable, "-m", "fastinit", "checkpoint", str(cfg), str(out), "--seed", "1",
                          "--max-shard-size", "4MB", "--quiet"], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and any(f.endswith(".partial") for f in os.listdir(out))):
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    left = os.listdir(out)
    assert left and all(f.startswith(".") for f in left), left      # nothing under a final name
    # another command is refused: the directory holds another checkpoint's parts
    r = _cli("checkpoint", str(cfg), str(out), "--seed", "2", "--max-shard-size", "4MB", "--quiet")
    assert r.returncode == 2 and "not empty" in r.stderr
    # the same command again starts over on its own temporary files (they are its own plan's)
    r = _cli("checkpoint", str(cfg), str(out), "--seed", "1", "--max-shard-size", "4MB", "--quiet")
    assert r.returncode == 0, r.stderr
    assert not any(f.startswith(".") for f in os.listdir(out))
    assert ft.verify_checkpoint(out) == []
    r = _cli("checkpoint", str(cfg), str(out), "--seed", "2", "--max-shard-size", "4MB", "--quiet", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert json.loads((out / C.INDEX).read_text())["metadata"]["fastinit"]["seed"] == 2
    assert not any(f.startswith(".") for f in os.listdir(out))


def test_which_class_a_config_builds(tmp_path):
    """architectures[0], else the causal-LM Auto class, else AutoModel;
    --model-class wins; all on the meta device."""
    cfg = tmp_path / "config.json"
    build("gpt2").config.to_json_file(cfg)
    d = json.loads(cfg.read_text())
    d.pop("architectures", None)
    cfg.write_text(json.dumps(d))
    m = C.build_meta(cfg)
    assert type(m).__name__ == "GPT2LMHeadModel" and all(p.is_meta for p in m.parameters())
    assert type(C.build_meta(cfg, model_class="GPT2Model")).__name__ == "GPT2Model"
    assert type(C.build_meta(tmp_path)).__name__ == "GPT2LMHeadModel"          # the directory holding it
    vit = tmp_path / "vit.json"
    hf_models.configs()["vit"][1].to_json_file(vit)
    d = json.loads(vit.read_text())
    d.pop("architectures", None)
    vit.write_text(json.dumps(d))
    assert type(C.build_meta(vit)).__name__ == "ViTModel"                     # no causal LM: AutoModel
    d["architectures"] = ["ViTForImageClassification"]
    vit.write_text(json.dumps(d))
    assert type(C.build_meta(vit)).__name__ == "ViTForImageClassification"


def test_progress_line_on_a_terminal_only(capsys):
    bar = CB._Progress(4e9, 3, "checkpoint", enabled=True)
    bar.update(2e9, 1)
    bar.update(2e9, 3)
    bar.close()
    err = capsys.readouterr().err
    assert "checkpoint: 3/3 tensors  4.00/4.00 GB" in err and "GB/s" in err and "s left" in err
    quiet = CB._Progress(4e9, 3, "checkpoint")          # stderr is not a terminal under pytest
    quiet.update(4e9, 3)
    quiet.close()
    assert capsys.readouterr().err == ""
