"""The public fillers against the independent reference (tests/reference.py),
and the invariances the contract promises."""
import math
import os
import subprocess
import sys

import ml_dtypes
import numba
import numpy as np
import pytest

import fastinit as fi
import reference as ref

SEED, STREAM = 0xDEADBEEF12345678, "encoder.embed"


def gidx(shape):
    return np.arange(math.prod(shape), dtype=np.uint64).reshape(shape)


def test_uniform32_bits_exact():
    x = np.empty((123, 77), np.float32)
    fi.uniform_(x, seed=SEED, stream=STREAM)
    w = ref.words32(gidx(x.shape), SEED, ref.stream_id(STREAM))
    np.testing.assert_array_equal(x, ref.uniform01_32(w))
    fi.uniform_(x, -0.3, 1.7, seed=SEED, stream=STREAM)
    np.testing.assert_array_equal(x, ref.uniform32(w, -0.3, 1.7))


def test_uniform64_bits_exact():
    x = np.empty(999)
    fi.uniform_(x, seed=SEED, stream=5)
    m = ref.words64(gidx(x.shape), SEED, 5)
    np.testing.assert_array_equal(x, ref.uniform01_64(m))
    fi.uniform_(x[:200], -3.0, 0.1, seed=SEED, stream=5)
    lo, hi = -3.0, 0.1
    np.testing.assert_array_equal(x[:200], ref.fma64_exact(hi - lo, ref.uniform01_64(m[:200]), lo))


def test_stream_name_is_blake2b():
    a, b = np.empty(64, np.float32), np.empty(64, np.float32)
    fi.normal_(a, seed=1, stream="layer.0")
    fi.normal_(b, seed=1, stream=ref.stream_id("layer.0"))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
def test_normal_within_tolerance(dtype, tol):
    x = np.empty(50_000, dtype)
    fi.normal_(x, 1.5, 0.5, seed=SEED, stream=3)
    g = gidx(x.shape)
    if dtype == np.float32:
        z = ref.std_normal32(ref.words32(g, SEED, 3))
        # mean + std z in float32 with one rounding: within 1 ulp of the exact
        want = 1.5 + 0.5 * z
        assert np.all(np.abs(x - want) <= 0.5 * tol * np.maximum(1, np.abs(z)) + np.spacing(np.float32(want)))
    else:
        z = ref.std_normal64(ref.words64(g, SEED, 3))
        want = 1.5 + 0.5 * z
        assert np.all(np.abs(x - want) <= 0.5 * tol * np.maximum(1, np.abs(z)) + 2 * np.spacing(want))


