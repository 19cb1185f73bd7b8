"""Statistical test battery for the basic fillers.

Cases (each for float32 AND float64 buffers, 12 cases in all):

* ``uniform_`` on [0, 1) and on [-0.1, 0.1);
* ``normal_`` with mean 0, std 1;
* ``trunc_normal_`` with mean 0, std 1 on [a, b] = [-2, 2], [2, 3], [-0.5, 3].

Every case draws N = 2**20 samples with the fixed seed 20261125 and its own
stream, so the battery is deterministic: it either always passes or always
fails for a given contract version.

Per case we run

1. a Kolmogorov-Smirnov test against the exact CDF (``scipy.stats.kstest``
   with ``scipy.stats.uniform`` / ``norm`` / ``truncnorm``);
2. a chi-square test on 256 equiprobable bins whose edges are the exact
   quantiles of the target distribution (4096 expected per bin);
3. a z-test of the sample mean against the exact mean, SE = sqrt(mu2 / N);
4. a z-test of the sample variance (ddof=1) against the exact variance, with
   its exact standard error sqrt(mu4 / N - sigma^4 (N - 3) / (N (N - 1)));

and, for the two normal cases only,

5. a z-test of the sample skewness g1 against 0, with its exact variance
   under normality 6 (N - 2) / ((N + 1) (N + 3));
6. a z-test of the sample excess kurtosis g2 against its exact mean under
   normality -6 / (N + 1), with variance
   24 N (N - 2) (N - 3) / ((N + 1)^2 (N + 3) (N + 5)).

Exact moments of the truncated normals come from the closed-form recurrence
m_k = (k - 1) m_{k-2} - (b^{k-1} phi(b) - a^{k-1} phi(a)) / Z, independent of
scipy's truncnorm (which is used for the CDF and the quantiles).

Multiple testing: 12 cases x 4 tests + 2 normal cases x 2 tests = 52
p-values / z-tests (``N_TESTS``, checked by ``test_test_count``).  The
family-wise error rate is held at ALPHA_FAMILY = 1e-3 by Bonferroni: each
test rejects when p < 1e-3 / 52 ~= 1.9e-5, i.e. |z| > 4.28 for the two-sided
z-tests.  A correct generator therefore fails any test of this module with
probability below 1e-3 (for the particular fixed seed: it passes or not).
"""
import functools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

import fastinit

N = 2 ** 20
SEED = 20261125
N_BINS = 256
ALPHA_FAMILY = 1e-3

DTYPES = (np.float32, np.float64)
# (name, kind, params); the filler is picked from kind.
DISTS = (
    ("uniform[0,1)", "uniform", (0.0, 1.0)),
    ("uniform[-0.1,0.1)", "uniform", (-0.1, 0.1)),
    ("normal(0,1)", "normal", (0.0, 1.0)),
    ("trunc_normal[-2,2]", "trunc_normal", (-2.0, 2.0)),
    ("trunc_normal[2,3]", "trunc_normal", (2.0, 3.0)),
    ("trunc_normal[-0.5,3]", "trunc_normal", (-0.5, 3.0)),
)
# Distinct stream per case: 1000 + case index.
CASES = [(name, kind, params, dt, 1000 + i)
         for i, ((name, kind, params), dt) in enumerate(
             (d, dt) for d in DISTS for dt in DTYPES)]
NORMAL_CASES = [c for c in CASES if c[1] == "normal"]

N_TESTS = 4 * len(CASES) + 2 * len(NORMAL_CASES)
ALPHA = ALPHA_FAMILY / N_TESTS                # per-test level (Bonferroni)
Z_CRIT = stats.norm.isf(ALPHA / 2)            # two-sided critical |z|


def _case_id(c):
    return f"{c[0]}-{np.dtype(c[3]).name}"


# ----------------------------------------------------------------- references
def _frozen(kind, params):
    if kind == "uniform":
        lo, hi = params
        return stats.uniform(loc=lo, scale=hi - lo)
    if kind == "normal":
        mean, std = params
        return stats.norm(loc=mean, scale=std)
    a, b = params
    return stats.truncnorm(a, b)          # mean 0, std 1: a, b already standard


def _support(kind, params):
    if kind == "normal":
        return -np.inf, np.inf
    return params


def _mass(a, b):
    """Phi(b) - Phi(a) without cancellation in the upper tail."""
    if a >= 0:
        return ndtr(-a) - ndtr(-b)
    return ndtr(b) - ndtr(a)


def _exact_central_moments(kind, params):
    """(mean, mu2, mu3, mu4) of the target distribution, exactly."""
    if kind == "uniform":
        lo, hi = params
        w = hi - lo
        return (lo + hi) / 2, w * w / 12, 0.0, w ** 4 / 80
    if kind == "normal":
        mean, std = params
        return mean, std ** 2, 0.0, 3 * std ** 4
    a, b = params
    z = _mass(a, b)
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    m = [1.0, -(phi(b) - phi(a)) / z]                      # raw moments m0, m1
    for k in range(2, 5):
        m.append((k - 1) * m[k - 2] - (b ** (k - 1) * phi(b) - a ** (k - 1) * phi(a)) / z)
    mu = m[1]
    mu2 = m[2] - mu ** 2
    mu3 = m[3] - 3 * mu * m[2] + 2 * mu ** 3
    mu4 = m[4] - 4 * mu * m[3] + 6 * mu ** 2 * m[2] - 3 * mu ** 4
    return mu, mu2, mu3, mu4


