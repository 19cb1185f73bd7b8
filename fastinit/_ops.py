"""The primitives numba lacks, as intrinsics, and the kernels' build options:

* ``jitable`` and ``JIT_OPTIONS``: how every value-path function is compiled;
* ``fma`` and the bit casts (``f32_to_bits`` ...), target-neutral;
* ``f32_to_f16_native`` and ``native_f16``: the hardware float32 -> float16
  conversion, where the host has one;
* CPU code-generation hints (``prefer_vector_width``, ``runtime_value``)
  and non-temporal stores (``store_nontemporal``, ``store_fence``);
* ``source_digest``: the part of a kernel's cache key that names its sources.

The target-neutral functions have three faces:

* a plain Python implementation that is *exact* (used when the math is run
  in the Python interpreter, e.g. by the numba-cuda simulator, whose own
  ``cuda.fma`` is unfused);
* a numba ``@intrinsic`` that emits the LLVM instruction directly
  (``llvm.fma.*``, ``bitcast``).  Intrinsics are registered for the generic
  target, so the same lowering serves the CPU and the CUDA (NVVM) targets;
* an ``@overload`` tying the two together, so that jitted code calling
  ``fma(a, b, c)`` gets the intrinsic.

Integer conventions: random words and bit patterns travel as
``uint64`` holding 32-bit values, masked after every operation that could
carry; the bit casts below take and return ``uint64``.
"""
import hashlib
import math
import platform
from fractions import Fraction

import numpy as np
from numba.core import types
from numba.extending import intrinsic, overload, register_jitable
from llvmlite import ir


# ---------------------------------------------------------------- jitable
#: The compile options of every numba function of the value path, the CPU
#: kernels included (``_cpu_loops.jit``): numba compiles a helper once per set of
#: compile flags of its *caller* (they are part of its overload cache key),
#: so with one set for all, each helper is compiled once per process.
JIT_OPTIONS = dict(forceinline=True, error_model="numpy", nogil=True)


def jitable(fn):
    """``register_jitable`` with the options every value-path function needs.

    * ``forceinline``: LLVM must inline the whole value path into the kernel
      loop, or the loop does not vectorise (a call returning numba's status
      code is an early exit).  Its inliner otherwise decides by size, so a
      small change to a transform could silently make a kernel 10x slower.
    * ``error_model="numpy"``: a float division does not test for zero and
      raise (another early exit); our divisors are never zero.
    * ``nogil``: the CPU kernels release the GIL (they share these options,
      see ``JIT_OPTIONS``); it means nothing to a helper or on a GPU.
    """
    return register_jitable(**JIT_OPTIONS)(fn)


# ---------------------------------------------------------------- fma
def _round_fraction_to_f32(exact):
    """Round an exact rational to the nearest float32, ties to even."""
    r = np.float32(float(exact))          # within one float32 ulp of exact
    best = None
    for c in (np.nextafter(r, np.float32(-np.inf)), r, np.nextafter(r, np.float32(np.inf))):
        if not np.isfinite(c):
            continue
        d = abs(Fraction(float(c)) - exact)
        even = (int(np.array(c).view(np.uint32)) & 1) == 0
        key = (d, not even)
        if best is None or key < best[0]:
            best = (key, c)
    return best[1]


def fma_exact(a, b, c):
    """``fma`` by exact rational arithmetic: the reference."""
    exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
    if isinstance(a, np.float32):
        return _round_fraction_to_f32(exact)
    return np.float64(float(exact))      # Fraction.__float__ rounds correctly


def fma(a, b, c):
    """``a * b + c`` with a single rounding, in the type of ``a``.

    In jitted code this is ``llvm.fma`` (one instruction on AVX-512 and on
    NVIDIA GPUs).  In the interpreter (the CUDA simulator) it is computed
    exactly, so interpreted runs reproduce compiled bits.  float32: the
    product of two float32 is exact in float64 and TwoSum gives the sum's
    rounding error, so float64 arithmetic decides every case but the one
    where the float64 sum falls exactly halfway between two float32 and is
    not exact; the error's sign settles that one.  float64: ``fma_exact``.
    """
    if not isinstance(a, np.float32):
        return fma_exact(a, b, c)
    p = float(a) * float(b)
    q = float(c)
    s = p + q
    if not math.isfinite(s):
        return fma_exact(a, b, c)
    t = s - p
    err = (p - (s - t)) + (q - t)            # TwoSum: s + err == p + q exactly
    r = np.float32(s)
    if err != 0.0 and float(r) != s:
        other = np.nextafter(r, np.float32(math.copysign(math.inf, s - float(r))))
        if s - float(r) == float(other) - s:                 # s is a float32 tie: not the exact value's
            up = err > 0.0
            lo, hi = (r, other) if float(r) < float(other) else (other, r)
            r = hi if up else lo
    return r


