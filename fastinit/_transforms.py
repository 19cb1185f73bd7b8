"""Words -> floats, target-neutral (contract section 3).

Everything here is written once and compiled for every target (the CPU and
numba-cuda) and also runs unchanged in the interpreter.  Rules that
keep the bits identical across targets:

* no libm transcendental in the value path: the logarithms are our own;
* every product that feeds an addition or subtraction is an explicit
  ``fma``: NVVM and ptxas contract ``a * b + c`` by default and the CPU
  target never does, so a plain ``a * b + c`` would give different bits;
* only IEEE ``sqrt`` and division, and exact integer -> float conversions
  or conversions with one rounding (``float(uint64)``);
* branches are written as selects on values that are all finite, so
  vectorised code may evaluate both sides.

Words are uint64 holding 32-bit values (see ``_ops``).  The constants and
coefficient tables are ``_constants``'; the values of each distribution,
built from these, are ``_values``'; the stored bits of the narrow dtypes,
``_encode``'.
"""
import math

from ._constants import (
    AS241_C, AS241_CENTRAL_K, AS241_D, AS241_E, AS241_F, AS241_SHIFT_FAR, AS241_SHIFT_MID, AS241_SPLIT2,
    ERFINV_C1, ERFINV_C2, ERFINV_C3, ERFINV_C4, ERFINV_S1, ERFINV_S2, ERFINV_S3, ERFINV_S4, ERFINV_W1, ERFINV_W2,
    ERFINV_W3, F32, F32_MANT_MASK, F32_ONE, F32_TWO, F64, F64_EXP_BIAS_M1, F64_HALF, F64_HALF_BITS, F64_MANT_MASK,
    F64_ONE, F64_TWO, HALF32, HALF64, LG1, LG2, LG3, LG4, LG5, LG6, LG7, LN2_HI, LN2_LO, LOGF_EXP_OFFSET, LOGF_K,
    LOGF_SPLIT, LOGF_SQRTHF_BITS, MASK32, MASK64, SQRT2_F32, SQRTHF_F64, TWO_M24, TWO_M32, TWO_M33, TWO_M53,
    TWO_M64, TWO_M65, U1, U2, U8, U11, U23, U52)
from ._ops import bits_to_f32, bits_to_f64, f32_to_bits, f64_to_bits, fma, jitable, u32_to_f32


# ----------------------------------------------------------------- logf
# Cephes logf (``_constants.LOGF_P``).
@jitable
def _horner9(c, x):
    """The polynomial whose coefficients, highest degree first, are the
    first nine entries of the tuple ``c``, at x, by Horner with fmas.  It
    starts at c[0]: fma(0, x, c[0]) would be c[0] for a finite x.
    (Constant indices: a loop over a tuple does not vectorise.)"""
    y = c[0]
    y = fma(y, x, c[1])
    y = fma(y, x, c[2])
    y = fma(y, x, c[3])
    y = fma(y, x, c[4])
    y = fma(y, x, c[5])
    y = fma(y, x, c[6])
    y = fma(y, x, c[7])
    return fma(y, x, c[8])


@jitable
def log_f32_k(x, K):
    """Natural log of a positive, normal float32 (about 1 ulp), with the
    float constants ``K`` (``LOGF_K``; ``log_f32`` passes them, CPU kernels
    pass them as runtime values: ``_ops.runtime_value``).

    Cephes scales the mantissa m to [0.5, 1) and doubles it, taking 1 from
    the exponent, where m < sqrt(1/2).  The same m and exponent come from
    integer operations: subtracting the bits of sqrt(1/2) borrows from the
    exponent field exactly where m is doubled, and the mantissa field plus
    those bits is m or 2m.  (The 2^31 added keeps the difference unsigned.)
    Both f = m - 1 and the exponent are exact, so the bits are Cephes'
    (tests/test_transforms.py checks every positive normal float32); the
    dependency chain is shorter by a compare and a select.
    """
    ln2_lo, ln2_hi, minus_half, one = K[9], K[10], K[11], K[12]
    ix = (f32_to_bits(x) + LOGF_SPLIT) & MASK32
    fe = u32_to_f32(ix >> U23) - LOGF_EXP_OFFSET
    f = bits_to_f32((ix & F32_MANT_MASK) + LOGF_SQRTHF_BITS) - one
    z = f * f
    y = _horner9(K, f)
    y = (y * f) * z
    y = fma(fe, ln2_lo, y)
    y = fma(minus_half, z, y)
    r = f + y
    return fma(fe, ln2_hi, r)


