"""A model on the meta device from a Hugging Face config.json or a
"package.module:factory" (``build_meta``), for the command line and for
verifying a checkpoint whose manifest says how it was built.
"""
import json
import os

import torch

from .layout import CheckpointError


def build_meta(spec, *, model_class=None, manifest=None):
    """A model on the meta device, in float32, from ``spec``: a Hugging
    Face ``config.json`` (or a directory holding one; the class its
    ``architectures`` names, else the Auto class for causal language
    models, else ``AutoModel``; ``model_class`` overrides: a transformers
    class name or "package.module:Class"), or "package.module:factory", a
    callable returning the model on the meta device.  No network."""
    import importlib
    spec = os.fspath(spec)
    if manifest is not None:
        src = manifest.get("source") or {}
        if "factory" in src:
            spec = src["factory"]
        elif "config" in src:
            model_class = model_class or src.get("class")
            spec = os.path.join(spec, src["config"])
        else:
            raise CheckpointError(f"{spec}: the manifest does not say how to build the model; pass the model")
    if not os.path.exists(spec) and ":" in spec:
        mod, _, attr = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise CheckpointError(f"model factory {spec!r} cannot be imported: {e}") from None
        with torch.device("meta"):
            model = fn()
        if not isinstance(model, torch.nn.Module):
            raise CheckpointError(f"model factory {spec!r} returned a {type(model).__name__}, not a torch.nn.Module")
        return model
    path = os.path.join(spec, "config.json") if os.path.isdir(spec) else spec
    if not os.path.isfile(path):
        raise CheckpointError(f"model {spec!r} is neither a config.json nor a package.module:factory")
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except ValueError as e:
        raise CheckpointError(f"{path} is not JSON: {e}") from None
    import transformers
    from transformers import CONFIG_MAPPING
    mt = d.get("model_type")
    if mt not in CONFIG_MAPPING:
        raise CheckpointError(f"{path}: unknown model_type {mt!r} (transformers {transformers.__version__})")
    config = CONFIG_MAPPING[mt].from_dict(d)
    cls = None
    if model_class:
        if ":" in model_class:
            mod, _, attr = model_class.partition(":")
            cls = getattr(importlib.import_module(mod), attr, None)
        else:
            cls = getattr(transformers, model_class, None)
        if cls is None:
            raise CheckpointError(f"model_class {model_class!r} is not a transformers class or package.module:Class")
    else:
        for name in d.get("architectures") or ():
            cls = getattr(transformers, name, None)
            if cls is not None:
                break
    with torch.device("meta"):
        if cls is not None:
            return cls._from_config(config, dtype=torch.float32)
        for auto in (transformers.AutoModelForCausalLM, transformers.AutoModel):
            try:
                return auto.from_config(config, dtype=torch.float32)
            except ValueError:
                continue
    raise CheckpointError(f"{path}: no transformers class builds model_type {mt!r}")
