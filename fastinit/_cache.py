"""Where compiled kernels are cached on disk: the first location that can be
written, and never one that another user could have prepared.

numba caches a compiled function next to its source (``__pycache__``) or in
a few other places, tried in order by its cache *locators*; when none of them
can be written (a read-only install with no writable numba cache directory)
``cache=True`` fails, and an uncached kernel is compiled again in every
process (seconds each).  Our kernels try, in order:

1. numba's own locators, unchanged: ``NUMBA_CACHE_DIR``, the package's
   ``__pycache__``, numba's user-wide cache directory (``$XDG_CACHE_HOME/numba``
   or ``~/.cache/numba``), then its IPython and zip-file ones;
2. ``$XDG_CACHE_HOME/fastinit/numba-cache`` (``~/.cache/...`` when
   ``XDG_CACHE_HOME`` is unset or not absolute);
3. ``<tempfile.gettempdir()>/fastinit-<uid>-numba-cache``.

numba loads a cache file as code (a pickle), so the directories of 2 and 3
must be private: created with mode 0700, and used only if ``os.lstat`` shows
a real directory (not a symlink), owned by this user, with no group or other
permission bits, in a parent that no one else can rename it out of (owned by
this user or root, and not writable by others unless sticky, as ``/tmp``).
Anything else is skipped, never repaired (no chmod).  Platforms without
``os.getuid`` (Windows) skip 2 and 3.

When no location is usable the kernels run uncached, and the first such
kernel of the process warns once (``NoCacheWarning``): silent recompiles of
seconds per kernel in every process are the failure this module exists to
prevent, and one line that names the fix is worth it; one per process, not
one per kernel.

Only our dispatchers are affected: the locator list is a class attribute of
our own ``CacheImpl`` subclasses, installed on each dispatcher that
``cpu_jit`` and ``enable_cuda_cache`` return.  ``NUMBA_CACHE_LOCATOR_CLASSES``
(numba >= 0.68, CPU only) replaces numba's list, ours included: the user's
explicit choice wins.
"""
import os
import stat
import sys
import tempfile
import threading
import warnings

import numba
from numba.core import caching as _caching

#: Where our own locations live, under the user's cache directory and under
#: the temporary directory.
USER_SUBDIR = os.path.join("fastinit", "numba-cache")
TEMP_NAME = "fastinit-{uid}-numba-cache"


class NoCacheWarning(RuntimeWarning):
    """No cache location could be used: kernels are compiled in every process."""


# ----------------------------------------------------------------- our locations
def user_root():
    """``$XDG_CACHE_HOME/fastinit/numba-cache`` (or ``~/.cache/...``), or None."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, USER_SUBDIR) if os.path.isabs(base) else None


def temp_root():
    """``<tempdir>/fastinit-<uid>-numba-cache``, or None without ``os.getuid``."""
    if not hasattr(os, "getuid"):
        return None
    return os.path.join(tempfile.gettempdir(), TEMP_NAME.format(uid=os.getuid()))


_checked = {}                   # path -> (usable, reason), once per process
_lock = threading.Lock()


def check_private(path):
    """Create ``path`` (mode 0700) if it is missing, then say whether it is
    a private directory of this user: ``(True, "")`` or ``(False, why)``.
    Nothing that exists is changed."""
    if path is None or not hasattr(os, "getuid"):
        return False, "no such location on this platform"
    with _lock:
        if path not in _checked:
            _checked[path] = _check(path)
        return _checked[path]


def _check(path):
    uid = os.getuid()
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(path)
        pst = os.stat(parent)
    except OSError as e:
        return False, f"cannot create it ({e.strerror or e})"
    if stat.S_ISLNK(st.st_mode):
        return False, "a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return False, "not a directory"
    if st.st_uid != uid:
        return False, f"owned by uid {st.st_uid}, not {uid}"
    if st.st_mode & 0o077:
        return False, f"mode {stat.S_IMODE(st.st_mode):04o}: open to group or others (0700 needed)"
    if pst.st_uid not in (uid, 0):
        return False, f"its parent is owned by uid {pst.st_uid}"
    if pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX:
        return False, "its parent is writable by others and not sticky"
    return True, ""


class _PrivateLocator:
    """A locator for one of our private roots; combined below with the
    source-file locator bases of numba or of numba-cuda (which has its own
    copy of them)."""

    root = None                 # a function: the root path, or None

    def __init__(self, py_func, py_file, root):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = os.path.join(root, self.get_suitable_cache_subpath(py_file))

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        if not os.path.exists(py_file):
            return None
        root = cls.root()
        if not check_private(root)[0]:
            return None
        self = cls(py_func, py_file, root)
        try:
            self.ensure_cache_path()            # numba's test: makedirs and a temporary file
        except OSError:
            return None
        return self


def _make_locators(caching):
    """Our locators, on the bases of ``caching`` (numba's or numba-cuda's module)."""
    bases = (_PrivateLocator, caching._SourceFileBackedLocatorMixin, caching._CacheLocator)

    class UserCacheLocator(*bases):
        """The user's cache directory: ``$XDG_CACHE_HOME/fastinit/numba-cache``."""
        root = staticmethod(user_root)

    class TempCacheLocator(*bases):
        """A private directory in the temporary directory."""
        root = staticmethod(temp_root)

    return [UserCacheLocator, TempCacheLocator]


