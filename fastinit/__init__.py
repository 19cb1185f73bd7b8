"""fastinit: neural-network initializations written in place, at memory speed.

Every element is a pure function of (seed, stream, dtype family,
distribution and parameters, global index): the same bits on any thread
count and any sharding.  See docs/contract.md.
"""
from . import api
from .api import *  # noqa: F401,F403  (the public fillers, listed in api.__all__)

__version__ = "0.5.1"
#: The version of the value contract this release implements.
CONTRACT_VERSION = 1

__all__ = api.__all__ + ["CONTRACT_VERSION"]


def __getattr__(name):
    # ``fastinit.torch`` and ``fastinit.dask`` are loaded on first use, never by ``import fastinit``
    if name in ("torch", "dask"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'fastinit' has no attribute {name!r}")
