"""A model's initial weights written straight to a checkpoint, piece by
piece, with the bits ``materialize_`` gives and the memory of a few blocks.

Layout: Hugging Face's (``save_pretrained``): the state dict without tied
aliases and in its original format (``remove_tied_weights_from_state_dict``
and ``revert_weight_conversion``, run on the meta model), split by
``max_shard_size`` as ``huggingface_hub.split_torch_state_dict_into_shards``
splits real tensors, ``model.safetensors`` or ``model-0000k-of-0000n
.safetensors``, and ``model.safetensors.index.json`` (written also for one
file: its metadata holds the manifest).  Each file is byte for byte what
``safetensors.torch.save_file`` writes for the same tensors.

How it is written: each file is cut into ``BLOCK``-byte blocks of the
file; a block is filled in memory (the header's bytes, and for each tensor
that crosses it, boxes of its source tensor replayed from the global
index, ``_program.replay`` and the fillers), hashed, and written with
``pwrite`` (``O_DIRECT`` where the file system has it).  A second thread
hashes and writes while the next block fills.  Several processes (``rank``
of ``world``) split the blocks into contiguous runs of bytes and write into
the same temporary files; each leaves a marker with its digests, and the
last one to finish renames the files, then writes the index.

The rooms:

* ``layout``: file names, the safetensors header, reading an index;
* ``plan``: which tensors, from which source, in which file (``Plan``);
* ``source``: one model tensor's values, box by box;
* ``blocks``: the fill / hash / write-or-compare pipeline, the digests;
* ``write``: ``save_checkpoint``, the files renamed and indexed;
* ``verify``: ``verify_checkpoint``, ``verify_module``;
* ``build``: a meta model from a config or factory (``build_meta``);
* ``cli``: ``python -m fastinit checkpoint`` / ``verify``.
"""
from .build import build_meta
from .layout import INDEX, SINGLE, CheckpointError, read_index
from .plan import Plan
from .verify import verify_checkpoint, verify_module, verify_plan, verify_tensors
from .write import save_checkpoint, write_plan

__all__ = ["CheckpointError", "INDEX", "Plan", "SINGLE", "build_meta", "read_index", "save_checkpoint",
           "verify_checkpoint", "verify_module", "verify_plan", "verify_tensors", "write_plan"]
