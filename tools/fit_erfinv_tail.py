"""Fit the far-tail branches of fastinit's float32 inverse normal CDF.

Giles' single-precision erfinv ("Approximating the erfinv function", GPU
Computing Gems Jade, 2011) has two branches on w = -log(1 - x^2): w < 5 and
5 <= w < ~16.  fastinit's 32-bit words reach w ~= 21.5 (|z| = 6.34) for the
normal and, for truncated normals deep in a tail, probabilities down to the
smallest normal float32 (w ~= 88).  Past w = 16 Giles' second polynomial
degrades (5e-5 relative at |z| = 6), so two more branches are fitted here:

    16 <= w < 36:  s = sqrt(w) - 5.0
    36 <= w <= 90: s = sqrt(w) - 7.75

each a degree-6 polynomial in s for erfinv(x) / x, fitted by weighted least
squares on Chebyshev nodes against scipy's ndtri.  Run:

    python tools/fit_erfinv_tail.py

and paste the printed tuples into fastinit/_transforms.py (ERFINV_C3, ERFINV_C4).
Requires scipy.
"""
import numpy as np
from scipy.special import ndtri

DEGREE = 6
BRANCHES = ((16.0, 36.0, 5.0), (36.0, 90.0, 7.75))


def erfinv_over_x(w):
    e = np.exp(-w)
    p = e / (2 * (1 + np.sqrt(1 - e)))      # the p < 1/2 with 4 p (1 - p) = e^-w
    x = 1 - 2 * p
    return -ndtri(p) / np.sqrt(2) / x


def fit(wlo, whi, shift):
    lo, hi = np.sqrt(wlo) - shift, np.sqrt(whi) - shift
    t = np.cos(np.pi * (np.arange(4000) + 0.5) / 4000)
    s = (lo + hi) / 2 + (hi - lo) / 2 * t
    f = erfinv_over_x((s + shift) ** 2)
    c = np.polyfit(s, f, DEGREE, w=1 / f).astype(np.float32)
    ss = np.linspace(lo, hi, 200001)
    ff = erfinv_over_x((ss + shift) ** 2)
    err = np.max(np.abs(np.polyval(c.astype(np.float64), ss) - ff) / ff)
    return c, err


if __name__ == "__main__":
    for wlo, whi, shift in BRANCHES:
        c, err = fit(wlo, whi, shift)
        print(f"# {wlo} <= w < {whi}, s = sqrt(w) - {shift}; max rel. error {err:.2e}")
        print("(" + ", ".join(repr(float(x)) for x in c) + ")")
