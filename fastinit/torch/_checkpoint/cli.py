"""The command line: ``python -m fastinit checkpoint`` (``main_checkpoint``)
and ``python -m fastinit verify`` (``main_verify``).
"""
import json
import os
import sys
import time

import torch

from .blocks import rank_world
from .build import build_meta
from .layout import CheckpointError
from .verify import verify_checkpoint
from .write import save_checkpoint


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16, "float64": torch.float64}


def _config_dtype(spec):
    """The dtype a Hugging Face config.json names (``dtype`` / ``torch_dtype``), if fastinit fills it."""
    path = os.path.join(spec, "config.json") if os.path.isdir(spec) else spec
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except (OSError, ValueError):
        return None
    return _DTYPES.get(d.get("dtype") or d.get("torch_dtype"))


def main_checkpoint(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m fastinit checkpoint",
        description="Write a model's initial weights into a Hugging Face checkpoint (safetensors shards and "
                    "model.safetensors.index.json) without building the model in memory; every tensor equals "
                    "what fastinit.torch.materialize_ gives for the same seed, scheme and dtype.")
    ap.add_argument("model", metavar="CONFIG", help="a Hugging Face config.json (or a directory holding one), or "
                                                    "package.module:factory returning the model on the meta device")
    ap.add_argument("out", metavar="OUT", help="the directory to write (empty or absent)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--scheme", default="own", help="'own' (the model's own init program, the default) or a named "
                                                    "recipe: torch, hf, megatron, olmo, torchtitan")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="a named recipe's option (megatron's init_method_std=0.01, ...); repeatable")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), default=None,
                    help="floating tensors' dtype (default: the config's dtype, else as the model is built)")
    ap.add_argument("--max-shard-size", default="5GB", help="as save_pretrained: 5GB, 500MiB, bytes")
    ap.add_argument("--model-class", default=None, help="a transformers class name or package.module:Class "
                                                        "(default: the config's architectures)")
    ap.add_argument("--model-format", action="store_true",
                    help="save the model's own tensors, not the original checkpoint format (fused experts)")
    ap.add_argument("--rank", type=int, default=None, help="this process's part (default: $RANK, else 0)")
    ap.add_argument("--world", type=int, default=None, help="how many processes write OUT (default: $WORLD_SIZE)")
    ap.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in OUT")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        dtype = _DTYPES[a.dtype] if a.dtype else _config_dtype(a.model)
        opts = {}
        for o in a.option:
            k, eq, v = o.partition("=")
            if not eq or not k:
                raise ValueError(f"--option must be KEY=VALUE; got {o!r}")
            try:
                opts[k] = json.loads(v)
            except ValueError:
                opts[k] = v
        model = build_meta(a.model, model_class=a.model_class)
        source = a.model if (":" in a.model and not os.path.exists(a.model)) else None
        index = save_checkpoint(model, a.out, seed=a.seed, scheme=a.scheme, dtype=dtype,
                                max_shard_size=a.max_shard_size, original_format=not a.model_format,
                                rank=a.rank, world=a.world, overwrite=a.overwrite,
                                progress=False if a.quiet else None, source=source, **opts)
    except (CheckpointError, ValueError, TypeError, OSError) as e:
        print(f"fastinit checkpoint: error: {e}", file=sys.stderr)
        return 2
    el = time.perf_counter() - t0
    if index is None:
        rank, world = rank_world(a.rank, a.world)
        print(f"rank {rank} of {world}: wrote its part of {a.out} in {el:.1f} s; the last rank to finish "
              f"writes the index")
    else:
        size = index["metadata"]["total_size"]
        files = sorted(set(index["weight_map"].values()))
        print(f"wrote {a.out}: {len(index['weight_map'])} tensors, {size / 1e9:.3f} GB in {len(files)} file(s), "
              f"{el:.1f} s ({size / 1e9 / el:.2f} GB/s), seed {a.seed}, scheme {a.scheme}, "
              f"dtype {index['metadata']['fastinit']['dtype'] or 'as built'}")
    return 0


def main_verify(argv):
    import argparse
    ap = argparse.ArgumentParser(
        prog="python -m fastinit verify",
        description="Recompute every tensor of a checkpoint written by `python -m fastinit checkpoint` from its "
                    "manifest, in blocks, and name every tensor that differs from the file or its digest.")
    ap.add_argument("out", metavar="OUT")
    ap.add_argument("--model", default=None, help="the model (config.json or package.module:factory) when the "
                                                  "manifest does not say")
    ap.add_argument("--model-class", default=None)
    ap.add_argument("--rank", type=int, default=None)
    ap.add_argument("--world", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    try:
        model = build_meta(a.model, model_class=a.model_class) if a.model else None
        bad = verify_checkpoint(a.out, model, rank=a.rank, world=a.world, progress=False if a.quiet else None)
    except (CheckpointError, ValueError, TypeError, OSError) as e:
        print(f"fastinit verify: error: {e}", file=sys.stderr)
        return 2
    el = time.perf_counter() - t0
    if bad:
        print(f"{a.out}: {len(bad)} tensor(s) differ from what the manifest's seed gives:", file=sys.stderr)
        for n in bad:
            print(f"  {n}", file=sys.stderr)
        return 1
    print(f"{a.out}: every tensor is what the manifest's seed gives ({el:.1f} s)")
    return 0
