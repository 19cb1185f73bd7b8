"""Host-side parameter preparation: user numbers -> the kernels' ``prm`` records.

Each distribution's parameters travel to the kernels as one named record
(a NamedTuple, which numba compiles as a tuple with named fields), so the
math reads ``prm.std``, not ``prm[1]``.  The contract does the arithmetic in
the family's float type, so parameters are rounded to that type here, once
(docs/contract.md, "Clarifications").
"""
import functools
import math
from typing import NamedTuple

import numpy as np

from ._dtypes import KINDS, numpy_dtype


class Uniform(NamedTuple):
    """x = low + scale u."""
    low: float
    scale: float            # high - low


class Normal(NamedTuple):
    """x = mean + std z."""
    mean: float
    std: float


class TruncNormal(NamedTuple):
    """x = clamp(mean + std z, lo, hi), z drawn by inversion between the
    standardised bounds (``_transforms.trunc_normal_f32``)."""
    mean: float
    std: float
    lo: float               # a and b rounded inward to the target dtype
    hi: float
    all_lower: bool         # every word takes the lower-tail formula
    threshold: np.uint64    # words below it take the lower-tail formula
    pl: float               # Phi(alpha)
    qb: float               # Q(beta) = 1 - Phi(beta)
    d: float                # the mass of [alpha, beta]


class Constant(NamedTuple):
    """Every element ``value`` (in the family's float type, encoded at the store)."""
    value: float


def ftype(kind):
    """The family's float type of a dtype kind (its ``compute`` type)."""
    return KINDS[kind].compute


def to_family(x, kind, name):
    with np.errstate(over="ignore"):
        v = ftype(kind)(x)
    if not np.isfinite(v):
        raise ValueError(f"{name}={x!r} does not fit in {np.dtype(ftype(kind)).name}")
    return v


# cached: models call with the same few parameter sets thousands of times
@functools.lru_cache(maxsize=4096)
def uniform(low, high, kind):
    lo = to_family(low, kind, "low")
    hi = to_family(high, kind, "high")
    with np.errstate(over="ignore"):
        scale = hi - lo
    if not np.isfinite(scale):
        raise ValueError(f"high - low = {high!r} - {low!r} overflows {np.dtype(ftype(kind)).name}")
    return Uniform(lo, scale)


# cached: models call with the same few parameter sets thousands of times
@functools.lru_cache(maxsize=4096)
def normal(mean, std, kind):
    return Normal(to_family(mean, kind, "mean"), to_family(std, kind, "std"))


def _phi(x):
    """Standard normal CDF, accurate in both tails."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _q(x):
    return 0.5 * math.erfc(x / math.sqrt(2.0))


#: Smallest probability mass of [a, b] the kernels resolve (their inverse CDF
#: covers p down to about 1e-38 in float32, 1e-300 in float64).
MIN_MASS = {"32": 1e-28, "64": 1e-290}


def _decode16(h, kind):
    return np.float32(np.array(np.uint16(h)).view(numpy_dtype(kind))[()])


def _step16(h, up):
    """The next 16-bit pattern up / down in value (sign-magnitude order)."""
    o = -(h & 0x7FFF) if h & 0x8000 else h
    o += 1 if up else -1
    return o if o >= 0 else 0x8000 | -o


def representable_bound(x, kind, up):
    """The smallest (``up``) or largest value of the target dtype that is
    >= x (``up``) or <= x, as a value of the family's float type."""
    if KINDS[kind].family == "64":
        return np.float64(x)
    v = np.float32(x)
    if up and float(v) < x:
        v = np.nextafter(v, np.float32(np.inf))
    if not up and float(v) > x:
        v = np.nextafter(v, np.float32(-np.inf))
    if not KINDS[kind].sixteen_bit:
        return v
    h = int(KINDS[kind].encode(v))
    if (_decode16(h, kind) < v) if up else (_decode16(h, kind) > v):
        h = _step16(h, up)
    return _decode16(h, kind)


# cached: models call with the same few parameter sets thousands of times
@functools.lru_cache(maxsize=4096)
def trunc_normal(mean, std, a, b, kind):
    family = KINDS[kind].family
    F = ftype(kind)
    alpha = (a - mean) / std
    beta = (b - mean) / std
    pl, qb = _phi(alpha), _q(beta)
    if alpha >= 0:
        d = _q(alpha) - qb
    elif beta <= 0:
        d = _phi(beta) - pl
    else:
        d = 1.0 - pl - qb
    if not d >= MIN_MASS[family]:
        raise ValueError(
            f"[a, b] = [{a!r}, {b!r}] holds probability {d:.3g} of normal({mean!r}, {std!r}), below the "
            f"{MIN_MASS[family]:g} this dtype can resolve; move the bounds toward the mean")
    nbits = 64 if family == "64" else 32
    uc = (0.5 - pl) / d                 # u below uc: the lower-tail formula
    all_lower = uc >= 1.0
    t = min(max(math.ceil(uc * 2.0 ** nbits - 0.5), 0), 2 ** nbits - 1)
    lo = representable_bound(a, kind, up=True)
    hi = representable_bound(b, kind, up=False)
    if lo > hi:
        raise ValueError(f"no {kind} value lies in [a, b] = [{a!r}, {b!r}]")
    return TruncNormal(to_family(mean, kind, "mean"), to_family(std, kind, "std"), F(lo), F(hi),
                       bool(all_lower), np.uint64(t), F(pl), F(qb), F(d))


# cached: models call with the same few parameter sets thousands of times
@functools.lru_cache(maxsize=4096)
def constant(value, kind):
    """Every element ``value``, in the family's float type; the kernels
    encode it (16-bit kinds: the float32 value rounded to nearest even, the
    contract's rule), and here it is checked to fit."""
    k = KINDS[kind]
    v = to_family(value, kind, "value")
    if k.sixteen_bit and int(k.encode(v)) & 0x7FFF == k.inf_bits:
        raise ValueError(f"value={value!r} does not fit in {k.name}")
    return Constant(v)
