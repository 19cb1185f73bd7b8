"""The public fillers: validate, work out parameters, dispatch.

Every filler writes its buffer in place and returns it.  Values follow the
value contract (docs/contract.md): each element is a pure function of
(seed, stream, dtype family, distribution and parameters, global index).
All validation happens before any element is written.
"""
import math
import numbers
import warnings

import numpy as np

from ._call import Call, choice, manual_seed, real
from ._distributions import CONSTANT, NORMAL, SCALING, TRUNC_NORMAL, UNIFORM
from ._fans import LAYOUTS, NONLINEARITIES, calculate_gain, compute_fans

__all__ = [
    "uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
    "glorot_uniform_", "glorot_normal_", "he_uniform_", "he_normal_",
    "kaiming_uniform_", "kaiming_normal_", "lecun_uniform_", "lecun_normal_",
    "variance_scaling_", "zeros_", "ones_", "constant_", "manual_seed",
    "calculate_gain", "compute_fans",
]

MODES = ("fan_in", "fan_out", "fan_avg")
#: ``variance_scaling_``'s distributions, by JAX's and Keras' words.
DISTRIBUTIONS = tuple(SCALING)
#: std of a standard normal truncated to [-2, 2]; JAX divides by it so that
#: variance_scaling's truncated normal has the requested variance.
TRUNC_STD_2SIGMA = 0.87962566103423978
#: trunc_normal_ warns when both bounds are further than this many std from
#: the mean: nothing is cut (torch's classic std=0.02 with a=-2, b=2).
NOTHING_CUT_SIGMAS = 6.0

# ----------------------------------------------------------------- basic distributions
def uniform_(buf, low=0.0, high=1.0, *, seed=None, stream=0, global_shape=None, offsets=None):
    """Fill ``buf`` with U(low, high).

    x = low + (high - low) * u with u = (w >> 8) 2^-24 (float32, float16,
    bfloat16) or (m >> 11) 2^-53 (float64), computed with one fma in the
    family's float type (contract section 3).

    Parameters
    ----------
    buf : array-like buffer (float32, float64, float16, bfloat16), filled in place.
    low, high : finite numbers, low <= high.
    seed : int in [0, 2**64), or None to draw one from fastinit's global
        generator (see ``manual_seed``).
    stream : int in [0, 2**64) or str; tensors sharing a seed need distinct streams.
    global_shape, offsets : describe ``buf`` as a shard of a global tensor
        (contract section 4); values then equal those of the global tensor.

    Returns
    -------
    buf

    Examples
    --------
    >>> w = np.empty((256, 128), np.float32)
    >>> fastinit.uniform_(w, -0.1, 0.1, seed=0)     # doctest: +SKIP
    """
    call = Call(buf, seed, stream, global_shape, offsets)
    low, high = real(low, "low"), real(high, "high")
    if low > high:
        raise ValueError(f"low must be <= high; got low={low}, high={high}")
    return call.fill(UNIFORM, low, high)


def normal_(buf, mean=0.0, std=1.0, *, seed=None, stream=0, global_shape=None, offsets=None):
    """Fill ``buf`` with N(mean, std^2) by inversion.

    x = mean + std * z, z = Phi^-1((w + 0.5) 2^-32) (float64: 64-bit words),
    one word per element, no rejection: |z| reaches 6.34 (float64: 9.16).
    Also known as: torch.nn.init.normal_, jax.random.normal * std + mean.

    Parameters
    ----------
    buf : buffer, filled in place.
    mean : finite number.
    std : finite number >= 0.
    seed, stream, global_shape, offsets : see ``uniform_``.
    """
    call = Call(buf, seed, stream, global_shape, offsets)
    mean, std = real(mean, "mean"), real(std, "std")
    if std < 0:
        raise ValueError(f"std must be >= 0; got {std}")
    return call.fill(NORMAL, mean, std)