@intrinsic
def _fma_intrinsic(typingctx, a, b, c):
    if isinstance(a, types.Float) and a == b and b == c:
        def codegen(context, builder, signature, args):
            return builder.fma(*args)
        return a(a, b, c), codegen
    return None


@overload(fma)
def _fma_overload(a, b, c):
    if isinstance(a, types.Float) and a == b and b == c:
        return lambda a, b, c: _fma_intrinsic(a, b, c)
    return None


# ---------------------------------------------------------------- bit casts
def f32_to_bits(x):
    """The IEEE bits of a float32, as a uint64 in [0, 2^32)."""
    return np.uint64(np.array(x, dtype=np.float32).view(np.uint32))


def bits_to_f32(u):
    """The float32 whose bits are the low 32 bits of ``u``."""
    return np.array(np.uint32(int(u) & 0xFFFFFFFF)).view(np.float32)[()]


def f64_to_bits(x):
    """The IEEE bits of a float64, as a uint64."""
    return np.array(x, dtype=np.float64).view(np.uint64)[()]


def bits_to_f64(u):
    """The float64 whose bits are ``u``."""
    return np.array(np.uint64(u)).view(np.float64)[()]


def u32_to_f32(u):
    """float32(u) rounded to nearest even, for a uint64 u < 2^32."""
    return np.float32(np.uint32(u))


@intrinsic
def _u32_to_f32(typingctx, u):
    # converting the low 32 bits lets AVX-512 convert 16 lanes at once
    # (vcvtudq2ps) instead of 8 (vcvtuqq2ps from 64-bit lanes)
    if isinstance(u, types.Integer) and u.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.uitofp(builder.trunc(args[0], ir.IntType(32)), ir.FloatType())
        return types.float32(u), codegen
    return None


@intrinsic
def _f32_to_bits(typingctx, x):
    if x == types.float32:
        def codegen(context, builder, signature, args):
            return builder.zext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))
        return types.uint64(x), codegen
    return None


@intrinsic
def _bits_to_f32(typingctx, u):
    if isinstance(u, types.Integer) and u.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(builder.trunc(args[0], ir.IntType(32)), ir.FloatType())
        return types.float32(u), codegen
    return None


@intrinsic
def _f64_to_bits(typingctx, x):
    if x == types.float64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.IntType(64))
        return types.uint64(x), codegen
    return None


@intrinsic
def _bits_to_f64(typingctx, u):
    if isinstance(u, types.Integer) and u.bitwidth == 64:
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], ir.DoubleType())
        return types.float64(u), codegen
    return None


def f32_to_f16_native(x):
    """The float16 bits of float32 x rounded to nearest even (IEEE
    conversion: subnormals, overflow to inf, NaN kept quiet), as a uint64."""
    with np.errstate(over="ignore"):
        return np.uint64(np.float32(x).astype(np.float16).view(np.uint16))


@intrinsic
def _f32_to_f16_native(typingctx, x):
    # LLVM's fptrunc to half: one vcvtps2ph per 16 lanes with F16C (and
    # cvt.rn.f16.f32 in PTX); without F16C it is a call to __truncsfhf2,
    # which numba's JIT cannot link, so callers check native_f16() first.
    if x == types.float32:
        def codegen(context, builder, signature, args):
            h = builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))
            return builder.zext(h, ir.IntType(64))
        return types.uint64(x), codegen
    return None


def native_f16():
    """Whether numba's CPU target compiles float32 -> float16 to F16C
    instructions: the host has them and NUMBA_CPU_NAME / NUMBA_CPU_FEATURES
    (which fix the target, e.g. "generic" for portable caches) keep them."""
    from numba.core import config
    from llvmlite import binding
    feats = config.CPU_FEATURES
    if feats is None:
        feats = binding.get_host_cpu_features().flatten()
    return "+f16c" in feats.split(",")


for _py, _jit in ((u32_to_f32, _u32_to_f32), (f32_to_f16_native, _f32_to_f16_native),
                  (f32_to_bits, _f32_to_bits), (bits_to_f32, _bits_to_f32),
                  (f64_to_bits, _f64_to_bits), (bits_to_f64, _bits_to_f64)):
    def _make(jit_fn):
        def _ov(x):
            return lambda x: jit_fn(x)
        return _ov
    overload(_py)(_make(_jit))
del _py, _jit


