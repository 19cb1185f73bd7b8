"""Words -> floats against the contract's tolerances, on chosen words.

The transforms are called directly (jitted), so the extreme words 0, 1,
2^31 - 1, 2^31, 2^32 - 1 and their neighbours are covered whatever Philox
happens to produce.
"""
import math
import ml_dtypes
import numba
import numpy as np
import pytest
from scipy.special import ndtri

import reference as ref
import fastinit as fi
from fastinit import _params
from fastinit._ops import native_f16
from fastinit import _constants as C, _encode as E, _transforms as T, _values as V

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
_trunc = {"f32": _mapper(V.value_trunc32, np.float64, with_params=True),
          "f64": _mapper(V.value_trunc64, np.float64, with_params=True)}


def _encoder(encode):
    def apply(bits):
        out = np.empty(bits.shape[0], np.uint16)
        for i in numba.prange(bits.shape[0]):
            out[i] = encode(T.bits_to_f32(bits[i]))
        return out
    return numba.njit(parallel=True)(apply)


_ENCODE = {"f16": _encoder(E.encode_f16), "bf16": _encoder(E.encode_bf16)}
if native_f16():
    _ENCODE["f16_native"] = _encoder(E.encode_f16_native)


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


@pytest.mark.parametrize("target", ["f16", "bf16", "f16_native"])
def test_16bit_rounding(target):
    """float32 -> float16 / bfloat16 bits against NumPy / ml_dtypes casts,
    subnormals, overflow to inf and ties to even included.  ``f16_native``
    is the F16C conversion the kernels use where the CPU has it; the
    integer version stays the reference (and serves other CPUs)."""
    if target not in _ENCODE:
        pytest.skip("numba's CPU target has no F16C here (NUMBA_CPU_NAME / NUMBA_CPU_FEATURES or the CPU)")
    dtype = ml_dtypes.bfloat16 if target == "bf16" else np.float16
    bits, x = _f32_patterns(16 if target == "bf16" else 13)
    got = _ENCODE[target](bits)
    with np.errstate(over="ignore"):
        want = x.astype(dtype).view(np.uint16)
    bad = np.nonzero(got != want)[0]
    assert bad.size == 0, f"{x[bad[0]]!r}: {got[bad[0]]:#06x} vs {want[bad[0]]:#06x}"


@numba.njit(parallel=True)
def _native_f16_mismatches(lo, hi):
    bad = 0
    for i in numba.prange(lo, hi):
        x = T.bits_to_f32(U64(i))
        if x == x and E.encode_f16_native(x) != E.encode_f16(x):   # NaN: never drawn
            bad += 1
    return bad


@pytest.mark.skipif(not native_f16(), reason="numba's CPU target has no F16C here")
def test_native_f16_equals_the_integer_rounding_on_every_float32():
    """All 2^32 patterns but NaN (about 2 s): the F16C conversion the kernels
    use writes the bits of the integer rounding checked above."""
    assert sum(_native_f16_mismatches(c << 28, (c + 1) << 28) for c in range(16)) == 0


@numba.njit
def _log_f32_cephes(x):
    """Cephes' logf as written there: m in [0.5, 1) from the bits, doubled
    (and the exponent lowered) below sqrt(1/2) by a compare and a select."""
    bits = T.f32_to_bits(x)
    fe = T.u32_to_f32(bits >> U64(23)) - np.float32(126.0)
    m = T.bits_to_f32((bits & U64(0x007FFFFF)) | U64(0x3F000000))
    small = m < np.float32(0.707106781186547524)
    m = m + m if small else m
    fe = fe - np.float32(1.0) if small else fe
    f = m - np.float32(1.0)
    z = f * f
    P = C.LOGF_P
    y = P[0]
    for k in range(1, 9):
        y = T.fma(y, f, P[k])
    y = (y * f) * z
    y = T.fma(fe, C.LOGF_LN2_LO, y)
    y = T.fma(-np.float32(0.5), z, y)
    r = f + y
    return T.fma(fe, C.LOGF_LN2_HI, r)


