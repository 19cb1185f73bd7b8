"""Philox4x32-10, target-neutral (contract section 2).

Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
SC'11.  Constants and round structure as in Random123's
``include/Random123/philox.h`` (``philox4x32round``, ``philox4x32bumpkey``);
known-answer vectors in ``tests/data/philox4x32_10_kat.txt``.

All values are ``uint64`` holding 32-bit words: the 32x32
products fit in 64 bits, and every sum that could carry is masked.
"""
import numpy as np

from ._ops import jitable


#: Round multipliers, PHILOX_M4x32_0 and PHILOX_M4x32_1 in Random123.
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
#: Key schedule bumps, PHILOX_W32_0 (golden ratio) and PHILOX_W32_1 (sqrt(3)-1).
PHILOX_W0 = np.uint64(0x9E3779B9)
PHILOX_W1 = np.uint64(0xBB67AE85)

MASK32 = np.uint64(0xFFFFFFFF)
SHIFT32 = np.uint64(32)


@jitable
def _round(c0, c1, c2, c3, k0, k1):
    p0 = PHILOX_M0 * c0
    p1 = PHILOX_M1 * c2
    return ((p1 >> SHIFT32) ^ c1 ^ k0, p1 & MASK32,
            (p0 >> SHIFT32) ^ c3 ^ k1, p0 & MASK32)


@jitable
def _bump(k0, k1):
    return (k0 + PHILOX_W0) & MASK32, (k1 + PHILOX_W1) & MASK32


@jitable
def _nine_rounds(c0, c1, c2, c3, k0, k1):
    """The first nine rounds, and the key of the tenth."""
    c0, c1, c2, c3, k0, k1 = c0 & MASK32, c1 & MASK32, c2 & MASK32, c3 & MASK32, k0 & MASK32, k1 & MASK32
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    c0, c1, c2, c3 = _round(c0, c1, c2, c3, k0, k1)
    k0, k1 = _bump(k0, k1)
    return c0, c1, c2, c3, k0, k1


@jitable
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on counter (c0..c3) with key (k0, k1).

    Returns the four output words (w0, w1, w2, w3).  The first round uses the
    key as given; the key is bumped between rounds (nine bumps).

    The inputs are words (below 2^32); masking them says so to the compiler,
    which then multiplies 32 x 32 bits (one ``vpmuludq``) in the second
    round too, not 64 x 64 (``vpmullq``: three micro-ops, three times the
    latency) on a word that a key could have widened.
    """
    c0, c1, c2, c3, k0, k1 = _nine_rounds(c0, c1, c2, c3, k0, k1)
    return _round(c0, c1, c2, c3, k0, k1)


@jitable
def _rotl32(p):
    return (p << SHIFT32) | (p >> SHIFT32)


@jitable
def block_words(block, k0, k1, s0, s1):
    """The four words of counter block ``block`` (a uint64) in stream (s0, s1).

    Counter layout (contract section 2): (block low word, block high word,
    stream low word, stream high word).
    """
    return philox4x32_10(block & MASK32, block >> SHIFT32, s0, s1, k0, k1)


@jitable
def block_pairs(block, k0, k1, s0, s1):
    """The four words of ``block_words`` as two 64-bit values, (w0, w1) and
    (w2, w3) with the first word low: little-endian memory order, so a
    ``uint64`` array of them viewed as ``uint32`` holds w0, w1, w2, w3.

    Vectorised, each pair stays in the 64-bit lane Philox computes it in;
    four separate words would be narrowed lane by lane and interleaved
    word by word (CPU kernels, ``_cpu``).  The last round forms the pairs
    directly: its product p = hi 2^32 + lo rotated by 32 bits is
    lo 2^32 + hi, and the xor of (c1 ^ k0) (below 2^32) makes its low word
    the round's output.  (Shifting lo up instead, LLVM multiplies by
    M 2^32: a 64 x 64 ``vpmullq``.)"""
    c0, c1, c2, c3, k0, k1 = _nine_rounds(block & MASK32, block >> SHIFT32, s0, s1, k0, k1)
    return _rotl32(PHILOX_M1 * c2) ^ c1 ^ k0, _rotl32(PHILOX_M0 * c0) ^ c3 ^ k1


@jitable
def block_ms(block, k0, k1, s0, s1):
    """The two 64-bit draws of counter block ``block``: words (0, 1) and
    (2, 3), the first of each pair high (contract section 2)."""
    w0, w1, w2, w3 = block_words(block, k0, k1, s0, s1)
    return (w0 << SHIFT32) | w1, (w2 << SHIFT32) | w3


def key_and_stream(seed, stream):
    """Python ints seed and stream -> the kernels' (k0, k1, s0, s1) words
    (contract sections 1 and 2: the low word first)."""
    return (np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32),
            np.uint64(stream & 0xFFFFFFFF), np.uint64(stream >> 32))