#: The vector width the CPU kernels ask LLVM for.  LLVM's tuning for Intel's
#: AVX-512 server cores (Skylake-SP, Ice Lake-SP and later) prefers 256-bit
#: vectors to spare the clock; the float loops of the normals then run 8
#: float32 lanes where the machine has 16 (bench/NOTES.md: 512-bit loops
#: took the log from 0.44 to 0.33 ns per element, the inverse CDF's common
#: branch from 0.35 to 0.19).  Where the machine has no 512-bit vectors LLVM
#: uses the widest it has.
VECTOR_BITS = 512


@intrinsic
def prefer_vector_width(typingctx):
    """Called in a CPU kernel's own body (an intrinsic, so that it lowers
    into the kernel, not into a function of its own): LLVM vectorises the
    kernel's loops ``VECTOR_BITS`` wide."""
    def codegen(context, builder, signature, args):
        # a string attribute of the function being lowered: llvmlite's
        # attribute set takes only its list of known names
        set.add(builder.function.attributes, f'"prefer-vector-width"="{VECTOR_BITS}"')
        return context.get_dummy_value()
    return types.none(), codegen


@intrinsic
def runtime_value(typingctx, x):
    """``x`` (any value: a scalar, a tuple of constants), as a value the
    compiler cannot see through.  A CPU kernel calls it once, before its
    loops, on the constants of a transform (``_values.STAGED_NORMAL``): LLVM
    then broadcasts them into vector registers ahead of the loop, instead
    of loading each from the constant pool on every use, which numba's
    large code model makes two instructions (an address, then the load).
    The values are unchanged, so are the bits (bench/NOTES.md, "Constants
    in registers": the float32 log loop 24 -> 13 cycles per 16 elements).

    It stores ``x`` to the stack and reads it back after an empty inline
    assembly statement that takes the slot's address and may write memory:
    valid on every target, and no instruction is emitted for it."""
    def codegen(context, builder, signature, args):
        slot = builder.alloca(args[0].type)
        builder.store(args[0], slot)
        barrier = ir.InlineAsm(ir.FunctionType(ir.VoidType(), [slot.type]), "", "r,~{memory}",
                               side_effect=True)
        builder.call(barrier, [slot])
        return builder.load(slot)
    return x(x), codegen


#: Non-temporal stores: x86-64 has them (``movntps`` and
#: kin, ordered by ``sfence``).
NONTEMPORAL = platform.machine().lower() in ("x86_64", "amd64")
#: Bytes one non-temporal store writes: a cache line.
NONTEMPORAL_BYTES = 64


@intrinsic
def store_nontemporal(typingctx, arr, i, v):
    """Write ``NONTEMPORAL_BYTES`` of copies of ``v`` at ``arr[i:]``, bypassing
    the caches (a non-temporal store): no read for ownership and no
    eviction of what the caches hold.  ``arr[i]`` must be aligned to
    ``NONTEMPORAL_BYTES``; ``store_fence`` orders the stores before anything
    another thread does after."""
    if not isinstance(arr, types.Array) or arr.dtype != v:
        return None

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        elt = context.get_value_type(aryty.dtype)
        vty = ir.VectorType(elt, NONTEMPORAL_BYTES // context.get_abi_sizeof(elt))
        vec = ir.Constant(vty, ir.Undefined)
        for k in range(vty.count):
            vec = builder.insert_element(vec, args[2], ir.Constant(ir.IntType(32), k))
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]], inbounds=True), vty.as_pointer())
        store = builder.store(vec, ptr, align=NONTEMPORAL_BYTES)
        store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()
    return types.none(arr, i, v), codegen


@intrinsic
def store_fence(typingctx):
    """``sfence``: non-temporal stores before it are visible before any store after it."""
    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), []))
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.none(), codegen


def _stable_identity(*intrinsics):
    """Give intrinsics a fixed identity.  numba pickles an intrinsic with a
    random uuid made on first use; a kernel whose closure holds a function
    that calls one (``_cpu``'s rows kernel holds the contiguous loop, which
    calls ``prefer_vector_width``) would then get a new on-disk cache key
    in every process and never load from the cache."""
    for fn in intrinsics:
        fn._set_uuid(f"fastinit._ops.{fn._name}")


_stable_identity(prefer_vector_width, runtime_value, store_nontemporal, store_fence)


def source_digest(*modules):
    """A digest of the sources of ``modules``: a kernel's cache key part for
    the code inlined into it (numba checks only the timestamp of the file
    that defines the kernel)."""
    h = hashlib.sha256()
    for mod in modules:
        with open(mod.__file__, "rb") as f:
            h.update(f.read())
    return int(h.hexdigest()[:15], 16)
