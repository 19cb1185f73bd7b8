"""Numba's on-disk cache is on and hit by a second process, a first fill
on several threads makes one kernel, a read-only install caches in a private
fallback directory (``_cache``), a fallback that is not private is refused,
and no usable location at all is not fatal."""
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import warnings

import numpy as np
import pytest
from numba.core.caching import NullCache

import fastinit
from fastinit import _cache, _cpu


def test_kernels_are_cached_on_disk():
    k = _cpu.kernel("normal", "f32", "contig")
    assert isinstance(k._cache, _cache.CpuCache) and _cache.cache_dir(k) is not None


def test_no_cache_location_falls_back_to_uncached(monkeypatch):
    # no locator at all: numba raises "no locator available" when the cache
    # is made (numba issue 4908); the kernels run uncached, one warning per process
    monkeypatch.setattr(_cache._CpuCacheImpl, "_locator_classes", [])
    monkeypatch.setattr(_cache, "_warned", False)

    BUILD = True

    def add_one(out):
        assert BUILD == BUILD
        for i in range(out.shape[0]):
            out[i] += 1.0

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ks = [_cache.cpu_jit(add_one, error_model="numpy") for _ in range(2)]   # what _cpu_loops.jit calls
    a = np.zeros(5)
    for k in ks:
        k(a)
        assert isinstance(k._cache, NullCache) and _cache.cache_dir(k) is None
    assert np.all(a == 2.0)
    assert [w.category for w in caught] == [_cache.NoCacheWarning]
    assert "NUMBA_CACHE_DIR" in str(caught[0].message)


# ----------------------------------------------------------------- the private-directory checks
@pytest.fixture
def fresh_checks(monkeypatch):
    monkeypatch.setattr(_cache, "_checked", {})


def test_a_missing_fallback_is_created_private(tmp_path, fresh_checks):
    path = tmp_path / "a" / "fastinit-cache"
    assert _cache.check_private(str(path)) == (True, "")
    for p in (path, path.parent):
        assert stat.S_IMODE(os.lstat(p).st_mode) == 0o700


@pytest.mark.parametrize("plant,why", [
    ("mode 0777", "open to group or others"),
    ("symlink", "symbolic link"),
    ("file", "not a directory"),
    ("other owner", "owned by uid"),
    ("shared parent", "parent is writable by others"),
])
def test_a_fallback_that_is_not_private_is_refused(tmp_path, fresh_checks, plant, why):
    path = tmp_path / "fastinit-cache"
    if plant == "mode 0777":
        path.mkdir()
        path.chmod(0o777)
    elif plant == "symlink":
        (tmp_path / "target").mkdir(mode=0o700)
        path.symlink_to(tmp_path / "target")
    elif plant == "file":
        path.write_text("")
    elif plant == "other owner":
        if os.getuid() != 0:
            pytest.skip("only root can make a directory that another user owns")
        path.mkdir(mode=0o700)
        os.chown(path, 65534, 65534)
    else:
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared").chmod(0o777)
        path = tmp_path / "shared" / "fastinit-cache"
    before = os.lstat(path) if os.path.lexists(path) else None
    ok, reason = _cache.check_private(str(path))
    assert not ok and why in reason
    if before is not None:                   # refused, never repaired
        after = os.lstat(path)
        assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)
    if plant == "symlink":
        assert not any((tmp_path / "target").iterdir())


def test_a_sticky_shared_parent_is_fine(tmp_path, fresh_checks):
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp").chmod(0o1777)
    assert _cache.check_private(str(tmp_path / "tmp" / "fastinit-cache")) == (True, "")


# ----------------------------------------------------------------- read-only installs, in fresh processes
RO_SCRIPT = """
import json, os, warnings, numpy as np, fastinit as fi
from fastinit import _cache, _cpu
fi.uniform_(np.empty(100, np.float32), seed=1)
fi.uniform_(np.empty(100, np.float64), seed=1)         # a second kernel, no second warning
ks = [k for k in _cpu.KERNELS.values() if k.overloads]           # whichever builds ran
dirs = {_cache.cache_dir(k) for k in ks}
assert len(ks) == 2 and len(dirs) == 1, (len(ks), dirs)
print(json.dumps({"file": fi.__file__, "dir": dirs.pop(), "hits": sum(k.stats.cache_hits.total() for k in ks)}))
"""


