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