def trunc_normal_(buf, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed=None, stream=0,
                  global_shape=None, offsets=None):
    """Fill ``buf`` with N(mean, std^2) truncated to [a, b] (absolute bounds, as in torch).

    Inversion: z = Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))) with
    alpha = (a - mean) / std, beta = (b - mean) / std; one word per element
    (no rejection, so the cost does not depend on how much is cut), every
    value in [a, b].  Accurate deep in either tail (e.g. [2, 3] sigma).
    Also known as: torch.nn.init.trunc_normal_ (bounds in absolute units),
    jax.random.truncated_normal (bounds in std units).

    Warns when both bounds lie more than 6 std from the mean: nothing is
    cut (torch's classic ``std=0.02`` with the default ``a=-2, b=2``); pass
    ``a=-2 * std, b=2 * std`` for a 2-sigma cut.
    """
    return fill_trunc_normal(buf, mean, std, a, b, seed, stream, global_shape, offsets, warn=True)


def fill_trunc_normal(buf, mean, std, a, b, seed, stream, global_shape, offsets, warn):
    """``trunc_normal_``; ``warn=False`` for callers that keep torch's
    semantics, where wide bounds are not a mistake to point out."""
    call = Call(buf, seed, stream, global_shape, offsets)
    mean, std, a, b = real(mean, "mean"), real(std, "std"), real(a, "a"), real(b, "b")
    if std <= 0:
        raise ValueError(f"std must be > 0 for a truncated normal; got {std}")
    if a >= b:
        raise ValueError(f"a must be < b; got a={a}, b={b}")
    if warn and (a - mean) / std < -NOTHING_CUT_SIGMAS and (b - mean) / std > NOTHING_CUT_SIGMAS:
        warnings.warn(f"trunc_normal_: the bounds [a, b] = [{a}, {b}] lie more than {NOTHING_CUT_SIGMAS:g} "
                      f"std (std={std}) from the mean, so nothing is truncated; pass "
                      f"a=mean - 2*std, b=mean + 2*std for a 2-sigma cut", UserWarning, stacklevel=3)
    return call.fill(TRUNC_NORMAL, mean, std, a, b)


# ----------------------------------------------------------------- variance scaling
def _check_fans(layout, fan_in, fan_out):
    """The layout and the fans given (positive integers, or None)."""
    choice(layout, "layout", LAYOUTS)
    for name, v in (("fan_in", fan_in), ("fan_out", fan_out)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (numbers.Integral, np.integer)) or v <= 0):
            raise ValueError(f"{name} must be a positive integer; got {v!r}")


def _fans_of(call, layout, fan_in, fan_out, need):
    """(fan_in, fan_out) of the call's global shape in ``layout``, with the
    given ones taking precedence (those in ``need`` must exist)."""
    given = {"fan_in": fan_in, "fan_out": fan_out}
    if all(given[n] is not None for n in need):
        fi, fo = fan_in, fan_out
    else:
        fi, fo = compute_fans(call.gshape, layout)
        fi = fi if fan_in is None else fan_in
        fo = fo if fan_out is None else fan_out
    return (None if fi is None else int(fi)), (None if fo is None else int(fo))


def variance_scaling_(buf, scale=1.0, mode="fan_in", distribution="truncated_normal", *,
                      layout="out_in", fan_in=None, fan_out=None, seed=None, stream=0,
                      global_shape=None, offsets=None):
    """The core of every fan-based initializer (jax.nn.initializers.variance_scaling).

    With n = fan_in, fan_out or (fan_in + fan_out) / 2 (``mode``), the
    variance is ``scale / n`` and ``distribution`` is

    * ``"truncated_normal"``: normal cut at +-2 sigma, with sigma =
      sqrt(scale / n) / 0.87962566103423978 so that the variance is kept;
    * ``"normal"``: N(0, scale / n);
    * ``"uniform"``: U(-sqrt(3 scale / n), sqrt(3 scale / n)).

    Fans come from ``global_shape`` when given (never from the shard), in
    ``layout`` ``"out_in"`` (torch, ``(out, in, *kernel)``) or ``"in_out"``
    (JAX/Keras, ``(*kernel, in, out)``); ``fan_in=`` / ``fan_out=`` override them.
    """
    return _variance_scaling(buf, scale, mode, distribution,
                             _fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets))


