"""Words -> floats against the contract's tolerances, on chosen words.

The transforms are called directly (jitted), so the extreme words 0, 1,
2^31 - 1, 2^31, 2^32 - 1 and their neighbours are covered whatever Philox
happens to produce.
"""
import ml_dtypes
import numba
import numpy as np
import pytest
from scipy.special import ndtri

import reference as ref
from fastinit import _params
from fastinit import _transforms as T

U64 = np.uint64


def _mapper(fn, dtype, with_params=False):
    """A parallel jitted loop applying the transform ``fn`` to each word."""
    if with_params:
        def apply(ws, prm):
            out = np.empty(ws.shape[0], dtype)
            for i in numba.prange(ws.shape[0]):
                out[i] = fn(ws[i], prm)
            return out
    else:
        def apply(ws):
            out = np.empty(ws.shape[0], dtype)
            for i in numba.prange(ws.shape[0]):
                out[i] = fn(ws[i])
            return out
    return numba.njit(parallel=True)(apply)


_normal32 = _mapper(T.normal_f32, np.float32)
_normal64 = _mapper(T.normal_f64, np.float64)
_trunc = {"f32": _mapper(T.value_trunc32, np.float64, with_params=True),
          "f64": _mapper(T.value_trunc64, np.float64, with_params=True)}


@numba.njit(parallel=True)
def _encode(bits, bf16):
    out = np.empty(bits.shape[0], np.uint16)
    for i in numba.prange(bits.shape[0]):
        x = T.bits_to_f32(bits[i])
        out[i] = T.f32_to_bf16_bits(x) if bf16 else T.f32_to_f16_bits(x)
    return out


def extreme_words32():
    edges = [0, 2**31, 2**32]
    ws = np.concatenate([np.arange(e - 2**16, e + 2**16, dtype=np.int64) for e in edges])
    ws = ws[(ws >= 0) & (ws < 2**32)].astype(np.uint64)
    rng = np.random.default_rng(1)
    return np.unique(np.concatenate([ws, rng.integers(0, 2**32, 2**22, dtype=np.uint64)]))


def test_normal32_accuracy_and_symmetry():
    ws = extreme_words32()
    z = _normal32(ws).astype(np.float64)
    exact = ref.std_normal32(ws)
    err = np.abs(z - exact) / np.maximum(1.0, np.abs(exact))
    assert err.max() <= 2e-6, f"worst word {int(ws[err.argmax()])}: {z[err.argmax()]} vs {exact[err.argmax()]}"
    assert np.abs(z).max() == pytest.approx(6.34, abs=0.01)
    np.testing.assert_array_equal(_normal32(ws ^ U64(0xFFFFFFFF)), -_normal32(ws))


def test_normal32_exact_extremes():
    ws = np.array([0, 1, 2, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1], np.uint64)
    z = _normal32(ws).astype(np.float64)
    exact = ndtri((ws.astype(np.float64) + 0.5) * 2.0 ** -32)
    assert np.all(np.abs(z - exact) <= 2e-6 * np.maximum(1, np.abs(exact)))


def extreme_words64():
    rng = np.random.default_rng(2)
    small = np.arange(0, 2**12, dtype=np.uint64)
    mids = U64(2**63) + np.arange(-2**12, 2**12).astype(np.int64).astype(np.uint64)
    logs = np.unique((2.0 ** rng.uniform(0, 63, 2**16)).astype(np.uint64))
    random = rng.integers(0, 2**64, 2**20, dtype=np.uint64)
    ms = np.concatenate([small, mids, logs, random])
    return np.unique(np.concatenate([ms, ~ms]))


def test_normal64_accuracy_and_symmetry():
    ms = extreme_words64()
    z = _normal64(ms)
    exact = ref.std_normal64(ms)
    err = np.abs(z - exact) / np.maximum(1.0, np.abs(exact))
    assert err.max() <= 1e-12, f"worst word {int(ms[err.argmax()])}: {z[err.argmax()]!r} vs {exact[err.argmax()]!r}"
    np.testing.assert_array_equal(_normal64(~ms), -z)


