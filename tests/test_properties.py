"""Property-based tests of the value contract (docs/contract.md), with Hypothesis.

Each valid case draws a buffer, a filler and its parameters, a shard and
thread counts:

* shapes of 0 to 5 dimensions, up to 100,000 elements, zero-size ones too;
  float32, float64, float16 and ``ml_dtypes.bfloat16``;
* memory layouts: C or Fortran order, strided slices (step 2 or 3, with a
  start and padding in a larger base), negative strides on any dimension
  (``a[::-1]``, inner ones too), transposed views, any mix of these, and
  0-d views into a larger array;
* no shard keywords, or a random ``global_shape`` (>= the buffer's shape per
  dimension, sometimes with global indices past 2^32 and the block
  counter's 2^32 carry) with ``offsets`` (``offsets + shape <= global_shape``);
* every filler (``uniform_``, ``normal_``, ``trunc_normal_``,
  ``xavier_uniform_``, ``xavier_normal_``, ``he_uniform_``, ``he_normal_``,
  ``lecun_uniform_``, ``lecun_normal_``, ``variance_scaling_`` with each
  distribution, ``zeros_``, ``ones_``, ``constant_``; the glorot / kaiming
  aliases are drawn too), with parameters, layouts, explicit fans, seeds and
  streams (integers and names) drawn;
* thread counts 1 to 4 (``numba.set_num_threads``, clamped to
  ``NUMBA_NUM_THREADS``; above it, ``_threads.num_threads`` is patched so
  that the fill is still cut into that many pieces, which fastinit's pool
  then runs on the workers it has), with ``_threads.GRAIN`` lowered for the
  case so that small buffers are cut into pieces too.

and checks that

1. the buffer holds the reference values (tests/reference.py) of its global
   indices, ``g = sum_k (offsets_k + i_k) * prod(global_shape[k+1:])``:
   uniform and constant fills bit for bit (float64's fma is emulated
   exactly, ``fma64``); normals and truncated normals within the contract's
   tolerances as tests/test_contract.py checks them (2e-6 / 1e-12 for z, 1e-5
   / 1e-12 for truncated z in standard units, plus the final rounding),
   truncated normals inside [a, b] and clamped to the dtype's values
   inside it; float16 / bfloat16 normals bit for bit equal to the float32
   fill of the same shard rounded to nearest even (after the clamp, for
   truncated ones), whose values are checked against the reference;
   ``normal_`` with std = +-0 bit for bit (signed zeros included);
   parameters derived from fans (Xavier, He, LeCun, variance scaling) as
   the contract's clarifications define them, from ``global_shape``, in
   the order of float64 operations they pin down (scale = gain ** 2,
   bound = sqrt(3.0 * (scale / n)); see ``Filler.law``);
2. the bits are those of a second fill of the same layout on another thread
   count, and of a C-contiguous buffer of the same shard on one thread;
3. nothing outside the view is written: the base array is filled with NaN
   bits first, and every element of the base that the view does not hold
   keeps them.

Invalid inputs (one test item per kind: negative std, low > high, a >= b,
offsets that do not fit, a global_shape of the wrong length, read-only and
integer buffers, zero strides, overlapping rows, and parameters for which
an element could be written as +-inf: float16 uniform / normal / variance
scaling past 65504, bfloat16 bounds that round to inf, normals whose 6.34
std overflow float32 or float64) must raise TypeError or ValueError and
leave the whole base array bit for bit unchanged.

Profiles: the default ("fastinit-ci") is derandomized and has no example
database, so every run (CI included) tries the same examples; it keeps the
module within about a minute on the 2-core machine. For a longer search,
with fresh random examples on every run::

    FASTINIT_HYPOTHESIS_PROFILE=long python -m pytest -q tests/test_properties.py -p no:cacheprovider

("long": 60 times as many examples per test item, 3,600 for the valid
cases of each filler, about a quarter of an hour; a failure prints the
``@reproduce_failure`` blob that replays it; ``--hypothesis-seed=N`` fixes
the search).
"""
import contextlib
import math
import os
import warnings
from dataclasses import dataclass, field

import ml_dtypes
import numba
import numpy as np
import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

import fastinit as fi
import reference as ref
from fastinit import _threads

# ------------------------------------------------------------------ profiles
settings.register_profile("fastinit-ci", deadline=None, derandomize=True, database=None, print_blob=True)
settings.register_profile("fastinit-long", deadline=None, derandomize=False, database=None, print_blob=True)
PROFILE = {"ci": "fastinit-ci", "long": "fastinit-long"}.get(
    os.environ.get("FASTINIT_HYPOTHESIS_PROFILE", "ci"), os.environ.get("FASTINIT_HYPOTHESIS_PROFILE"))
_SCALE = 60 if PROFILE == "fastinit-long" else 1


def examples(n):
    """The settings of a test: the profile's, with ``n`` examples (times 60 in "long")."""
    return settings(settings.get_profile(PROFILE), max_examples=n * _SCALE)


# ------------------------------------------------------------------ dtypes and bits
BF16 = np.dtype(ml_dtypes.bfloat16)
DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), BF16]
UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
#: quiet NaNs with a payload: fastinit never writes a NaN
SENTINEL = {2: 0x7E5A, 4: 0x7FC05A5A, 8: 0x7FF80000DEADBEEF}
SIXTEEN = (np.dtype(np.float16), BF16)


def bits(a):
    return a.view(UINT[a.dtype.itemsize])


def family(dtype):
    return "64" if dtype == np.float64 else "32"


MAX_SIZE = 100_000          # elements of a buffer
MAX_BASE = 600_000          # elements of the base array a view lies in
MAX_GLOBAL = 1 << 62        # elements of a global tensor


