"""Philox4x32-10: Random123's known answers, and agreement with randomgen."""
import os

import numba
import numpy as np
import pytest

import reference as ref
from fastinit._philox import block_pairs, block_words, philox4x32_10

KAT = os.path.join(os.path.dirname(__file__), "data", "philox4x32_10_kat.txt")


def kat_rows():
    with open(KAT) as f:
        return [[int(x, 16) for x in line.split()] for line in f if line.strip() and not line.startswith("#")]


@numba.njit
def _philox_jit(c0, c1, c2, c3, k0, k1):
    return philox4x32_10(c0, c1, c2, c3, k0, k1)


@pytest.mark.parametrize("row", kat_rows())
@pytest.mark.parametrize("mode", ["jit", "interpreter"])
def test_known_answers(row, mode):
    args = [np.uint64(x) for x in row[:6]]
    fn = _philox_jit if mode == "jit" else philox4x32_10
    assert [int(x) for x in fn(*args)] == row[6:]


@pytest.mark.parametrize("row", kat_rows())
def test_reference_reproduces_known_answers(row):
    c0, c1, c2, c3, k0, k1 = row[:6]
    block, stream, seed = c0 | c1 << 32, c2 | c3 << 32, k0 | k1 << 32
    assert ref.philox_block(block, seed, stream) == row[6:]


@numba.njit
def _blocks_jit(first, n, k0, k1, s0, s1):
    out = np.empty((n, 4), np.uint64)
    for i in range(n):
        w = block_words(first + np.uint64(i), k0, k1, s0, s1)
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = w[0], w[1], w[2], w[3]
    return out


def test_agrees_with_randomgen_over_many_streams():
    rng = np.random.default_rng(7)
    for _ in range(40):
        seed, stream = (int(x) for x in rng.integers(0, 2**64, size=2, dtype=np.uint64))
        # blocks placed next to the 2^32 carry of the block index, and anywhere
        # (global indices are < 2^64, so blocks are < 2^62)
        first = [0, 2**32 - 3, 2**62 - 8, int(rng.integers(0, 2**62))][int(rng.integers(0, 4))]
        got = _blocks_jit(np.uint64(first), 6, np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32),
                          np.uint64(stream & 0xFFFFFFFF), np.uint64(stream >> 32))
        np.testing.assert_array_equal(got, ref.philox_blocks(first, 6, seed, stream))


@numba.njit
def _pairs_jit(first, n, k0, k1, s0, s1):
    out = np.empty((n, 2), np.uint64)
    for i in range(n):             # vectorised, as in the CPU kernels
        q = block_pairs(first + np.uint64(i), k0, k1, s0, s1)
        out[i, 0], out[i, 1] = q[0], q[1]
    return out


@pytest.mark.parametrize("mode", ["jit", "interpreter"])
def test_block_pairs_are_the_words_in_memory_order(mode):
    """block_pairs (the last round rotated: the CPU kernels' words loop)
    gives (w1 2^32 + w0, w3 2^32 + w2): as uint32, w0, w1, w2, w3."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        seed, stream = (int(x) for x in rng.integers(0, 2**64, size=2, dtype=np.uint64))
        first = [0, 2**32 - 3, 2**62 - 40, int(rng.integers(0, 2**62))][int(rng.integers(0, 4))]
        key = (np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), np.uint64(stream & 0xFFFFFFFF),
               np.uint64(stream >> 32))
        n = 37
        if mode == "jit":
            got = _pairs_jit(np.uint64(first), n, *key)
        else:
            got = np.array([block_pairs(np.uint64(first + i), *key) for i in range(n)], np.uint64)
        words = np.array(ref.philox_blocks(first, n, seed, stream), np.uint64)
        np.testing.assert_array_equal(got[:, 0], words[:, 1] << np.uint64(32) | words[:, 0])
        np.testing.assert_array_equal(got[:, 1], words[:, 3] << np.uint64(32) | words[:, 2])
        np.testing.assert_array_equal(got.view(np.uint32).reshape(n, 4), words.astype(np.uint32))
