"""Bad input: a clear exception naming the argument, raised before any
element is written (the buffer is left untouched)."""
import math

import numpy as np
import pytest

import fastinit as fi

SENTINEL = 12345.5


def fresh(shape=(8, 6), dtype=np.float32, **kw):
    a = np.empty(shape, dtype, **kw)
    a[...] = SENTINEL
    return a


def untouched(a):
    return bool(np.all(a == SENTINEL))


CASES = [
    # (call, exception, message fragment)
    (lambda b: fi.normal_(b, std=-1.0), ValueError, "std"),
    (lambda b: fi.normal_(b, std=math.inf), ValueError, "std"),
    (lambda b: fi.normal_(b, std=math.nan), ValueError, "std"),
    (lambda b: fi.normal_(b, mean=math.nan), ValueError, "mean"),
    (lambda b: fi.normal_(b, mean=1j), TypeError, "mean"),
    (lambda b: fi.uniform_(b, low=math.inf), ValueError, "low"),
    (lambda b: fi.uniform_(b, high=-math.inf), ValueError, "high"),
    (lambda b: fi.uniform_(b, 2.0, 1.0), ValueError, "low must be <= high"),
    (lambda b: fi.uniform_(b, -3e38, 3e38), ValueError, "overflows"),
    (lambda b: fi.trunc_normal_(b, a=1.0, b=1.0), ValueError, "a must be < b"),
    (lambda b: fi.trunc_normal_(b, a=2.0, b=-2.0), ValueError, "a must be < b"),
    (lambda b: fi.trunc_normal_(b, std=0.0), ValueError, "std"),
    (lambda b: fi.trunc_normal_(b, a=40.0, b=41.0), ValueError, "probability"),
    (lambda b: fi.trunc_normal_(b, a=math.nan), ValueError, "a must be finite"),
    (lambda b: fi.constant_(b, math.nan), ValueError, "value"),
    (lambda b: fi.constant_(b, 1e39), ValueError, "value"),
    (lambda b: fi.he_normal_(b, mode="fan_sideways"), ValueError, "'fan_in', 'fan_out'"),
    (lambda b: fi.he_normal_(b, nonlinearity="swish"), ValueError, "nonlinearity must be one of"),
    (lambda b: fi.variance_scaling_(b, distribution="cauchy"), ValueError, "'truncated_normal', 'normal', 'uniform'"),
    (lambda b: fi.variance_scaling_(b, mode="fan_max"), ValueError, "'fan_in', 'fan_out', 'fan_avg'"),
    (lambda b: fi.variance_scaling_(b, scale=0.0), ValueError, "scale"),
    (lambda b: fi.xavier_uniform_(b, layout="oi"), ValueError, "'out_in', 'in_out'"),
    (lambda b: fi.xavier_uniform_(b, gain=-1.0), ValueError, "gain"),
    (lambda b: fi.he_uniform_(b, fan_in=0), ValueError, "fan_in"),
    (lambda b: fi.normal_(b, seed=-1), ValueError, "seed"),
    (lambda b: fi.normal_(b, seed=2**64), ValueError, "seed"),
    (lambda b: fi.normal_(b, seed=1.5), TypeError, "seed"),
    (lambda b: fi.normal_(b, seed=True), TypeError, "seed"),
    (lambda b: fi.normal_(b, stream=2**64), ValueError, "stream"),
    (lambda b: fi.normal_(b, stream=-3), ValueError, "stream"),
    (lambda b: fi.normal_(b, global_shape=(8,)), ValueError, "global_shape"),
    (lambda b: fi.normal_(b, global_shape=(8, 5)), ValueError, "does not fit"),
    (lambda b: fi.normal_(b, global_shape=(16, 6), offsets=(9, 0)), ValueError, "does not fit"),
    (lambda b: fi.normal_(b, global_shape=(16, 6), offsets=(-1, 0)), ValueError, "offsets"),
    (lambda b: fi.normal_(b, global_shape=(16, 6), offsets=(1.0, 0)), ValueError, "offsets"),
    (lambda b: fi.normal_(b, offsets=(0, 0)), ValueError, "global_shape"),
    (lambda b: fi.normal_(b, global_shape=(2**40, 2**40)), ValueError, r"2\*\*64"),
]