@pytest.mark.parametrize("a,b", [(-2.0, 2.0), (2.0, 3.0), (-0.5, 3.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trunc_normal_within_tolerance(a, b, dtype):
    x = np.empty(20_000, dtype)
    fi.trunc_normal_(x, 0.0, 1.0, a, b, seed=SEED, stream=4)
    assert x.min() >= a and x.max() <= b
    g = gidx(x.shape)
    if dtype == np.float32:
        z = ref.std_trunc(ref.words32(g, SEED, 4), 32, a, b)
        tol = 1e-5
    else:
        z = ref.std_trunc(ref.words64(g, SEED, 4), 64, a, b)
        tol = 1e-12
    assert np.max(np.abs(x - z) / np.maximum(1, np.abs(z))) <= tol


@pytest.mark.parametrize("kind", ["f16", "bf16"])
def test_16bit_is_float32_rounded(kind):
    dtype = np.float16 if kind == "f16" else ml_dtypes.bfloat16
    for fn, kw in [(fi.normal_, dict(std=0.02)), (fi.uniform_, {}), (fi.he_normal_, {}),
                   (fi.trunc_normal_, dict(a=-1.0, b=1.5)), (fi.constant_, dict(value=0.1))]:
        h = np.empty((64, 48), dtype)
        f = np.empty((64, 48), np.float32)
        seedkw = {} if fn is fi.constant_ else dict(seed=9, stream=1)
        fn(h, **kw, **seedkw)
        fn(f, **kw, **seedkw)
        np.testing.assert_array_equal(h.view(np.uint16), f.astype(dtype).view(np.uint16), err_msg=fn.__name__)


def test_trunc_16bit_stays_in_bounds():
    """The bound guarantee holds after rounding too (docs/contract.md,
    clarifications): b = 2.001 is not a bfloat16."""
    h = np.empty(100_000, ml_dtypes.bfloat16)
    fi.trunc_normal_(h, 0.0, 1.0, -2.001, 2.001, seed=1)
    assert float(h.astype(np.float32).min()) >= -2.001 and float(h.astype(np.float32).max()) <= 2.001


def test_thread_count_invariance():
    x1 = np.empty(300_001, np.float32)
    x2 = np.empty(300_001, np.float32)
    n = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        fi.normal_(x1, seed=11)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        fi.normal_(x2, seed=11)
    finally:
        numba.set_num_threads(n)
    np.testing.assert_array_equal(x1, x2)


THREADS_SCRIPT = """
import hashlib, numpy as np, numba, fastinit as fi
from fastinit import _threads
x = np.empty((1001, 667), np.float32)
fi.trunc_normal_(x, seed=5, stream=2); fi.normal_(x[:, ::2], seed=6)
y = np.empty((1 << 20) + 1)
fi.normal_(y, seed=7)
print(_threads.threads_for(y.size), hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest())
"""


@pytest.mark.parametrize("threads", ["2", "3", "8"])
def test_thread_counts_give_the_same_bits(threads):
    """NUMBA_NUM_THREADS sets how many pieces a large fill is cut into;
    the bits are those of one thread."""
    base = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_NUM_THREADS="1"))
    run = subprocess.run([sys.executable, "-c", THREADS_SCRIPT], capture_output=True, text=True,
                         env=dict(os.environ, NUMBA_NUM_THREADS=threads))
    assert base.returncode == 0, base.stderr
    assert run.returncode == 0, run.stderr
    assert base.stdout.split()[0] == "1"
    nt, got_hash = run.stdout.split()
    assert nt == threads
    assert got_hash == base.stdout.split()[1]


SHARD_CASES = [
    ((64, 48), 0, 4), ((64, 48), 1, 4), ((64, 48), 1, 3), ((5, 6, 7), 1, 2), ((5, 6, 7), 2, 3),
    ((129,), 0, 5), ((8, 1, 9), 2, 2),
]


@pytest.mark.parametrize("gshape,dim,parts", SHARD_CASES)
@pytest.mark.parametrize("fn", [fi.normal_, fi.uniform_, fi.he_uniform_, fi.variance_scaling_])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, ml_dtypes.bfloat16])
def test_shards_equal_the_whole(gshape, dim, parts, fn, dtype):
    kw = dict(fan_in=7, fan_out=5) if len(gshape) < 2 and fn in (fi.he_uniform_, fi.variance_scaling_) else {}
    whole = np.empty(gshape, dtype)
    fn(whole, seed=3, stream="w", **kw)
    n = gshape[dim]
    cuts = [round(i * n / parts) for i in range(parts + 1)]      # uneven shards too
    for lo, hi in zip(cuts, cuts[1:]):
        shape = list(gshape)
        shape[dim] = hi - lo
        offsets = [0] * len(gshape)
        offsets[dim] = lo
        shard = np.empty(shape, dtype)
        fn(shard, seed=3, stream="w", global_shape=gshape, offsets=offsets, **kw)
        index = [slice(None)] * len(gshape)
        index[dim] = slice(lo, hi)
        np.testing.assert_array_equal(shard.view(np.uint8), whole[tuple(index)].view(np.uint8))


def test_shard_offsets_past_2_32():
    """A shard with offsets past the 2^32 carry of the block index."""
    gshape = (2**20, 2**13 + 3)
    shard = np.empty((3, 100), np.float32)
    fi.uniform_(shard, seed=1, stream=2, global_shape=gshape, offsets=(2**19 + 7, 4000))
    g = (np.arange(3)[:, None] + 2**19 + 7) * gshape[1] + np.arange(100)[None, :] + 4000
    assert g.max() > 2**32
    np.testing.assert_array_equal(shard, ref.uniform01_32(ref.words32(g.astype(np.uint64), 1, 2)))


