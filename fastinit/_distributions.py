"""The distributions: one record each, read by every layer.

A ``Distribution`` says everything the layers need to know of one
distribution: the public filler that writes it and its arguments, its
parameter record and the function that checks and rounds them
(``_params``), whether it draws words, its value and staged functions per
family (``_values``), example arguments (warmup, CUDA's compile
checks), the word ``variance_scaling_`` uses for it, and the names of its
reference and golden cases in ``tests/``.  The API, the kernels of every
target, the thread split, warmup, ``fastinit.dask`` and ``fastinit.torch``
read these records; ``tests/test_distributions.py`` walks them and checks
that no distribution name is spelled anywhere else.

Adding a distribution is one record here, its value functions in
``_values`` (from ``_transforms``), its parameter record and function in ``_params``, its
public filler in ``api``, its text in docs/contract.md, and its tests.
"""
from typing import Callable, Mapping

from . import _params, _values as V


class Distribution(str):
    """A distribution's record.  It is its name (a ``str``): kernel tables,
    recorded schedules and messages keep the plain word, and a name read
    back from anywhere compares equal to its record.

    Fields (keywords of the constructor):

    * ``filler``: the name of the public function that writes it (``api``);
    * ``fillers``: every public filler that writes nothing else;
    * ``args``: the filler's parameters, in order, as schedules record them;
    * ``record``: its ``_params`` record type, and ``params(*args, kind)``,
      the function that checks the arguments against a dtype kind and
      rounds them into that record;
    * ``random``: whether it draws Philox words (else every element is the
      encoded value, and no seed is drawn);
    * ``value``: ``{family: value(word, prm)}``; ``staged``: ``{family:
      _values.Stages}``, the same values cut in stages, where a target
      gains by it;
    * ``example``: the arguments of an example call (warmup, compile checks);
    * ``scaling``: the word ``variance_scaling_(distribution=...)`` uses
      for it, or None;
    * ``reference``: its functions in tests/reference.py; ``golden``: the
      golden-hash calls that write it (tests/golden_cases.py).
    """
    filler: str
    fillers: tuple
    args: tuple
    record: type
    params: Callable
    random: bool
    value: Mapping
    staged: Mapping
    example: tuple
    scaling: str
    reference: tuple
    golden: tuple

    def __new__(cls, name, **fields):
        self = super().__new__(cls, name)
        missing = set(cls.__annotations__) - set(fields)
        if missing:
            raise TypeError(f"Distribution {name!r}: missing fields {sorted(missing)}")
        self.__dict__.update(fields)
        return self

    def example_params(self, kind):
        """The parameter record of the example call in dtype kind ``kind``
        (to type or compile a kernel ahead of a call)."""
        return self.params(*self.example, kind)

    def __reduce__(self):
        # pickled (Dask graphs, spawned workers) as its name, read back as the record
        return of, (str(self),)


UNIFORM = Distribution(
    "uniform", filler="uniform_", fillers=("uniform_",), args=("low", "high"),
    record=_params.Uniform, params=_params.uniform, random=True,
    value=V.VALUE_UNIFORM, staged={}, example=(0.0, 1.0), scaling="uniform",
    reference=("uniform01_32", "uniform01_64", "uniform32"),
    golden=("uniform_", "xavier_uniform_", "he_uniform_", "lecun_uniform_"))

NORMAL = Distribution(
    "normal", filler="normal_", fillers=("normal_",), args=("mean", "std"),
    record=_params.Normal, params=_params.normal, random=True,
    value=V.VALUE_NORMAL, staged=V.STAGED_NORMAL, example=(0.0, 1.0), scaling="normal",
    reference=("std_normal32", "std_normal64"),
    golden=("normal_", "xavier_normal_", "he_normal_"))

TRUNC_NORMAL = Distribution(
    "trunc_normal", filler="trunc_normal_", fillers=("trunc_normal_",), args=("mean", "std", "a", "b"),
    record=_params.TruncNormal, params=_params.trunc_normal, random=True,
    value=V.VALUE_TRUNC_NORMAL, staged=V.STAGED_TRUNC_NORMAL, example=(0.0, 1.0, -2.0, 2.0),
    scaling="truncated_normal",                 # JAX's and Keras' word
    reference=("std_trunc",),
    golden=("trunc_normal_", "lecun_normal_", "variance_scaling_"))

CONSTANT = Distribution(
    "constant", filler="constant_", fillers=("constant_", "zeros_", "ones_"), args=("value",),
    record=_params.Constant, params=_params.constant, random=False,
    value={}, staged={}, example=(0.0,), scaling=None, reference=(), golden=())

#: Every distribution, in the order of the contract's sections.
ALL = (UNIFORM, NORMAL, TRUNC_NORMAL, CONSTANT)
BY_NAME = {str(d): d for d in ALL}
#: Those that draw words.
RANDOM = tuple(d for d in ALL if d.random)
#: ``variance_scaling_``'s words, in the order its messages list them.
SCALING = {d.scaling: d for d in (TRUNC_NORMAL, NORMAL, UNIFORM)}


def of(name):
    """The record of a distribution's name (a record is its own name)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"no distribution {name!r}; fastinit has {', '.join(map(repr, BY_NAME))}") from None