@pytest.mark.parametrize("call,exc,match", CASES)
def test_rejected_before_writing(call, exc, match):
    b = fresh()
    with pytest.raises(exc, match=match):
        call(b)
    assert untouched(b)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128])
def test_non_float_buffers(dtype):
    b = np.zeros(10, dtype)
    with pytest.raises(TypeError, match="floating dtype"):
        fi.normal_(b, seed=0)
    assert not b.any()


def test_read_only():
    b = fresh()
    b.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fi.uniform_(b, seed=0)
    assert untouched(b)
    with pytest.raises(ValueError, match="read-only"):
        fi.zeros_(b)
    assert untouched(b)


def test_big_endian():
    b = fresh(dtype=">f4")
    with pytest.raises(TypeError, match="byte order"):
        fi.normal_(b, seed=0)
    assert untouched(b)


def test_fans_of_1d():
    b = fresh(shape=(10,))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        fi.he_normal_(b, seed=0)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        fi.xavier_uniform_(b, seed=0, fan_in=3)       # fan_avg needs fan_out too
    assert untouched(b)


def test_overlapping_memory():
    b = np.lib.stride_tricks.as_strided(np.zeros(4, np.float32), shape=(4, 4), strides=(4, 0))
    with pytest.raises(ValueError, match="overlapping"):
        fi.normal_(b, seed=0)


def _view(base, shape, strides):
    """A view of ``base`` in elements (as_strided takes bytes)."""
    return np.lib.stride_tricks.as_strided(base, shape, tuple(s * base.itemsize for s in strides))


OVERLAPPING = [                     # (shape, strides in elements): no zero stride, yet shared elements
    ((20, 4), (1, 1)),              # rows that overlap: the case
    ((10, 4), (2, 1)),
    ((3, 5, 7), (35, 1, 4)),        # index (0, 4, 0) and (0, 0, 1) meet at 4
    ((6, 6), (3, 2)),               # 3 * 2 = 2 * 3
    ((4, 4, 4), (12, 4, 3)),        # 12 = 3 * 4
    ((2, 2, 2, 2, 2), (1, 2, 4, 8, 15)),    # 1 + 2 + 4 + 8 = 15
]
DISJOINT = [                        # views that look suspicious but never share an element
    ((2, 2), (2, 3)),               # offsets 0, 2, 3, 5
    ((3, 3), (1, 5)),
    ((2, 3), (1, 4)),               # offsets 0, 4, 8, 1, 5, 9
    ((4, 5), (5, 1)),               # C order, as as_strided writes it
    ((5, 4), (1, 5)),               # the transpose
    ((2, 2, 2, 2), (1, 2, 4, 8)),   # binary digits
    ((3, 3, 3), (1, 3, 9)),
    ((2, 2, 3), (3, 7, 1)),         # interleaved: 0..2, 3..5, 7..9, 10..12
    ((2, 3), (-3, 1)),              # a negative stride
]


@pytest.mark.parametrize("shape,strides", OVERLAPPING)
@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_overlapping_views_are_refused(shape, strides, library):
    base = np.full(512, SENTINEL, np.float32)
    if library == "torch":
        torch = pytest.importorskip("torch")
        t = torch.from_numpy(base)
        if any(s < 0 for s in strides):
            pytest.skip("torch has no negative strides")
        view = t.as_strided(shape, strides)
    else:
        view = _view(base, shape, strides)
    for fill in (lambda v: fi.normal_(v, seed=0), lambda v: fi.zeros_(v),
                 lambda v: fi.he_uniform_(v, seed=0, global_shape=(64,) * len(shape))):
        with pytest.raises(ValueError, match="overlapping elements"):
            fill(view)
    assert untouched(base)


