"""fastinit.torch.advise_hugepages: what it advises, what it returns, and
that materialize_ and patch() advise the tensors they make the first touch
of.  The advice is read back from the kernel: /proc/self/smaps shows
MADV_HUGEPAGE as the ``hg`` flag of the mapping, which madvise splits off at
the advised range; the huge pages themselves (``AnonHugePages``) are checked
only where the THP settings make the outcome certain enough."""
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
import fastinit.torch as ft                # noqa: E402
from fastinit.torch import _memory         # noqa: E402

HUGE = _memory.HUGE_PAGE
BIG = 64 << 20                             # bytes: above HUGEPAGE_MIN_BYTES, 31 whole huge pages inside
THP = "/sys/kernel/mm/transparent_hugepage"

linux = pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.exists("/proc/self/smaps"),
                           reason="madvise and /proc/self/smaps are Linux's")


def _thp_setting(name):
    """The selected value of a THP setting ("madvise", ...), or None."""
    try:
        with open(os.path.join(THP, name)) as f:
            return f.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return None


def _mapping(addr):
    """The /proc/self/smaps entry of the mapping holding ``addr``: its
    (start, end), flags and fields."""
    with open("/proc/self/smaps") as f:
        cur = None
        for line in f:
            head = line.split(maxsplit=1)[0]
            if not head.endswith(":"):                     # "start-end perms offset dev inode path"
                lo, hi = (int(x, 16) for x in head.split("-"))
                cur = {"range": (lo, hi)} if lo <= addr < hi else None
            elif cur is not None:
                key, _, value = line.partition(":")
                cur[key] = value.split() if key == "VmFlags" else value.strip()
                if key == "VmFlags":
                    return cur
    raise AssertionError(f"no mapping holds {addr:#x}")