@pytest.mark.parametrize("make", [
    lambda a: np.asfortranarray(a), lambda a: a[::2, 1::3], lambda a: a[::-1, ::-2],
    lambda a: a.T, lambda a: a[:, 5], lambda a: a[3], lambda a: a[2:9, 4:40:5],
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_strided_views_follow_the_logical_index(make, dtype):
    base = np.zeros((40, 60), dtype)
    view = make(base)
    fi.normal_(view, seed=8)
    contiguous = np.empty(view.shape, dtype)
    fi.normal_(contiguous, seed=8)
    np.testing.assert_array_equal(view, contiguous)
    mask = np.zeros(base.shape, bool)
    make(mask)[...] = True
    assert np.all(base[~mask] == 0), "wrote outside the view"


def test_zero_d_and_zero_size():
    s = np.array(7.0, np.float32)
    fi.normal_(s, seed=2)
    one = np.empty(1, np.float32)
    fi.normal_(one, seed=2)
    assert s[()] == one[0]
    e = np.empty((0, 5), np.float32)
    assert fi.normal_(e, seed=1) is e
    with pytest.warns(UserWarning, match="zero-element"):
        fi.he_normal_(e, seed=1)


def test_memmap(tmp_path):
    path = tmp_path / "w.bin"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(100, 30))
    fi.xavier_uniform_(mm, seed=4)
    mm.flush()
    arr = np.empty((100, 30), np.float32)
    fi.xavier_uniform_(arr, seed=4)
    np.testing.assert_array_equal(np.fromfile(path, np.float32).reshape(100, 30), arr)


def test_other_buffer_exporters():
    import array
    a = array.array("f", [0.0] * 100)
    fi.normal_(a, seed=1)
    b = np.empty(100, np.float32)
    fi.normal_(b, seed=1)
    np.testing.assert_array_equal(np.frombuffer(a, np.float32), b)
    m = memoryview(bytearray(800)).cast("d")
    fi.uniform_(m, seed=2)
    c = np.empty(100)
    fi.uniform_(c, seed=2)
    np.testing.assert_array_equal(np.asarray(m), c)

    class Iface:
        def __init__(self, arr):
            self.__array_interface__ = arr.__array_interface__
            self._keep = arr
    d = np.zeros(50, np.float32)
    fi.uniform_(Iface(d), seed=3)
    e = np.empty(50, np.float32)
    fi.uniform_(e, seed=3)
    np.testing.assert_array_equal(d, e)

    class DL:
        def __init__(self, arr):
            self._a = arr
        def __dlpack__(self, **kw):
            return self._a.__dlpack__(**kw)
        def __dlpack_device__(self):
            return self._a.__dlpack_device__()
    f = np.zeros(50, np.float32)
    fi.uniform_(DL(f), seed=3)
    np.testing.assert_array_equal(f, e)


def test_torch_tensors():
    torch = pytest.importorskip("torch")
    for dt, np_dt in [(torch.float32, np.float32), (torch.bfloat16, ml_dtypes.bfloat16), (torch.float16, np.float16)]:
        t = torch.empty(64, 32, dtype=dt, requires_grad=True)
        assert fi.kaiming_normal_(t, seed=1) is t
        a = np.empty((64, 32), np_dt)
        fi.kaiming_normal_(a, seed=1)
        np.testing.assert_array_equal(t.detach().view(torch.int16).numpy().view(np.uint16), a.view(np.uint16))


def test_seed_none_draws_from_the_global_generator():
    a, b, c = (np.empty(100, np.float32) for _ in range(3))
    fi.manual_seed(123)
    fi.normal_(a)
    fi.normal_(b)
    assert not np.array_equal(a, b)
    fi.manual_seed(123)
    with pytest.raises(ValueError):
        fi.normal_(c, std=-1.0)          # a rejected call draws no seed
    fi.zeros_(c)                         # nor does a constant fill
    fi.normal_(c)
    np.testing.assert_array_equal(a, c)


def test_fans_and_std():
    assert fi.compute_fans((64, 32, 3, 3)) == (32 * 9, 64 * 9)
    assert fi.compute_fans((3, 3, 32, 64), layout="in_out") == (32 * 9, 64 * 9)
    assert fi.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert fi.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert fi.calculate_gain("selu") == 0.75
    # fans from global_shape, not the shard; layout and explicit fans change the scale
    w = np.empty((1000, 400), np.float32)
    fi.he_uniform_(w, seed=1, global_shape=(4000, 400), offsets=(1000, 0))
    assert np.abs(w).max() <= math.sqrt(6 / 400) and np.abs(w).max() > 0.99 * math.sqrt(6 / 400)
    v = np.empty((100, 400), np.float32)
    fi.he_uniform_(v, seed=1, layout="in_out")
    assert np.abs(v).max() <= math.sqrt(6 / 100) and np.abs(v).max() > 0.99 * math.sqrt(6 / 100)
    fi.he_uniform_(v, seed=1, fan_in=25)
    assert np.abs(v).max() > 0.99 * math.sqrt(6 / 25)
    b = np.empty(300, np.float32)
    fi.lecun_uniform_(b, seed=1, fan_in=9)       # 1-D works with an explicit fan
    assert np.abs(b).max() <= math.sqrt(3 / 9)


def test_signed_zero_parameters_do_not_depend_on_the_order_of_calls():
    """-0.0 and 0.0 are equal and hash alike: the parameter caches must
    still tell them apart, or the first one cached decides the bits of
    both (found by tests/test_properties.py)."""
    from fastinit import _cpu, _params

    def bits(fill):
        a = np.empty(64, np.float32)
        fill(a)
        return a.view(np.uint32).copy()

    calls = [lambda a: fi.constant_(a, -0.0), lambda a: fi.zeros_(a),
             lambda a: fi.normal_(a, -0.0, 0.0, seed=1), lambda a: fi.normal_(a, 0.0, 0.0, seed=1),
             lambda a: fi.uniform_(a, -0.0, 0.0, seed=1)]
    for order in (calls, calls[::-1]):
        for f in (_params.constant, _params.normal, _params.uniform, _cpu._stored):
            f.cache_clear()
        got = [bits(f) for f in order]
        if order is not calls:
            got = got[::-1]
        assert (got[0] == 0x80000000).all() and (got[1] == 0).all()
        neg = fi.normal_(np.empty(64, np.float32), 0.0, 1.0, seed=1) < 0     # where z < 0: -0.0 * ... + mean
        assert (got[2][neg] == 0x80000000).all() and (got[2][~neg] == 0).all()
        assert (got[3] == 0).all()
        assert (got[4] == 0).all()                  # fma(0, u, -0.0) = +0.0 in round-to-nearest