@pytest.mark.parametrize("shape,strides", DISJOINT)
def test_disjoint_views_are_filled(shape, strides):
    """Never refused, and each element holds the value of its logical index
    (the same as a contiguous buffer of that shape)."""
    base = np.full(512, SENTINEL, np.float32)
    start = -sum((n - 1) * s for n, s in zip(shape, strides) if s < 0)
    view = _view(base[start:], shape, strides)
    fi.normal_(view, seed=5, stream=2)
    expect = fi.normal_(np.empty(shape, np.float32), seed=5, stream=2)
    np.testing.assert_array_equal(view, expect)
    assert (base == SENTINEL).sum() == base.size - np.prod(shape)


def test_overlap_search_is_exact():
    """``self_overlapping`` against brute force (every offset listed) on
    random small views, also past its work limit (where it lists them)."""
    import itertools
    import random
    from fastinit import _buffers

    def brute(dims):
        offs = [sum(i * s for i, (_, s) in zip(idx, dims))
                for idx in itertools.product(*[range(n) for n, _ in dims])]
        return len(set(offs)) < len(offs)

    rng = random.Random(0)
    cases = [[(rng.randint(2, 6), rng.randint(1, 30)) for _ in range(rng.randint(1, 4))] for _ in range(3000)]
    assert {brute(d) for d in cases} == {True, False}
    assert [_buffers.self_overlapping(d) for d in cases] == [brute(d) for d in cases]
    old = _buffers.OVERLAP_WORK
    try:
        _buffers.OVERLAP_WORK = 2
        assert [_buffers.self_overlapping(d) for d in cases[:500]] == [brute(d) for d in cases[:500]]
    finally:
        _buffers.OVERLAP_WORK = old


@pytest.mark.parametrize("obj", [[1.0, 2.0], 3.0, "abc", None, object()])
def test_not_a_buffer(obj):
    with pytest.raises(TypeError, match="buf must be a buffer"):
        fi.normal_(obj, seed=0)


def test_constant_overflow_in_16_bit():
    b = fresh(dtype=np.float16)
    with pytest.raises(ValueError, match="float16"):
        fi.constant_(b, 1e5)
    assert untouched(b)


def test_nothing_cut_warning():
    b = fresh()
    with pytest.warns(UserWarning, match="nothing is truncated"):
        fi.trunc_normal_(b, std=0.02, seed=0)