@jitable
def log_f32(x):
    """Natural log of a positive, normal float32 (``log_f32_k``)."""
    return log_f32_k(x, LOGF_K)


# ----------------------------------------------------------------- Phi^-1, float32
# erfinv by branches of w = -log(1 - x^2) (``_constants.ERFINV_C1``...).
@jitable
def _pick(b1, b2, b3, v1, v2, v3, v4):
    if b1:
        return v1
    if b2:
        return v2
    if b3:
        return v3
    return v4


@jitable
def _x_and_arg(neg, two_p):
    """x = +-(1 - 2p), signed as the result will be, and 4p(1 - p) = 1 - x^2
    (formed from p without cancellation), whose -log is Giles' w."""
    x = F32_ONE - two_p
    return (-x if neg else x), two_p * (F32_TWO - two_p)


@jitable
def neg_log_f32_k(a, K):
    return -log_f32_k(a, K)


@jitable
def neg_log_f32(a):
    return neg_log_f32_k(a, LOGF_K)


@jitable
def erfinv_sqrt2_f32(x, w):
    """sqrt(2) erfinv(x) from x and w = -log(1 - x^2).

    For x = +-(1 - 2p) this is -+Phi^-1(p), most accurate for p <= 1/2.  The
    sign rides on x: (r x) sqrt2 is exactly negated with x.
    """
    b1 = w < ERFINV_W1
    b2 = w < ERFINV_W2
    b3 = w < ERFINV_W3
    s = math.sqrt(w)
    a = _pick(b1, b2, b3, w - ERFINV_S1, s - ERFINV_S2, s - ERFINV_S3, s - ERFINV_S4)
    # Horner with per-lane coefficients (constant indices: loops over tuples
    # do not vectorise); its first step from 0, fma(0, a, c0), is c0 itself
    # for a finite a
    r = _pick(b1, b2, b3, ERFINV_C1[0], ERFINV_C2[0], ERFINV_C3[0], ERFINV_C4[0])
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[1], ERFINV_C2[1], ERFINV_C3[1], ERFINV_C4[1]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[2], ERFINV_C2[2], ERFINV_C3[2], ERFINV_C4[2]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[3], ERFINV_C2[3], ERFINV_C3[3], ERFINV_C4[3]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[4], ERFINV_C2[4], ERFINV_C3[4], ERFINV_C4[4]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[5], ERFINV_C2[5], ERFINV_C3[5], ERFINV_C4[5]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[6], ERFINV_C2[6], ERFINV_C3[6], ERFINV_C4[6]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[7], ERFINV_C2[7], ERFINV_C3[7], ERFINV_C4[7]))
    r = fma(r, a, _pick(b1, b2, b3, ERFINV_C1[8], ERFINV_C2[8], ERFINV_C3[8], ERFINV_C4[8]))
    return (r * x) * SQRT2_F32


@jitable
def erfinv_sqrt2_central_k(x, w, K):
    """(erfinv_sqrt2_f32(x, w), False) where Giles' central branch (w < 5)
    serves, else (something, True); ``K``: ``ERFINV_CENTRAL_K``, as in
    ``log_f32_k``.

    The same operations as ``erfinv_sqrt2_f32`` on its first branch, so the
    same bits, without the square root and the per-lane coefficient selects
    that the other 0.34% of normal draws need.  Kernels use it on a first
    pass and redo the flagged elements in full.
    """
    s1, w1, sqrt2 = K[9], K[10], K[11]
    r = _horner9(K, w - s1)
    return (r * x) * sqrt2, w >= w1


@jitable
def uniform_f32(w, low, scale):
    """low + (high - low) * u, u = (w >> 8) 2^-24."""
    return fma(scale, u32_to_f32(w >> U8) * TWO_M24, low)