@pytest.fixture
def read_only(tmp_path):
    """A copy of the package that nothing can cache into, and an environment
    in which no numba location and no user cache directory can be written.
    Root writes through permission bits, so a regular file stands where each
    directory would be made (``__pycache__``, ``$HOME``, ``$XDG_CACHE_HOME``);
    the copy is made read-only too (what it is for a normal user)."""
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.dirname(fastinit.__file__), pkg / "fastinit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for d, dirs, _ in os.walk(pkg):
        (tmp_path / d / "__pycache__").write_text("")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory would go")
    tmp = tmp_path / "tmp"
    tmp.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.update(PYTHONPATH=str(pkg), HOME=str(blocker), XDG_CACHE_HOME=str(blocker), TMPDIR=str(tmp),
               PYTHONDONTWRITEBYTECODE="1")
    modes = {}
    for d, dirs, files in os.walk(pkg):
        for name in [d] + [os.path.join(d, f) for f in files]:
            modes[name] = os.stat(name).st_mode
            os.chmod(name, modes[name] & ~0o222)
    try:
        yield env, tmp, tmp / f"fastinit-{os.getuid()}-numba-cache", pkg
    finally:
        for name, mode in modes.items():
            os.chmod(name, mode)


def _run(env, cwd, script=RO_SCRIPT):
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.splitlines()[-1]), r.stderr


needs_getuid = pytest.mark.skipif(not hasattr(os, "getuid"), reason="the private fallbacks need os.getuid")


@needs_getuid
def test_read_only_install_caches_in_a_private_temp_dir(read_only, tmp_path):
    env, _, fallback, pkg = read_only
    first, err1 = _run(env, tmp_path)
    second, err2 = _run(env, tmp_path)
    assert first["file"].startswith(str(pkg))                      # the read-only copy ran
    for out in (first, second):
        assert out["dir"] is not None and out["dir"].startswith(str(fallback) + os.sep)
    assert (first["hits"], second["hits"]) == (0, 2)
    st = os.lstat(fallback)
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
    assert any(f.endswith(".nbc") for f in os.listdir(first["dir"]))
    assert "NoCacheWarning" not in err1 + err2


@needs_getuid
def test_the_user_cache_dir_comes_before_the_temp_dir(read_only, tmp_path):
    env, _, fallback, _ = read_only
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    (xdg / "numba").write_text("")           # numba's own user-wide directory stays unusable
    out, _ = _run(dict(env, XDG_CACHE_HOME=str(xdg)), tmp_path)
    ours = xdg / "fastinit" / "numba-cache"
    assert out["dir"].startswith(str(ours) + os.sep) and not os.path.exists(fallback)
    assert stat.S_IMODE(os.lstat(ours).st_mode) == 0o700


@needs_getuid
def test_a_user_cache_dir_that_is_not_private_is_skipped_for_the_next(read_only, tmp_path):
    env, _, fallback, _ = read_only
    xdg = tmp_path / "xdg"
    planted = xdg / "fastinit" / "numba-cache"
    planted.mkdir(parents=True)
    planted.chmod(0o777)
    (xdg / "numba").write_text("")           # numba's own user-wide directory stays unusable
    out, err = _run(dict(env, XDG_CACHE_HOME=str(xdg)), tmp_path)
    assert out["dir"].startswith(str(fallback) + os.sep)
    assert not any(planted.iterdir()) and stat.S_IMODE(os.lstat(planted).st_mode) == 0o777


@needs_getuid
def test_a_symlink_at_the_temp_fallback_is_refused(read_only, tmp_path):
    env, _, fallback, _ = read_only
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    fallback.symlink_to(target)
    out, err = _run(env, tmp_path)
    assert out["dir"] is None and out["hits"] == 0            # filled, uncached
    assert not any(target.iterdir()) and os.path.islink(fallback)
    assert err.count("NoCacheWarning") == 1


def test_nothing_writable_fills_uncached_with_one_warning(read_only, tmp_path):
    env, tmp, fallback, _ = read_only
    if hasattr(os, "getuid"):
        fallback.write_text("a file where the fallback directory would go")
    out, err = _run(env, tmp_path)
    assert out["dir"] is None and out["hits"] == 0
    assert err.count("NoCacheWarning") == 1 and "NUMBA_CACHE_DIR" in err