# ------------------------------------------------------------------ layouts
@dataclass
class Layout:
    """A view of logical shape ``shape`` into a base array: the base (in
    ``order``) is sliced per dimension (start, step, padding after), then
    transposed by ``axes``; ``at`` puts a 0-d view at that index of a 1-D base."""
    shape: tuple
    order: str = "C"
    dims: list = field(default_factory=list)    # (start, step, pad) per base dimension
    axes: tuple = ()
    at: int = None

    def base_shape(self):
        if self.at is not None:
            return (self.at + 1 + 2,)
        out = []
        for j, (start, step, pad) in enumerate(self.dims):
            n = self.shape[self.axes.index(j)] if self.axes else self.shape[j]
            out.append(start + ((n - 1) * abs(step) + 1 if n else 0) + pad)
        return tuple(out)

    def view(self, base):
        if self.at is not None:
            return base[self.at, ...]
        index = []
        for j, (start, step, _) in enumerate(self.dims):
            n = self.shape[self.axes.index(j)] if self.axes else self.shape[j]
            if n == 0:
                index.append(slice(start, start, step))
            elif step > 0:
                index.append(slice(start, start + (n - 1) * step + 1, step))
            else:
                first = start + (n - 1) * -step
                index.append(slice(first, start - 1 if start else None, step))
        v = base[tuple(index)] if index else base[...]
        return v.transpose(self.axes) if self.axes else v

    def make(self, dtype):
        """(base filled with NaN bits, the view, mask of the base's elements in the view)."""
        bshape = self.base_shape()
        base = np.empty(bshape, dtype, order=self.order)
        bits(base)[...] = SENTINEL[base.itemsize]
        mask = np.zeros(bshape, bool, order=self.order)
        self.view(mask)[...] = True
        v = self.view(base)
        assert v.shape == tuple(self.shape), (v.shape, self.shape)
        return base, v, mask

    def describe(self):
        v = self.view(np.empty(self.base_shape()))
        return (f"shape {self.shape}, base {self.base_shape()} order {self.order}, dims {self.dims}, "
                f"axes {self.axes}, at {self.at}; strides {v.strides}, "
                f"C {v.flags.c_contiguous}, F {v.flags.f_contiguous}")


