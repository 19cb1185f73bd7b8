"""The element value of each distribution, per family: word (or 64-bit m)
and parameter record -> value in the family's float type, scale and shift
included; and the same values cut in stages for the CPU's vectorised loops.
Composed from ``_transforms``; the registry (``_distributions``) hands them
to every target.
"""
from typing import NamedTuple

from ._constants import AS241_CENTRAL_K, ERFINV_CENTRAL_K, F64_ZERO, LOGF_K
from ._ops import fma, jitable
from ._transforms import (_as241_central_k, _normal_p_f64, _trunc_p_f64, clamp, erfinv_sqrt2_central_k,
                          neg_log_f32_k, normal_f32, normal_f64, normal_pre_f32, trunc_normal_f32, trunc_normal_f64,
                          trunc_pre_f32, uniform_f32, uniform_f64)


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
