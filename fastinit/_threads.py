"""The threads that run the CPU kernels.

Each kernel is one serial numba function compiled with ``nogil`` (``_cpu``).
A large fill is cut into pieces (``_cpu.split``) that run at once: one on
the calling thread, the others on fastinit's worker threads, which start
on first use.  Values depend only on global indices, so the thread count
and the cut never change a bit.

Why not numba's ``parallel=True``: one build per kernel instead of three
(bench/NOTES.md), no threading layer and its traps, and a forked child
simply starts its own workers.

How many threads: ``numba.get_num_threads()`` (so ``NUMBA_NUM_THREADS``
and ``numba.set_num_threads`` keep working, per calling thread), and no
more than one per ``GRAIN`` elements: handing a piece to a worker that
sleeps costs 50-100 us on the 2-core VM (bench/NOTES.md), more than filling
a small buffer.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba
from numba.np.ufunc import parallel as _numba_parallel

from . import _cpu, _distributions

GRAIN = 1 << 17           # elements per thread at least (bench/NOTES.md)
#: the same for a constant, a plain store: a buffer that fits in the caches
#: is filled faster by one thread than handed out (bench/NOTES.md)
CONSTANT_GRAIN = 1 << 21

_lock = threading.Lock()
_pool = None              # the workers, started on the first large fill


def _workers():
    global _pool
    with _lock:
        if _pool is None:
            # threads start as pieces need them, up to numba's maximum
            _pool = ThreadPoolExecutor(max_workers=max(1, numba.config.NUMBA_NUM_THREADS - 1),
                                       thread_name_prefix="fastinit")
        return _pool


def _after_fork_in_child():
    # the parent's workers do not exist in the child: start afresh there
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


#: numba's private flag "the thread pool is up" (tests/test_numba_internals.py
#: holds every private name fastinit uses).  Without it, asking
#: ``numba.get_num_threads()`` would start numba's pool for nothing: say so
#: once, and use ``NUMBA_NUM_THREADS``.
_HAVE_POOL_FLAG = hasattr(_numba_parallel, "_is_initialized")
if not _HAVE_POOL_FLAG:
    import warnings
    warnings.warn(f"numba {numba.__version__} has no numba.np.ufunc.parallel._is_initialized: fastinit uses "
                  f"NUMBA_NUM_THREADS and ignores numba.set_num_threads (supported: the numba range in "
                  f"fastinit's pyproject.toml)", RuntimeWarning, stacklevel=2)


def num_threads():
    """numba's thread count for the calling thread: ``numba.get_num_threads()``
    once numba's thread pool is up (``numba.set_num_threads`` starts it),
    else ``NUMBA_NUM_THREADS``, without starting numba's pool for nothing."""
    if _HAVE_POOL_FLAG and _numba_parallel._is_initialized:
        return numba.get_num_threads()
    return numba.config.NUMBA_NUM_THREADS


def threads_for(n, grain=GRAIN):
    """The number of threads a fill of ``n`` elements runs on, each with
    ``grain`` elements at least."""
    if n < 2 * grain:
        return 1                    # the common small call: nothing to ask
    return max(1, min(num_threads(), n // grain))


def fill(region, n, kind, dist, prm, seed, stream):
    """Fill ``region`` (``_buffers``; ``n`` elements) on ``threads_for(n)`` threads."""
    nt = threads_for(n, GRAIN if _distributions.of(dist).random else CONSTANT_GRAIN)
    pieces = _cpu.split(region, nt) if nt > 1 else [region]
    if len(pieces) == 1:
        _cpu.fill(region, kind, dist, prm, seed, stream)
        return
    pool = _workers()
    futures = [pool.submit(_cpu.fill, piece, kind, dist, prm, seed, stream) for piece in pieces[1:]]
    try:
        _cpu.fill(pieces[0], kind, dist, prm, seed, stream)
    finally:
        wait(futures)               # never return while a worker still writes the buffer
    for f in futures:
        f.result()                  # a worker's error is the caller's
