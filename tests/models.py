"""The small Llama-style decoder (torchtitan's layout and names) of the
fastinit.torch tests (tests/test_torch_module.py, tests/test_torch_program.py)
and the sharded-init workers (tests/dist_worker.py): bench-model's model
(``fastinit._bench.llama``), built at its "tiny" and "small" sizes.  Needs
torch."""
from fastinit._bench.llama import llama  # noqa: F401  (the tests import it from here)
