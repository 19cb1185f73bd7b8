"""Compute value -> stored bits: float32 rounded once to float16 or bfloat16
(round to nearest even), written with integer operations only, and the
encoders of the dtype kinds (``_dtypes.Kind.encode``).  Target-neutral, as
``_transforms``.
"""
import numpy as np

from ._constants import F32, MASK32, U1, U13, U16, U64
from ._ops import bits_to_f32, f32_to_bits, f32_to_f16_native, jitable


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