UserCacheLocator, TempCacheLocator = _make_locators(_caching)


class _CpuCacheImpl(_caching.CompileResultCacheImpl):
    @property
    def _locator_classes(self):
        # numba's list as it is now (first), then ours
        return list(_caching.CompileResultCacheImpl._locator_classes) + [UserCacheLocator, TempCacheLocator]


class CpuCache(_caching.FunctionCache):
    """numba's function cache, with our locations after numba's."""
    _impl_class = _CpuCacheImpl


# ----------------------------------------------------------------- dispatchers
_warned = False
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _install(disp, cache_class):
    """Give ``disp`` a ``cache_class`` cache, or leave it uncached (warning
    once per process) when no location is usable."""
    global _warned
    try:
        disp._cache = cache_class(disp.py_func)
    except RuntimeError as e:   # numba: "cannot cache function ...: no locator available ..."
        with _lock:
            first, _warned = not _warned, True
        if first:
            where = ", ".join(p for p in (user_root(), temp_root()) if p)
            level, f = 1, sys._getframe()
            while f is not None and f.f_code.co_filename.startswith(_PACKAGE):
                f, level = f.f_back, level + 1          # point at the caller of fastinit
            warnings.warn(
                f"fastinit: no usable cache location for compiled kernels ({e}; numba's locations "
                f"and {where} were tried); kernels are compiled again in every process, seconds each. "
                f"Set NUMBA_CACHE_DIR to a writable directory (and run `python -m fastinit warmup` "
                f"there).", NoCacheWarning, stacklevel=level)
    return disp


def cpu_jit(fn, **options):
    """``numba.njit(**options)(fn)`` with the on-disk cache at the first
    usable location (or none, see the module docstring)."""
    disp = numba.njit(**options)(fn)
    if hasattr(disp, "py_func") and hasattr(disp, "enable_caching"):   # not under NUMBA_DISABLE_JIT
        _install(disp, CpuCache)
    return disp


_cuda_cache_class = None


def _cuda_cache():
    global _cuda_cache_class
    if _cuda_cache_class is None:
        from numba.cuda.core import caching as cuda_caching
        from numba.cuda.dispatcher import CUDACache, CUDACacheImpl

        ours = _make_locators(cuda_caching)

        class _CudaCacheImpl(CUDACacheImpl):
            @property
            def _locator_classes(self):
                return list(CUDACacheImpl._locator_classes) + ours

        class CudaCache(CUDACache):
            """numba-cuda's kernel cache, with our locations after numba-cuda's."""
            _impl_class = _CudaCacheImpl

        _cuda_cache_class = CudaCache
    return _cuda_cache_class


def enable_cuda_cache(dispatcher):
    """Turn on the on-disk cache of a ``cuda.jit`` dispatcher at the first
    usable location; returns it.  The simulator's kernels have no cache and
    are returned as they are."""
    if hasattr(dispatcher, "py_func") and hasattr(dispatcher, "enable_caching"):
        _install(dispatcher, _cuda_cache())
    return dispatcher


def cache_dir(dispatcher):
    """The directory that holds ``dispatcher``'s cache files, or None when it
    is not cached."""
    return getattr(getattr(dispatcher, "_cache", None), "cache_path", None)
