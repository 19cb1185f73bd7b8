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

from . import _values
from ._constants import MASK32, MASK64
from ._ops import fma
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


def cached(fn):
    """``functools.lru_cache`` (4096 entries) that tells -0.0 from 0.0: they
    are equal and hash alike, so a plain cache would hand the record of
    whichever came first to both, and the bits written would depend on the
    order of calls.  Calls with a -0.0 argument (rare) bypass the cache, so
    it only ever holds records of +0.0."""
    inner = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def call(*args):
        if 0.0 in args:
            for a in args:
                if a == 0 and math.copysign(1.0, a) < 0:
                    return fn(*args)
        return inner(*args)
    call.cache_clear = inner.cache_clear
    return call


def ftype(kind):
    """The family's float type of a dtype kind (its ``compute`` type)."""
    return KINDS[kind].compute


def to_family(x, kind, name):
    with np.errstate(over="ignore"):
        v = ftype(kind)(x)
    if not np.isfinite(v):
        raise ValueError(f"{name}={x!r} does not fit in {np.dtype(ftype(kind)).name}")
    return v


# ----------------------------------------------------------------- what may be written
# One rule for every filler and dtype (docs/contract.md, "Values that do
# not fit"): a parameter set is refused when some element the kernel could
# write would not be finite in the buffer's dtype.  The kernel's extreme
# values come from its own value functions at the extreme words, where its
# smallest and largest values lie (for the float32 normal, checked over all
# 2^32 words: the approximations wobble locally, never past the ends), so
# the line is exact: a refused call could write an infinity for some seed,
# an accepted one never does.

#: Extreme words of each family: the smallest and largest value a uniform
#: or a normal takes (w = 0 and w = 2^32 - 1; float64: m = 0 and 2^64 - 1).
_WORDS = {"32": (np.uint64(0), MASK32), "64": (np.uint64(0), MASK64)}


#: The unit variates whose extremes bound every value: u, the uniform on
#: [0, 1), and z, the standard normal, each by the kernels' own value
#: functions (by family) with the unit parameters (exact: scale 1, shift 0).
_UNIT = {"u": (_values.VALUE_UNIFORM, lambda F: Uniform(F(0.0), F(1.0))),
         "z": (_values.VALUE_NORMAL, lambda F: Normal(F(0.0), F(1.0)))}


@functools.lru_cache(maxsize=None)
def unit_extremes(variate, family):
    """``variate`` ("u" or "z") at the extreme words of ``family``."""
    F = np.float64 if family == "64" else np.float32
    value, unit = _UNIT[variate]
    return tuple(F(value[family](w, unit(F))) for w in _WORDS[family])


def _extremes(variate, kind, shift, scale):
    """The smallest and largest value written with ``variate`` ("u", "z")
    scaled and shifted as the kernels do (``_transforms.uniform_f32`` /
    ``_scaled``: one fma), in the family's float type."""
    out = []
    for t, inf in zip(unit_extremes(variate, KINDS[kind].family), (-np.inf, np.inf)):
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                out.append(ftype(kind)(fma(scale, t, shift)))
        except OverflowError:            # the interpreter's exact float64 fma, past the largest double
            out.append(ftype(kind)(inf))
    return out


def z_max(family):
    """|z| of the normal at the extreme words (6.34 in float32, 9.16 in
    float64), the largest of any word."""
    return float(unit_extremes("z", family)[1])


def largest(kind):
    """The largest finite value of a dtype kind."""
    k = KINDS[kind]
    if k.encoded:
        return float(_decode(k.inf_bits - 1, kind))
    return float(np.finfo(k.compute).max)


def _fits(kind, v):
    k = KINDS[kind]
    if k.encoded:
        return int(k.encode(v)) & (k.sign_bit - 1) != k.inf_bits
    return bool(np.isfinite(v))


def _check_written(kind, lo, hi, names, what=None):
    """Raise a ValueError naming the argument (``names``: that of the
    smallest and of the largest value) when the smallest (``lo``) or
    largest (``hi``) value to be written is not finite in ``kind``'s dtype
    (encoded kinds: once rounded to nearest even)."""
    for arg, v in zip(names, (lo, hi)):
        if not _fits(kind, v):
            reach = f"reaches {float(v):.6g}" if np.isfinite(v) else f"overflows {np.dtype(ftype(kind)).name}"
            how = f"{what} {reach}, which" if what else f"{arg}={float(v)!r}"
            raise ValueError(f"{arg}: {how} does not fit in {KINDS[kind].name} (largest finite value "
                             f"{largest(kind):.6g}): it would be written as "
                             f"{'+' if v > 0 else '-'}inf")


# cached: models call with the same few parameter sets thousands of times
@cached
def uniform(low, high, kind):
    lo = to_family(low, kind, "low")
    hi = to_family(high, kind, "high")
    with np.errstate(over="ignore"):
        scale = hi - lo
    if not np.isfinite(scale):
        raise ValueError(f"high - low = {high!r} - {low!r} overflows {np.dtype(ftype(kind)).name}")
    prm = Uniform(lo, scale)
    _check_written(kind, *_extremes("u", kind, prm.low, prm.scale), ("low", "high"),
                   f"U({low!r}, {high!r})")
    return prm


# cached: models call with the same few parameter sets thousands of times
@cached
def normal(mean, std, kind):
    prm = Normal(to_family(mean, kind, "mean"), to_family(std, kind, "std"))
    _check_written(kind, prm.mean, prm.mean, ("mean", "mean"))
    _check_written(kind, *_extremes("z", kind, prm.mean, prm.std), ("std", "std"),
                   f"N({mean!r}, {std!r}^2), |z| up to {z_max(KINDS[kind].family):.3g},")
    return prm


def _phi(x):
    """Standard normal CDF, accurate in both tails."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _q(x):
    return 0.5 * math.erfc(x / math.sqrt(2.0))


#: Smallest probability mass of [a, b] the kernels resolve (their inverse CDF
#: covers p down to about 1e-38 in float32, 1e-300 in float64).
MIN_MASS = {"32": 1e-28, "64": 1e-290}


def _decode(h, kind):
    """The value of an encoded kind's bit pattern ``h``, in its compute type."""
    k = KINDS[kind]
    return k.compute(np.array(k.storage(h)).view(numpy_dtype(kind))[()])


def _step(h, up, kind):
    """The next bit pattern of an encoded kind up / down in value
    (sign-magnitude order)."""
    sign = KINDS[kind].sign_bit
    o = -(h & (sign - 1)) if h & sign else h
    o += 1 if up else -1
    return o if o >= 0 else sign | -o


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
    if not KINDS[kind].encoded:
        return v
    h = int(KINDS[kind].encode(v))
    if (_decode(h, kind) < v) if up else (_decode(h, kind) > v):
        h = _step(h, up, kind)
    return _decode(h, kind)


# cached: models call with the same few parameter sets thousands of times
@cached
def trunc_normal(mean, std, a, b, kind):
    family = KINDS[kind].family
    F = ftype(kind)
    # every value lies in [a, b]: bounds beyond the dtype's range would pile
    # the mass above its largest finite value there, so they are refused
    with np.errstate(over="ignore"):
        _check_written(kind, F(a), F(b), ("a", "b"), f"[a, b] = [{a!r}, {b!r}]")
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
@cached
def constant(value, kind):
    """Every element ``value``, in the family's float type; the kernels
    encode it (encoded kinds: the float32 value rounded to nearest even, the
    contract's rule), and here it is checked to fit."""
    v = to_family(value, kind, "value")
    _check_written(kind, v, v, ("value", "value"))
    return Constant(v)