def test_torch_autograd_sees_the_in_place_write():
    """As with torch.nn.init's in-place ops, a tensor saved for backward and
    then refilled makes backward() fail instead of giving wrong gradients."""
    torch = pytest.importorskip("torch")
    w = torch.empty(5)
    v = w._version
    fi.normal_(w, seed=0)
    assert w._version > v
    x = torch.ones(5, requires_grad=True)
    y = (x * w).sum()              # saves w for the gradient of x
    fi.uniform_(w, seed=1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    with torch.inference_mode():
        t = torch.empty(4)
        fi.zeros_(t)               # inference tensors have no version counter: no error
    assert (t == 0).all()


# ----------------------------------------------------------------- values that do not fit
# One rule (docs/contract.md, "Values that do not fit"): a call is refused
# when some element it could write would be +-inf in the buffer's dtype.
BF16 = __import__("ml_dtypes").bfloat16      # a core dependency

NOT_FITTING = [
    # (dtype, call, argument named)
    (np.float16, lambda b: fi.uniform_(b, -1e5, 1e5, seed=0), "low"),
    (np.float16, lambda b: fi.uniform_(b, 0.0, 65536.0, seed=0), "high"),
    (np.float16, lambda b: fi.uniform_(b, -65536.0, 0.0, seed=0), "low"),
    (np.float16, lambda b: fi.normal_(b, 0.0, 1e5, seed=0), "std"),
    (np.float16, lambda b: fi.normal_(b, 0.0, 11000.0, seed=0), "std"),     # 6.34 std = 69,700
    (np.float16, lambda b: fi.normal_(b, 1e5, 0.0, seed=0), "mean"),
    (np.float16, lambda b: fi.normal_(b, 60000.0, 1000.0, seed=0), "std"),
    (np.float16, lambda b: fi.trunc_normal_(b, 0.0, 1.0, -1e5, 2.0, seed=0), "a"),
    (np.float16, lambda b: fi.trunc_normal_(b, 0.0, 1e5, -6e4, 7e4, seed=0), "b"),
    (np.float16, lambda b: fi.constant_(b, 65520.0), "value"),
    (np.float16, lambda b: fi.variance_scaling_(b, 1e10, "fan_in", "normal", fan_in=1, seed=0), "std"),
    (BF16, lambda b: fi.uniform_(b, 0.0, 3.4e38, seed=0), "high"),
    (BF16, lambda b: fi.normal_(b, 0.0, 1e38, seed=0), "std"),
    (BF16, lambda b: fi.trunc_normal_(b, 0.0, 1e38, -3.4e38, 0.0, seed=0), "a"),
    (np.float32, lambda b: fi.normal_(b, 0.0, 1e38, seed=0), "std"),
    (np.float32, lambda b: fi.trunc_normal_(b, 0.0, 1.0, -1e39, 1.0, seed=0), "a"),
    (np.float64, lambda b: fi.normal_(b, 0.0, 1e308, seed=0), "std"),
]


@pytest.mark.parametrize("dtype,call,arg", NOT_FITTING)
def test_values_that_do_not_fit_are_refused(dtype, call, arg):
    b = np.full(64, SENTINEL, dtype)
    before = b.copy()
    with pytest.raises(ValueError, match=rf"^{arg}: .*does not fit in {np.dtype(dtype).name}.*inf"):
        call(b)
    assert b.tobytes() == before.tobytes()


FITTING = [
    # the largest parameters the rule lets through, each next to a refused one above
    (np.float16, lambda b: fi.uniform_(b, -65519.0, 65519.0, seed=0)),    # rounds to +-65504
    (np.float16, lambda b: fi.normal_(b, 0.0, 10000.0, seed=0)),          # 6.34 std = 63,400
    (np.float16, lambda b: fi.trunc_normal_(b, 0.0, 1e5, -6e4, 6e4, seed=0)),
    (np.float16, lambda b: fi.constant_(b, 65519.0)),
    (BF16, lambda b: fi.normal_(b, 0.0, 5e37, seed=0)),
    (np.float32, lambda b: fi.normal_(b, 0.0, 5e37, seed=0)),
]


@pytest.mark.parametrize("dtype,call", FITTING)
def test_values_that_fit_are_written_finite(dtype, call):
    b = np.empty(1 << 16, dtype)
    call(b)
    assert np.isfinite(b.astype(np.float64)).all()


def test_the_line_is_exact_for_normal():
    """The normal's extreme values are its values at the extreme words
    (|z| = 6.34 in float32; no word gives more, checked over all 2^32 words
    when the rule was written), so the line sits where an inf first becomes
    possible: just below it the extreme words encode finite, just above it
    the call is refused."""
    zmax = fi._params.z_max("32")
    assert abs(zmax - 6.3379578) < 1e-6
    limit = 65520.0 / zmax                  # float16: values from 65520 on round to inf
    ok, bad = float(np.float32(limit * (1 - 1e-6))), float(np.float32(limit * (1 + 1e-6)))
    prm = fi._params.normal(0.0, ok, "f16")
    lo, hi = fi._params._extremes("z", "f16", prm.mean, prm.std)
    assert -65520 < lo < -65000 and 65000 < hi < 65520
    b = np.empty(8, np.float16)
    fi.normal_(b, 0.0, ok, seed=0)
    with pytest.raises(ValueError, match="std"):
        fi.normal_(b, 0.0, bad, seed=0)


# ----------------------------------------------------------------- empty buffers
# One rule for every filler: every argument is checked, nothing is drawn,
# torch's warning where torch warns (kaiming_* only), and seed=DEFERRED
# gives a run as for any other buffer.
EMPTY_SHAPES = [(0,), (0, 5), (5, 0), (0, 0), (3, 0, 2)]
FILLERS = {
    "uniform_": lambda b, **kw: fi.uniform_(b, -1.0, 1.0, **kw),
    "normal_": lambda b, **kw: fi.normal_(b, 0.0, 0.02, **kw),
    "trunc_normal_": lambda b, **kw: fi.trunc_normal_(b, 0.0, 0.02, -0.04, 0.04, **kw),
    "xavier_uniform_": fi.xavier_uniform_, "xavier_normal_": fi.xavier_normal_,
    "he_uniform_": fi.he_uniform_, "he_normal_": fi.he_normal_,
    "lecun_uniform_": fi.lecun_uniform_, "lecun_normal_": fi.lecun_normal_,
    "variance_scaling_": fi.variance_scaling_,
    "zeros_": fi.zeros_, "ones_": fi.ones_, "constant_": lambda b, **kw: fi.constant_(b, 0.5, **kw),
}
FAN_BASED = ("xavier_uniform_", "xavier_normal_", "he_uniform_", "he_normal_", "lecun_uniform_",
             "lecun_normal_", "variance_scaling_")
WARNS_EMPTY = ("he_uniform_", "he_normal_")        # torch's kaiming_uniform_ / kaiming_normal_


def _generator_state():
    return fi._call._seed_gen.bit_generator.state


@pytest.mark.parametrize("shape", EMPTY_SHAPES)
@pytest.mark.parametrize("name", list(FILLERS))
def test_empty_buffers_one_rule(name, shape):
    import warnings
    fill = FILLERS[name]
    b = np.empty(shape, np.float32)
    state = _generator_state()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fill(b) is b                             # seed=None: nothing drawn
    assert _generator_state() == state
    messages = [str(w.message) for w in caught]
    if name in WARNS_EMPTY:
        assert messages == ["Initializing zero-element tensors is a no-op"]
        assert caught[0].filename == __file__           # points at the caller, as torch's
    else:
        assert messages == []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = fill(b, seed=fi._call.DEFERRED)
    assert len(caught) == len(messages)                 # the same check, deferred or not
    assert callable(run) and run(7) is b
    assert _generator_state() == state


@pytest.mark.parametrize("name", list(FILLERS))
def test_empty_buffers_check_every_argument(name):
    fill = FILLERS[name]
    b = np.empty((0, 5), np.float32)
    for bad in (dict(seed=-1), dict(stream=2**64), dict(global_shape=(1,)),
                dict(global_shape=(1, 5), offsets=(2, 0))):
        with pytest.raises(ValueError):
            fill(b, **bad)
    if name in FAN_BASED:
        for bad in (dict(fan_in=-3), dict(fan_out=0), dict(fan_in=2.5), dict(layout="io")):
            with pytest.raises(ValueError, match="fan_in|fan_out|layout"):
                fill(b, seed=0, **bad)


def test_empty_buffers_check_the_distribution_arguments():
    b = np.empty(0, np.float16)
    for call in (lambda: fi.normal_(b, std=-1.0), lambda: fi.uniform_(b, 1.0, 0.0),
                 lambda: fi.uniform_(b, 0.0, 1e5), lambda: fi.trunc_normal_(b, a=1.0, b=0.0),
                 lambda: fi.constant_(b, 1e5), lambda: fi.variance_scaling_(b, scale=-1.0),
                 lambda: fi.he_normal_(b, mode="fan_avg"), lambda: fi.variance_scaling_(b, distribution="x")):
        with pytest.raises(ValueError):
            call()
