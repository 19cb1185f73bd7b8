"""A slow, independent reference of the value contract (docs/contract.md).

Pure NumPy + scipy, with randomgen's Philox4x32-10 as the independent
generator (none of fastinit's code is used).  ``reference_values`` gives the
exact value (uniform) or the float64-accurate value (normals) of any global
indices, which tests compare against fastinit within the contract's
tolerances.
"""
import hashlib
from fractions import Fraction

import numpy as np
import randomgen
from scipy.special import ndtri
from scipy.stats import truncnorm

TWO_32 = 1 << 32
TWO_64 = 1 << 64
TWO_128 = 1 << 128


def stream_id(stream):
    if isinstance(stream, str):
        return int.from_bytes(hashlib.blake2b(stream.encode("utf-8"), digest_size=8).digest(), "little")
    return int(stream)


def philox_block(block, seed, stream):
    """The four words of one counter block, from randomgen."""
    counter = (block | (stream_id(stream) << 64)) % TWO_128
    g = randomgen.Philox(key=seed, counter=(counter - 1) % TWO_128, number=4, width=32)
    return [int(x) for x in g.random_raw(4)]


def philox_blocks(first, count, seed, stream):
    """Words of ``count`` consecutive blocks, shape (count, 4), as uint64."""
    counter = (first | (stream_id(stream) << 64)) % TWO_128
    g = randomgen.Philox(key=seed, counter=(counter - 1) % TWO_128, number=4, width=32)
    return g.random_raw(4 * count).reshape(count, 4).astype(np.uint64)


def words32(g, seed, stream):
    """The 32-bit word of each global index in ``g`` (uint64 array)."""
    g = np.asarray(g, dtype=np.uint64)
    blocks = g >> np.uint64(2)
    out = np.empty(g.shape, np.uint64)
    uniq = np.unique(blocks)
    # consecutive runs are fetched in one randomgen call
    for run in np.split(uniq, np.nonzero(np.diff(uniq) != 1)[0] + 1):
        if run.size == 0:
            continue
        w = philox_blocks(int(run[0]), run.size, seed, stream)
        sel = (blocks >= run[0]) & (blocks <= run[-1])
        out[sel] = w[(blocks[sel] - run[0]).astype(np.int64), (g[sel] & np.uint64(3)).astype(np.int64)]
    return out


def words64(g, seed, stream):
    """The 64-bit word m = hi * 2^32 + lo of each global index (float64 family)."""
    g = np.asarray(g, dtype=np.uint64)
    # the pair (w_{2j}, w_{2j+1}) of block g >> 1, j = g & 1, is 32-bit
    # index 4 (g >> 1) + 2 j and the one after it
    i_hi = (g >> np.uint64(1)) * np.uint64(4) + (g & np.uint64(1)) * np.uint64(2)
    return (words32(i_hi, seed, stream) << np.uint64(32)) | words32(i_hi + np.uint64(1), seed, stream)


# ------------------------------------------------------------------ exact float32 fma
def fma32(a, b, c):
    """a * b + c with one rounding to float32, vectorised and exact."""
    a64 = np.asarray(a, np.float32).astype(np.float64)
    b64 = np.asarray(b, np.float32).astype(np.float64)
    c64 = np.asarray(c, np.float32).astype(np.float64)
    p = a64 * b64                      # exact: 24 + 24 bits
    s = p + c64
    bb = s - p                         # TwoSum: s + e == p + c exactly
    e = (p - (s - bb)) + (c64 - bb)
    r = s.astype(np.float32)
    # a float64 s exactly halfway between two float32s was rounded to even;
    # the exact value lies on the side of e
    r64 = r.astype(np.float64)
    other = np.where(s > r64, np.nextafter(r, np.float32(np.inf)), np.nextafter(r, np.float32(-np.inf)))
    tie = (r64 != s) & (np.abs(other.astype(np.float64) - s) == np.abs(r64 - s)) & (e != 0)
    fix = tie & ((other.astype(np.float64) > r64) == (e > 0))
    return np.where(fix, other, r)


def fma64_exact(a, b, c):
    """a * b + c rounded once to float64 (slow: fractions)."""
    return np.array([float(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
                     for x, y, z in np.broadcast(a, b, c)])


# ------------------------------------------------------------------ distributions
def uniform01_32(w):
    return ((w >> np.uint64(8)).astype(np.float64) * 2.0 ** -24).astype(np.float32)


def uniform32(w, low, high):
    lo, hi = np.float32(low), np.float32(high)
    return fma32(np.float32(hi - lo), uniform01_32(w), lo)


def uniform01_64(m):
    return (m >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def std_normal32(w):
    """Phi^-1((w + 0.5) 2^-32), float64-accurate; the upper half through
    the complement word so the upper tail keeps its precision."""
    w = np.asarray(w, np.uint64)
    lower = w < np.uint64(1 << 31)
    wc = np.where(lower, w, np.uint64(TWO_32 - 1) - w)
    z = ndtri((wc.astype(np.float64) + 0.5) * 2.0 ** -32)
    return np.where(lower, z, -z)


def std_normal64(m):
    m = np.asarray(m, np.uint64)
    lower = m < np.uint64(1 << 63)
    mc = np.where(lower, m, ~m)
    # mc + 0.5 rounds in float64 (relative 1e-16): far below the 1e-12 tolerance
    z = ndtri((mc.astype(np.float64) + 0.5) * 2.0 ** -64)
    return np.where(lower, z, -z)


def std_trunc(word, bits, alpha, beta):
    """Phi^-1(Phi(alpha) + u (Phi(beta) - Phi(alpha))), u = (word + 0.5) 2^-bits,
    through scipy's truncnorm (accurate in both tails)."""
    word = np.asarray(word, np.uint64)
    full = np.uint64((1 << bits) - 1)
    u = (word.astype(np.float64) + 0.5) * 2.0 ** -bits
    v = ((full - word).astype(np.float64) + 0.5) * 2.0 ** -bits      # 1 - u
    lower = u < 0.5
    zl = truncnorm.ppf(u, alpha, beta)
    zu = -truncnorm.ppf(v, -beta, -alpha)
    return np.where(lower, zl, zu)