@jitable
def _normal_p_f32(w):
    """(w < 2^31, 2p), p in (0, 1/2): z = Phi^-1(p) if the first else -Phi^-1(p).

    2p = (2 wp + 1) 2^-32, the exact double of p = (2 wp + 1) 2^-33: one
    multiplication, not p and then p + p (same bits, shorter dependency
    chain)."""
    neg = w < HALF32
    wp = w if neg else w ^ MASK32                 # min(w, ~w) < 2^31
    return neg, u32_to_f32(wp * U2 + U1) * TWO_M32


@jitable
def normal_pre_f32(w):
    """Signed x and the log argument (``_x_and_arg``) of word w's normal."""
    neg, two_p = _normal_p_f32(w)
    return _x_and_arg(neg, two_p)


@jitable
def normal_f32(w):
    """z = Phi^-1((w + 0.5) 2^-32), exactly antisymmetric under w -> ~w."""
    x, a = normal_pre_f32(w)
    return erfinv_sqrt2_f32(x, neg_log_f32(a))


@jitable
def _trunc_p_f32(w, all_lower, threshold, pl, qb, d):
    lower = all_lower or w < threshold
    # u from w below the median, 1 - u from its complement above: the word
    # is picked first, so one conversion serves both tails
    t = F32((w if lower else w ^ MASK32) * U2 + U1) * TWO_M33
    return lower, fma(t, d, pl if lower else qb)


@jitable
def trunc_pre_f32(w, all_lower, threshold, pl, qb, d):
    """Signed x and the log argument (``_x_and_arg``) of word w's truncated
    normal."""
    lower, p = _trunc_p_f32(w, all_lower, threshold, pl, qb, d)
    return _x_and_arg(lower, p + p)


@jitable
def trunc_normal_f32(w, all_lower, threshold, pl, qb, d):
    """Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))), u = (w + 0.5) 2^-32.

    Below the median (``w < threshold``) the lower-tail probability
    ``Phi(alpha) + u D`` is formed, above it the upper-tail probability
    ``Q(beta) + (1 - u) D`` (with 1 - u from the complement word), each with
    one fma, so both tails keep their relative precision.
    """
    x, a = trunc_pre_f32(w, all_lower, threshold, pl, qb, d)
    return erfinv_sqrt2_f32(x, neg_log_f32(a))


@jitable
def clamp(x, lo, hi):
    x = lo if x < lo else x
    return hi if x > hi else x


# ----------------------------------------------------------------- log, float64
# fdlibm's e_log.c (``_constants.LG1``...).
@jitable
def log_f64(x):
    """Natural log of a positive, normal float64 (about 1 ulp)."""
    bits = f64_to_bits(x)
    dk = F64(bits >> U52) - F64_EXP_BIAS_M1
    m = bits_to_f64((bits & F64_MANT_MASK) | F64_HALF_BITS)      # [0.5, 1)
    small = m < SQRTHF_F64
    m = m + m if small else m
    dk = dk - F64_ONE if small else dk
    f = m - F64_ONE
    s = f / (F64_TWO + f)
    z = s * s
    w = z * z
    t2 = z * fma(w, fma(w, fma(w, LG7, LG5), LG3), LG1)
    r = fma(w, fma(w, fma(w, LG6, LG4), LG2), t2)      # t1 + t2
    h = F64_HALF * f
    a = fma(h, f, r)                                    # hfsq + R
    b = fma(s, a, dk * LN2_LO)
    c = fma(h, f, -b)                                   # hfsq - b
    return fma(dk, LN2_HI, -(c - f))