@numba.njit(parallel=True)
def _log_mismatches(lo, hi):
    bad = 0
    for i in numba.prange(lo, hi):
        x = T.bits_to_f32(U64(i))
        if T.f32_to_bits(T.log_f32(x)) != T.f32_to_bits(_log_f32_cephes(x)):
            bad += 1
    return bad


def test_log_f32_is_cephes_on_every_positive_normal_float32():
    """``log_f32`` splits the mantissa with integer operations; Cephes with
    a compare and a select.  The same bits on all 2^31 - 2^24 positive
    normal float32 (about 5 s), so on every argument the kernels pass."""
    lo, hi = 0x00800000, 0x7F800000
    step = 1 << 26
    assert sum(_log_mismatches(a, min(a + step, hi)) for a in range(lo, hi, step)) == 0


GENERIC_CPU_SCRIPT = """
import numpy as np, fastinit as fi
from fastinit import _ops
a = np.empty((2, 5000), np.float16)
fi.normal_(a[0], seed=3, std=1e-5)      # subnormals
fi.uniform_(a[1], 65400.0, 65519.0, seed=3)   # the top: [65504, 65520) rounds down, not to inf
print(_ops.native_f16(), a.view(np.uint16).tobytes().hex())
"""


def test_float16_kernels_without_f16c(tmp_path):
    """NUMBA_CPU_NAME=generic (portable caches) compiles without F16C, where
    LLVM's float16 conversion is a call numba cannot link (a fatal LLVM
    error): the kernels then use the integer rounding, with the same bits."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", GENERIC_CPU_SCRIPT], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    native, bits = r.stdout.split()
    assert native == "False"
    a = np.empty((2, 5000), np.float16)
    fi.normal_(a[0], seed=3, std=1e-5)
    fi.uniform_(a[1], 65400.0, 65519.0, seed=3)
    assert (a[1] == 65504).any() and (a[1] < 65504).any() and np.isfinite(a[1]).all()
    assert (np.abs(a[0]) < np.finfo(np.float16).tiny).any()
    assert bits == a.view(np.uint16).tobytes().hex()


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


def test_interpreter_fma_is_exact_also_on_float32_ties():
    """The interpreter's float32 fma (float64 + TwoSum, used by the CUDA
    simulator) against exact rational arithmetic, on random triples and on
    sums built to land on a float32 midpoint with a small error, where one
    rounding in float64 and another to float32 would be wrong."""
    from fastinit._ops import fma, fma_exact
    F = np.float32
    rng = np.random.default_rng(0)
    n = 4000
    a = rng.standard_normal(n).astype(F) * F(2.0) ** rng.integers(-30, 30, n).astype(F)
    b = rng.standard_normal(n).astype(F)
    c = rng.standard_normal(n).astype(F) * F(2.0) ** rng.integers(-30, 30, n).astype(F)
    triples = list(zip(a, b, c))
    for _ in range(n):
        x = F(1.0 + rng.integers(1, 2**23) * 2.0**-23)
        y = F(1.0 + rng.integers(1, 2**23) * 2.0**-23)
        p = float(x) * float(y)
        z = F(float(F(p)) + 2.0**-24 * 2.0 ** math.floor(math.log2(p)) - p)   # p + z near a midpoint
        triples += [(x, y, z), (x, y, np.nextafter(z, F(1))), (x, y, np.nextafter(z, F(-1)))]
    got = np.array([fma(*t) for t in triples], F)
    want = np.array([fma_exact(*t) for t in triples], F)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    # the midpoint construction matters: one float64 rounding then float32 differs somewhere
    naive = np.array([F(float(x) * float(y) + float(z)) for x, y, z in triples], F)
    assert (naive.view(np.uint32) != want.view(np.uint32)).any()