def _variance_scaling(buf, scale, mode, distribution, kw, warn_empty=False):
    """``variance_scaling_`` with its keywords in ``kw``.  An empty buffer
    gets every argument checked and nothing drawn or computed from its fans
    (it may have none); ``warn_empty``: warn that it is a no-op, as torch's
    kaiming_* do (its xavier_* do not, nor does JAX)."""
    layout, fan_in, fan_out = kw["layout"], kw["fan_in"], kw["fan_out"]
    call = Call(buf, kw["seed"], kw["stream"], kw["global_shape"], kw["offsets"])
    scale = real(scale, "scale")
    if scale <= 0:
        raise ValueError(f"scale must be > 0; got {scale}")
    choice(mode, "mode", MODES)
    choice(distribution, "distribution", DISTRIBUTIONS)
    _check_fans(layout, fan_in, fan_out)
    need = {"fan_in": ("fan_in",), "fan_out": ("fan_out",), "fan_avg": ("fan_in", "fan_out")}[mode]
    if call.empty:
        if warn_empty:                  # user -> he_*_ -> here
            warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return call.fill(None)
    fi, fo = _fans_of(call, layout, fan_in, fan_out, need)
    n = {"fan_in": fi, "fan_out": fo}.get(mode) or (fi + fo) / 2.0
    variance = scale / n
    dist = SCALING[distribution]
    if dist is UNIFORM:
        limit = math.sqrt(3.0 * variance)
        return call.fill(UNIFORM, -limit, limit)
    if dist is NORMAL:
        return call.fill(NORMAL, 0.0, math.sqrt(variance))
    std = math.sqrt(variance) / TRUNC_STD_2SIGMA
    return call.fill(TRUNC_NORMAL, 0.0, std, -2.0 * std, 2.0 * std)


def _fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets):
    return dict(layout=layout, fan_in=fan_in, fan_out=fan_out, seed=seed, stream=stream,
                global_shape=global_shape, offsets=offsets)


def _gain(gain):
    gain = real(gain, "gain")
    if gain <= 0:
        raise ValueError(f"gain must be > 0; got {gain}")
    return gain


def xavier_uniform_(buf, gain=1.0, *, layout="out_in", fan_in=None, fan_out=None, seed=None,
                    stream=0, global_shape=None, offsets=None):
    """Xavier/Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).

    Glorot & Bengio, "Understanding the difficulty of training deep
    feedforward neural networks" (2010).  Also known as glorot_uniform_,
    torch.nn.init.xavier_uniform_; = variance_scaling_(gain**2, "fan_avg", "uniform").
    """
    return variance_scaling_(buf, _gain(gain) ** 2, "fan_avg", UNIFORM.scaling,
                             **_fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets))


def xavier_normal_(buf, gain=1.0, *, layout="out_in", fan_in=None, fan_out=None, seed=None,
                   stream=0, global_shape=None, offsets=None):
    """Xavier/Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).

    Glorot & Bengio (2010).  Also known as glorot_normal_,
    torch.nn.init.xavier_normal_ (a plain normal, as here; Keras' GlorotNormal
    is truncated).  = variance_scaling_(gain**2, "fan_avg", "normal").
    """
    return variance_scaling_(buf, _gain(gain) ** 2, "fan_avg", NORMAL.scaling,
                             **_fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets))


def _he_scale(a, mode, nonlinearity):
    choice(mode, "mode", ("fan_in", "fan_out"))
    choice(nonlinearity, "nonlinearity", NONLINEARITIES)
    return calculate_gain(nonlinearity, real(a, "a")) ** 2