# ----------------------------------------------------------------- Phi^-1, float64
# Wichura's AS 241, PPND16 (``_constants.AS241_A``...).
@jitable
def _as241_far_ratio(t, mid):
    """Numerator and denominator of AS241's tail branches at t = sqrt(-log p)."""
    a = t - AS241_SHIFT_MID if mid else t - AS241_SHIFT_FAR
    num = AS241_C[0] if mid else AS241_E[0]       # fma(0, a, c) is c for a finite a
    den = AS241_D[0] if mid else AS241_F[0]
    num = fma(num, a, AS241_C[1] if mid else AS241_E[1])
    den = fma(den, a, AS241_D[1] if mid else AS241_F[1])
    num = fma(num, a, AS241_C[2] if mid else AS241_E[2])
    den = fma(den, a, AS241_D[2] if mid else AS241_F[2])
    num = fma(num, a, AS241_C[3] if mid else AS241_E[3])
    den = fma(den, a, AS241_D[3] if mid else AS241_F[3])
    num = fma(num, a, AS241_C[4] if mid else AS241_E[4])
    den = fma(den, a, AS241_D[4] if mid else AS241_F[4])
    num = fma(num, a, AS241_C[5] if mid else AS241_E[5])
    den = fma(den, a, AS241_D[5] if mid else AS241_F[5])
    num = fma(num, a, AS241_C[6] if mid else AS241_E[6])
    den = fma(den, a, AS241_D[6] if mid else AS241_F[6])
    num = fma(num, a, AS241_C[7] if mid else AS241_E[7])
    den = fma(den, a, AS241_D[7] if mid else AS241_F[7])
    return num, den


@jitable
def neg_log_f64(p):
    return -log_f64(p)


@jitable
def _as241_central_k(p, K):
    """AS241's central branch for p in (0, 1/2]: the numerator and the
    denominator of -Phi^-1(p), and whether p lies outside the branch
    (p < 0.075, 15% of normal draws), where they are not the value.  No
    logarithm.  ``K``: ``AS241_CENTRAL_K``."""
    (a0, a1, a2, a3, a4, a5, a6, a7, b0, b1, b2, b3, b4, b5, b6, b7,
     const1, half, split1) = K
    q = p - half
    r = fma(-q, q, const1)
    # Horner from the first coefficients: fma(0, r, c) is c for a finite r
    num = a0
    den = b0
    num = fma(num, r, a1)
    den = fma(den, r, b1)
    num = fma(num, r, a2)
    den = fma(den, r, b2)
    num = fma(num, r, a3)
    den = fma(den, r, b3)
    num = fma(num, r, a4)
    den = fma(den, r, b4)
    num = fma(num, r, a5)
    den = fma(den, r, b5)
    num = fma(num, r, a6)
    den = fma(den, r, b6)
    num = fma(num, r, a7)
    den = fma(den, r, b7)
    # -(a / b) == (-a) / b exactly: one division serves every branch
    return -(q * num), den, -q > split1


@jitable
def tail_f64(p):
    """-Phi^-1(p) for p in (0, 1/2]."""
    num_c, den_c, outside = _as241_central_k(p, AS241_CENTRAL_K)
    t = math.sqrt(neg_log_f64(p))
    num, den = _as241_far_ratio(t, t <= AS241_SPLIT2)
    return (num if outside else num_c) / (den if outside else den_c)


@jitable
def uniform_f64(m, low, scale):
    """low + (high - low) * u, u = (m >> 11) 2^-53."""
    return fma(scale, F64(m >> U11) * TWO_M53, low)


@jitable
def _normal_p_f64(m):
    neg = m < HALF64
    mp = m if neg else m ^ MASK64
    return neg, F64(mp * U2 + U1) * TWO_M65


@jitable
def normal_f64(m):
    """z = Phi^-1((m + 0.5) 2^-64), exactly antisymmetric under m -> ~m."""
    neg, p = _normal_p_f64(m)
    z = tail_f64(p)
    return -z if neg else z


@jitable
def _trunc_p_f64(m, all_lower, threshold, pl, qb, d):
    lower = all_lower or m < threshold
    t = fma(F64(m if lower else m ^ MASK64), TWO_M64, TWO_M65)      # as in _trunc_p_f32
    return lower, fma(t, d, pl if lower else qb)


@jitable
def trunc_normal_f64(m, all_lower, threshold, pl, qb, d):
    """The float64 twin of ``trunc_normal_f32``, u = (m + 0.5) 2^-64."""
    lower, p = _trunc_p_f64(m, all_lower, threshold, pl, qb, d)
    z = tail_f64(p)
    return -z if lower else z

