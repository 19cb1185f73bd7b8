"""The private names of numba (and numba-cuda) that fastinit uses, each
checked here, so that a numba release that renames or drops one fails this
test loudly instead of changing fastinit's behaviour silently.
pyproject.toml caps numba below its next minor release for the same
reason; raising the cap means running this file against the new release.

| private name | used by | what it gives |
|---|---|---|
| ``numba.np.ufunc.parallel._is_initialized`` | ``_threads.num_threads`` | whether numba's pool is up (asking its size would start it) |
| ``Intrinsic._set_uuid`` | ``_ops._stable_identity`` | a fixed identity for intrinsics, so that cached kernels load |
| ``numba.core.caching._CacheLocator``, ``_SourceFileBackedLocatorMixin``, ``CompileResultCacheImpl._locator_classes`` | ``_cache`` | fastinit's own cache directories |
| ``numba.cuda.cudadrv.nvvm.compile_ir`` | ``_cuda._install_nvvm_hook`` | NVVM's ``-fma=0`` inside ``no_contraction()`` |
"""
import inspect
import re
from pathlib import Path

import numba
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _version(text):
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def test_installed_numba_is_in_the_supported_range():
    spec = re.search(r'"numba>=([\d.]+),<([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert spec, "pyproject.toml must give numba a lower and an upper bound"
    lo, hi = _version(spec.group(1)), _version(spec.group(2))
    assert lo <= _version(numba.__version__) < hi, (numba.__version__, spec.group(0))


def test_parallel_pool_flag():
    from numba.np.ufunc import parallel

    from fastinit import _threads
    assert isinstance(parallel._is_initialized, bool)
    assert _threads._HAVE_POOL_FLAG


def test_intrinsic_identity():
    from fastinit import _ops
    for fn in (_ops.prefer_vector_width, _ops.runtime_value, _ops.store_nontemporal, _ops.store_fence):
        assert fn._uuid == f"fastinit._ops.{fn._name}"


def test_cache_locator_bases():
    from numba.core import caching

    from fastinit import _cache
    assert issubclass(_cache.UserCacheLocator, caching._CacheLocator)
    assert issubclass(_cache.UserCacheLocator, caching._SourceFileBackedLocatorMixin)
    assert isinstance(caching.CompileResultCacheImpl._locator_classes, list)
    # fastinit's locators come after numba's own, read from numba's class attribute
    impl = _cache._CpuCacheImpl.__dict__["_locator_classes"].fget(None)
    assert impl[-2:] == [_cache.UserCacheLocator, _cache.TempCacheLocator]


def test_nvvm_compile_ir():
    pytest.importorskip("numba.cuda")
    try:
        from numba.cuda.cudadrv import nvvm
    except ImportError as e:                # numba-cuda without its NVVM bindings
        pytest.skip(f"numba-cuda's nvvm module does not import here: {e}")
    params = inspect.signature(nvvm.compile_ir).parameters
    assert "llvmir" in params and any(p.kind is p.VAR_KEYWORD for p in params.values())
