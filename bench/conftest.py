"""bench/: the pytest-benchmark suites and their smoke runs (``pytest -q
bench/ --benchmark-disable``, part of the test command), with the scripts
those smoke runs drive; what they share comes from ``fastinit._bench``.

Sizes for the benchmark suites: ``FASTINIT_BENCH_LOG2`` (comma-separated
exponents), else 2^10, 2^16, 2^22 and 2^28 when timing, and 2^10, 2^12
for a smoke run (``--benchmark-disable``: each case runs once)."""
import os

TIMED = "10,16,22,28"
SMOKE = "10,12"


def pytest_generate_tests(metafunc):
    if "log2" in metafunc.fixturenames:
        disabled = metafunc.config.getoption("benchmark_disable", default=False)
        sizes = os.environ.get("FASTINIT_BENCH_LOG2", SMOKE if disabled else TIMED)
        metafunc.parametrize("log2", [int(s) for s in sizes.split(",")])