def he_uniform_(buf, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, layout="out_in",
                fan_in=None, fan_out=None, seed=None, stream=0, global_shape=None, offsets=None):
    """He/Kaiming uniform: U(-bound, bound), bound = gain * sqrt(3 / fan_mode).

    He et al., "Delving deep into rectifiers" (2015).  ``gain =
    calculate_gain(nonlinearity, a)``, ``a`` the negative slope of a leaky
    ReLU; torch's semantics and defaults.  Also known as kaiming_uniform_,
    torch.nn.init.kaiming_uniform_; = variance_scaling_(gain**2, mode, "uniform").
    """
    return _variance_scaling(buf, _he_scale(a, mode, nonlinearity), mode, UNIFORM.scaling,
                             _fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets), warn_empty=True)


def he_normal_(buf, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, layout="out_in",
               fan_in=None, fan_out=None, seed=None, stream=0, global_shape=None, offsets=None):
    """He/Kaiming normal: N(0, std^2), std = gain / sqrt(fan_mode).

    He et al. (2015).  A plain (untruncated) normal, as in
    torch.nn.init.kaiming_normal_ (JAX's he_normal is truncated: use
    ``variance_scaling_(2.0, "fan_in", "truncated_normal")`` for that).
    Also known as kaiming_normal_; = variance_scaling_(gain**2, mode, "normal").
    """
    return _variance_scaling(buf, _he_scale(a, mode, nonlinearity), mode, NORMAL.scaling,
                             _fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets), warn_empty=True)


def lecun_uniform_(buf, *, layout="out_in", fan_in=None, fan_out=None, seed=None, stream=0,
                   global_shape=None, offsets=None):
    """LeCun uniform: U(-sqrt(3 / fan_in), sqrt(3 / fan_in)).

    LeCun et al., "Efficient BackProp" (1998).  As jax.nn.initializers.lecun_uniform;
    = variance_scaling_(1.0, "fan_in", "uniform").
    """
    return variance_scaling_(buf, 1.0, "fan_in", UNIFORM.scaling,
                             **_fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets))


def lecun_normal_(buf, *, layout="out_in", fan_in=None, fan_out=None, seed=None, stream=0,
                  global_shape=None, offsets=None):
    """LeCun normal: truncated normal with variance 1 / fan_in (cut at +-2 sigma).

    LeCun et al. (1998); Klambauer et al., "Self-normalizing neural networks"
    (2017).  As jax.nn.initializers.lecun_normal and Keras' LecunNormal
    (both truncated); = variance_scaling_(1.0, "fan_in", "truncated_normal").
    """
    return variance_scaling_(buf, 1.0, "fan_in", TRUNC_NORMAL.scaling,
                             **_fan_kw(layout, fan_in, fan_out, seed, stream, global_shape, offsets))


glorot_uniform_ = xavier_uniform_
glorot_normal_ = xavier_normal_
kaiming_uniform_ = he_uniform_
kaiming_normal_ = he_normal_


# ----------------------------------------------------------------- constants
def constant_(buf, value, *, seed=None, stream=0, global_shape=None, offsets=None):
    """Fill ``buf`` with ``value`` (torch.nn.init.constant_).

    float16 / bfloat16 get the float32 value rounded to nearest even (the
    contract's rule).  ``seed`` and ``stream`` are accepted for a uniform
    signature, checked, and unused: no random bits are drawn.
    """
    call = Call(buf, seed, stream, global_shape, offsets)
    value = real(value, "value")
    return call.fill(CONSTANT, value)


def zeros_(buf, *, seed=None, stream=0, global_shape=None, offsets=None):
    """Fill ``buf`` with 0 (torch.nn.init.zeros_)."""
    return constant_(buf, 0.0, seed=seed, stream=stream, global_shape=global_shape, offsets=offsets)


def ones_(buf, *, seed=None, stream=0, global_shape=None, offsets=None):
    """Fill ``buf`` with 1 (torch.nn.init.ones_)."""
    return constant_(buf, 1.0, seed=seed, stream=stream, global_shape=global_shape, offsets=offsets)
