"""fastinit for PyTorch.  Imported only when used (``import fastinit.torch``
or the first ``fastinit.torch.<name>``); torch stays an optional dependency.

* ``patch()``: within it, ``torch.nn.init``'s fillers (and ``Tensor.normal_``
  / ``uniform_``) run through fastinit with torch's signatures and
  semantics, seeded from torch's RNG: ``with fastinit.torch.patch(): model =
  Model(cfg)`` is the same program, faster.
* ``init_module_(module, seed=, scheme=)``: every parameter of a model, by
  default with the model's own init program (recorded, then replayed), with
  stream = its qualified name, so values depend on (seed, name, shape) only;
  DTensor parameters fill their local shard.
* ``materialize_(module, device, seed=, scheme=, dtype=)``: a model built on
  the meta device, allocated and initialized with no temporary.
* ``save_checkpoint(meta_model, out, seed=, ...)``: ``materialize_``'s
  values written straight into a Hugging Face checkpoint, block by block,
  without the model in memory; ``verify_checkpoint(out)`` /
  ``verify_module(model, out)`` recompute and compare.
"""
from ._checkpoint import CheckpointError, save_checkpoint, verify_checkpoint, verify_module
from ._memory import advise_hugepages
from ._module import SCHEMES, init_module_, materialize_
from ._patch import PATCHED, PATCHED_METHODS, patch
from ._program import ProgramError

__all__ = ["patch", "init_module_", "materialize_", "advise_hugepages", "SCHEMES", "PATCHED", "PATCHED_METHODS",
           "ProgramError", "save_checkpoint", "verify_checkpoint", "verify_module", "CheckpointError"]