@st.composite
def shapes(draw, max_size=MAX_SIZE, max_ndim=5, nonempty=False):
    ndim = draw(st.integers(0, max_ndim))
    budget = draw(st.sampled_from([b for b in (4, 64, 1024, 16384, MAX_SIZE) if b <= max_size] or [max_size]))
    dims, prod = [], 1
    for _ in range(ndim):
        n = draw(st.integers(1, max(1, budget // prod)))
        dims.append(n)
        prod *= n
    dims = draw(st.permutations(dims))
    if ndim and not nonempty and draw(st.sampled_from([False] * 7 + [True])):
        dims[draw(st.integers(0, ndim - 1))] = 0           # zero-size, about one case in eight
    return tuple(dims)


@st.composite
def layouts(draw, shape):
    d = len(shape)
    if d == 0:
        at = draw(st.one_of(st.none(), st.integers(0, 5)))
        return Layout(shape, at=at)
    kind = draw(st.sampled_from(["C", "F", "strided", "reversed", "transposed", "mixed"]))
    order = "F" if kind == "F" else draw(st.sampled_from("CF")) if kind == "mixed" else "C"
    axes = ()
    if kind in ("transposed", "mixed") and d > 1:
        axes = tuple(draw(st.permutations(range(d))))
        if axes == tuple(range(d)):
            axes = tuple(reversed(axes))
    if kind in ("C", "F", "transposed"):
        dims = [(0, 1, 0)] * d
    else:
        dims = []
        for j in range(d):
            if kind == "reversed":
                step = draw(st.sampled_from([1, -1]))
                start, pad = 0, 0
            else:
                step = draw(st.sampled_from([1, 1, 2, 3, -1, -2, -3]))
                start, pad = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            dims.append((start, step, pad))
        if kind == "reversed" and all(s == 1 for _, s, _ in dims):
            j = draw(st.integers(0, d - 1))
            dims[j] = (0, -1, 0)
    lay = Layout(shape, order, dims, axes)
    if math.prod(lay.base_shape()) > MAX_BASE:        # keep the base small: unit steps
        lay = Layout(shape, order, [(0, 1 if s > 0 else -1, 0) for _, s, _ in dims], axes)
    return lay


@st.composite
def shards(draw, shape):
    """(global_shape, offsets) or (None, None); offsets may be left out."""
    if not draw(st.booleans()):
        return None, None
    d = len(shape)
    extra = [draw(st.one_of(st.just(0), st.integers(0, 3), st.integers(0, 40))) for _ in range(d)]
    gshape = [n + e for n, e in zip(shape, extra)]
    if d and draw(st.integers(0, 4)) == 0:
        # a huge global tensor: indices past 2^32 (32-bit block counters past their carry)
        k = draw(st.integers(0, d - 1))
        rest = math.prod(max(g, 1) for i, g in enumerate(gshape) if i != k)
        big = draw(st.integers(1 << 20, max(1 << 20, (1 << 44) // rest)))
        extra[k] += big
        gshape[k] += big
    if math.prod(gshape) > MAX_GLOBAL:
        return None, None
    offsets = [draw(st.integers(0, e)) for e in extra]
    if not any(offsets) and draw(st.booleans()):
        return tuple(gshape), None                  # offsets default to zeros
    return tuple(gshape), tuple(offsets)


# ------------------------------------------------------------------ the reference
def global_indices(shape, gshape, offsets):
    """C-order index in the global tensor of every element (uint64, ``shape``)."""
    g = np.zeros(shape, np.uint64)
    stride = 1
    for k in reversed(range(len(shape))):
        idx = (np.arange(shape[k], dtype=np.uint64) + np.uint64(offsets[k])) * np.uint64(stride)
        g += idx.reshape((-1,) + (1,) * (len(shape) - k - 1))
        stride *= gshape[k]
    return g


def block_words(blocks, seed, stream, gap=4096):
    """The four words of each counter block in ``blocks`` (uint64), shape
    ``blocks.shape + (4,)``: ``ref.philox_blocks`` over runs of nearby blocks
    (``ref.words32`` masks the whole array once per run, which a sparse shard
    of a huge tensor makes quadratic)."""
    flat = blocks.reshape(-1)
    out = np.empty((flat.size, 4), np.uint64)
    if flat.size:
        uniq, inv = np.unique(flat, return_inverse=True)
        cuts = np.nonzero(np.diff(uniq) > np.uint64(gap))[0] + 1
        los, his = np.r_[0, cuts], np.r_[cuts, uniq.size]
        words = np.empty((uniq.size, 4), np.uint64)
        for lo, hi in zip(los, his):
            first = int(uniq[lo])
            w = ref.philox_blocks(first, int(uniq[hi - 1]) - first + 1, seed, stream)
            words[lo:hi] = w[(uniq[lo:hi] - np.uint64(first)).astype(np.int64)]
        out = words[inv.reshape(-1)]
    return out.reshape(blocks.shape + (4,))


def words32(g, seed, stream):
    """Contract section 2: word ``w_(g & 3)`` of block ``g >> 2``."""
    w = block_words(g >> np.uint64(2), seed, stream)
    return np.take_along_axis(w, (g & np.uint64(3)).astype(np.int64)[..., None], axis=-1)[..., 0]


def words64(g, seed, stream):
    """Contract section 2: ``m = hi * 2^32 + lo`` from words ``2(g&1), 2(g&1)+1`` of block ``g >> 1``."""
    w = block_words(g >> np.uint64(1), seed, stream)
    j = (g & np.uint64(1)).astype(np.int64)[..., None] * 2
    hi = np.take_along_axis(w, j, axis=-1)[..., 0]
    lo = np.take_along_axis(w, j + 1, axis=-1)[..., 0]
    return (hi << np.uint64(32)) | lo


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a):
    c = 134217729.0 * a           # 2^27 + 1: Veltkamp's split
    hi = c - (c - a)
    return hi, a - hi


def fma64(a, b, c):
    """a * b + c rounded once to float64, vectorised: Dekker's exact product
    and Knuth's exact sums give a * b + c = r + q + d exactly, with r the
    rounded sum of the big parts; where |q| + |d| comes within 0.1% of half
    the gap to r's neighbour, ``ref.fma64_exact`` (fractions) decides.
    For the magnitudes used here (no overflow, no subnormal products)."""
    a, b, c = (np.asarray(x, np.float64) for x in np.broadcast_arrays(a, b, c))
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl     # a * b = p + e
    h, t = _two_sum(p, c)                                  # p + c = h + t
    v, d = _two_sum(t, e)                                  # t + e = v + d
    r, q = _two_sum(h, v)                                  # h + v = r + q: a b + c = r + q + d
    half = np.minimum(np.nextafter(r, np.inf) - r, r - np.nextafter(r, -np.inf)) / 2
    unsure = ~(np.abs(q) + np.abs(d) < 0.999 * half)
    if unsure.any():
        r = r.copy()
        r[unsure] = ref.fma64_exact(a[unsure], b[unsure], c[unsure])
    return r


#: std of a standard normal truncated to [-2, 2] (JAX's constant; variance_scaling_)
TRUNC_STD_2SIGMA = 0.87962566103423978
LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid")
NONLINEARITIES = LINEAR_LIKE + ("tanh", "relu", "leaky_relu", "selu")


def gain(nonlinearity, slope):
    """torch.nn.init.calculate_gain's table."""
    if nonlinearity in LINEAR_LIKE:
        return 1.0
    return {"tanh": 5.0 / 3, "relu": math.sqrt(2.0), "selu": 3.0 / 4,
            "leaky_relu": math.sqrt(2.0 / (1 + slope ** 2))}[nonlinearity]


def fans(gshape, layout):
    if len(gshape) < 2:
        raise AssertionError("the test passes both fans below 2 dimensions")
    if layout == "out_in":
        rf = math.prod(gshape[2:])
        return gshape[1] * rf, gshape[0] * rf
    rf = math.prod(gshape[:-2])
    return gshape[-2] * rf, gshape[-1] * rf


@dataclass
class Filler:
    """A drawn call: ``name`` (a fastinit function), its arguments, and how
    the contract turns them into a law."""
    name: str
    kwargs: dict
    scheme: tuple = None      # (scale, mode, distribution) of a fan-based filler

    def law(self, gshape):
        """("uniform", low, high) | ("normal", mean, std) | ("trunc", mean,
        std, a, b) | ("constant", v): the parameters before rounding to the
        family type, derived ones (fans from ``gshape``) as
        docs/contract.md's clarifications define them: std = sqrt(scale / n),
        bound = sqrt(3 scale / n), truncated: std / 0.87962566103423978 cut
        at +-2 std.  The text leaves the order of the float64 operations
        open, and it shows in the last bit (sqrt(3.0 * (2.0 / 5)) !=
        sqrt(3.0 * 2.0 / 5)): this follows fastinit (3.0 * (scale / n), and
        He's scale = gain ** 2, not gain / sqrt(n) as torch)."""
        kw = self.kwargs
        n = self.name
        if n == "uniform_":
            return ("uniform", kw.get("low", 0.0), kw.get("high", 1.0))
        if n == "normal_":
            return ("normal", kw.get("mean", 0.0), kw.get("std", 1.0))
        if n == "trunc_normal_":
            return ("trunc", kw.get("mean", 0.0), kw.get("std", 1.0), kw.get("a", -2.0), kw.get("b", 2.0))
        if n in ("zeros_", "ones_", "constant_"):
            return ("constant", {"zeros_": 0.0, "ones_": 1.0}.get(n, kw.get("value")))
        scale, mode, dist = self.scheme
        need = {"fan_in": ("fan_in",), "fan_out": ("fan_out",), "fan_avg": ("fan_in", "fan_out")}[mode]
        given = {"fan_in": kw.get("fan_in"), "fan_out": kw.get("fan_out")}
        if all(given[k] is not None for k in need):
            f_in, f_out = given["fan_in"], given["fan_out"]
        else:
            f_in, f_out = fans(gshape, kw.get("layout", "out_in"))
            f_in = f_in if given["fan_in"] is None else given["fan_in"]
            f_out = f_out if given["fan_out"] is None else given["fan_out"]
        count = {"fan_in": f_in, "fan_out": f_out}.get(mode) or (f_in + f_out) / 2.0
        variance = scale / count
        if dist == "uniform":
            limit = math.sqrt(3.0 * variance)
            return ("uniform", -limit, limit)
        if dist == "normal":
            return ("normal", 0.0, math.sqrt(variance))
        std = math.sqrt(variance) / TRUNC_STD_2SIGMA
        return ("trunc", 0.0, std, -2.0 * std, 2.0 * std)


_GRIDS = {}


def grid16(dtype):
    """Every finite value of a 16-bit dtype, sorted, as float64 (-0 left out)."""
    if dtype not in _GRIDS:
        b = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
        with np.errstate(invalid="ignore"):
            v = b.view(dtype).astype(np.float64)
        _GRIDS[dtype] = np.unique(v[np.isfinite(v) & (b != 0x8000)])
    return _GRIDS[dtype]


def inward(a, b, dtype):
    """(a', b'): the smallest value of ``dtype`` >= a and the largest <= b
    (docs/contract.md, "Bounds win over rounding"), as float64; None if none lies in [a, b]."""
    if dtype == np.float64:
        return a, b
    if dtype == np.float32:
        lo, hi = np.float32(a), np.float32(b)
        lo = np.nextafter(lo, np.float32(np.inf)) if float(lo) < a else lo
        hi = np.nextafter(hi, np.float32(-np.inf)) if float(hi) > b else hi
        lo, hi = float(lo), float(hi)
    else:
        grid = grid16(dtype)
        i, j = np.searchsorted(grid, a, "left"), np.searchsorted(grid, b, "right") - 1
        if i >= grid.size or j < 0:
            return None
        lo, hi = float(grid[i]), float(grid[j])
    return (lo, hi) if lo <= hi else None


def f(x, dtype):
    """A parameter rounded to the family's float type, as float64."""
    return float(np.float64(x)) if dtype == np.float64 else float(np.float32(x))


def check_values(x, dtype, law, g, seed, stream, f32_shard=None):
    """Check the values ``x`` (a copy of the view) of global indices ``g``
    against the reference; ``f32_shard``: the same shard filled as float32
    (for the 16-bit normals)."""
    kind = law[0]
    if x.size == 0:
        return
    # flat from here on (0-d too); messages give the flat C-order position in the view
    x, g = x.reshape(-1), g.reshape(-1)
    if f32_shard is not None:
        f32_shard = f32_shard.reshape(-1)
    if kind == "constant":
        want = np.full(x.shape, np.float64(law[1]) if dtype == np.float64 else np.float32(law[1])).astype(dtype)
        np.testing.assert_array_equal(bits(x), bits(want), err_msg=f"constant {law[1]!r}")
        return
    if kind == "uniform":
        _, low, high = law
        if dtype == np.float64:
            lo, hi = np.float64(low), np.float64(high)
            want = fma64(hi - lo, ref.uniform01_64(words64(g, seed, stream)), lo)
        else:
            want = ref.uniform32(words32(g, seed, stream), low, high).astype(dtype)
        bad = np.nonzero(bits(x) != bits(want))
        assert bad[0].size == 0, (f"uniform({low!r}, {high!r}) {dtype}: {bad[0].size} of {x.size} elements differ, "
                                  f"first at {tuple(int(i[0]) for i in bad)} (global {int(g[bad][0])}): "
                                  f"{x[bad][0]!r} vs {want[bad][0]!r}")
        return
    if dtype in SIXTEEN:
        # the float32 value rounded to nearest even (truncated: clamped to
        # the dtype's values in [a, b] first); the float32 values themselves
        # are checked against the reference
        x32 = f32_shard.astype(np.float32)
        if kind == "trunc":
            lo, hi = inward(law[3], law[4], dtype)
            x32 = np.where(x32 < lo, np.float32(lo), np.where(x32 > hi, np.float32(hi), x32))
        want = x32.astype(dtype)
        bad = np.nonzero(bits(x) != bits(want))
        assert bad[0].size == 0, (f"{law} {dtype}: {bad[0].size} of {x.size} elements are not the float32 fill "
                                  f"rounded, first at {tuple(int(i[0]) for i in bad)}: {x[bad][0]!r} vs "
                                  f"{want[bad][0]!r} (float32 {f32_shard[bad][0]!r})")
        if kind == "trunc":
            xv = x.astype(np.float64)
            assert xv.min() >= law[3] and xv.max() <= law[4], \
                f"{law} {dtype}: outside [a, b]: {xv.min()!r}, {xv.max()!r}"
        check_values(f32_shard, np.dtype(np.float32), law, g, seed, stream)
        return
    wide = dtype == np.float64
    w = words64(g, seed, stream) if wide else words32(g, seed, stream)
    xv = x.astype(np.float64)
    spacing = np.abs(np.spacing(x)).astype(np.float64)
    if kind == "normal":
        _, mean, std = law
        z = ref.std_normal64(w) if wide else ref.std_normal32(w)
        tol = 1e-12 if wide else 2e-6
        if f(std, dtype) == 0:
            # exact: fma(std, z, mean) = std * z + mean, signed zeros as IEEE adds them
            ft = np.float64 if wide else np.float32
            exact = (ft(f(std, dtype)) * np.where(z < 0, ft(-1), ft(1))) + ft(f(mean, dtype))
            np.testing.assert_array_equal(bits(x), bits(exact.astype(dtype)), err_msg=f"normal({mean!r}, {std!r})")
        want = f(mean, dtype) + f(std, dtype) * z
        slack = f(std, dtype) * tol * np.maximum(1.0, np.abs(z)) + np.maximum(
            spacing, np.abs(np.spacing(want.astype(dtype))).astype(np.float64)) * (2 if wide else 1)
    else:
        _, mean, std, a, b = law
        alpha, beta = (a - mean) / std, (b - mean) / std
        z = ref.std_trunc(w, 64 if wide else 32, alpha, beta)
        tol = 1e-12 if wide else 1e-5
        lo, hi = inward(a, b, dtype)
        assert xv.min() >= a and xv.max() <= b, f"{law} {dtype}: outside [a, b]: {xv.min()!r}, {xv.max()!r}"
        assert xv.min() >= lo and xv.max() <= hi
        want = np.clip(f(mean, dtype) + f(std, dtype) * z, lo, hi)
        slack = f(std, dtype) * tol * np.maximum(1.0, np.abs(z)) + np.maximum(
            spacing, np.abs(np.spacing(want.astype(dtype))).astype(np.float64)) * (2 if wide else 1)
    err = np.abs(xv - want)
    bad = np.nonzero(~(err <= slack))
    assert bad[0].size == 0, (f"{law} {dtype}: {bad[0].size} of {x.size} elements beyond the tolerance, first at "
                              f"{tuple(int(i[0]) for i in bad)} (global {int(g[bad][0])}, word {int(w[bad][0])}): "
                              f"{xv[bad][0]!r} vs {want[bad][0]!r}, z {z[bad][0]!r}, allowed {slack[bad][0]!r}")


# ------------------------------------------------------------------ threads
@contextlib.contextmanager
def threads(k, grain):
    """Fills on ``k`` threads (numba.set_num_threads, clamped to
    NUMBA_NUM_THREADS; above it the cut into ``k`` pieces is forced through
    ``_threads.num_threads``), at least ``grain`` elements per thread."""
    top = numba.config.NUMBA_NUM_THREADS
    saved = numba.get_num_threads(), _threads.GRAIN, _threads.CONSTANT_GRAIN, _threads.num_threads
    assert callable(saved[3])
    try:
        numba.set_num_threads(min(k, top))
        _threads.GRAIN = _threads.CONSTANT_GRAIN = grain
        if k > top:
            _threads.num_threads = lambda: k
        yield
    finally:
        numba.set_num_threads(saved[0])
        _threads.GRAIN, _threads.CONSTANT_GRAIN, _threads.num_threads = saved[1:]


_QUIET = [("ignore", "Initializing zero-element tensors is a no-op"), ("ignore", "trunc_normal_: the bounds")]


def call(filler, buf, seed, stream, gshape, offsets):
    kw = dict(filler.kwargs)
    if gshape is not None:
        kw["global_shape"] = gshape
        if offsets is not None:
            kw["offsets"] = offsets
    with warnings.catch_warnings():
        # expected warnings (zero-element fan-based fills; trunc_normal_ bounds
        # further than 6 std): tested in test_contract.py / test_bad_input.py
        for action, message in _QUIET:
            warnings.filterwarnings(action, message=message, category=UserWarning)
        return getattr(fi, filler.name)(buf, seed=seed, stream=stream, **kw)


# ------------------------------------------------------------------ drawn fillers
finite = dict(allow_nan=False, allow_infinity=False)
FAN_FILLERS = ["xavier_uniform_", "xavier_normal_", "he_uniform_", "he_normal_", "lecun_uniform_",
               "lecun_normal_", "variance_scaling_"]
ALIASES = {"xavier_uniform_": "glorot_uniform_", "xavier_normal_": "glorot_normal_",
           "he_uniform_": "kaiming_uniform_", "he_normal_": "kaiming_normal_"}


@st.composite
def fillers(draw, name, ndim):
    if name == "uniform_":
        low = draw(st.floats(-1e4, 1e4, **finite))
        width = draw(st.one_of(st.just(0.0), st.floats(0.0, 1e4, **finite)))
        return Filler(name, dict(low=low, high=low + width))
    if name == "normal_":
        # signed zeros too: with std = 0 the value is exact (checked bit for bit)
        mean = draw(st.one_of(st.floats(-100, 100, **finite), st.sampled_from([0.0, -0.0])))
        std = draw(st.one_of(st.floats(0.0, 100, **finite), st.sampled_from([0.0, -0.0])))
        return Filler(name, dict(mean=mean, std=std))
    if name == "trunc_normal_":
        mean = draw(st.floats(-10, 10, **finite))
        std = draw(st.floats(1e-3, 10, **finite))
        alpha = draw(st.floats(-9, 9, **finite))
        beta = alpha + draw(st.floats(1e-3, 12, **finite))
        return Filler(name, dict(mean=mean, std=std, a=mean + alpha * std, b=mean + beta * std))
    if name == "constant_":
        value = draw(st.one_of(st.floats(-1e4, 1e4, **finite), st.sampled_from(
            [0.0, -0.0, 1.0, 0.1, -1e-7, 3e-8, 65504.0, 65519.0, 1e-30])))
        return Filler(name, dict(value=value))
    if name in ("zeros_", "ones_"):
        return Filler(name, {})
    # fan-based: layout, explicit fans (always both below 2 dimensions)
    kw = {}
    if draw(st.booleans()):
        kw["layout"] = draw(st.sampled_from(["out_in", "in_out"]))
    for fan in ("fan_in", "fan_out"):
        if ndim < 2 or draw(st.integers(0, 3)) == 0:
            kw[fan] = draw(st.integers(1, 10_000))
    base = name.split("[")[0]
    if base.startswith("xavier"):
        g = draw(st.one_of(st.just(None), st.floats(0.1, 5.0, **finite)))
        if g is not None:
            kw["gain"] = g
        scheme = ((1.0 if g is None else g) ** 2, "fan_avg", "uniform" if base == "xavier_uniform_" else "normal")
    elif base.startswith("he"):
        slope = draw(st.floats(0.0, 1.0, **finite))
        mode = draw(st.sampled_from(["fan_in", "fan_out"]))
        nonlin = draw(st.sampled_from(NONLINEARITIES))
        kw.update(a=slope, mode=mode, nonlinearity=nonlin)
        scheme = (gain(nonlin, slope) ** 2, mode, "uniform" if base == "he_uniform_" else "normal")
    elif base.startswith("lecun"):
        scheme = (1.0, "fan_in", "uniform" if base == "lecun_uniform_" else "truncated_normal")
    else:
        dist = name.split("[")[1].rstrip("]")
        scale = draw(st.floats(0.01, 10.0, **finite))
        mode = draw(st.sampled_from(["fan_in", "fan_out", "fan_avg"]))
        kw.update(scale=scale, mode=mode, distribution=dist)
        scheme = (scale, mode, dist)
    fn = base
    if base in ALIASES and draw(st.booleans()):
        fn = ALIASES[base]
    return Filler(fn, kw, scheme)


VALID = ["uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_", "he_uniform_",
         "he_normal_", "lecun_uniform_", "lecun_normal_", "variance_scaling_[truncated_normal]",
         "variance_scaling_[normal]", "variance_scaling_[uniform]", "zeros_", "ones_", "constant_"]
seeds = st.integers(0, (1 << 64) - 1)
streams = st.one_of(st.integers(0, (1 << 64) - 1), st.text(st.characters(codec="utf-8"), max_size=12))


@pytest.mark.parametrize("name", VALID)
@examples(60)
@given(data=st.data())
def test_fill_follows_the_contract(name, data):
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(shapes(), label="shape")
    lay = data.draw(layouts(shape), label="layout")
    gshape, offsets = data.draw(shards(shape), label="global_shape, offsets")
    filler = data.draw(fillers(name, len(shape)), label="filler")
    seed = data.draw(seeds, label="seed")
    stream = data.draw(streams, label="stream")
    k1 = data.draw(st.integers(1, 4), label="threads")
    k2 = data.draw(st.sampled_from([k for k in range(1, 5) if k != k1]), label="threads, second run")
    grain = data.draw(st.sampled_from([4, 16, 64, 1000]), label="grain")
    note(lay.describe())
    plain = lay.order == "C" and not lay.axes and all(d == (0, 1, 0) for d in lay.dims)
    event(f"{dtype}, {len(shape)}-d, layout {'0-d' if not shape else 'C' if plain else 'other'}")

    gs = tuple(gshape) if gshape is not None else tuple(shape)
    offs = tuple(offsets) if offsets is not None else (0,) * len(shape)
    size = math.prod(shape)
    law = filler.law(gs) if size or filler.scheme is None else None
    refused = law is not None and law[0] == "trunc" and inward(law[3], law[4], dtype) is None

    base, view, mask = lay.make(dtype)
    before = base.copy()
    with threads(k1, grain):
        event(f"pieces: {_threads.threads_for(size, grain)}")
        event(f"elements: {'0' if size == 0 else f'< 10^{len(str(size))}'}")
        if refused:
            # no value of the dtype lies in [a, b]: rejected, nothing written
            with pytest.raises(ValueError):
                call(filler, view, seed, stream, gshape, offsets)
            np.testing.assert_array_equal(bits(base), bits(before))
            return
        assert call(filler, view, seed, stream, gshape, offsets) is view

    # (3) only the view's elements are written
    outside = bits(base)[~mask]
    assert np.all(outside == SENTINEL[base.itemsize]), "wrote outside the view"
    got = view.copy()
    if law is None:                                   # a no-op: zero elements
        np.testing.assert_array_equal(bits(base), bits(before))
        return

    # (2) another thread count, and a C-contiguous buffer of the shard on one thread
    base2, view2, _ = lay.make(dtype)
    with threads(k2, grain):
        call(filler, view2, seed, stream, gshape, offsets)
    np.testing.assert_array_equal(bits(base2), bits(base), err_msg=f"threads {k1} vs {k2}")
    contiguous = np.empty(shape, dtype)
    with threads(1, _threads.GRAIN):
        call(filler, contiguous, seed, stream, gshape, offsets)
    np.testing.assert_array_equal(bits(got), bits(contiguous), err_msg="the view vs a C-contiguous buffer")

    # (1) the reference at the global indices
    g = global_indices(shape, gs, offs)
    f32_shard = None
    if dtype in SIXTEEN and law[0] in ("normal", "trunc"):
        f32_shard = np.empty(shape, np.float32)
        call(filler, f32_shard, seed, stream, gshape, offsets)
    check_values(got, dtype, law, g, seed, stream, f32_shard)


# ------------------------------------------------------------------ invalid inputs
INVALID = ["negative_std", "low_above_high", "a_not_below_b", "offsets_do_not_fit", "global_shape_length",
           "read_only", "integer_dtype", "zero_stride", "overlapping_rows",
           "float16_uniform_out_of_range", "float16_normal_out_of_range",
           "normal_overflows_dtype", "uniform_rounds_to_inf_bfloat16", "variance_scaling_overflows_float16"]


@st.composite
def plain_buffers(draw, dtypes=DTYPES, nonempty=False, max_size=2000):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes(max_size=max_size, max_ndim=4, nonempty=nonempty))
    lay = draw(layouts(shape))
    return (dtype, lay)


@pytest.mark.parametrize("case", INVALID)
@examples(20)
@given(data=st.data())
def test_invalid_input_is_refused_untouched(case, data):
    seed = data.draw(seeds, label="seed")
    if case == "integer_dtype":
        dtype = np.dtype(data.draw(st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint16, np.uint64])))
        shape = data.draw(shapes(max_size=500, max_ndim=3))
        base = np.arange(math.prod(shape), dtype=dtype).reshape(shape)
        view = base
    elif case == "zero_stride":
        # a broadcast (np.broadcast_to's zero stride) over a writable row:
        # as_strided of np.broadcast_to itself stays read-only
        dtype = data.draw(st.sampled_from(DTYPES))
        n, m = data.draw(st.integers(2, 9)), data.draw(st.integers(1, 9))
        base = np.empty(m, dtype)
        bits(base)[...] = SENTINEL[base.itemsize]
        s = base.itemsize
        strides = data.draw(st.sampled_from([(0, s), (s, 0)]))
        shape = (n, m) if strides == (0, s) else (m, n)
        view = np.lib.stride_tricks.as_strided(base, shape, strides, writeable=True)
        assert view.flags.writeable and 0 in view.strides
    elif case == "overlapping_rows":
        # rows that overlap: row i starts t columns after row i-1, t < the row's length
        dtype = data.draw(st.sampled_from(DTYPES))
        n, m = data.draw(st.integers(2, 9)), data.draw(st.integers(2, 9))
        c = data.draw(st.integers(1, 3))
        t = data.draw(st.integers(1, m - 1))
        span = (n - 1) * t * c + (m - 1) * c + 1
        base = np.empty(span, dtype)
        bits(base)[...] = SENTINEL[base.itemsize]
        s = base.itemsize
        view = np.lib.stride_tricks.as_strided(base, (n, m), (t * c * s, c * s), writeable=True)
        if data.draw(st.booleans()):
            view = view.T
        addrs = {int(i) * view.strides[0] + int(j) * view.strides[1] for i in range(view.shape[0])
                 for j in range(view.shape[1])}
        assert len(addrs) < view.size
    else:
        dtypes = DTYPES
        if case.startswith("float16"):
            dtypes = [np.dtype(np.float16)]
        elif case == "uniform_rounds_to_inf_bfloat16":
            dtypes = [BF16]
        elif case == "variance_scaling_overflows_float16":
            dtypes = [np.dtype(np.float16)]
        # the out-of-range cases on buffers with elements: whether a zero-element
        # fill must refuse parameters that no element could take is left open
        nonempty = case.startswith(("float16", "normal_overflows", "uniform_rounds", "variance_scaling"))
        dtype, lay = data.draw(plain_buffers(dtypes, nonempty=nonempty), label="buffer")
        base, view, _ = lay.make(dtype)
        if case == "read_only":
            base.flags.writeable = False
            view = lay.view(base)
    note(f"{case}: {dtype}, view shape {view.shape}, strides {view.strides}")
    before = base.copy()
    shape = view.shape

    def fill(fn, *args, **kw):
        return getattr(fi, fn)(view, *args, seed=seed, **kw)

    if case == "negative_std":
        std = data.draw(st.floats(max_value=-1e-300, min_value=-1e6, **finite), label="std")
        fn = data.draw(st.sampled_from(["normal_", "trunc_normal_"]))
        thunk = lambda: fill(fn, 0.0, std)                                            # noqa: E731
    elif case == "low_above_high":
        high = data.draw(st.floats(-1e4, 1e4, **finite), label="high")
        low = data.draw(st.floats(-1e4, 1e4, **finite).filter(lambda x: x > high), label="low")
        thunk = lambda: fill("uniform_", low, high)                                   # noqa: E731
    elif case == "a_not_below_b":
        a = data.draw(st.floats(-10, 10, **finite), label="a")
        b = data.draw(st.one_of(st.just(a), st.floats(-10, 10, **finite).filter(lambda x: x <= a)), label="b")
        thunk = lambda: fill("trunc_normal_", 0.0, 1.0, a, b)                        # noqa: E731
    elif case == "offsets_do_not_fit":
        d = len(shape)
        if d == 0:
            gshape, offsets = (3,), (0,)          # a 0-d buffer has no dimension to place
        else:
            k = data.draw(st.integers(0, d - 1), label="dimension")
            gshape = [n + data.draw(st.integers(0, 3)) for n in shape]
            offsets = [data.draw(st.integers(0, g - n)) for g, n in zip(gshape, shape)]
            offsets[k] = gshape[k] - shape[k] + data.draw(st.integers(1, 5), label="past the end by")
        fn = data.draw(st.sampled_from(["normal_", "uniform_", "zeros_", "xavier_uniform_"]))
        kw = dict(fan_in=3, fan_out=3) if fn == "xavier_uniform_" else {}
        thunk = lambda: fill(fn, global_shape=tuple(gshape), offsets=tuple(offsets), **kw)   # noqa: E731
    elif case == "global_shape_length":
        d = len(shape)
        length = data.draw(st.integers(0, d + 2).filter(lambda x: x != d), label="length")
        gshape = tuple(list(shape)[:length] + [7] * max(0, length - d))
        offsets = data.draw(st.sampled_from([None, (0,) * length, (0,) * d]), label="offsets")
        fn = data.draw(st.sampled_from(["normal_", "trunc_normal_", "ones_", "he_normal_"]))
        kw = dict(fan_in=3, fan_out=3) if fn == "he_normal_" else {}
        thunk = lambda: fill(fn, global_shape=gshape, offsets=offsets, **kw)        # noqa: E731
    elif case in ("read_only", "integer_dtype", "zero_stride", "overlapping_rows"):
        fn = data.draw(st.sampled_from(["normal_", "uniform_", "trunc_normal_", "zeros_", "constant_", "he_uniform_"]))
        args = (0.5,) if fn == "constant_" else ()
        kw = dict(fan_in=3, fan_out=3) if fn == "he_uniform_" else {}
        thunk = lambda: fill(fn, *args, **kw)                                         # noqa: E731
    elif case == "float16_uniform_out_of_range":
        x = data.draw(st.floats(7e4, 1e6, **finite), label="bound")
        low, high = data.draw(st.sampled_from([(-x, x), (0.0, x), (-x, 0.0), (x, x), (-x, -x), (-1e5, 1e5)]))
        thunk = lambda: fill("uniform_", low, high)                                   # noqa: E731
    elif case == "float16_normal_out_of_range":
        if data.draw(st.booleans()):
            mean, std = data.draw(st.floats(-10, 10, **finite)), data.draw(st.floats(2e4, 1e6, **finite))
        else:
            mean = data.draw(st.sampled_from([-1, 1])) * data.draw(st.floats(7e4, 1e6, **finite))
            std = data.draw(st.floats(0.0, 10.0, **finite))
        thunk = lambda: fill("normal_", mean, std)                                    # noqa: E731
    elif case == "normal_overflows_dtype":
        # |z| reaches 6.34 (float64: 9.3): std * 6.34 beyond the dtype's largest value
        big = {np.dtype(np.float32): 1e38, np.dtype(np.float64): 1e308, np.dtype(np.float16): 1e5, BF16: 1e38}[dtype]
        std = big * data.draw(st.floats(0.6, 1.0, **finite))
        thunk = lambda: fill("normal_", 0.0, std)                                     # noqa: E731
    elif case == "uniform_rounds_to_inf_bfloat16":
        # finite in float32, but above bfloat16's largest value plus half its
        # last step (3.3961e38): such a value rounds to inf
        high = data.draw(st.floats(3.3975e38, 3.4e38, **finite))
        low = data.draw(st.sampled_from([0.0, high, -high]))
        thunk = lambda: fill("uniform_", low, high)                                   # noqa: E731
    elif case == "variance_scaling_overflows_float16":
        dist = data.draw(st.sampled_from(["uniform", "normal"]))
        scale = data.draw(st.floats(1e10, 1e14, **finite))
        thunk = lambda: fill("variance_scaling_", scale, "fan_in", dist, fan_in=1, fan_out=1)   # noqa: E731
    else:
        raise AssertionError(case)

    with warnings.catch_warnings():
        for action, message in _QUIET:
            warnings.filterwarnings(action, message=message, category=UserWarning)
        with pytest.raises((TypeError, ValueError)):
            thunk()
    assert before.tobytes() == base.tobytes(), "the buffer changed"


# ------------------------------------------------------------------ the test's own helpers
@st.composite
def fma_arguments(draw):
    """(scale, u, low) as the float64 uniform has them; half of them with
    scale * u placed within a few ulps of an odd multiple of half of low's
    ulp, so that scale * u + low lies next to a midpoint (where two
    roundings would go wrong)."""
    k = draw(st.integers(1, (1 << 53) - 1))
    u = k * 2.0 ** -53
    low = draw(st.floats(-1e5, 1e5, **finite))
    if draw(st.booleans()):
        return draw(st.floats(1e-6, 1e5, **finite)), u, low
    low = low or 1.0
    half = float(np.spacing(np.float64(abs(low)))) / 2
    a = half * (2 * draw(st.integers(0, 1000)) + 1) / u
    for _ in range(draw(st.integers(-3, 3)) % 7):
        a = float(np.nextafter(a, draw(st.sampled_from([np.inf, -np.inf]))))
    return a, u, low


@examples(40)
@given(st.lists(fma_arguments(), min_size=1, max_size=50))
def test_fma64_matches_fractions(triples):
    """``fma64`` against ``ref.fma64_exact`` on the uniform's arguments."""
    a, u, c = (np.array(x, np.float64) for x in zip(*triples))
    np.testing.assert_array_equal(fma64(a, u, c), ref.fma64_exact(a, u, c))


@examples(40)
@given(st.lists(st.integers(0, (1 << 62) - 1), min_size=1, max_size=40), seeds,
       st.one_of(st.integers(0, (1 << 64) - 1), st.text(max_size=5)))
def test_word_lookup_matches_reference(gs, seed, stream):
    """``words32`` / ``words64`` here (block runs) against the reference's own."""
    g = np.array(gs + [x + 1 for x in gs[:5]], np.uint64)
    np.testing.assert_array_equal(words32(g, seed, stream), ref.words32(g, seed, stream))
    np.testing.assert_array_equal(words64(g, seed, stream), ref.words64(g, seed, stream))
