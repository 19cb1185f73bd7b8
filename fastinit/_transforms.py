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

Words are uint64 holding 32-bit values (see ``_ops``).
"""
import math
from typing import NamedTuple

import numpy as np


from ._ops import bits_to_f32, bits_to_f64, f32_to_bits, f64_to_bits, f32_to_f16_native, fma, jitable, u32_to_f32

F32 = np.float32
F64 = np.float64
U64 = np.uint64

MASK32 = U64(0xFFFFFFFF)
MASK64 = U64(0xFFFFFFFFFFFFFFFF)
HALF32 = U64(1 << 31)          # words below this give z < 0
HALF64 = U64(1 << 63)
U1 = U64(1)
U2 = U64(2)
U8 = U64(8)
U11 = U64(11)
U13 = U64(13)
U16 = U64(16)
U23 = U64(23)
U52 = U64(52)

F32_ZERO = F32(0.0)
F32_ONE = F32(1.0)
F32_TWO = F32(2.0)
F32_HALF = F32(0.5)
TWO_M24 = F32(2.0 ** -24)      # uniform: (w >> 8) * 2^-24, exact, in [0, 1)
TWO_M33 = F32(2.0 ** -33)      # (w + 0.5) * 2^-32 = (2 w + 1) * 2^-33
TWO_M32 = F32(2.0 ** -32)
SQRT2_F32 = F32(math.sqrt(2.0))

F64_ONE = F64(1.0)
F64_TWO = F64(2.0)
F64_HALF = F64(0.5)
TWO_M53 = F64(2.0 ** -53)      # uniform: (m >> 11) * 2^-53, exact, in [0, 1)
TWO_M64 = F64(2.0 ** -64)
TWO_M65 = F64(2.0 ** -65)      # (m + 0.5) * 2^-64 = (2 m + 1) * 2^-65

# ----------------------------------------------------------------- logf
# Cephes logf (S. L. Moshier, cephes/single/logf.c): x = m 2^e with
# m in [sqrt(1/2), sqrt(2)), log(1 + f) = f - f^2/2 + f^3 P(f), and
# log 2 split as 0.693359375 - 2.12194440e-4.
LOGF_P = (F32(7.0376836292e-2), F32(-1.1514610310e-1), F32(1.1676998740e-1),
          F32(-1.2420140846e-1), F32(1.4249322787e-1), F32(-1.6668057665e-1),
          F32(2.0000714765e-1), F32(-2.4999993993e-1), F32(3.3333331174e-1))
LOGF_LN2_HI = F32(0.693359375)
LOGF_LN2_LO = F32(-2.12194440e-4)
#: The log's float constants in one tuple, the ``K`` of ``log_f32_k``.
LOGF_K = LOGF_P + (LOGF_LN2_LO, LOGF_LN2_HI, -F32_HALF, F32_ONE)
F32_MANT_MASK = U64(0x007FFFFF)
#: The bits of float32 sqrt(1/2), Cephes' SQRTHF; its exponent field is
#: 126, that of [0.5, 1).
LOGF_SQRTHF_BITS = U64(np.array(0.707106781186547524, np.float32).view(np.uint32))
LOGF_SPLIT = U64(1 << 31) - LOGF_SQRTHF_BITS    # bits + LOGF_SPLIT = bits - SQRTHF bits + 2^31
LOGF_EXP_OFFSET = F32(256.0)                    # 2^31 >> 23


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
# erfinv(x) / x as a polynomial in a per-branch argument of
# w = -log(1 - x^2).  Branches 1 and 2: M. Giles, "Approximating the erfinv
# function" (GPU Computing Gems Jade, 2011), single precision.  Branches 3
# and 4 (far tail, where Giles' branch 2 loses accuracy): fitted by
# tools/fit_erfinv_tail.py.  Padded with leading zeros to one length so that
# one Horner loop with per-lane coefficients serves every branch.
ERFINV_C1 = tuple(F32(c) for c in (   # w < 5: a = w - 2.5
    2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
    0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941))
ERFINV_C2 = tuple(F32(c) for c in (   # 5 <= w < 16: a = sqrt(w) - 3
    -0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
    0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682))
ERFINV_C3 = tuple(F32(c) for c in (   # 16 <= w < 36: a = sqrt(w) - 5
    0.0, 0.0,
    5.228866939432919e-06, -2.161828160751611e-05, 7.541410013800487e-05,
    -0.0002140260039595887, -0.00013856575242243707, 1.0103002786636353,
    4.8499064445495605))
ERFINV_C4 = tuple(F32(c) for c in (   # 36 <= w: a = sqrt(w) - 7.75
    0.0, 0.0,
    1.5837643729810225e-07, -8.038219903028221e-07, 1.92640618479345e-06,
    1.768354923115112e-05, -0.0004835947183892131, 1.007845163345337,
    7.625182151794434))
ERFINV_W1 = F32(5.0)
ERFINV_W2 = F32(16.0)
ERFINV_W3 = F32(36.0)
ERFINV_S1 = F32(2.5)
ERFINV_S2 = F32(3.0)
ERFINV_S3 = F32(5.0)
ERFINV_S4 = F32(7.75)


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


#: The central branch's float constants, the ``K`` of ``erfinv_sqrt2_central_k``.
ERFINV_CENTRAL_K = ERFINV_C1 + (ERFINV_S1, ERFINV_W1, SQRT2_F32)


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


# ----------------------------------------------------------------- float32 -> 16 bits
F16_SIGN = U64(0x80000000)
F16_F32_INF = U64(0x7F800000)
F16_MAX_IN = U64(143 << 23)        # |x| >= 65520: overflows to inf
F16_MIN_NORMAL_IN = U64(113 << 23)  # |x| < 2^-14: subnormal or zero in f16
F16_REBIAS = U64(0xC8000FFF)       # ((15 - 127) << 23) + 0xFFF, mod 2^32
F16_DENORM_MAGIC = F32(0.5)        # ((127 - 15) + (23 - 10) + 1) << 23
F16_DENORM_MAGIC_BITS = U64(0x3F000000)
F16_INF = U64(0x7C00)
F16_NAN = U64(0x7E00)
BF16_ROUND = U64(0x7FFF)
MASK16 = U64(0xFFFF)


@jitable
def f32_to_bf16_bits(x):
    """bfloat16 bits of x, rounded to nearest even (x finite or inf)."""
    b = f32_to_bits(x)
    return ((b + BF16_ROUND + ((b >> U16) & U1)) >> U16) & MASK16


@jitable
def f32_to_f16_bits(x):
    """float16 bits of x, rounded to nearest even, subnormals and overflow
    included (F. Giesen, "float_to_half_fast3_rtne", public domain)."""
    b = f32_to_bits(x)
    sign = b & F16_SIGN
    a = b ^ sign
    normal = (((a + F16_REBIAS + ((a >> U13) & U1)) & MASK32) >> U13) & MASK16
    sub = (f32_to_bits(bits_to_f32(a) + F16_DENORM_MAGIC) - F16_DENORM_MAGIC_BITS) & MASK16
    big = F16_NAN if a > F16_F32_INF else F16_INF
    h = big if a >= F16_MAX_IN else (sub if a < F16_MIN_NORMAL_IN else normal)
    return h | (sign >> U16)


# ----------------------------------------------------------------- log, float64
# fdlibm e_log.c (Sun Microsystems): log(1 + f) = f - hfsq + s (hfsq + R(z)),
# s = f / (2 + f), with its Lg1..Lg7 and the split of log 2.
LG1 = F64(6.666666666666735130e-01)
LG2 = F64(3.999999999940941908e-01)
LG3 = F64(2.857142874366239149e-01)
LG4 = F64(2.222219843214978396e-01)
LG5 = F64(1.818357216161805012e-01)
LG6 = F64(1.531383769920937332e-01)
LG7 = F64(1.479819860511658591e-01)
LN2_HI = F64(6.93147180369123816490e-01)
LN2_LO = F64(1.90821492927058770002e-10)
SQRTHF_F64 = F64(0.70710678118654752440)
F64_MANT_MASK = U64(0x000FFFFFFFFFFFFF)
F64_HALF_BITS = U64(0x3FE0000000000000)
F64_EXP_BIAS_M1 = F64(1022.0)


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
# Wichura, "Algorithm AS 241: The percentage points of the normal
# distribution", Applied Statistics 37 (1988), PPND16 (about 1e-16).
AS241_A = tuple(F64(c) for c in (
    2509.0809287301226727, 33430.575583588128105, 67265.770927008700853,
    45921.953931549871457, 13731.693765509461125, 1971.5909503065514427,
    133.14166789178437745, 3.387132872796366608))
AS241_B = tuple(F64(c) for c in (
    5226.495278852854561, 28729.085735721942674, 39307.89580009271061,
    21213.794301586595867, 5394.1960214247511077, 687.1870074920579083,
    42.313330701600911252, 1.0))
AS241_C = tuple(F64(c) for c in (
    7.7454501427834140764e-4, 0.0227238449892691845833, 0.24178072517745061177,
    1.27045825245236838258, 3.64784832476320460504, 5.7694972214606914055,
    4.6303378461565452959, 1.42343711074968357734))
AS241_D = tuple(F64(c) for c in (
    1.05075007164441684324e-9, 5.475938084995344946e-4, 0.0151986665636164571966,
    0.14810397642748007459, 0.68976733498510000455, 1.6763848301838038494,
    2.05319162663775882187, 1.0))
AS241_E = tuple(F64(c) for c in (
    2.01033439929228813265e-7, 2.71155556874348757815e-5, 0.0012426609473880784386,
    0.026532189526576123093, 0.29656057182850489123, 1.7848265399172913358,
    5.4637849111641143699, 6.6579046435011037772))
AS241_F = tuple(F64(c) for c in (
    2.04426310338993978564e-15, 1.4215117583164458887e-7, 1.8463183175100546818e-5,
    7.868691311456132591e-4, 0.0148753612908506148525, 0.13692988092273580531,
    0.59983220655588793769, 1.0))
AS241_SPLIT1 = F64(0.425)
AS241_CONST1 = F64(0.180625)
AS241_SPLIT2 = F64(5.0)
AS241_SHIFT_MID = F64(1.6)
AS241_SHIFT_FAR = F64(5.0)
F64_ZERO = F64(0.0)


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


#: The central branch's float constants, the ``K`` of ``_as241_central_k``
#: (as in ``log_f32_k``); the tail branches' 32 would not fit the registers.
AS241_CENTRAL_K = AS241_A + AS241_B + (AS241_CONST1, F64_HALF, AS241_SPLIT1)


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


# ----------------------------------------------------------------- element values
# One function per (family, distribution): word(s) + parameters -> value in
# the family's float type, scale and shift included.  ``prm`` is the
# distribution's record from ``fastinit._params``.
@jitable
def _scaled(z, prm):
    """mean + std * z (``_params.Normal`` or ``TruncNormal``)."""
    return fma(prm.std, z, prm.mean)


@jitable
def _scaled_clamped(z, prm):
    """mean + std * z clamped to [lo, hi] (``_params.TruncNormal``)."""
    return clamp(fma(prm.std, z, prm.mean), prm.lo, prm.hi)


@jitable
def value_uniform32(w, prm):
    return uniform_f32(w, prm.low, prm.scale)


@jitable
def value_normal32(w, prm):
    return _scaled(normal_f32(w), prm)


@jitable
def value_trunc32(w, prm):
    z = trunc_normal_f32(w, prm.all_lower, prm.threshold, prm.pl, prm.qb, prm.d)
    return _scaled_clamped(z, prm)


# Staged float32 normals (see ``_cpu``): the kernels run a task's elements
# through pre -> neg_log_f32_k -> post, one vectorised loop per stage, and
# redo the elements that post flags with the value function above.  The
# stages are value_normal32 / value_trunc32 cut in three: the same
# operations, so the same bits.  The last two take their float constants
# as an argument (``STAGED_NORMAL``, ``STAGED_TRUNC_NORMAL``).
@jitable
def pre_normal32(w, prm):
    return normal_pre_f32(w)


@jitable
def pre_trunc32(w, prm):
    return trunc_pre_f32(w, prm.all_lower, prm.threshold, prm.pl, prm.qb, prm.d)


@jitable
def post_normal32(x, w, prm, K):
    """(value_normal32, False), or (anything, True) for a far-tail element
    (``K``: ``ERFINV_CENTRAL_K``)."""
    z, far = erfinv_sqrt2_central_k(x, w, K)
    return _scaled(z, prm), far


@jitable
def post_trunc32(x, w, prm, K):
    z, far = erfinv_sqrt2_central_k(x, w, K)
    return _scaled_clamped(z, prm), far


# Staged float64 normals: pre -> post, p travels signed (p > 0, so its sign
# is the result's) and as it is.  AS241's central branch needs no log; post
# flags the 15% of elements outside it, which the kernels redo in full.
@jitable
def pre_normal64(m, prm):
    neg, p = _normal_p_f64(m)
    return (-p if neg else p), p


@jitable
def pre_trunc64(m, prm):
    lower, p = _trunc_p_f64(m, prm.all_lower, prm.threshold, prm.pl, prm.qb, prm.d)
    return (-p if lower else p), p


@jitable
def _post64(sp, p, K):
    num, den, outside = _as241_central_k(p, K)
    z = num / den
    return (-z if sp < F64_ZERO else z), outside


@jitable
def post_normal64(sp, p, prm, K):
    """(value_normal64, False), or (anything, True) outside AS241's central
    branch (``K``: ``AS241_CENTRAL_K``)."""
    z, far = _post64(sp, p, K)
    return _scaled(z, prm), far


@jitable
def post_trunc64(sp, p, prm, K):
    z, far = _post64(sp, p, K)
    return _scaled_clamped(z, prm), far


@jitable
def value_uniform64(m, prm):
    return uniform_f64(m, prm.low, prm.scale)


@jitable
def value_normal64(m, prm):
    return _scaled(normal_f64(m), prm)


@jitable
def value_trunc64(m, prm):
    z = trunc_normal_f64(m, prm.all_lower, prm.threshold, prm.pl, prm.qb, prm.d)
    return _scaled_clamped(z, prm)


@jitable
def encode_identity(x):
    return x


@jitable
def encode_f16(x):
    return np.uint16(f32_to_f16_bits(x))


@jitable
def encode_f16_native(x):
    """``encode_f16`` by the hardware conversion (the same bits: both are
    IEEE round to nearest even); only where ``_ops.native_f16()``."""
    return np.uint16(f32_to_f16_native(x))


@jitable
def encode_bf16(x):
    return np.uint16(f32_to_bf16_bits(x))


# ----------------------------------------------------------------- per distribution
# The element value of a distribution in each family ("32", "64"): word (or
# 64-bit m) and parameters -> value in the family's float type.  The
# registry (``_distributions``) hands them to every target.
VALUE_UNIFORM = {"32": value_uniform32, "64": value_uniform64}
VALUE_NORMAL = {"32": value_normal32, "64": value_normal64}
VALUE_TRUNC_NORMAL = {"32": value_trunc32, "64": value_trunc64}


class Stages(NamedTuple):
    """A value cut in stages (see ``_cpu``): ``pre(w, prm)`` -> (x, a);
    ``mid(a, mid_k)`` -> a, or None; ``post(x, a, prm, post_k)`` ->
    (value, flag), the flag set on the rare elements whose value must be
    recomputed with the value function.  ``mid_k`` and ``post_k`` are the stages'
    float constants, which CPU kernels hand in as runtime values
    (``_ops.runtime_value``) and other callers as they are."""
    pre: object
    mid: object
    post: object
    mid_k: tuple
    post_k: tuple


#: The same values as ``VALUE_NORMAL`` and ``VALUE_TRUNC_NORMAL``, cut in stages.
STAGED_NORMAL = {"32": Stages(pre_normal32, neg_log_f32_k, post_normal32, LOGF_K, ERFINV_CENTRAL_K),
                 "64": Stages(pre_normal64, None, post_normal64, (), AS241_CENTRAL_K)}
STAGED_TRUNC_NORMAL = {"32": Stages(pre_trunc32, neg_log_f32_k, post_trunc32, LOGF_K, ERFINV_CENTRAL_K),
                       "64": Stages(pre_trunc64, None, post_trunc64, (), AS241_CENTRAL_K)}