@pytest.mark.parametrize("alpha,beta", [(-2.0, 2.0), (2.0, 3.0), (-0.5, 3.0), (-3.0, -2.0),
                                        (5.0, 6.0), (-8.0, -7.5), (0.5, 0.5001), (-1e-3, 1e-3),
                                        (-40.0, 1.0)])
@pytest.mark.parametrize("kind", ["f32", "f64"])
def test_trunc_accuracy_and_bounds(alpha, beta, kind):
    prm = _params.trunc_normal(0.0, 1.0, alpha, beta, kind)
    if kind == "f32":
        ws = extreme_words32()[::4]
        tol = 1e-5
    else:
        ws = extreme_words64()[::8]
        tol = 1e-12
    z = _trunc[kind](ws, prm)
    exact = ref.std_trunc(ws, 64 if kind == "f64" else 32, alpha, beta)
    lo, hi = float(prm[2]), float(prm[3])
    assert z.min() >= lo and z.max() <= hi
    assert alpha <= lo and hi <= beta
    # where the clamp acted, the exact value lies outside the representable
    # range or within tolerance of it
    err = np.abs(z - np.clip(exact, lo, hi)) / np.maximum(1.0, np.abs(exact))
    assert err.max() <= tol, f"worst word {int(ws[err.argmax()])}: {z[err.argmax()]!r} vs {exact[err.argmax()]!r}"


def _f32_patterns(round_bit):
    """Every (sign, exponent, kept mantissa) with the dropped bits at each
    rounding case (zero, tiny, just below / at / above the half, all ones),
    plus a dense stride through all 2^32 patterns.  (The full 2^32 sweep
    passes too, but takes minutes: see bench/NOTES.md.)"""
    half = 1 << (round_bit - 1)
    lows = np.array([0, 1, half - 1, half, half + 1, (1 << round_bit) - 1], np.uint64)
    highs = np.arange(0, 1 << (32 - round_bit), dtype=np.uint64) << np.uint64(round_bit)
    bits = np.concatenate([(highs[:, None] | lows[None, :]).ravel(),
                           np.arange(0, 2**32, 997, dtype=np.uint64)])
    x = bits.astype(np.uint32).view(np.float32)
    keep = ~np.isnan(x)
    return bits[keep], x[keep]


@pytest.mark.parametrize("target", ["f16", "bf16"])
def test_16bit_rounding(target):
    """float32 -> float16 / bfloat16 bits against NumPy / ml_dtypes casts,
    subnormals, overflow to inf and ties to even included."""
    dtype = np.float16 if target == "f16" else ml_dtypes.bfloat16
    bits, x = _f32_patterns(13 if target == "f16" else 16)
    got = _encode(bits, target == "bf16")
    with np.errstate(over="ignore"):
        want = x.astype(dtype).view(np.uint16)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, f"{x[bad[0]]!r}: {got[bad[0]]:#06x} vs {want[bad[0]]:#06x}"


def test_interpreter_reproduces_jit_bits():
    """Run in the interpreter (as the CUDA simulator will), the math gives
    the compiled bits: fma is exact there, not a*b+c."""
    ws = np.concatenate([np.array([0, 1, 2**31 - 1, 2**31, 2**32 - 1], np.uint64),
                         np.random.default_rng(3).integers(0, 2**32, 300, dtype=np.uint64)])
    jit = _normal32(ws)
    interp = np.array([T.normal_f32(w) for w in ws], np.float32)
    np.testing.assert_array_equal(interp, jit)
    ms = np.concatenate([ws, ws << U64(32) | ws])
    np.testing.assert_array_equal(np.array([T.normal_f64(m) for m in ms]), _normal64(ms))
