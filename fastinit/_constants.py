"""The transforms' named constants and coefficient tables (``_transforms``).

Each table names its source: Cephes' logf, M. Giles' erfinv (and the tail
branches fitted by tools/fit_erfinv_tail.py), fdlibm's log, Wichura's AS 241.
Kept apart from the functions so that the math reads as math.
"""
import math

import numpy as np

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

#: The central branch's float constants, the ``K`` of ``erfinv_sqrt2_central_k``.
ERFINV_CENTRAL_K = ERFINV_C1 + (ERFINV_S1, ERFINV_W1, SQRT2_F32)

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


#: The central branch's float constants, the ``K`` of ``_as241_central_k``
#: (as in ``log_f32_k``); the tail branches' 32 would not fit the registers.
AS241_CENTRAL_K = AS241_A + AS241_B + (AS241_CONST1, F64_HALF, AS241_SPLIT1)