# ----------------------------------------------------------------- samples
@functools.lru_cache(maxsize=None)
def _samples(name, kind, params, dtype, stream):
    buf = np.empty(N, dtype)
    if kind == "uniform":
        fastinit.uniform_(buf, *params, seed=SEED, stream=stream)
    elif kind == "normal":
        fastinit.normal_(buf, *params, seed=SEED, stream=stream)
    else:
        a, b = params
        fastinit.trunc_normal_(buf, 0.0, 1.0, a, b, seed=SEED, stream=stream)
    x = buf.astype(np.float64)
    x.setflags(write=False)
    return x


def _z_report(name, stat, expected, se):
    z = (stat - expected) / se
    return z, f"{name}: got {stat!r}, exact {expected!r}, SE {se:.3g}, z = {z:.2f} (|z| must be <= {Z_CRIT:.2f})"


# ----------------------------------------------------------------- tests
def test_test_count():
    # The module docstring states 52 tests and the per-test level; keep them honest.
    assert len(CASES) == 12 and len(NORMAL_CASES) == 2
    assert N_TESTS == 52
    assert 4.2 < Z_CRIT < 4.35


def test_exact_moments_match_scipy():
    # Cross-check of the closed-form truncated-normal moments (not a statistical test).
    for _, kind, params, _, _ in CASES:
        if kind != "trunc_normal":
            continue
        mu, mu2, mu3, mu4 = _exact_central_moments(kind, params)
        ref = _frozen(kind, params)
        m, v, s, k = (float(t) for t in ref.stats(moments="mvsk"))
        assert mu == pytest.approx(m, rel=1e-10, abs=1e-12)
        assert mu2 == pytest.approx(v, rel=1e-9)
        assert mu3 / mu2 ** 1.5 == pytest.approx(s, rel=1e-6, abs=1e-9)
        assert mu4 / mu2 ** 2 - 3 == pytest.approx(k, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_ks(case):
    name, kind, params, dtype, stream = case
    x = _samples(*case)
    res = stats.kstest(x, _frozen(kind, params).cdf)
    assert res.pvalue >= ALPHA, (
        f"{_case_id(case)}: KS D = {res.statistic:.3g} at x = {res.statistic_location!r}, "
        f"p = {res.pvalue:.3g} < {ALPHA:.3g}")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_chi2_equiprobable(case):
    name, kind, params, dtype, stream = case
    x = _samples(*case)
    lo, hi = _support(kind, params)
    # Every value must lie in the support (closed, for uniform the fma may round to high).
    assert np.all(np.isfinite(x))
    assert lo <= x.min() and x.max() <= hi, (x.min(), x.max())
    edges = _frozen(kind, params).ppf(np.arange(1, N_BINS) / N_BINS)   # interior edges
    assert np.all(np.diff(edges) > 0)
    counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=N_BINS)
    assert counts.sum() == N
    res = stats.chisquare(counts)
    worst = int(np.argmax(np.abs(counts - N / N_BINS)))
    assert res.pvalue >= ALPHA, (
        f"{_case_id(case)}: chi2 = {res.statistic:.1f} on {N_BINS - 1} dof, p = {res.pvalue:.3g}; "
        f"worst bin {worst} has {counts[worst]} (expected {N / N_BINS:.0f})")


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_mean(case):
    name, kind, params, dtype, stream = case
    x = _samples(*case)
    mu, mu2, _, _ = _exact_central_moments(kind, params)
    z, msg = _z_report("mean", float(np.mean(x)), mu, math.sqrt(mu2 / N))
    assert abs(z) <= Z_CRIT, f"{_case_id(case)}: {msg}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_variance(case):
    name, kind, params, dtype, stream = case
    x = _samples(*case)
    _, mu2, _, mu4 = _exact_central_moments(kind, params)
    se = math.sqrt(mu4 / N - mu2 ** 2 * (N - 3) / (N * (N - 1)))
    z, msg = _z_report("variance", float(np.var(x, ddof=1)), mu2, se)
    assert abs(z) <= Z_CRIT, f"{_case_id(case)}: {msg}"


@pytest.mark.parametrize("case", NORMAL_CASES, ids=_case_id)
def test_skewness(case):
    x = _samples(*case)
    se = math.sqrt(6.0 * (N - 2) / ((N + 1) * (N + 3)))
    z, msg = _z_report("skewness g1", float(stats.skew(x)), 0.0, se)
    assert abs(z) <= Z_CRIT, f"{_case_id(case)}: {msg}"


@pytest.mark.parametrize("case", NORMAL_CASES, ids=_case_id)
def test_excess_kurtosis(case):
    x = _samples(*case)
    expected = -6.0 / (N + 1)
    se = math.sqrt(24.0 * N * (N - 2) * (N - 3) / ((N + 1) ** 2 * (N + 3) * (N + 5)))
    z, msg = _z_report("excess kurtosis g2", float(stats.kurtosis(x)), expected, se)
    assert abs(z) <= Z_CRIT, f"{_case_id(case)}: {msg}"
