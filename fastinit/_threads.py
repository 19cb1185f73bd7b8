"""The threads that run the CPU kernels.

Each kernel is one serial numba function compiled with ``nogil`` (``_cpu``).
A large fill is cut into pieces (``_cpu.split``) that run at once: one on
the calling thread, the others on fastinit's worker threads, which start
on first use.  Values depend only on global indices, so the thread count
and the cut never change a bit.

Why not numba's ``parallel=True``: it compiles each kernel twice over (the
function, and its loop body again as a gufunc), and small calls needed a
serial build besides, so a filler's first use compiled the same loops three
times (bench/NOTES.md).  With our own threads there is one build, there is
no threading layer with its traps (workqueue aborts on concurrent launches,
GNU OpenMP kills a forked child), and a forked child simply starts its own
workers.

How many threads: ``numba.get_num_threads()`` (so ``NUMBA_NUM_THREADS``
and ``numba.set_num_threads`` keep working, per calling thread), and no
more than one per ``GRAIN`` elements: handing a piece to a worker that
sleeps costs 50-100 us on the 2-core VM (bench/NOTES.md), more than filling
a small buffer.
"""
import os
import queue
import threading

import numba
from numba.np.ufunc import parallel as _numba_parallel

from . import _cpu

GRAIN = 1 << 17           # elements per thread at least (bench/NOTES.md)

_lock = threading.Lock()
_jobs = None              # queue.SimpleQueue of (layout, kind, dist, prm, seed, stream, done)
_workers = []


def _work(jobs):
    while True:
        job = jobs.get()
        done = job[-1]
        try:
            _cpu.fill(*job[:-1])
        except BaseException as e:          # reported to the caller, never lost
            done.error = e
        done.release()


def _ensure_workers(n):
    """At least ``n`` worker threads are running; returns their job queue."""
    global _jobs
    with _lock:
        if _jobs is None:
            _jobs = queue.SimpleQueue()
        while len(_workers) < n:
            t = threading.Thread(target=_work, args=(_jobs,), name=f"fastinit-{len(_workers)}", daemon=True)
            t.start()
            _workers.append(t)
        return _jobs


def _after_fork_in_child():
    # the parent's workers do not exist in the child; its queue and lock
    # may be in any state: start afresh on the child's first large fill
    global _jobs, _lock
    _jobs, _lock = None, threading.Lock()
    _workers.clear()
    _cpu._KERNELS_LOCK = threading.Lock()   # a thread of the parent may have held it


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Done:
    """A one-shot signal from a worker, with the error it met if any."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()
        self.error = None

    def release(self):
        self.lock.release()


def num_threads():
    """numba's thread count for the calling thread: ``numba.get_num_threads()``
    once numba's thread pool is up (``numba.set_num_threads`` starts it),
    else ``NUMBA_NUM_THREADS``, without starting numba's pool for nothing."""
    if getattr(_numba_parallel, "_is_initialized", True):
        return numba.get_num_threads()
    return numba.config.NUMBA_NUM_THREADS


def threads_for(n):
    """The number of threads a fill of ``n`` elements runs on."""
    if n < 2 * GRAIN:
        return 1                    # the common small call: nothing to ask
    return max(1, min(num_threads(), n // GRAIN))


def fill(layout, n, kind, dist, prm, seed, stream):
    """Fill ``layout`` (``n`` elements) on ``threads_for(n)`` threads."""
    nt = threads_for(n)
    pieces = _cpu.split(layout, nt) if nt > 1 else [layout]
    if len(pieces) == 1:
        _cpu.fill(layout, kind, dist, prm, seed, stream)
        return
    jobs = _ensure_workers(len(pieces) - 1)
    dones = []
    for piece in pieces[1:]:
        d = _Done()
        jobs.put((piece, kind, dist, prm, seed, stream, d))
        dones.append(d)
    try:
        _cpu.fill(pieces[0], kind, dist, prm, seed, stream)
    finally:
        for d in dones:             # never return while a worker still writes the buffer
            d.lock.acquire()
    for d in dones:
        if d.error is not None:
            raise d.error