CUDA_SCRIPT = """
import json
from fastinit import _cache, _cuda
k = _cuda.kernel("uniform", "f32", "contig")
print(json.dumps({"dir": _cache.cache_dir(k), "sim": _cuda.SIMULATOR}))
"""


@needs_getuid
@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None, reason="numba-cuda is not installed")
def test_cuda_kernels_take_the_same_fallback(read_only, tmp_path):
    # making the dispatcher and its cache needs no GPU
    env, _, fallback, _ = read_only
    env = {k: v for k, v in env.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out, _ = _run(env, tmp_path, CUDA_SCRIPT)
    assert not out["sim"] and out["dir"].startswith(str(fallback) + os.sep)


CACHE_SCRIPT = """
import time, numpy as np, fastinit as fi
from fastinit import _cpu, _threads
t = time.perf_counter()
fi.normal_(np.empty(1 << 20, np.float32), seed=1)      # several threads
fi.normal_(np.empty(100, np.float32), seed=1)          # the calling thread: the same kernel
fi.normal_(np.empty((300, 8), np.float32)[:, ::2], seed=1)    # the strided kernel
dt = time.perf_counter() - t
hits = [_cpu.kernel("normal", "f32", s).stats.cache_hits.total() for s in ("contig", "rows")]
print(hits[0], hits[1], len(_cpu.KERNELS), _threads.threads_for(1 << 20), dt)
"""


def test_second_process_hits_the_cache(tmp_path):
    """One build per kernel, whatever the buffer's size or the thread count:
    the second process loads both kernels the first one compiled."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="2")
    runs = [subprocess.run([sys.executable, "-c", CACHE_SCRIPT], capture_output=True, text=True, env=env)
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr[-2000:]
    (c1, r1, n1, t1, _), (c2, r2, n2, t2, _) = (r.stdout.split() for r in runs)
    assert (c1, r1, n1, t1) == ("0", "0", "2", "2")
    assert (c2, r2, n2, t2) == ("1", "1", "2", "2")


RACE_SCRIPT = """
import numpy as np, fastinit as fi
from fastinit import _cpu, _cpu_loops
made = []
jit = _cpu_loops.jit
_cpu_loops.jit = lambda fn: made.append(fn) or jit(fn)
fi.normal_(np.empty(1 << 21, np.float32), seed=1)      # pieces on 4 threads, nothing compiled yet
k = _cpu.kernel("normal", "f32", "contig")
print(len(made), k.stats.cache_hits.total(), k.stats.cache_misses.total())
"""


def test_first_fill_on_several_threads_makes_one_kernel(tmp_path):
    """The pieces of a first fill ask for their kernel from several threads
    at once: one dispatcher is made and compiled (a second one would load
    the first one's cache entry, or compile it again)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="4")
    r = subprocess.run([sys.executable, "-c", RACE_SCRIPT], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["1", "0", "1"]


STALE_SCRIPT = """
import numpy as np, fastinit as fi
from fastinit import _cpu
a = np.empty(1 << 16, np.float32)
fi.uniform_(a, seed=1)
print(_cpu.kernel("uniform", "f32", "contig").stats.cache_hits.total(), float(a[0]))
"""


def test_a_change_in_inlined_code_is_not_served_from_the_cache(tmp_path):
    """numba checks only the timestamp of the kernel's own file (_cpu.py);
    the value-path code inlined from elsewhere (here a constant of
    _constants.py) must invalidate too."""
    import shutil

    import fastinit
    pkg = tmp_path / "pkg"
    shutil.copytree(os.path.dirname(fastinit.__file__), pkg / "fastinit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(pkg))

    def run():
        r = subprocess.run([sys.executable, "-c", STALE_SCRIPT], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-2000:]
        hits, first = r.stdout.split()
        return int(hits), float(first)

    hits1, x1 = run()
    hits2, x2 = run()
    assert (hits1, hits2) == (0, 1) and x2 == x1
    tf = pkg / "fastinit" / "_constants.py"
    src = tf.read_text()
    assert "TWO_M24 = F32(2.0 ** -24)" in src
    tf.write_text(src.replace("TWO_M24 = F32(2.0 ** -24)", "TWO_M24 = F32(2.0 ** -25)"))
    hits3, x3 = run()
    assert hits3 == 0 and x3 == x1 / 2