def _inside(t):
    """The whole 2 MiB pages inside ``t``'s storage: [lo, hi)."""
    start = t.untyped_storage().data_ptr()
    end = start + t.untyped_storage().nbytes()
    return -(-start // HUGE) * HUGE, end // HUGE * HUGE


def _advised(t):
    """Whether exactly the whole huge pages inside ``t``'s storage are one
    mapping marked for huge pages, and the memory around them is not."""
    lo, hi = _inside(t)
    m = _mapping(lo)
    start = t.untyped_storage().data_ptr()
    end = start + t.untyped_storage().nbytes()
    around = [_mapping(a) for a in (lo - 1, hi) if start <= a < end]
    return m["range"] == (lo, hi) and "hg" in m["VmFlags"] and not any("hg" in a["VmFlags"] for a in around)


def _can_advise():
    """A kernel built with transparent huge pages accepts MADV_HUGEPAGE."""
    return os.path.isdir(THP)


@linux
def test_a_large_fresh_tensor_is_advised_on_its_whole_huge_pages():
    t = torch.empty(BIG // 4)
    lo, hi = _inside(t)
    assert hi - lo >= (BIG - HUGE) and "hg" not in _mapping(lo)["VmFlags"]
    assert ft.advise_hugepages(t) is _can_advise()
    if _can_advise():
        assert _advised(t)


@linux
def test_advice_changes_no_value_and_covers_the_storage_of_a_view():
    t = torch.arange(BIG // 4, dtype=torch.float32)    # touched: values to keep
    before = t.clone()
    view = t[1000:1010]                                 # 40 bytes of a 64 MiB storage
    assert ft.advise_hugepages(view) is _can_advise()
    assert torch.equal(t, before)
    if _can_advise():
        assert _advised(t)


@linux
@pytest.mark.skipif(not os.path.isdir(THP), reason="the kernel has no transparent huge pages")
def test_small_tensors_are_left_alone_and_the_threshold_is_the_storage_size():
    floor = _memory.HUGEPAGE_MIN_BYTES
    assert not ft.advise_hugepages(torch.empty(1000))
    assert not ft.advise_hugepages(torch.empty(floor // 4 - 1))            # 4 bytes short
    assert ft.advise_hugepages(torch.empty(floor // 4))
    assert ft.advise_hugepages(torch.empty(floor // 2, dtype=torch.int16))   # any dtype: bytes count


def test_other_devices_and_no_madvise_return_false(monkeypatch):
    assert ft.advise_hugepages(torch.empty(BIG // 4, device="meta")) is False
    if torch.cuda.is_available():
        assert ft.advise_hugepages(torch.empty(BIG // 4, device="cuda")) is False
    monkeypatch.setattr(_memory, "_madvise", None)                   # as on a platform without madvise
    assert ft.advise_hugepages(torch.empty(BIG // 4)) is False


def test_tensors_without_strided_memory_of_their_own_return_false():
    """A sparse tensor has no untyped storage (torch raises for it) and a
    fake tensor's address is not memory: neither is advised, and neither
    raises or warns."""
    import warnings
    from torch._subclasses.fake_tensor import FakeTensorMode
    sparse = torch.sparse_coo_tensor(torch.tensor([[0, 1]]), torch.ones(2), (BIG // 4,), check_invariants=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ft.advise_hugepages(sparse) is False
        with FakeTensorMode():
            fake = torch.empty(BIG // 4)
        assert ft.advise_hugepages(fake) is False


@linux
@pytest.mark.skipif(not os.path.isdir(THP), reason="the kernel has no transparent huge pages")
def test_huge_pages_on_first_touch_where_thp_is_madvise():
    """In THP's madvise mode (with a defrag setting that compacts memory for
    advised ranges at fault time) the advised tensor's first touch gets huge
    pages; an unadvised one, none (khugepaged leaves unadvised memory alone
    in this mode)."""
    if _thp_setting("enabled") != "madvise" or _thp_setting("defrag") not in ("always", "madvise", "defer+madvise"):
        pytest.skip(f"THP enabled={_thp_setting('enabled')}, defrag={_thp_setting('defrag')}: "
                    f"the huge pages a first touch gets are not the advice's doing alone")
    advised, plain = torch.empty(BIG // 4), torch.empty(BIG // 4)
    assert ft.advise_hugepages(advised)
    advised.fill_(1.0)
    plain.fill_(1.0)
    lo, _ = _inside(advised)
    assert int(_mapping(lo)["AnonHugePages"].split()[0]) > 0
    plo, _ = _inside(plain)
    assert int(_mapping(plo)["AnonHugePages"].split()[0]) == 0


@linux
@pytest.mark.skipif(not os.path.isdir(THP), reason="the kernel has no transparent huge pages")
def test_materialize_and_patch_advise_what_they_touch_first():
    with torch.device("meta"):
        m = torch.nn.Linear(4096, 4096, bias=False)                   # 64 MiB of float32
    ft.materialize_(m, "cpu", seed=0)
    assert _advised(m.weight)
    w = torch.empty(BIG // 4)
    with ft.patch():
        torch.nn.init.normal_(w)
    assert _advised(w)


DTENSOR = r"""
import os, sys
import torch, torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import DTensor, Replicate
from fastinit.torch import advise_hugepages
dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
mesh = init_device_mesh("cpu", (1,))
local = torch.empty(16 << 20)
d = DTensor.from_local(local, mesh, [Replicate()], run_check=False)
print(advise_hugepages(d), advise_hugepages(d._local_tensor), flush=True)
dist.destroy_process_group()
os._exit(0)        # as tests/dist_worker.py: no interpreter teardown with gloo's threads
"""


@linux
@pytest.mark.skipif(not os.path.isdir(THP), reason="the kernel has no transparent huge pages")
def test_a_dtensor_is_left_to_its_local_tensor():
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", DTENSOR], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and r.stdout.split() == ["False", "True"], (r.returncode, r.stdout, r.stderr[-3000:])
