"""The benchmarks behind ``python -m fastinit bench`` (the main job:
fastinit against its peers and against a plain fill of the same buffer) and
``python -m fastinit bench-model`` (a Llama-style model's init, end to end).

One job per module: ``cli`` (the options and ``run``), ``peers`` (what is
timed), ``timing`` (the timers), ``machine`` (what the machine is and has),
``report`` (the table, the targets and the verdict), ``compile`` (a GPU
kernel's first launch), ``plot`` (the PNG), ``model`` (bench-model) and
``llama`` (bench-model's model).  Nothing here is imported by ``fastinit``
itself.

It is also the one home of what the benchmarks share: the pytest-benchmark
suites in ``bench/`` and the maintenance scripts in ``tools/`` take the
dtypes, arguments and rows of what is timed from ``peers``, their timers
from ``timing``, the machine's description from ``machine``, a fresh
process's empty kernel cache from ``compile`` and the model from ``llama``.
"""
