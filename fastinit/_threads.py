"""Which build of a kernel runs, and the guards around numba's thread pool.

numba runs ``prange`` loops on one of three threading layers, chosen once per
process at the first parallel launch (priority tbb, omp, workqueue, or
``NUMBA_THREADING_LAYER``).  Two of them have traps that a library called
from arbitrary user code must not spring:

* ``workqueue`` aborts the process when two Python threads launch parallel
  work at once: parallel launches are serialised under a lock unless the
  layer is known to be thread-safe (tbb, omp).  The lock is also held for the
  very first launch, when the layer is not chosen yet.
* GNU OpenMP (numba's ``omp`` layer on Linux) kills a forked child that
  launches parallel work after its parent did.  A child forked from a parent
  whose layer was ``omp`` runs the serial builds: same bits (the contract
  does not depend on the thread count), one thread.

``tbb`` is safe for both.  Pip's ``tbb`` wheel puts ``libtbb.so.12`` in
``<prefix>/lib``, where numba's tbb layer does not look; when the user asks
for tbb (``NUMBA_THREADING_LAYER=tbb``) we load it first (``prefer_tbb``).
"""
import ctypes
import os
import sys
import threading

import numba

from . import _cpu

_SAFE_LAYERS = ("tbb", "omp")
_launch_lock = threading.Lock()
_serial_only = False            # set in a child forked from an omp parent


def layer():
    """The threading layer numba chose, or None before the first launch."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def _after_fork_in_child():
    global _serial_only
    if layer() == "omp":
        _serial_only = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def prefer_tbb():
    """Make numba's tbb layer loadable when the user asked for it and pip's
    tbb wheel is installed (no ``LD_LIBRARY_PATH`` needed)."""
    if numba.config.THREADING_LAYER != "tbb" or layer() is not None:
        return
    for name in ("libtbb.so.12", "libtbb.12.dylib"):
        path = os.path.join(sys.prefix, "lib", name)
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                pass
            return


def fill(layout, n, kind, dist, prm, seed, stream):
    """Run the kernel for ``layout`` (``n`` elements) on the right build."""
    if n < _cpu.SERIAL_BELOW or _serial_only:
        _cpu.fill(layout, kind, dist, prm, seed, stream, False)
    elif layer() in _SAFE_LAYERS:
        _cpu.fill(layout, kind, dist, prm, seed, stream, True)
    else:
        with _launch_lock:
            _cpu.fill(layout, kind, dist, prm, seed, stream, True)
