"""What a recorded init program is made of: ``Step``, one write into one
tensor, and ``ProgramError``, what cannot be recorded as steps; the
fastinit fillers a step's kind names (``_kinds``)."""
from typing import NamedTuple

from ... import _distributions
from .. import _fill


class ProgramError(ValueError):
    """The model's init program does something that fastinit cannot replay.
    ``tensor``: the qualified name of the tensor it concerns (the message
    starts with it)."""

    def __init__(self, message):
        super().__init__(message)
        self.tensor = str(message).split(": ", 1)[0]


class Step(NamedTuple):
    """One write of the program into one tensor.

    ``kind``: a distribution (``fastinit._distributions``, its ``args`` in
    order), "copy" (source,): ``source`` has the box's shape (it may be a
    broadcast view), "derived" (fn,): ``fn()`` computes the whole tensor,
    "transform" (method, *numbers): elementwise arithmetic on what is there
    (``mul_``, ``div_``, ``clamp_``).  ``box``: ((start, stop), ...) per
    dimension of the tensor, None for the whole.  ``call``: what the program
    called, for messages."""
    kind: str
    args: tuple
    box: tuple
    call: str


RANDOM = _distributions.RANDOM
#: The fastinit fillers ``patch()`` hands a recorder, by kind.
_KINDS = {}


def _kinds():
    if not _KINDS:
        _KINDS.update({_fill.filler(d): d for d in _distributions.ALL})
    return _KINDS
