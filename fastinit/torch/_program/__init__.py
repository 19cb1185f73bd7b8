"""A model's own init program, recorded once and replayed per tensor.

``record(module)`` runs the code that initializes ``module`` (each
module's ``reset_parameters`` as its constructor did, then Hugging Face's
``initialize_weights()`` or a model's own ``init_weights()``) on meta
stand-ins of its tensors, under ``patch()`` and a TorchFunctionMode that
write nothing and keep, per tensor, the writes the program asked for
(for what a Hugging Face model's init leaves, its constructor's writes,
recorded by building the class again on meta: ``constructor_steps``):

* a fastinit filler (``torch.nn.init``'s and ``Tensor.normal_`` /
  ``uniform_``, through ``patch()``) with its parameters worked out from
  the shape it was given (``kaiming_uniform_``'s bound, ...);
* a constant (``zeros_``, ``ones_``, ``constant_``, ``Tensor.zero_`` /
  ``fill_``, ``t[i] = 0``);
* a copy of a computed tensor (``copy_`` of a rotary or sinusoidal table),
  whose source must be computed on a real device from nothing random;
* the original tensors of a parametrization (weight norm), computed from
  the tensor that the constructor initialized before the parametrization
  was registered (``right_inverse``), as torch computes them.

Each write covers a box of the tensor (the whole, a padding row, a block of
rows: any view made by slicing with step 1 and by permuting dimensions),
so a step can be replayed into any piece of the tensor (a DTensor shard, a
chunk of rows) from the global index alone (``replay``).  Random writes
are keyed by (seed, the tensor's qualified name, the global index), so the
values do not depend on the order of the program, the device or the
sharding.

What the program does that cannot be replayed this way (a random draw
outside those fillers reaching a tensor, an in-place arithmetic on a
tensor's values, a view that is not a box, a copy of a tensor computed on
the meta device) raises ``ProgramError`` naming the tensor and the call,
while recording, before anything is allocated or written.

The rooms: ``_steps`` (Step, ProgramError), ``_calls`` (torch's calls as
the recorder sorts them), ``_boxes`` (the box a view covers), ``_recorder``
(the TorchFunctionMode that keeps the writes), ``_construction`` (a Hugging
Face constructor recorded on meta), ``_top`` (what a module's init program
is), ``_record`` (running it on stand-ins) and ``_replay``.
"""
from ._boxes import box_of
from ._construction import constructor_steps
from ._record import record
from ._replay import CHUNK, replay
from ._steps import RANDOM, ProgramError, Step, _kinds
from ._top import _is_hf, hf_made_off_meta, post_order, program_name

__all__ = ["CHUNK", "RANDOM", "ProgramError", "Step", "_is_hf", "_kinds", "box_of", "constructor_steps",
           "hf_made_off_meta", "post_order", "program_name", "record", "replay"]
